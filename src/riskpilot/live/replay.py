"""Replaying stored end-of-day chains, or recorded event markets, through the live monitor, in
market time.

The live monitor, the workflows, the exit executor and the paper broker run unchanged; only
the clock and the quotes differ. The clock is a
:class:`~riskpilot.execution.executor.SimulatedClock` set to each replayed day's close
(16:00 New York, :func:`riskpilot.data.daychain.close_of`), and :class:`ReplayMarket`
serves, at any instant, the quotes of the latest replayed day whose close is not after it.
So every decision is dated as the backtest dates it, DTE and days held count as they do
there, and an exit's seconds of tactics (which advance the simulated clock) still trade on
that day's quotes.

Timing of one replayed day *t* (:func:`replay_days`): the clock moves to close_of(*t*) (the
paper broker matches working orders), then **one run of the cycle step** with the monitor as
its venue, over every open position and with day *t*'s chain: expiries the data skipped
settle, positions are marked from day *t*'s quotes, exits are decided and worked to their
end on day *t*'s quotes, the entry phase runs on day *t*'s chain (IV window fed, filters,
sizing, order), the positions expiring on *t* settle at the underlying's close; then the
replay waits ``speed`` seconds of real time (0: none) before day *t+1*. The backtest runs the
very same step (:mod:`riskpilot.trading.step`).

Event markets (:func:`replay_events`) replay the same way at every recording instant *t* of an
event snapshot file (:mod:`riskpilot.data.events`), which is also the paper broker's quote
source: the clock moves to *t*, one cycle runs with the event markets at *t* as its snapshot
(settlement of results known at *t*, marks, exits worked to their end, entries), then the next
instant. Exits whose tactics outlast the interval to the next instant push that cycle later (a
warning says so); the backtest would still step at the recorded instant.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from riskpilot.brokers.paper import DayChains, QuoteSource
from riskpilot.data.daychain import DayChain, close_of
from riskpilot.data.events import EventSnapshots
from riskpilot.execution.clock import SimulatedClock
from riskpilot.live.monitor import CycleReport, PositionMonitor
from riskpilot.model.contract import EXCHANGE_TZ, Contract, exchange_date
from riskpilot.model.enums import PositionStatus
from riskpilot.model.mark import DEFAULT_MARK_CHECKS, MarkBasis, MarkChecks, mark_position
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.store import LeaseRecord, PositionRepository, Store
from riskpilot.trading.step import EntryResult

log = logging.getLogger("riskpilot.monitor")

class ReplayMarket:
    """A paper-broker quote source over a chain store, in market time: at ``now`` it serves
    the quotes of the latest day in ``[start, end]`` whose close is at or before ``now``
    (none before the first close), stamped ``now``.

    Quotes are the backtest's own: each day is read once into a
    :class:`~riskpilot.data.daychain.DayChain` (rows unusable for pricing, crossed ones
    included, dropped; the PM-settled SPXW row preferred where SPX and SPXW both list a
    contract) and :meth:`DayChain.quotes` answers, so replay and backtest mark, exit and enter
    on the very same bid/ask rows. A contract without a usable row has no quote: positions
    holding it hold, as in the backtest."""

    def __init__(self, store: DayChains, underlying: str, start: date, end: date | None = None) -> None:
        self.store = store
        self.underlying = underlying
        self.days: list[date] = store.days(underlying, start, end)
        if not self.days:
            raise ValueError(
                f"the chain store has no {underlying} days from {start.isoformat()}"
                f"{' to ' + end.isoformat() if end else ''}: import chains first "
                "(`riskpilot data import`) or pick another start"
            )
        self._closes = [close_of(d) for d in self.days]
        self._loaded: DayChain | None = None

    def index_at(self, now: datetime) -> int | None:
        i = bisect.bisect_right(self._closes, now) - 1
        return i if i >= 0 else None

    def underlying_price(self, now: datetime) -> float:
        """The underlying's close in the chain of the day served at ``now`` (NaN when unknown)."""
        i = self.index_at(now)
        return self.chain(self.days[i]).underlying_price if i is not None else math.nan

    def day_at(self, now: datetime) -> date | None:
        i = self.index_at(now)
        return None if i is None else self.days[i]

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        i = self.index_at(now)
        if i is None:
            return {}
        got = self.chain(self.days[i]).quotes(c for c in contracts if c.underlying == self.underlying)
        return {c: replace(q, timestamp=now) for c, q in got.items()}

    def chain(self, day: date) -> DayChain:
        """Day ``day``'s chain (the last one read is kept: a replay asks for one day at a time)."""
        loaded = self._loaded
        if loaded is None or loaded.quote_date != day:
            loaded = self._loaded = DayChain.from_table(day, self.store.day(self.underlying, day), self.underlying)
        return loaded


class ClockLimiter:
    """A leaky-bucket rate limit on the replay's clock: ``max_rate`` acquisitions in a burst,
    then one every ``time_period / max_rate`` seconds of *clock* time (a full bucket makes the
    caller sleep on the clock, which a :class:`SimulatedClock` does at once). The replay's
    counterpart of the live :class:`aiolimiter.AsyncLimiter`, which counts real seconds and
    would throttle a ``--speed 0`` replay that compresses a trading day into milliseconds."""

    def __init__(self, clock: SimulatedClock, max_rate: float, time_period: float = 60.0) -> None:
        if not max_rate >= 1 or not time_period > 0:
            raise ValueError(f"max_rate must be >= 1 and time_period > 0, got {max_rate!r}, {time_period!r}")
        self.clock = clock
        self.max_rate = float(max_rate)
        self._rate = max_rate / time_period
        self._level = 0.0
        self._last = clock.now()
        self._lock = asyncio.Lock()

    def _leak(self) -> None:
        now = self.clock.now()
        elapsed = max((now - self._last).total_seconds(), 0.0)
        self._level = max(self._level - elapsed * self._rate, 0.0)
        self._last = now

    async def __aenter__(self) -> None:
        async with self._lock:
            self._leak()
            while self._level + 1 > self.max_rate:
                await self.clock.sleep((self._level + 1 - self.max_rate) / self._rate)
                self._leak()
            self._level += 1

    async def __aexit__(self, *exc: object) -> None:
        return None


class MarkedEquity:
    """Account equity as the backtest counts it, for entry sizing in a replay: ``start`` plus
    the realized P&L the store holds (net of every commission, opening ones included) plus
    each open position's P&L at its mark from the replayed day's quotes (``basis`` as the
    monitor's), or at its last good mark when today's is bad (the last one seen here, else
    the last the store recorded, else its entry premium). Quantities are the store's, so a
    partial exit of today counts what is left. Read from the store, not the risk book, so a
    replay restarted after a kill sizes its entries as an uninterrupted one does."""

    def __init__(self, start: float, store: Store, market: QuoteSource, clock: SimulatedClock,
                 basis: MarkBasis, checks: MarkChecks = DEFAULT_MARK_CHECKS) -> None:
        self.start = start
        self.market = market
        self.clock = clock
        self.basis = basis
        self.checks = checks
        self._positions = PositionRepository(store)
        self._last: dict[str, float] = {}

    def __call__(self) -> float:
        now = self.clock.now()
        held = self._positions.load_open((PositionStatus.OPEN, PositionStatus.CLOSING))
        quotes = self.market.quotes([leg.contract for sp in held for leg in sp.position.legs], now)
        spot = self.market.underlying_price(now) if isinstance(self.market, ReplayMarket) else math.nan
        total = self.start + self._positions.realized_net()
        for sp in held:
            p = sp.position
            if p.quantity <= 0:
                continue
            # As the cycle step marks (the day's underlying close bounds each option).
            mark = mark_position(p, quotes, now, basis=self.basis, checks=self.checks,
                                 underlying_price=spot if math.isfinite(spot) and spot > 0 else None)
            if mark.is_valid and mark.premium is not None:
                self._last[p.id] = mark.premium
            last = self._last.get(p.id, sp.monitoring.current_price)
            total += p.pnl_dollars(last if last is not None else p.entry_premium)
        return total


class ReplayAlreadyDoneError(ValueError):
    """The store already holds the replayed period: resuming is the only safe way on."""


def resume_from(store: Store, previous: LeaseRecord | None, underlying: str, start: date | None,
                end: date | None) -> date | None:
    """The first day a replay into ``store`` may trade, never a day already replayed (which
    would enter every position a second time). ``previous`` is the account's lease as the
    last monitor left it: after a replay, its clock at the last cycle says which day the
    replay finished. Without ``start`` the replay resumes the day after; a ``start`` at or
    before that day is refused, and so is a period in which the store holds positions of
    ``underlying`` that no replay recorded (another run's, or an older version's)."""
    done: date | None = None
    if previous is not None and previous.clock == "simulated" and previous.last_cycle_at is not None:
        done = previous.last_cycle_at.astimezone(EXCHANGE_TZ).date()
    if done is not None:
        if start is not None and start <= done:
            raise ReplayAlreadyDoneError(
                f"this store already replayed {underlying} through {done}: rerun without --start to resume "
                f"from the next day, or replay into a fresh --db"
            )
        return start or done + timedelta(days=1)
    clash = [
        sp.position.id for sp in PositionRepository(store).load_open(tuple(PositionStatus))
        if sp.position.underlying == underlying
        and (start is None or sp.position.opened_on >= start) and (end is None or sp.position.opened_on <= end)
    ]
    if clash:
        raise ReplayAlreadyDoneError(
            f"the store already holds {len(clash)} {underlying} positions in the replayed period "
            f"({clash[0]}, ...) that no replay recorded: replay into a fresh --db"
        )
    return start


@dataclass(slots=True)
class ReplayReport:
    days: list[date] = field(default_factory=list)
    cycles: list[CycleReport] = field(default_factory=list)
    stopped_early: bool = False
    instants: list[datetime] = field(default_factory=list)

    @property
    def entries(self) -> list[tuple[date, EntryResult]]:
        return [(c.at.astimezone(EXCHANGE_TZ).date(), e) for c in self.cycles for e in c.entries]

    @property
    def settled(self) -> list[tuple[Position, float, str]]:
        return [s for c in self.cycles for s in c.settled]


async def replay_days(
    monitor: PositionMonitor,
    market: ReplayMarket,
    clock: SimulatedClock,
    *,
    speed: float = 0.0,
    stop: asyncio.Event | None = None,
    warm_up_days: Sequence[date] = (),
) -> ReplayReport:
    """Replay ``market``'s days through ``monitor`` (module docstring): its entries run when it
    was wired with an :class:`~riskpilot.live.entries.EntryWorkflow`, its settlements with a
    :class:`~riskpilot.live.settlement.StoreSettlement`; ``warm_up_days`` (before the first
    day) only feed the entries' IV window."""
    if speed < 0:
        raise ValueError(f"speed is real seconds per replayed day, >= 0; got {speed!r}")
    stop = stop or asyncio.Event()
    report = ReplayReport()
    if monitor.entries is not None:
        for d in warm_up_days:
            monitor.entries.warm_up(market.chain(d))
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
        cycle = await monitor.check_once(force_all=True, chain=market.chain(d),
                                         settle=monitor.settlement is not None)
        await monitor.wait_exits()
        report.cycles.append(cycle)
        if speed > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=speed)
        else:
            await asyncio.sleep(0)
    return report


async def replay_events(
    monitor: PositionMonitor,
    snapshots: EventSnapshots,
    clock: SimulatedClock,
    times: Sequence[datetime],
    *,
    speed: float = 0.0,
    stop: asyncio.Event | None = None,
) -> ReplayReport:
    """Replay the recording instants ``times`` of ``snapshots`` through ``monitor`` (module
    docstring); ``speed`` real seconds between instants (0: none)."""
    if speed < 0:
        raise ValueError(f"speed is real seconds per replayed instant, >= 0; got {speed!r}")
    stop = stop or asyncio.Event()
    report = ReplayReport()
    if not monitor.started:
        await monitor.start()
    for t in times:
        if stop.is_set():
            report.stopped_early = True
            break
        gap = (t - clock.now()).total_seconds()
        if gap > 0:
            await clock.sleep(gap)
        elif gap < 0:
            log.warning("exits of the previous instant ran until %s, past the recording at %s: this cycle runs "
                        "then", clock.now().isoformat(), t.isoformat())
        now = clock.now()
        report.instants.append(now)
        if not report.days or report.days[-1] != exchange_date(now):
            report.days.append(exchange_date(now))
        cycle = await monitor.check_once(force_all=True, chain=snapshots.at(now), settle=monitor.settlement is not None)
        await monitor.wait_exits()
        report.cycles.append(cycle)
        if speed > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=speed)
        else:
            await asyncio.sleep(0)
    return report


__all__ = [
    "ClockLimiter",
    "MarkedEquity",
    "ReplayAlreadyDoneError",
    "ReplayMarket",
    "ReplayReport",
    "replay_days",
    "replay_events",
    "resume_from",
]
