"""Event-contract positions in the store (revision 0005), on SQLite and PostgreSQL: positions
and their legs, marks, orders and fills with Kalshi's fee, exits, the paper broker's book
across a restart, the CHECK constraint on the leg columns, and the migration both ways."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from riskpilot.brokers.paper import PaperBroker, ScriptedMarket
from riskpilot.execution.fees import event_fill_model, kalshi_fee
from riskpilot.execution.port import OrderStatus
from riskpilot.model import (
    ContractSide,
    EventContract,
    Fill,
    Leg,
    Order,
    OrderPurpose,
    OrderType,
    Position,
    PositionStatus,
    PremiumType,
    Priority,
    Side,
    client_order_id,
)
from riskpilot.store import ExitRepository, OrderRepository, PositionRepository, Store, downgrade, upgrade
from riskpilot.store.models import ExitStatus
from riskpilot.store.paper_book import StorePaperBook
from riskpilot.store.testing import postgres_unreachable_reason, temporary_store

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One migrated store per backend for the repository scenarios below (each uses its own
    position ids): a migration costs most of a store test's time."""
    if request.param == "postgresql" and (reason := postgres_unreachable_reason()) is not None:
        pytest.skip(reason)
    with temporary_store(request.param, tmp_path_factory.mktemp(request.param)) as s:
        yield s
CLOSE = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
# An event ticker longer than the 32 characters an option underlying column used to allow.
EVENT = "KXNBAGAMEWINNERS-26DEC02HOUOKCXYZ"
YES = EventContract("KXNBAGAMEWINNERS", EVENT, f"{EVENT}-OKC", ContractSide.YES, CLOSE, CLOSE + timedelta(hours=2))
NO = YES.opposite()


def event_position(pid: str = "ev-1", contract: EventContract = YES, qty: int = 100, entry: float = 0.42,
                   status: PositionStatus = PositionStatus.OPEN) -> Position:
    return Position(pid, (Leg(contract, 1),), PremiumType.DEBIT, entry, qty, T0, "events", status=status)


def _order(pos: Position, purpose: OrderPurpose, qty: int, seq: int = 1) -> Order:
    side = Side.BUY if purpose is OrderPurpose.OPEN else Side.SELL
    coid = client_order_id(pos.id, purpose, seq)
    return Order(coid, pos.legs, side, qty, OrderType.MARKET, T0, None, pos.id, purpose)


def _send(store: Store, order: Order) -> None:
    orders = OrderRepository(store)
    orders.record_intent(order)
    orders.record_order(order.client_order_id, broker_order_id=f"B-{order.client_order_id}",
                        status=OrderStatus.SUBMITTED, at=T0)


def test_event_position_when_stored_then_loads_equal_with_both_sides_and_long_event_name(shared: Store) -> None:
    repo = PositionRepository(shared)
    repo.open_position(event_position("y", YES))
    repo.open_position(event_position("n", NO, entry=0.55))
    got = {sp.position.id: sp.position for sp in repo.load_open()}
    assert got["y"] == event_position("y", YES)
    assert got["n"] == event_position("n", NO, entry=0.55)
    leg = got["n"].legs[0].contract
    assert isinstance(leg, EventContract) and leg.side is ContractSide.NO and leg.underlying == EVENT
    assert leg.close_time == CLOSE and leg.settlement_time == CLOSE + timedelta(hours=2)
    assert got["y"].multiplier == 1 and got["y"].underlying == EVENT


def test_event_mark_when_applied_then_unrealized_pnl_is_dollars_per_contract(shared: Store) -> None:
    repo = PositionRepository(shared)
    repo.open_position(event_position("mark-1", qty=100, entry=0.42))
    marked = repo.apply_mark("mark-1", 0.47, T0 + timedelta(minutes=5))
    got = repo.get("mark-1").monitoring
    assert got.unrealized_pnl == pytest.approx(5.0)  # 100 x (0.47 - 0.42), multiplier 1
    assert got.unrealized_pnl_pct == pytest.approx(0.05 / 0.42)
    assert marked.state.peak_premium == 0.47


def test_event_entry_and_exit_fills_when_recorded_then_realized_is_price_change_less_the_fee(shared: Store) -> None:
    pos = event_position("fill-1", qty=100, entry=0.42, status=PositionStatus.PENDING)
    PositionRepository(shared).open_position(pos)
    orders = OrderRepository(shared)
    entry = _order(pos, OrderPurpose.OPEN, 100)
    _send(shared, entry)
    fee_in = kalshi_fee(0.42, 100)  # 0.07 x 100 x 0.42 x 0.58 = 1.7052 -> 1.71
    assert fee_in == 1.71
    out = orders.record_fill(Fill("E1", entry.client_order_id, 100, 0.42, T0, Side.BUY, pos.id, fee_in))
    assert out.position_status is PositionStatus.OPEN
    exits = ExitRepository(shared)
    exit_id = exits.begin_exit(pos.id, reason="model edge turned negative", rule="edge_disappeared",
                               priority=Priority.LOW, quantity=100, tactic="LOW:limit-conservative",
                               triggered_at=T0 + timedelta(minutes=30), unrealized_pnl_at_trigger=3.0)
    close = _order(pos, OrderPurpose.CLOSE, 100)
    exits.record_attempt(exit_id, close)
    orders.record_order(close.client_order_id, broker_order_id="B-close", status=OrderStatus.SUBMITTED, at=T0)
    fee_out = kalshi_fee(0.45, 100)  # 1.7325 -> 1.74
    done = orders.record_fill(Fill("X1", close.client_order_id, 100, 0.45, T0 + timedelta(minutes=31), Side.SELL,
                                   pos.id, fee_out))
    assert done.position_status is PositionStatus.CLOSED
    assert done.realized_pnl == pytest.approx(3.0)  # 100 x (0.45 - 0.42)
    stored = PositionRepository(shared).get(pos.id).monitoring
    assert stored.commissions == pytest.approx(fee_in + fee_out)
    [ex] = exits.exits_for(pos.id)
    assert ex.status is ExitStatus.EXECUTED and ex.rule == "edge_disappeared" and ex.fill_price == pytest.approx(0.45)


def test_event_settlement_exit_when_recorded_then_position_closes_at_the_payout(shared: Store) -> None:
    PositionRepository(shared).open_position(event_position("settle-1", qty=10, entry=0.30))
    ExitRepository(shared).record_exit("settle-1", reason="event_settlement: result yes", priority=Priority.LOW,
                                      quantity=10, fill_price=1.0, tactic="expiration", triggered_at=CLOSE,
                                      executed_at=CLOSE, rule="event_settlement")
    got = PositionRepository(shared).get("settle-1")
    assert got.position.status is PositionStatus.CLOSED
    assert got.monitoring.realized_pnl == pytest.approx(7.0)  # 10 x (1.00 - 0.30)


async def test_paper_book_of_event_contracts_when_restarted_then_holdings_orders_and_fills_resume(
    shared: Store,
) -> None:
    market = ScriptedMarket()
    market.set(YES, 0.40, 0.43, volume=500)
    now = T0
    broker = PaperBroker(StorePaperBook(shared), market, fill_model=event_fill_model(), clock=lambda: now)
    pos = event_position("paper-1", qty=50, entry=0.43, status=PositionStatus.PENDING)
    order = _order(pos, OrderPurpose.OPEN, 50)
    state = await broker.place_order(order)
    assert state.status is OrderStatus.FILLED and state.avg_fill_price == 0.43  # the ask, exactly
    again = PaperBroker(StorePaperBook(shared), market, fill_model=event_fill_model(), clock=lambda: now)
    [held] = await again.positions()
    assert held.contract == YES and held.quantity == 50 and held.avg_price == 0.43
    [fill] = await again.executions()
    assert fill.commission == kalshi_fee(0.43, 50) and fill.position_id == pos.id
    assert (await again.order_status(order.client_order_id)).filled_quantity == 50


def test_event_leg_row_when_its_event_columns_are_missing_then_the_check_constraint_refuses(shared: Store) -> None:
    PositionRepository(shared).open_position(event_position("check-1"))
    with pytest.raises(IntegrityError), shared.engine.begin() as conn:
        conn.execute(text("UPDATE position_legs SET market_ticker = NULL WHERE position_id = 'check-1'"))
    with pytest.raises(IntegrityError), shared.engine.begin() as conn:
        conn.execute(text("UPDATE position_legs SET strike = 45.0 WHERE position_id = 'check-1'"))


def test_option_leg_written_before_0005_when_upgraded_then_loads_and_events_can_join(
    backend: str, tmp_path: Path, spread: type,
) -> None:
    with temporary_store(backend, tmp_path, migrate=False) as store:
        upgrade(store.engine, "0003")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO methods (name, created_at) VALUES ('m', :t)"), {"t": T0})
            conn.execute(text(
                "INSERT INTO positions (id, method, underlying, premium_type, entry_premium, quantity, "
                "original_quantity, status, opened_at, realized_pnl, commissions, trailing_stop_active, "
                "peak_price, trough_price, mfe, mae, days_held, stages_done) VALUES ('old', 'm', 'SPY', 'CREDIT', "
                "1.0, 2, 2, 'OPEN', :t, 0, 0, false, 1.0, 1.0, 0, 0, 0, '[]')"), {"t": T0})
            conn.execute(text(
                "INSERT INTO position_legs (position_id, leg_index, underlying, expiration, strike, \"right\", "
                "multiplier, expiry_time, quantity) VALUES ('old', 0, 'SPY', '2027-01-15', 480.0, 'PUT', 100, "
                "'16:00:00', -1)"))
        upgrade(store.engine)
        repo = PositionRepository(store)
        old = repo.get("old").position
        assert old.legs[0].contract.underlying == "SPY" and old.multiplier == 100
        repo.open_position(event_position())
        assert {sp.position.id for sp in repo.load_open()} == {"old", "ev-1"}


def test_downgrade_below_0005_when_event_legs_are_stored_then_refused_naming_the_fix(store: Store) -> None:
    PositionRepository(store).open_position(event_position())
    with pytest.raises(RuntimeError, match="close or delete those positions"):
        downgrade(store.engine, "0003")
    assert PositionRepository(store).get("ev-1").position == event_position()


def test_event_position_pending_when_entry_settles_then_open_at_the_fill(shared: Store) -> None:
    repo = PositionRepository(shared)
    repo.open_position(replace(event_position("pend-1", entry=0.45), status=PositionStatus.PENDING))
    repo.settle_entry("pend-1", filled_quantity=60, avg_price=0.44, at=T0)
    got = repo.get("pend-1").position
    assert got.status is PositionStatus.OPEN and got.quantity == 60 and got.entry_premium == 0.44
