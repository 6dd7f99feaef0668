"""Repository scenarios on SQLite and PostgreSQL: each write keeps the store's invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskpilot.execution.port import OrderState, OrderStatus
from riskpilot.model import (
    Fill,
    Order,
    OrderPurpose,
    OrderType,
    PositionStatus,
    Priority,
    Side,
    TradingState,
    client_order_id,
)
from riskpilot.store import (
    DuplicateError,
    DuplicateFillError,
    ExitRepository,
    InvariantError,
    MissingIntentError,
    NotFoundError,
    OrderRepository,
    PositionRepository,
    StateRepository,
    Store,
    TrailingSnapshot,
)
from riskpilot.store.models import AlertLevel, ExitStatus, FillRow, OrderRow

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def _order(pos: Any, purpose: OrderPurpose, qty: int, seq: int = 1, limit: float | None = None) -> Order:
    return Order(
        client_order_id=client_order_id(pos.id, purpose, seq),
        legs=pos.legs,
        side=Side.BUY if purpose is OrderPurpose.OPEN else Side.SELL,
        quantity=qty,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        created_at=T0,
        limit_price=limit,
        position_id=pos.id,
        purpose=purpose,
    )


def _fill(order: Order, fid: str, qty: int, price: float, at: datetime = T0) -> Fill:
    return Fill(fid, order.client_order_id, qty, price, at, order.side, order.position_id, 0.65)


def _send(store: Store, order: Order) -> None:
    orders = OrderRepository(store)
    orders.record_intent(order)
    orders.record_order(order.client_order_id, broker_order_id="B1", status=OrderStatus.SUBMITTED, at=T0)


def test_open_position_with_legs_then_load_returns_equal_position(store: Store, spread: Any) -> None:
    pos = spread.put_spread()
    repo = PositionRepository(store)
    repo.open_position(pos)
    got = repo.get(pos.id)
    assert got.position == pos
    assert got.position.legs == pos.legs
    assert got.position.opened_at == T0 and got.position.opened_at.tzinfo is not None
    assert got.trailing_state is None
    assert got.monitoring.realized_pnl == 0.0


def test_open_same_position_twice_is_refused(store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    repo.open_position(spread.put_spread())
    with pytest.raises(DuplicateError, match="already in the store"):
        repo.open_position(spread.put_spread())


def test_apply_mark_updates_monitoring_fields_by_hand_numbers(store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    repo.open_position(spread.put_spread(quantity=4, entry=1.00))
    # Credit 1.00, now 0.60 to close: +0.40/share = 40%; 4 units x 100 x 0.40 = $160.
    repo.apply_mark("p1", 0.60, T0 + timedelta(days=2))
    repo.apply_mark("p1", 1.30, T0 + timedelta(days=3))
    got = repo.get("p1")
    m, st_ = got.monitoring, got.position.state
    assert m.current_price == 1.30
    assert m.unrealized_pnl == pytest.approx(-120.0)  # (1.00 - 1.30) * 100 * 4
    assert m.unrealized_pnl_pct == pytest.approx(-0.30)
    assert m.last_update == T0 + timedelta(days=3)
    assert st_.peak_premium == 1.30 and st_.trough_premium == 0.60
    assert st_.mfe == pytest.approx(0.40) and st_.mae == pytest.approx(-0.30)
    assert st_.days_held == 3


def test_load_open_skips_closed_and_carries_trailing_state(store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    for pid in ("a", "b", "c"):
        repo.open_position(spread.put_spread(pid, quantity=1))
    repo.apply_mark("b", 0.50, T0, trailing=TrailingSnapshot(True, 0.55, {"trough": 0.5, "stop": 0.55}))
    ExitRepository(store).record_exit(
        "c",
        reason="profit target",
        priority=Priority.MEDIUM,
        quantity=1,
        fill_price=0.5,
        tactic="fair",
        triggered_at=T0,
        executed_at=T0,
    )
    loaded = {sp.position.id: sp for sp in repo.load_open()}
    assert set(loaded) == {"a", "b"}
    assert loaded["b"].trailing_state == {"trough": 0.5, "stop": 0.55}
    assert loaded["b"].monitoring.trailing_stop_active is True
    assert loaded["b"].monitoring.trailing_stop_price == 0.55
    assert loaded["a"].trailing_state is None
    assert len(loaded["a"].position.legs) == 2


def test_order_without_intent_is_refused_and_nothing_stored(store: Store, spread: Any) -> None:
    PositionRepository(store).open_position(spread.put_spread())
    with pytest.raises(MissingIntentError, match="record_intent"):
        OrderRepository(store).record_order("rp-nointent", broker_order_id="X", status=OrderStatus.SUBMITTED, at=T0)
    with store.read() as s:
        assert s.query(OrderRow).count() == 0


def test_closing_fill_applied_twice_is_refused_and_position_changes_once(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=4)
    PositionRepository(store).open_position(pos)
    close = _order(pos, OrderPurpose.CLOSE, 4)
    _send(store, close)
    orders = OrderRepository(store)
    out = orders.record_fill(_fill(close, "F1", 1, 0.40))
    assert out.position_quantity == 3
    assert out.realized_pnl == pytest.approx(60.0)  # (1.00 - 0.40) * 100 * 1
    with pytest.raises(DuplicateFillError, match="already applied"):
        orders.record_fill(_fill(close, "F1", 1, 0.40))
    got = PositionRepository(store).get(pos.id)
    assert got.position.quantity == 3
    assert got.monitoring.realized_pnl == pytest.approx(60.0)
    assert orders.get_order(close.client_order_id).filled_quantity == 1
    with store.read() as s:
        assert s.query(FillRow).count() == 1


def test_entry_fill_moves_pending_position_to_open(store: Store, spread: Any) -> None:
    from dataclasses import replace

    pos = replace(spread.put_spread(quantity=2), status=PositionStatus.PENDING)
    PositionRepository(store).open_position(pos)
    entry = _order(pos, OrderPurpose.OPEN, 2, limit=1.0)
    _send(store, entry)
    out = OrderRepository(store).record_fill(_fill(entry, "E1", 2, 1.0))
    assert out.position_status is PositionStatus.OPEN
    assert out.order_status is OrderStatus.FILLED
    assert PositionRepository(store).get(pos.id).monitoring.commissions == pytest.approx(0.65)


def test_fill_beyond_order_quantity_is_refused(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=4)
    PositionRepository(store).open_position(pos)
    close = _order(pos, OrderPurpose.CLOSE, 2)
    _send(store, close)
    with pytest.raises(InvariantError, match="overfills"):
        OrderRepository(store).record_fill(_fill(close, "F1", 3, 0.4))
    assert PositionRepository(store).get(pos.id).position.quantity == 4


def test_exit_worked_by_two_partial_fills_then_position_closed(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=3)
    PositionRepository(store).open_position(pos)
    exits = ExitRepository(store)
    exit_id = exits.begin_exit(
        pos.id,
        reason="stop loss 125%",
        rule="stop_loss",
        priority=Priority.CRITICAL,
        quantity=3,
        tactic="market",
        triggered_at=T0,
        unrealized_pnl_at_trigger=-675.0,
    )
    assert PositionRepository(store).get(pos.id).position.status is PositionStatus.CLOSING
    order = _order(pos, OrderPurpose.CLOSE, 3)
    assert exits.record_attempt(exit_id, order) == 1
    OrderRepository(store).record_order(order.client_order_id, broker_order_id="B", status=OrderStatus.SUBMITTED, at=T0)
    orders = OrderRepository(store)
    orders.record_fill(_fill(order, "F1", 1, 2.20, T0 + timedelta(seconds=1)))
    mid = exits.exits_for(pos.id)[0]
    assert mid.status is ExitStatus.WORKING and mid.filled_quantity == 1
    out = orders.record_fill(_fill(order, "F2", 2, 2.50, T0 + timedelta(seconds=3)))
    assert out.position_status is PositionStatus.CLOSED and out.position_quantity == 0
    ex = exits.exits_for(pos.id)[0]
    assert ex.status is ExitStatus.EXECUTED
    assert ex.fill_price == pytest.approx((2.20 + 2 * 2.50) / 3)
    assert ex.executed_at == T0 + timedelta(seconds=3)
    assert ex.is_partial is False and ex.unrealized_pnl_at_trigger == -675.0
    att = exits.attempts_for(exit_id)[0]
    assert att.status is OrderStatus.FILLED and att.filled_quantity == 3
    got = PositionRepository(store).get(pos.id)
    assert got.monitoring.realized_pnl == pytest.approx(-120.0 - 300.0)  # -1.2*100 + -1.5*200
    assert got.monitoring.closed_at == T0 + timedelta(seconds=3)
    assert got.monitoring.exit_priority is Priority.CRITICAL


def test_partial_exit_reduces_quantity_and_keeps_position_open(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=4)
    PositionRepository(store).open_position(pos)
    ExitRepository(store).record_exit(
        pos.id,
        reason="first_target",
        rule="partial_exit_target",
        priority=Priority.MEDIUM,
        quantity=2,
        fill_price=0.85,
        tactic="fair",
        triggered_at=T0,
        executed_at=T0,
    )
    got = PositionRepository(store).get(pos.id)
    assert got.position.quantity == 2 and got.position.original_quantity == 4
    assert got.position.status is PositionStatus.OPEN
    assert got.monitoring.realized_pnl == pytest.approx(30.0)
    assert ExitRepository(store).exits_for(pos.id)[0].is_partial is True
    day = StateRepository(store).daily_pnl(date(2024, 3, 1))
    assert day is not None and day.realized_pnl == pytest.approx(30.0)


def test_exit_larger_than_open_quantity_is_refused(store: Store, spread: Any) -> None:
    PositionRepository(store).open_position(spread.put_spread(quantity=2))
    with pytest.raises(InvariantError, match="exceeds the 2 open"):
        ExitRepository(store).record_exit(
            "p1",
            reason="x",
            priority=Priority.LOW,
            quantity=3,
            fill_price=0.5,
            tactic="fair",
            triggered_at=T0,
            executed_at=T0,
        )


def test_failed_exit_returns_position_to_open(store: Store, spread: Any) -> None:
    PositionRepository(store).open_position(spread.put_spread(quantity=2))
    exits = ExitRepository(store)
    eid = exits.begin_exit("p1", reason="r", priority=Priority.LOW, quantity=2, tactic="conservative", triggered_at=T0)
    exits.fail_exit(eid, T0)
    assert PositionRepository(store).get("p1").position.status is PositionStatus.OPEN


def test_broker_update_after_replace_keeps_fills(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=4)
    PositionRepository(store).open_position(pos)
    close = _order(pos, OrderPurpose.CLOSE, 4, limit=0.5)
    _send(store, close)
    orders = OrderRepository(store)
    orders.record_fill(_fill(close, "F1", 1, 0.5))
    orders.update_from_broker(
        OrderState(close.client_order_id, "B1", OrderStatus.PARTIALLY_FILLED, 4, 1, 0.5, 0.55, T0)
    )
    rec = orders.get_order(close.client_order_id)
    assert rec.limit_price == 0.55 and rec.filled_quantity == 1
    assert [o.client_order_id for o in orders.working_orders()] == [close.client_order_id]


def test_trading_state_persists_with_reason(store: Store) -> None:
    repo = StateRepository(store)
    assert repo.trading_state().state is TradingState.ACTIVE
    repo.set_trading_state(TradingState.REDUCING, "daily loss limit reached", T0)
    got = repo.trading_state()
    assert (got.state, got.reason, got.changed_at) == (TradingState.REDUCING, "daily loss limit reached", T0)


def test_naive_timestamp_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StateRepository(store).set_trading_state(TradingState.HALTED, "x", datetime(2024, 1, 1))


def test_alerts_runs_and_methods_round_trip(store: Store) -> None:
    st_ = StateRepository(store)
    aid = st_.add_alert(AlertLevel.CRITICAL, "circuit_breaker", "halted", T0, payload={"loss": -5000.0})
    assert [a.id for a in st_.undelivered_alerts()] == [aid]
    st_.mark_delivered([aid], T0)
    assert st_.undelivered_alerts() == []
    rid = st_.start_run(host="h", version="0.1.0", dry_run=True, started_at=T0, config_text="a: 1")
    st_.finish_run(rid, T0 + timedelta(hours=1))
    st_.upsert_method("iron-condor-conservative", T0, config={"profit_target": 0.5})
    with pytest.raises(NotFoundError):
        st_.finish_run(9999, T0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=5),
    price=st.floats(min_value=0.05, max_value=3.0),
)
def test_any_split_of_closing_fills_closes_once_with_summed_pnl(
    tmp_path_factory: pytest.TempPathFactory, spread: Any, parts: list[int], price: float
) -> None:
    from riskpilot.store.testing import temporary_store

    qty = sum(parts)
    with temporary_store("sqlite", tmp_path_factory.mktemp("h")) as store:
        pos = spread.put_spread(quantity=qty)
        PositionRepository(store).open_position(pos)
        close = _order(pos, OrderPurpose.CLOSE, qty)
        _send(store, close)
        orders = OrderRepository(store)
        for i, n in enumerate(parts):
            orders.record_fill(_fill(close, f"F{i}", n, price))
        got = PositionRepository(store).get(pos.id)
        assert got.position.quantity == 0 and got.position.status is PositionStatus.CLOSED
        assert got.monitoring.realized_pnl == pytest.approx((1.0 - price) * 100 * qty)
        assert orders.get_order(close.client_order_id).status is OrderStatus.FILLED
