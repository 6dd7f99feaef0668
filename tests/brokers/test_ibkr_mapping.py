"""IBKR mappings, without a connection: contracts, combos, orders, fills and statuses."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ib_async import CommissionReport, Execution, Option, Trade
from ib_async import Fill as IbFill
from ib_async import OrderStatus as IbOrderStatus

from riskpilot.brokers.ibkr import (
    IbkrMappingError,
    from_ib_fill,
    from_ib_option,
    order_state_from_trade,
    to_ib_combo,
    to_ib_option,
    to_ib_order,
)
from riskpilot.execution.port import OrderStatus
from riskpilot.model import Leg, OptionContract, Order, OrderPurpose, OrderType, Right, Side

NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
P480 = OptionContract("SPY", date(2024, 4, 19), 480.0, Right.PUT)
P475 = OptionContract("SPY", date(2024, 4, 19), 475.0, Right.PUT)
VERTICAL = (Leg(P480, -1), Leg(P475, 1))


def _order(legs: tuple[Leg, ...], otype: OrderType = OrderType.LIMIT, limit: float | None = 1.05) -> Order:
    return Order("rp-abc", legs, Side.BUY, 3, otype, NOW, limit_price=limit, purpose=OrderPurpose.OPEN)


def test_option_round_trips_through_ib_contract() -> None:
    ib = to_ib_option(P480)
    assert (ib.symbol, ib.lastTradeDateOrContractMonth, ib.strike, ib.right, ib.multiplier) == (
        "SPY",
        "20240419",
        480.0,
        "P",
        "100",
    )
    assert from_ib_option(ib) == P480


def test_vertical_maps_to_bag_with_leg_actions_as_held() -> None:
    bag = to_ib_combo(VERTICAL, {P480: 111, P475: 222})
    assert bag.secType == "BAG" and bag.symbol == "SPY"
    assert [(c.conId, c.ratio, c.action) for c in bag.comboLegs] == [(111, 1, "SELL"), (222, 1, "BUY")]


def test_combo_without_contract_ids_names_the_fix() -> None:
    with pytest.raises(IbkrMappingError, match="qualifyContracts"):
        to_ib_combo(VERTICAL, {P480: 111})


def test_credit_combo_limit_is_sent_negative_with_order_ref() -> None:
    ib = to_ib_order(_order(VERTICAL), pays=False)
    assert (ib.action, ib.totalQuantity, ib.orderType, ib.lmtPrice, ib.orderRef) == (
        "BUY",
        3.0,
        "LMT",
        -1.05,
        "rp-abc",
    )
    assert to_ib_order(_order(VERTICAL), pays=True).lmtPrice == 1.05


def test_market_order_maps_to_mkt() -> None:
    ib = to_ib_order(_order((Leg(P480, 1),), OrderType.MARKET, None), pays=True)
    assert ib.orderType == "MKT" and ib.orderRef == "rp-abc"


def _ib_fill(side: str = "SLD", ref: str = "rp-abc", commission: float = 1.3) -> IbFill:
    ex = Execution(execId="0001.01", time=NOW, side=side, shares=2.0, price=-1.02, orderRef=ref)
    return IbFill(Option("SPY"), ex, CommissionReport(execId="0001.01", commission=commission), NOW)


def test_ib_fill_maps_to_fill_with_positive_price_and_commission() -> None:
    f = from_ib_fill(_ib_fill(), position_id="p1")
    assert (f.fill_id, f.client_order_id, f.quantity, f.price, f.side, f.commission, f.position_id) == (
        "0001.01",
        "rp-abc",
        2,
        1.02,
        Side.SELL,
        1.3,
        "p1",
    )
    assert f.timestamp == NOW


def test_ib_fill_without_order_ref_is_refused() -> None:
    with pytest.raises(IbkrMappingError, match="not placed by riskpilot"):
        from_ib_fill(_ib_fill(ref=""))


@pytest.mark.parametrize(
    ("ib_status", "filled", "expected"),
    [
        ("PreSubmitted", 0, OrderStatus.SUBMITTED),
        ("Submitted", 1, OrderStatus.PARTIALLY_FILLED),
        ("Filled", 3, OrderStatus.FILLED),
        ("Cancelled", 0, OrderStatus.CANCELLED),
        ("Inactive", 0, OrderStatus.REJECTED),
    ],
)
def test_trade_status_maps_to_port_status(ib_status: str, filled: int, expected: OrderStatus) -> None:
    ib_order = to_ib_order(_order(VERTICAL), pays=False)
    ib_order.permId = 42
    trade = Trade(order=ib_order, orderStatus=IbOrderStatus(status=ib_status, filled=filled, avgFillPrice=-1.0))
    st = order_state_from_trade(trade, NOW)
    assert st.status is expected and st.client_order_id == "rp-abc"
    assert st.broker_order_id == "42" and st.limit_price == 1.05 and st.quantity == 3
    assert st.avg_fill_price == (1.0 if filled else None)


def _closing(legs: tuple[Leg, ...], limit: float | None = 1.05) -> Order:
    otype = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order("rp-close", legs, Side.SELL, 2, otype, NOW, limit_price=limit, purpose=OrderPurpose.CLOSE)


def test_closing_a_credit_spread_sells_the_combo_at_a_negative_limit() -> None:
    ib = to_ib_order(_closing(VERTICAL), pays=True)
    assert (ib.action, ib.totalQuantity, ib.lmtPrice) == ("SELL", 2.0, -1.05)


def test_closing_a_debit_spread_sells_the_combo_at_a_positive_limit() -> None:
    debit = (Leg(P480, 1), Leg(P475, -1))
    assert to_ib_order(_closing(debit), pays=False).lmtPrice == 1.05


def test_single_leg_close_of_a_short_put_buys_the_put_with_the_rounded_limit() -> None:
    ib = to_ib_order(_closing((Leg(P480, -1),)), pays=True, limit=1.00)
    assert (ib.action, ib.totalQuantity, ib.lmtPrice) == ("BUY", 2.0, 1.00)


def test_trade_ending_on_ib_error_201_maps_to_rejected_with_the_code() -> None:
    from ib_async import TradeLogEntry

    ib_order = to_ib_order(_order(VERTICAL), pays=False)
    trade = Trade(order=ib_order, orderStatus=IbOrderStatus(status="Cancelled"))
    trade.log.append(TradeLogEntry(NOW, "Cancelled", "Error 201, reqId 7: Order rejected - reason: no margin", 201))
    st = order_state_from_trade(trade, NOW)
    assert st.status is OrderStatus.REJECTED and st.reason == "IB 201: Order rejected - reason: no margin"
    trade.log.append(TradeLogEntry(NOW, "Cancelled", "Error 202, reqId 7: Order Canceled - reason:", 202))
    assert order_state_from_trade(trade, NOW).status is OrderStatus.CANCELLED
