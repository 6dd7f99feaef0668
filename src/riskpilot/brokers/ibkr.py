"""Interactive Brokers: mappings between riskpilot's value objects and ib_async's, pure and
tested without a connection. The connected broker is :class:`riskpilot.brokers.ibkr_broker.IbkrBroker`;
the netting of per-leg executions into combo fills is :mod:`riskpilot.brokers.ibkr_fills`.

Conventions (IBKR):

- An option is ``Option(symbol, 'YYYYMMDD', strike, 'C'|'P', exchange, multiplier)``.
- A multi-leg order is a ``Bag`` of ``ComboLeg`` (conId, ratio, action). Leg actions follow
  the legs *as held* (short leg SELL, long leg BUY); the order's action (BUY/SELL) buys or
  sells that combo, exactly like :class:`riskpilot.model.Order`'s ``side``. Combo legs need
  contract ids, which only a connected session can look up (``qualifyContracts``), so the
  caller passes them in.
- IBKR prices a BAG as the signed net price of its legs as defined (BUY leg +, SELL leg -):
  a BUY of the bag pays that price, a SELL receives it. riskpilot's limit is a positive net
  premium that either pays (a net debit) or receives (a net credit), so the caller says which
  (``pays``) and the IB limit is ``s * (+limit if pays else -limit)`` with ``s`` = +1 for a
  BUY and -1 for a SELL of the combo: closing a credit spread (SELL, pays 1.05) sends -1.05.
- A single-leg order trades the option itself: its IB action is the direction the leg is
  traded (a SELL closing a short put BUYs the put), its quantity the units times the leg's
  per-unit quantity.
- ``orderRef`` carries riskpilot's client order id; executions come back with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime

from ib_async import Bag, ComboLeg, Contract, Option
from ib_async import Fill as IbFill
from ib_async import Order as IbOrder
from ib_async import Trade as IbTrade

from riskpilot.execution.port import OrderState, OrderStatus
from riskpilot.model.contract import Leg, OptionContract, require_option
from riskpilot.model.enums import OrderType, Right, Side
from riskpilot.model.order import Fill, Order

#: ib_async's "no value" for doubles.
_UNSET_DOUBLE = 1.7976931348623157e308

_STATUS = {
    "PendingSubmit": OrderStatus.PENDING_SUBMIT,
    "ApiPending": OrderStatus.PENDING_SUBMIT,
    "PendingCancel": OrderStatus.SUBMITTED,
    "PreSubmitted": OrderStatus.SUBMITTED,
    "Submitted": OrderStatus.SUBMITTED,
    "ValidationError": OrderStatus.SUBMITTED,  # an IB warning on a live order (ib_async's status)
    "ApiCancelled": OrderStatus.CANCELLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.REJECTED,
}


class IbkrMappingError(ValueError):
    """An IBKR object that cannot be mapped to riskpilot's (or the reverse)."""


def to_ib_option(contract: OptionContract, *, exchange: str = "SMART", currency: str = "USD") -> Option:
    return Option(
        symbol=contract.underlying,
        lastTradeDateOrContractMonth=contract.expiration.strftime("%Y%m%d"),
        strike=contract.strike,
        right=contract.right.value,
        exchange=exchange,
        multiplier=str(contract.multiplier),
        currency=currency,
    )


def from_ib_option(contract: Contract) -> OptionContract:
    if contract.secType not in ("OPT", "FOP"):
        raise IbkrMappingError(f"expected an option contract, got secType {contract.secType!r}")
    raw = contract.lastTradeDateOrContractMonth
    try:
        expiration = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except (ValueError, IndexError) as exc:
        raise IbkrMappingError(f"option expiry {raw!r} is not YYYYMMDD") from exc
    return OptionContract(
        underlying=contract.symbol,
        expiration=expiration,
        strike=float(contract.strike),
        right=Right.parse(contract.right),
        multiplier=int(contract.multiplier or 100),
    )


def to_ib_combo(
    legs: tuple[Leg, ...],
    con_ids: Mapping[OptionContract, int],
    *,
    exchange: str = "SMART",
    currency: str = "USD",
) -> Bag:
    """A BAG contract for ``legs`` (signed per-unit quantities as held)."""
    if len(legs) < 2:
        raise IbkrMappingError("a combo needs at least two legs; send one leg as an Option")
    combo: list[ComboLeg] = []
    for leg in legs:
        con_id = con_ids.get(require_option(leg.contract, "an IBKR combo"))
        if con_id is None:
            raise IbkrMappingError(
                f"no IBKR contract id for leg {leg.contract}: qualify the legs first "
                "(ib.qualifyContracts) and pass their conIds"
            )
        combo.append(
            ComboLeg(
                conId=con_id,
                ratio=abs(leg.quantity),
                action="BUY" if leg.quantity > 0 else "SELL",
                exchange=exchange,
            )
        )
    underlyings = {leg.contract.underlying for leg in legs}
    if len(underlyings) != 1:
        raise IbkrMappingError(f"combo legs span several underlyings {sorted(underlyings)}")
    bag: Bag = Bag(  # type: ignore[no-untyped-call]  # ib_async leaves Bag.__init__ untyped
        symbol=underlyings.pop(), exchange=exchange, currency=currency, comboLegs=combo
    )
    return bag


def trade_quantities(order: Order) -> list[int]:
    """Contracts of each leg one unit of ``order`` trades: + buys, - sells."""
    sign = 1 if order.side is Side.BUY else -1
    return [sign * leg.quantity for leg in order.legs]


def ib_limit(order: Order, limit: float, *, pays: bool) -> float:
    """The signed IB limit for a positive net premium ``limit`` (module docstring)."""
    if len(order.legs) == 1:
        return limit
    sign = 1.0 if order.side is Side.BUY else -1.0
    return sign * (limit if pays else -limit)


def to_ib_order(order: Order, *, pays: bool, limit: float | None = None, account: str = "") -> IbOrder:
    """An ib_async Order (MKT or LMT, DAY) with ``orderRef`` = client order id. ``pays`` says
    whether the limit is a net debit (True) or a net credit; ``limit`` overrides the order's
    (the adapter passes the limit rounded to the tick grid)."""
    if len(order.legs) == 1:
        t = trade_quantities(order)[0]
        action, quantity = ("BUY" if t > 0 else "SELL"), order.quantity * abs(t)
    else:
        action, quantity = order.side.value, order.quantity
    ib = IbOrder(
        action=action,
        totalQuantity=float(quantity),
        orderType="MKT" if order.order_type is OrderType.MARKET else "LMT",
        orderRef=order.client_order_id,
        tif="DAY",
        transmit=True,
        account=account,
    )
    if order.order_type is OrderType.LIMIT:
        price = order.limit_price if limit is None else limit
        if price is None:
            raise IbkrMappingError(f"order {order.client_order_id!r}: LIMIT without a price")
        ib.lmtPrice = ib_limit(order, price, pays=pays)
    return ib


def from_ib_fill(fill: IbFill, *, position_id: str | None = None) -> Fill:
    """A riskpilot Fill from an ib_async Fill. For a combo order IBKR reports each leg's
    execution and the combo's (secType BAG): map the BAG one. The commission arrives in a
    separate report; until it has, it is taken as 0.0 and reconciliation updates it."""
    ex = fill.execution
    if not ex.orderRef:
        raise IbkrMappingError(f"execution {ex.execId!r} carries no orderRef: it was not placed by riskpilot")
    shares = float(ex.shares)
    if shares <= 0 or not shares.is_integer():
        raise IbkrMappingError(f"execution {ex.execId!r}: quantity {shares} is not a whole number")
    if ex.side not in ("BOT", "SLD"):
        raise IbkrMappingError(f"execution {ex.execId!r}: unknown side {ex.side!r}")
    commission = 0.0
    report = fill.commissionReport
    if (
        report is not None
        and report.execId == ex.execId
        and math.isfinite(report.commission)
        and report.commission < _UNSET_DOUBLE
    ):
        commission = abs(report.commission)
    ts = fill.time
    if ts.tzinfo is None:
        raise IbkrMappingError(f"execution {ex.execId!r}: naive time {ts!r}")
    return Fill(
        fill_id=ex.execId,
        client_order_id=ex.orderRef,
        quantity=int(shares),
        price=abs(float(ex.price)),
        timestamp=ts.astimezone(UTC),
        side=Side.BUY if ex.side == "BOT" else Side.SELL,
        position_id=position_id,
        commission=commission,
    )


#: IB codes that end an order without it being refused (a cancel we asked for, ...).
_CANCEL_CODES = frozenset({202, 10148})


def _ib_error(trade: IbTrade) -> tuple[int, str] | None:
    """The last IB error recorded on the trade: (code, text without ib_async's prefix)."""
    for entry in reversed(trade.log):
        if entry.errorCode:
            text = entry.message
            if ": " in text and text.startswith(("Error ", "Warning ")):
                text = text.split(": ", 1)[1]
            text = text.split(", contract: ", 1)[0]
            return entry.errorCode, text
    return None


def order_state_from_trade(trade: IbTrade, now: datetime, *, client_order_id: str | None = None,
                           units_per_contract: int = 1) -> OrderState:
    """The port's OrderState for an ib_async Trade. An order that ended on an IB error other
    than a cancel, with nothing filled, is REJECTED with ``IB <code>: <text>`` as the reason.
    ``units_per_contract`` divides a single-leg order's contracts back into units."""
    st = trade.orderStatus
    status = _STATUS.get(st.status)
    if status is None:
        raise IbkrMappingError(f"unknown IBKR order status {st.status!r}")
    filled = round(float(st.filled)) // units_per_contract
    error = _ib_error(trade)
    reason = None if error is None else f"IB {error[0]}: {error[1]}"
    if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED) and filled == 0 and error is not None:
        status = OrderStatus.CANCELLED if error[0] in _CANCEL_CODES else OrderStatus.REJECTED
    if status.is_working and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.SUBMITTED and st.status != "ValidationError":
        reason = None
    lmt = trade.order.lmtPrice
    limit: float | None = None
    if trade.order.orderType == "LMT" and lmt is not None and abs(float(lmt)) < _UNSET_DOUBLE:
        limit = abs(float(lmt))
    if reason is None and status is OrderStatus.CANCELLED and trade.log:
        reason = trade.log[-1].message or None
    avg = float(st.avgFillPrice)
    return OrderState(
        client_order_id=client_order_id or trade.order.orderRef,
        broker_order_id=str(trade.order.permId or st.permId or trade.order.orderId),
        status=status,
        quantity=round(float(trade.order.totalQuantity)) // units_per_contract,
        filled_quantity=filled,
        avg_fill_price=abs(avg) if filled > 0 and abs(avg) < _UNSET_DOUBLE else None,
        limit_price=limit,
        updated_at=now,
        reason=reason,
    )


__all__ = [
    "IbkrMappingError",
    "from_ib_fill",
    "from_ib_option",
    "ib_limit",
    "order_state_from_trade",
    "to_ib_combo",
    "to_ib_option",
    "to_ib_order",
    "trade_quantities",
]
