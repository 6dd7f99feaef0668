"""The live monitor on Interactive Brokers, against the fake TWS through the real ib_async
client, wired as `riskpilot monitor --broker ibkr` wires it (riskpilot.app.build_live): stops
that walk and fill, rejects that escalate, partial fills, a disconnect in the middle of an
exit, a dry run, the account check and the unreachable gateway."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ibkr_rig import T0, FastClock, IbRig, rig_config, until
from typer.testing import CliRunner

from fakes.tws import FakeTws, FillPlan
from riskpilot.app import WiringError
from riskpilot.cli import app as cli
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.ticks import NICKEL_DIME
from riskpilot.model import OrderStatus, PositionStatus, Priority
from riskpilot.store import AccountRepository, ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import ExitStatus, FillRow, OrderRow

#: CRITICAL as a limit that walks: aggressive, two walks to the natural price, then market.
WALKING_STOP = {"exit_execution": {
    "CRITICAL": {"order_type": "limit", "price_strategy": "aggressive", "timeout_seconds": 5,
                 "retry_strategy": "walk_then_market", "max_walks": 2},
}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTws]:
    f = FakeTws()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
def sqlite(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'ib.db'}")
    yield store  # type: ignore[misc]
    store.close()


def _rig(store: Store, fake: FakeTws, clock: object, **cfg: object) -> IbRig:
    if hasattr(clock, "now"):
        fake.clock = clock.now  # type: ignore[attr-defined]  # executions at market time
    return IbRig(store, fake, clock, rig_config(fake.port, **cfg))  # type: ignore[arg-type]


def _placed(fake: FakeTws) -> Counter[str]:
    return Counter(ref for ref, kind, _ in fake.placed if kind == "new")


async def test_a_stop_loss_walks_on_the_grid_and_fills_through_ib(sqlite: Store, fake: FakeTws) -> None:
    rig = _rig(sqlite, fake, SimulatedClock(T0), **WALKING_STOP)
    rig.vertical("spx-1", 2700.0, entry=1.00, qty=2)
    rig.quote("spx-1", (2.00, 2.20))  # close-out mid 1.10: a 10% loss, holds
    await rig.build()
    try:
        await rig.monitor.start()
        first = await rig.cycle()
        assert first.checked == 1 and not first.exits_started
        # The market runs away: passive 3.25 - 1.05 = 2.20, natural 3.45 - 0.95 = 2.50, mid 2.35 (135% loss).
        rig.quote("spx-1", (3.25, 3.45))
        report = await rig.cycle()
        assert report.exits_started == ["spx-1"] and report.decisions[0].rule == "stop_loss"
        [ex] = ExitRepository(sqlite).exits_for("spx-1")
        attempts = ExitRepository(sqlite).attempts_for(ex.id)
        # aggressive 2.44 -> 2.40, walk 2.47 -> 2.45 (both rest: IB fills at 2.50), walk 2.50 fills.
        assert [a.limit_price for a in attempts] == pytest.approx([2.40, 2.45, 2.50])
        assert [a.status for a in attempts] == [OrderStatus.CANCELLED, OrderStatus.CANCELLED, OrderStatus.FILLED]
        assert all(NICKEL_DIME.on_grid(a.limit_price) for a in attempts)
        assert ex.status is ExitStatus.EXECUTED and ex.priority is Priority.CRITICAL
        assert (ex.filled_quantity, ex.fill_price) == (2, pytest.approx(2.50))
        assert PositionRepository(sqlite).get("spx-1").position.status is PositionStatus.CLOSED
        # One order at IB per client order id, each a BAG carrying it in orderRef; the account is flat.
        assert set(_placed(fake).values()) == {1} and len(_placed(fake)) == 3
        assert [-lmt for _, _, lmt in fake.placed] == pytest.approx([2.40, 2.45, 2.50])
        assert fake.positions == {}
        with sqlite.read() as s:
            assert s.query(FillRow).count() == 1
        assert AccountRepository(sqlite).bound("ibkr").account == fake.account  # type: ignore[union-attr]
    finally:
        await rig.close()


async def test_ib_reject_201_then_the_exit_escalates_and_fills(sqlite: Store, fake: FakeTws) -> None:
    rig = _rig(sqlite, fake, SimulatedClock(T0), exit_execution={
        "MEDIUM": {"order_type": "limit", "price_strategy": "fair", "timeout_seconds": 30,
                   "retry_strategy": "walk_price", "max_walks": 1}})
    rig.vertical("spx-1", 2700.0, entry=1.00, qty=2)
    rig.quote("spx-1", (1.50, 1.60))  # close-out 0.55: a 45% profit, over the 35% target
    fake.plan_next(*[FillPlan(mode="reject", code=201, message="Order rejected - reason: no margin")] * 2)
    await rig.build()
    try:
        await rig.monitor.start()
        report = await rig.cycle()
        assert report.decisions[0].rule == "profit_target"
        [ex] = ExitRepository(sqlite).exits_for("spx-1")
        attempts = ExitRepository(sqlite).attempts_for(ex.id)
        assert [a.status for a in attempts] == [OrderStatus.REJECTED, OrderStatus.REJECTED, OrderStatus.FILLED]
        assert [a.tactic.split("#")[0] for a in attempts] == ["MEDIUM:limit-fair"] * 2 + ["HIGH:limit-aggressive"]
        assert ex.status is ExitStatus.EXECUTED and ex.tactic == "HIGH:limit-aggressive"
        with sqlite.read() as s:
            reasons = [r.reject_reason for r in s.query(OrderRow).order_by(OrderRow.id)]
        assert reasons[:2] == ["IB 201: Order rejected - reason: no margin"] * 2
        kinds = Counter(a.kind for a in StateRepository(sqlite).recent_alerts())
        assert kinds["exit_rejected"] == 2 and kinds["exit_escalated"] == 1 and kinds["exit_executed"] == 1
    finally:
        await rig.close()


async def test_a_partial_fill_is_kept_and_the_rest_worked_to_completion(sqlite: Store, fake: FakeTws) -> None:
    rig = _rig(sqlite, fake, SimulatedClock(T0))
    rig.vertical("spx-1", 2700.0, entry=1.00, qty=3)
    rig.quote("spx-1", (1.50, 1.60))
    fake.plan_next(FillPlan(mode="partial", units=(1,), then="never"))
    await rig.build()
    try:
        await rig.monitor.start()
        await rig.cycle()
        [ex] = ExitRepository(sqlite).exits_for("spx-1")
        attempts = ExitRepository(sqlite).attempts_for(ex.id)
        assert (attempts[0].quantity, attempts[0].filled_quantity, attempts[0].status) == (3, 1, OrderStatus.CANCELLED)
        assert attempts[-1].quantity == 2 and attempts[-1].status is OrderStatus.FILLED
        assert sum(a.filled_quantity for a in attempts) == 3 and ex.status is ExitStatus.EXECUTED
        with sqlite.read() as s:
            assert sorted(f.quantity for f in s.query(FillRow)) == [1, 2]
        assert fake.positions == {} and set(_placed(fake).values()) == {1}
    finally:
        await rig.close()


async def test_disconnect_mid_exit_holds_decisions_reconciles_and_sends_nothing_twice(
    sqlite: Store, fake: FakeTws
) -> None:
    clock = FastClock(T0, speed=100)  # a 30 s timeout lasts 0.3 s
    rig = _rig(sqlite, fake, clock)
    rig.vertical("exiting", 2700.0, entry=1.00, qty=2)
    rig.vertical("other", 2800.0, entry=1.00, qty=1)
    rig.quote("exiting", (1.50, 1.60))  # profit target: a MEDIUM exit, fair limit first
    rig.quote("other", (2.00, 2.20))  # holds
    fake.plan_next(FillPlan(mode="never"))  # the fair limit rests at IB
    await rig.build()
    monitor = rig.monitor
    try:
        await monitor.start()
        await monitor.check_once()
        assert list(monitor.in_flight) == ["exiting"]
        await until(lambda: len(fake.orders) == 1, what="the first exit order at IB")
        [ref] = [o.order_ref for o in fake.orders.values()]
        await fake.pause()  # the gateway goes away under the working order
        await until(lambda: monitor.broker_down is not None, what="the monitor to see the drop")
        rig.quote("other", (3.25, 3.45))  # a stop loss fires at IB while nobody listens
        held = await monitor.check_once()
        assert held.broker_down is not None and held.checked == 0 and not held.exits_started
        await asyncio.sleep(0.3)  # the exit's step times out during the outage
        await fake.resume()
        await until(lambda: monitor.broker_down is None, what="the reconnect")
        report = await monitor.check_once()
        assert report.reconciled is not None  # reconciled before deciding
        assert report.exits_started == ["other"]
        await monitor.wait_exits()
        assert len(monitor.reconciles) == 2
        # The working order was found again by orderRef, never re-sent; every order went once.
        assert _placed(fake)[ref] == 1 and set(_placed(fake).values()) == {1}
        for pid in ("exiting", "other"):
            [ex] = ExitRepository(sqlite).exits_for(pid)
            assert ex.status is ExitStatus.EXECUTED, pid
        assert fake.positions == {}
    finally:
        await rig.close()


async def test_a_fill_while_no_monitor_runs_is_recorded_by_the_next_starts_reconciliation(
    sqlite: Store, fake: FakeTws
) -> None:
    clock = FastClock(T0, speed=10)  # the fair limit's 30 s last 3 s: the monitor stops within them
    rig = _rig(sqlite, fake, clock)
    rig.vertical("spx-1", 2700.0, entry=1.00, qty=2)
    rig.quote("spx-1", (1.50, 1.60))  # profit target: the fair limit 0.55 rests (IB fills at 0.65)
    fake.plan_next(FillPlan(mode="never"))
    await rig.build()
    task = None
    try:
        await rig.monitor.start()
        await rig.monitor.check_once()
        await until(lambda: [o.status for o in fake.orders.values()] == ["Submitted"], what="the resting order")
        task = rig.monitor.in_flight["spx-1"]
    finally:
        await rig.close(grace=0.0)  # the monitor goes away; its exit stays WORKING in the store
    assert task is not None and task.done()
    [order] = fake.orders.values()
    fake._fill(order, 2, -0.55)  # IB fills it while nobody is connected
    again = _rig(sqlite, fake, clock)
    await again.build()
    try:
        report = await again.monitor.start()
        assert report is not None and len(report.fills_recorded) == 1 and not report.unknown_fills
        await again.monitor.wait_exits()
        [ex] = ExitRepository(sqlite).exits_for("spx-1")
        assert ex.status is ExitStatus.EXECUTED and ex.fill_price == pytest.approx(0.55)
        assert set(_placed(fake).values()) == {1} and len(_placed(fake)) == 1  # nothing sent again
        assert PositionRepository(sqlite).get("spx-1").position.status is PositionStatus.CLOSED
    finally:
        await again.close()


async def test_dry_run_logs_the_order_it_would_send_and_sends_and_writes_nothing(
    sqlite: Store, fake: FakeTws, caplog: pytest.LogCaptureFixture
) -> None:
    rig = _rig(sqlite, fake, SimulatedClock(T0))
    rig.vertical("spx-1", 2700.0, entry=1.00, qty=2)
    rig.quote("spx-1", (1.50, 1.60))  # profit target
    rig.vertical("stranger", 2900.0, in_store=False)  # held at IB, unknown to the store
    await rig.build(dry_run=True)
    try:
        caplog.set_level("WARNING")
        report = await rig.monitor.start()
        assert report is not None and report.dry_run and report.unknown_positions
        await rig.cycle()
        text = caplog.text
        # fair: passive 1.50 - 1.05 = 0.45, natural 1.60 - 0.95 = 0.65 -> 0.55
        assert "DRY RUN exit: would CLOSE spx-1 (profit_target, MEDIUM): SELL 2 x" in text
        assert "LIMIT 0.55 as" in text and "nothing sent" in text
        assert "position at the broker the store does not know" in text
        assert fake.placed == [] and ExitRepository(sqlite).exits_for("spx-1") == []
        assert AccountRepository(sqlite).bound("ibkr") is None  # a dry run binds nothing
        assert [sp.position.id for sp in PositionRepository(sqlite).load_open()] == ["spx-1"]
    finally:
        await rig.close()


async def test_a_position_at_ib_the_store_does_not_know_is_reported_or_adopted_by_policy(
    sqlite: Store, fake: FakeTws
) -> None:
    clock = SimulatedClock(T0)
    rig = _rig(sqlite, fake, clock)
    rig.vertical("known", 2700.0)
    rig.vertical("stranger", 2900.0, entry=1.20, qty=3, in_store=False)
    await rig.build()
    try:
        ignored = await rig.monitor.start()
        assert ignored is not None and ignored.positions_adopted == []
        assert ignored.unknown_positions == ["adopt-SPX-20240419-vertical-1: vertical x3 [-3 SPX 2024-04-19 2900P, "
                                             "+3 SPX 2024-04-19 2875P] CREDIT 1.2000/share, method default"]
        assert list(rig.monitor.positions) == ["known"]
    finally:
        await rig.close()
    adopting = _rig(sqlite, fake, clock, brokers={"ibkr": {**rig.config.brokers.ibkr.model_dump(),
                                                           "unknown_positions": "adopt"}})
    await adopting.build()
    try:
        report = await adopting.monitor.start()
        assert report is not None and report.positions_adopted == ["adopt-SPX-20240419-vertical-1"]
        assert sorted(adopting.monitor.positions) == ["adopt-SPX-20240419-vertical-1", "known"]
        adopted = PositionRepository(sqlite).get("adopt-SPX-20240419-vertical-1").position
        assert (adopted.entry_premium, adopted.quantity) == (pytest.approx(1.20), 3)
    finally:
        await adopting.close()


async def test_live_refuses_an_account_other_than_the_stores(sqlite: Store, fake: FakeTws) -> None:
    AccountRepository(sqlite).bind("ibkr", "U7654321", T0, by="monitor --broker ibkr")
    rig = _rig(sqlite, fake, SimulatedClock(T0))
    with pytest.raises(WiringError, match=r"belongs to ibkr account U7654321 .* logged in to DU1234567"):
        await rig.build()
    await until(lambda: fake.connected_clients == [], what="the refused run to disconnect")
    assert fake.placed == [] and fake.inbound[1] == 0  # nothing ordered, no market data asked for


def test_unreachable_gateway_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'rp.db'}"
    Store.open(url).close()
    out = CliRunner().invoke(cli, ["monitor", "--broker", "ibkr", "--db", url],
                             env={"RISKPILOT_IBKR_PORT": str(port), "RISKPILOT_IBKR_CONNECT_TIMEOUT_SECONDS": "2"})
    assert out.exit_code == 2
    assert out.output.strip() == (f"error: cannot reach IB Gateway/TWS at 127.0.0.1:{port}: is it running with the "
                                  "API enabled and this client id free? (client id 1)")
