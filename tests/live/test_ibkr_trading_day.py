"""A simulated trading day of the live monitor on Interactive Brokers (the fake TWS through the
real ib_async client, on simulated time): every exit is in the store with its attempts, every
limit sent sits on its contract's tick grid, and IB received exactly one order per client id."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ibkr_rig import IbRig, rig_config

from fakes.tws import FakeTws
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.ticks import NICKEL_DIME, PENNY_PILOT, TickRule
from riskpilot.model import PositionStatus
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.models import ExitStatus, OrderIntentRow, OrderRow

OPEN = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)  # 09:30 New York
CLOSE = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)  # 16:00


def _path(points: list[tuple[float, float]]) -> Callable[[float], float]:
    """Close-out premium by hours since the open, linear between (hour, premium) points."""
    def at(h: float) -> float:
        for (h0, p0), (h1, p1) in itertools.pairwise(points):
            if h <= h1:
                return p0 + (p1 - p0) * (h - h0) / (h1 - h0)
        return points[-1][1]
    return at


#: pid -> (short strike, symbol, IB market rule, grid, quantity, premium path). Entries at 1.00.
BOOK: dict[str, tuple[float, str, int, TickRule, int, Callable[[float], float]]] = {
    "stop": (2700.0, "SPX", 110, NICKEL_DIME, 2, _path([(0, 1.10), (1.5, 1.60), (2.0, 2.40), (6.5, 2.40)])),
    "staged": (2800.0, "SPX", 110, NICKEL_DIME, 4, _path([(0, 0.95), (2.0, 0.82), (3.0, 0.72), (4.5, 0.55)])),
    "quiet": (2900.0, "SPX", 110, NICKEL_DIME, 1, _path([(0, 1.05), (6.5, 1.08)])),
    "spy": (480.0, "SPY", 32, PENNY_PILOT, 3, _path([(0, 1.00), (5.0, 0.58), (6.5, 0.58)])),
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTws]:
    f = FakeTws()
    await f.start()
    yield f
    await f.stop()


async def test_a_simulated_day_leaves_every_exit_attempt_on_the_grid_and_one_order_per_client_id(
    tmp_path: Path, fake: FakeTws
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'day.db'}")
    clock = SimulatedClock(OPEN)
    fake.clock = clock.now  # executions at market time
    # A check a minute, every 30 s near a trigger (SPEC's 30 s / 5 s cadence makes the same day
    # three times as many cycles: after its partial exits a position rides a trailing stop that
    # keeps it near a trigger for hours).
    rig = IbRig(store, fake, clock, rig_config(fake.port, monitoring={"normal_frequency": 60,
                                                                      "urgent_frequency": 30}))
    for pid, (strike, sym, rule, _, qty, _) in BOOK.items():
        rig.vertical(pid, strike, qty=qty, symbol=sym, width=5 if sym == "SPY" else 25, rule=rule)

    def quote(hours: float) -> None:
        # Long leg 0.95/1.05, short leg premium + 1.00 -/+ 0.05 (plus 0.03 of skew so that
        # limits fall between ticks): close-out passive premium - 0.10 + 0.03, natural + 0.13.
        for pid, (*_, path) in BOOK.items():
            p = round(path(hours), 2)
            rig.quote(pid, (p + 0.98, p + 1.08))

    quote(0.0)
    await rig.build()
    monitor = rig.monitor
    cycles = 0
    try:
        await monitor.start()
        last_quoted = -1
        while clock.now() < CLOSE:
            hours = (clock.now() - OPEN).total_seconds() / 3600
            if int(hours * 6) != last_quoted:  # the market moves every 10 minutes
                last_quoted = int(hours * 6)
                quote(hours)
                await asyncio.sleep(0.01)  # the ticks reach the client
            await monitor.check_once()
            await monitor.wait_exits()
            cycles += 1
            await clock.sleep(max(monitor.seconds_to_next(), 1.0))
    finally:
        await rig.close()

    exits = ExitRepository(store)
    by_pid = {pid: exits.exits_for(pid) for pid in BOOK}
    assert [e.rule for e in by_pid["stop"]] == ["stop_loss"]
    assert [e.rule for e in by_pid["staged"]] == ["partial_exit_target", "partial_exit_target", "profit_target"]
    assert by_pid["quiet"] == [] and [e.rule for e in by_pid["spy"]] == [e.rule for e in by_pid["staged"]]
    attempts = []
    for pid, recs in by_pid.items():
        grid = BOOK[pid][3]
        for e in recs:
            assert e.status is ExitStatus.EXECUTED, (pid, e)
            tried = exits.attempts_for(e.id)
            assert tried and sum(a.filled_quantity for a in tried) == e.quantity
            # Every limit on the contract's grid (IB's market rule), never off it.
            assert all(grid.on_grid(a.limit_price) for a in tried if a.limit_price is not None), (pid, tried)
            attempts += tried
    assert sum(1 for a in attempts if a.limit_price is not None) >= 4
    # IB received one order per client id: each attempt's, once; and nothing else.
    placed = Counter(ref for ref, kind, _ in fake.placed if kind == "new")
    assert set(placed.values()) == {1}
    assert set(placed) == {a.client_order_id for a in attempts}
    with store.read() as s:
        assert s.query(OrderRow).count() == s.query(OrderIntentRow).count() == len(attempts)
    statuses = {sp.position.id: sp.position.status for sp in PositionRepository(store).load_open(tuple(PositionStatus))}
    assert statuses == {"stop": PositionStatus.CLOSED, "staged": PositionStatus.CLOSED,
                        "quiet": PositionStatus.OPEN, "spy": PositionStatus.CLOSED}
    quiet = rig.verticals["quiet"]
    assert fake.positions.keys() == {quiet.short_con, quiet.long_con}  # the account holds what stays open
    assert cycles > 390  # every minute over 6.5 hours, more often near a trigger
    store.close()
    assert timedelta(hours=6, minutes=29) < clock.now() - OPEN
