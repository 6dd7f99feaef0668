"""Replaying stored end-of-day chains through the live monitor, in market time.

The live monitor, the workflows, the exit executor and the paper broker run unchanged; only
the clock and the quotes differ. The clock is a
:class:`~riskpilot.execution.executor.SimulatedClock` set to each replayed day's close
(16:00 New York, :func:`riskpilot.backtest.chain.close_of`), and :class:`ReplayMarket`
serves, at any instant, the quotes of the latest replayed day whose close is not after it.
So every decision is dated as the backtest dates it, DTE and days held count as they do
there, and an exit's seconds of tactics (which advance the simulated clock) still trade on
that day's quotes.

Timing of one replayed day *t* (:func:`replay_days`), as the backtest's engine module
describes its own:

1. the clock moves to close_of(*t*); the paper broker matches working orders;
2. one monitoring cycle over **every** open position (marks from day *t*'s quotes, exits
   decided and worked to their end on day *t*'s quotes);
3. the entry workflow runs once on day *t*'s chain (IV window fed, filters, sizing, order);
4. then the replay waits ``speed`` seconds of real time (0: none) before day *t+1*.

Not done here (yet): settlement of expiring positions, which the backtest does at the
underlying's close on the expiration day; a replayed position past its expiration holds
with "no quote".
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from riskpilot.backtest.chain import DayChain, close_of
from riskpilot.brokers.paper import ChainReplaySource, DayChains
from riskpilot.execution.executor import SimulatedClock
from riskpilot.model.contract import OptionContract
from riskpilot.model.quote import Quote
from riskpilot.monitor.monitor import CycleReport, PositionMonitor
from riskpilot.monitor.workflows import EntryResult, EntryWorkflow

log = logging.getLogger("riskpilot.monitor")

#: The replay source's own timeline: day i is served at _ORIGIN + i seconds.
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class ReplayMarket:
    """A paper-broker quote source over a chain store, in market time: at ``now`` it serves
    the quotes of the latest day in ``[start, end]`` whose close is at or before ``now``
    (none before the first close), stamped ``now``. Row selection (unusable rows dropped,
    crossed quotes served so that they are refused, the root equal to the underlying
    preferred) is :class:`~riskpilot.brokers.paper.ChainReplaySource`'s."""

    def __init__(self, store: DayChains, underlying: str, start: date, end: date | None = None) -> None:
        self.store = store
        self.underlying = underlying
        # The inner source maps its own clock to day indices, one day per second.
        self._inner = ChainReplaySource(store, underlying, start, 1.0, end=end, clock=lambda: _ORIGIN)
        self.days: list[date] = self._inner.days
        self._closes = [close_of(d) for d in self.days]

    def index_at(self, now: datetime) -> int | None:
        i = bisect.bisect_right(self._closes, now) - 1
        return i if i >= 0 else None

    def day_at(self, now: datetime) -> date | None:
        i = self.index_at(now)
        return None if i is None else self.days[i]

    def quotes(self, contracts: Sequence[OptionContract], now: datetime) -> dict[OptionContract, Quote]:
        i = self.index_at(now)
        if i is None:
            return {}
        got = self._inner.quotes(contracts, _ORIGIN + timedelta(seconds=i + 0.5))
        return {c: replace(q, timestamp=now) for c, q in got.items()}

    def chain(self, day: date) -> DayChain:
        return DayChain.from_table(day, self.store.day(self.underlying, day), self.underlying)


@dataclass(slots=True)
class ReplayReport:
    days: list[date] = field(default_factory=list)
    cycles: list[CycleReport] = field(default_factory=list)
    entries: list[tuple[date, EntryResult]] = field(default_factory=list)
    stopped_early: bool = False


async def replay_days(
    monitor: PositionMonitor,
    market: ReplayMarket,
    clock: SimulatedClock,
    *,
    entry: EntryWorkflow | None = None,
    speed: float = 0.0,
    stop: asyncio.Event | None = None,
    warm_up_days: Sequence[date] = (),
) -> ReplayReport:
    """Replay ``market``'s days through ``monitor`` (and ``entry``), as the module docstring
    says; ``warm_up_days`` (before the first day) only feed the entry's IV window."""
    if speed < 0:
        raise ValueError(f"speed is real seconds per replayed day, >= 0; got {speed!r}")
    stop = stop or asyncio.Event()
    report = ReplayReport()
    if entry is not None:
        for d in warm_up_days:
            entry.warm_up(market.chain(d))
    if not monitor.started:
        await monitor.start()
    for d in market.days:
        if stop.is_set():
            report.stopped_early = True
            break
        target = close_of(d)
        gap = (target - clock.now()).total_seconds()
        if gap > 0:
            await clock.sleep(gap)
        report.days.append(d)
        cycle = await monitor.check_once(force_all=True)
        await monitor.wait_exits()
        report.cycles.append(cycle)
        if entry is not None:
            result = await entry.run(market.chain(d))
            report.entries.append((d, result))
            if result.position_id is not None and result.quantity > 0:
                monitor.reload(result.position_id)
        if speed > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=speed)
        else:
            await asyncio.sleep(0)
    return report


__all__ = ["ReplayMarket", "ReplayReport", "replay_days"]
