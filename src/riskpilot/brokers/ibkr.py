"""Interactive Brokers adapter (skeleton): mappings between riskpilot's value objects and
ib_async's, tested without a connection. The connected broker class comes later; these
mappings are what it will use.

Conventions (IBKR):

- An option is ``Option(symbol, 'YYYYMMDD', strike, 'C'|'P', exchange, multiplier)``.
- A multi-leg order is a ``Bag`` of ``ComboLeg`` (conId, ratio, action). Leg actions follow
  the legs *as held* (short leg SELL, long leg BUY); the order's action (BUY/SELL) buys or
  sells that combo, exactly like :class:`riskpilot.model.Order`'s ``side``. Combo legs need
  contract ids, which only a connected session can look up (``qualifyContracts``), so the
  caller passes them in.
- IBKR prices a combo limit as a signed net debit: a negative limit price receives a credit.
  riskpilot's limit price is a positive premium, so the caller says whether the order is a
  credit order (``credit=True``) and the sign is applied for BAG orders.
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


def to_ib_order(order: Order, *, credit: bool = False) -> IbOrder:
    """An ib_async Order (MKT or LMT, DAY) with ``orderRef`` = client order id. For combos
    (more than one leg) a credit order's limit is sent negative, as IBKR expects."""
    ib = IbOrder(
        action=order.side.value,
        totalQuantity=float(order.quantity),
        orderType="MKT" if order.order_type is OrderType.MARKET else "LMT",
        orderRef=order.client_order_id,
        tif="DAY",
        transmit=True,
    )
    if order.order_type is OrderType.LIMIT:
        if order.limit_price is None:
            raise IbkrMappingError(f"order {order.client_order_id!r}: LIMIT without a price")
        sign = -1.0 if (credit and len(order.legs) > 1) else 1.0
        ib.lmtPrice = sign * order.limit_price
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


def order_state_from_trade(trade: IbTrade, now: datetime) -> OrderState:
    """The port's OrderState for an ib_async Trade."""
    st = trade.orderStatus
    status = _STATUS.get(st.status)
    if status is None:
        raise IbkrMappingError(f"unknown IBKR order status {st.status!r}")
    filled = int(st.filled)
    if status is OrderStatus.SUBMITTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    lmt = trade.order.lmtPrice
    limit: float | None = None
    if trade.order.orderType == "LMT" and lmt is not None and float(lmt) < _UNSET_DOUBLE:
        limit = abs(float(lmt))
    reason = None
    if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) and trade.log:
        reason = trade.log[-1].message or None
    return OrderState(
        client_order_id=trade.order.orderRef,
        broker_order_id=str(trade.order.permId or trade.order.orderId),
        status=status,
        quantity=int(trade.order.totalQuantity),
        filled_quantity=filled,
        avg_fill_price=abs(st.avgFillPrice) if filled > 0 else None,
        limit_price=limit,
        updated_at=now,
        reason=reason,
    )


__all__ = [
    "IbkrMappingError",
    "from_ib_fill",
    "from_ib_option",
    "order_state_from_trade",
    "to_ib_combo",
    "to_ib_option",
    "to_ib_order",
]
