"""record_fill on both backends: the one-statement PostgreSQL path and the SQLite path keep
the same refusals and the same effects, and a dead pooled connection is replaced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from riskpilot.execution.port import OrderStatus
from riskpilot.model import Fill, Order, OrderPurpose, OrderType, PositionStatus, Priority, Side, client_order_id
from riskpilot.store import (
    DuplicateFillError,
    ExitRepository,
    FillOutcome,
    InvariantError,
    NotFoundError,
    OrderRepository,
    PositionRepository,
    StateRepository,
    Store,
)
from riskpilot.store.database import make_engine
from riskpilot.store.models import FillRow
from riskpilot.store.testing import pg_test_url, postgres_unreachable_reason, temporary_store

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def _close_order(pos: Any, qty: int, seq: int = 1) -> Order:
    return Order(
        client_order_id(pos.id, OrderPurpose.CLOSE, seq),
        pos.legs,
        Side.SELL,
        qty,
        OrderType.MARKET,
        T0,
        position_id=pos.id,
        purpose=OrderPurpose.CLOSE,
    )


def _send(store: Store, order: Order) -> None:
    orders = OrderRepository(store)
    orders.record_intent(order)
    orders.record_order(order.client_order_id, broker_order_id="B1", status=OrderStatus.SUBMITTED, at=T0)


def _fill(order: Order, fid: str, qty: int, price: float, side: Side | None = None) -> Fill:
    at = T0 + timedelta(seconds=1)
    return Fill(fid, order.client_order_id, qty, price, at, side or order.side, order.position_id, 0.65)


def _fill_count(store: Store) -> int:
    with store.read() as s:
        return s.query(FillRow).count()


def test_replayed_fill_of_a_filled_order_is_reported_duplicate_not_overfill(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=2)
    PositionRepository(store).open_position(pos)
    close = _close_order(pos, 2)
    _send(store, close)
    orders = OrderRepository(store)
    out = orders.record_fill(_fill(close, "F1", 2, 0.40))
    assert out.order_status is OrderStatus.FILLED and out.position_status is PositionStatus.CLOSED
    with pytest.raises(DuplicateFillError, match="already applied"):
        orders.record_fill(_fill(close, "F1", 2, 0.40))
    assert _fill_count(store) == 1
    assert PositionRepository(store).get(pos.id).monitoring.realized_pnl == pytest.approx(120.0)


def test_fill_closing_more_than_is_open_is_refused_and_nothing_written(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=2)
    PositionRepository(store).open_position(pos)
    ExitRepository(store).record_exit(
        pos.id, reason="x", priority=Priority.LOW, quantity=1, fill_price=0.5, tactic="fair",
        triggered_at=T0, executed_at=T0,
    )
    close = _close_order(pos, 2)
    _send(store, close)
    with pytest.raises(InvariantError, match="closes 2 but position 'p1' has 1 open"):
        OrderRepository(store).record_fill(_fill(close, "F1", 2, 0.40))
    assert _fill_count(store) == 0
    assert OrderRepository(store).get_order(close.client_order_id).filled_quantity == 0
    assert PositionRepository(store).get(pos.id).position.quantity == 1


def test_fill_on_the_wrong_side_or_unknown_order_is_refused(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=2)
    PositionRepository(store).open_position(pos)
    close = _close_order(pos, 2)
    _send(store, close)
    orders = OrderRepository(store)
    with pytest.raises(InvariantError, match="is a BUY but order"):
        orders.record_fill(_fill(close, "F1", 1, 0.40, side=Side.BUY))
    with pytest.raises(NotFoundError, match="record_intent and record_order come before"):
        orders.record_fill(Fill("F2", "no-such-order", 1, 0.4, T0, Side.SELL, pos.id, 0.0))
    assert _fill_count(store) == 0


def test_partial_exit_completed_by_fill_returns_position_to_open_with_daily_pnl(store: Store, spread: Any) -> None:
    pos = spread.put_spread(quantity=4)
    PositionRepository(store).open_position(pos)
    exits = ExitRepository(store)
    eid = exits.begin_exit(
        pos.id, reason="first target", priority=Priority.MEDIUM, quantity=2, tactic="fair", triggered_at=T0
    )
    order = _close_order(pos, 2)
    exits.record_attempt(eid, order)
    OrderRepository(store).record_order(order.client_order_id, broker_order_id="B", status=OrderStatus.SUBMITTED, at=T0)
    out = OrderRepository(store).record_fill(_fill(order, "F1", 2, 0.85))
    assert out == FillOutcome(OrderStatus.FILLED, 2, pos.id, 2, PositionStatus.OPEN, pytest.approx(30.0), eid)  # type: ignore[arg-type]
    ex = exits.exits_for(pos.id)[0]
    assert ex.filled_quantity == 2 and ex.fill_price == pytest.approx(0.85)
    assert ex.executed_at == T0 + timedelta(seconds=1)
    day = StateRepository(store).daily_pnl(date(2024, 3, 1))
    assert day is not None
    assert day.realized_pnl == pytest.approx(30.0) and day.commissions == pytest.approx(0.65)
    got = PositionRepository(store).get(pos.id)
    assert got.position.status is PositionStatus.OPEN and got.position.quantity == 2
    assert got.monitoring.commissions == pytest.approx(0.65)


def _scenario(store: Store, spread: Any) -> list[FillOutcome]:
    pos = spread.put_spread(quantity=5)
    PositionRepository(store).open_position(pos)
    exits = ExitRepository(store)
    eid = exits.begin_exit(
        pos.id, reason="stop", priority=Priority.CRITICAL, quantity=5, tactic="market", triggered_at=T0
    )
    order = _close_order(pos, 5)
    exits.record_attempt(eid, order)
    OrderRepository(store).record_order(order.client_order_id, broker_order_id="B", status=OrderStatus.SUBMITTED, at=T0)
    orders = OrderRepository(store)
    return [orders.record_fill(_fill(order, f"F{i}", n, p)) for i, (n, p) in enumerate(((1, 2.2), (3, 2.35), (1, 2.5)))]


@pytest.mark.postgres
def test_same_fills_give_the_same_outcomes_on_both_backends(tmp_path: Path, spread: Any) -> None:
    if (reason := postgres_unreachable_reason()) is not None:
        pytest.skip(reason)
    with temporary_store("sqlite", tmp_path) as lite:
        expected = _scenario(lite, spread)
    with temporary_store("postgresql", tmp_path) as pg:
        got = _scenario(pg, spread)
    assert got == expected
    assert got[-1].position_status is PositionStatus.CLOSED


@pytest.mark.postgres
def test_pooled_connection_killed_by_the_server_is_replaced(tmp_path: Path, spread: Any) -> None:
    if (reason := postgres_unreachable_reason()) is not None:
        pytest.skip(reason)
    with temporary_store("postgresql", tmp_path) as store:
        pos = spread.put_spread(quantity=2)
        PositionRepository(store).open_position(pos)
        close = _close_order(pos, 2)
        _send(store, close)
        with store.engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = make_engine(pg_test_url())  # another pool does the killing
        try:
            with admin.connect() as other:
                assert other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        finally:
            admin.dispose()
        out = OrderRepository(store).record_fill(_fill(close, "F1", 1, 0.4))
        assert out.position_quantity == 1
        assert PositionRepository(store).get(pos.id).position.quantity == 1
