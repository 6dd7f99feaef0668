"""Wiring: the one place that decides, from a configuration and the command's options, which
clock, quote source, executor and store a run gets. Nothing below it asks which it has.

- :func:`build_replay`: the live loop on a simulated clock over a stored chain, the paper
  broker filling by the backtest's fill model (``riskpilot monitor --replay``).
- :func:`build_event_replay`: the live loop on a simulated clock over a recording of event
  markets (``riskpilot monitor --replay FILE``), entering by the edge threshold and settling
  at the results, the paper broker filling at the touch with Kalshi's fee.
- :func:`build_live`: the live loop on the wall clock within the exchange's sessions,
  against a broker (``riskpilot monitor``); ``--broker paper`` without a replay trades on
  the paper broker's own random-walk market, seeded from what its account holds;
  ``--broker kalshi`` manages the account's event positions through Kalshi's API, the edge
  rules fed by the configuration's ``fair_value``; ``--broker ibkr`` connects to IB
  Gateway/TWS (:func:`connect_ibkr`: the account's lease taken, the store's account checked,
  or bound on first use) and reconciles with the account before it acts.
- :func:`read_ibkr_holdings` and :func:`adopt_holdings`: ``riskpilot positions adopt``.
- The backtest's wiring is :func:`riskpilot.backtest.runner.run_spec` (a spec in, a run out).

CLI commands parse flags and call these; they build nothing themselves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from riskpilot import __version__
from riskpilot.alerts import Alerter
from riskpilot.brokers.paper import PaperBroker, RandomWalkMarket, ScriptedMarket
from riskpilot.config import RiskPilotConfig
from riskpilot.data.daychain import close_of
from riskpilot.data.events import EventSnapshots, SnapshotFormatError
from riskpilot.data.store import ChainStore
from riskpilot.execution.clock import Clock, SimulatedClock, WallClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.fees import event_fill_model
from riskpilot.execution.fills import SlippageSpec, fill_model_for
from riskpilot.execution.port import BrokerPort, BrokerPosition
from riskpilot.live.adopt import AdoptionPlan
from riskpilot.live.entries import EntryWorkflow
from riskpilot.live.monitor import PositionMonitor
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.replay import (
    ClockLimiter,
    MarkedEquity,
    ReplayMarket,
    ReplayReport,
    replay_days,
    replay_events,
    resume_from,
)
from riskpilot.live.session import AlwaysOpen, ExchangeSessions, Sessions
from riskpilot.live.settlement import DayCloses, StoreSettlement
from riskpilot.model.position import Position
from riskpilot.risk.manager import RiskManager
from riskpilot.store import ExitRepository, HeldLease, PositionRepository, StateRepository, Store
from riskpilot.store.lease import take_lease
from riskpilot.store.ledger import StoreLedger
from riskpilot.store.paper_book import StorePaperBook
from riskpilot.trading.events import EVENTS, EventEntryPlanner, EventResults, VenueResults, snapshot_edges
from riskpilot.trading.fair_value import EdgeFeatures, FairValueError, load_fair_values
from riskpilot.trading.settlement import OfficialValues, settlement_for
from riskpilot.trading.signals import IV_WINDOW, MarketData, iv_filters_set

if TYPE_CHECKING:  # the live (ib_async) and kalshi extras: imported when a run needs them
    from riskpilot.brokers.ibkr_broker import IbkrBroker
    from riskpilot.brokers.kalshi import KalshiBroker
    from riskpilot.config.brokers import IbkrConfig

log = logging.getLogger("riskpilot.monitor")

SLIPPAGES: dict[str, SlippageSpec] = {"none": "none", "pct": "pct", "spread": "spread", "orats": "orats",
                                      "volume": "volume"}


#: Stored alerts not yet delivered are sent again on start, up to this many tries each.
OUTBOX_MAX_ATTEMPTS = 5


class WiringError(ValueError):
    """The options cannot make a run; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class MonitorOptions:
    """What every monitor run is given. ``equity`` dollars (sizing); ``slippage`` and
    ``commission`` (dollars per contract per leg) are the paper broker's fill model (for
    options; event contracts fill at the touch with Kalshi's fee); ``sessions``: ``exchange``
    (XNYS sessions), ``always`` (paper practice, or Kalshi, whose exchange is open around the
    clock) or ``auto`` (``always`` for Kalshi, else ``exchange``)."""

    broker: str = "paper"
    dry_run: bool = False
    account: str = "paper"
    #: IBKR: the account to trade (None: brokers.ibkr.account, or the login's only one).
    ib_account: str | None = None
    equity: float = 100_000.0
    slippage: str = "orats"
    commission: float = 0.65
    sessions: Literal["exchange", "always", "auto"] = "exchange"
    walk_seed: int = 0
    walk_step_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    chains: Path
    underlying: str
    method: str
    start: date | None = None
    end: date | None = None
    speed: float = 1.0


@dataclass(frozen=True, slots=True)
class EventReplayOptions:
    """A replay of recorded event markets: the snapshot file, the method whose exit rules and
    sizing apply, the configuration file's folder (a relative ``fair_value.feed`` is read
    from it), the exchange dates to replay and real seconds per instant."""

    snapshots: Path
    method: str
    config_dir: Path | None = None
    start: date | None = None
    end: date | None = None
    speed: float = 0.0


@dataclass(frozen=True, slots=True)
class EventReplay:
    snapshots: EventSnapshots
    times: list[datetime]


@dataclass(slots=True)
class RunSummary:
    lines: list[str] = field(default_factory=list)


def _fill_model(opts: MonitorOptions):  # type: ignore[no-untyped-def]
    if opts.slippage not in SLIPPAGES:
        raise WiringError(f"--slippage {opts.slippage!r}: use one of {', '.join(SLIPPAGES)}")
    return fill_model_for(SLIPPAGES[opts.slippage], opts.commission)


def _market_data(underlying: str) -> MarketData | None:
    try:
        return MarketData.from_bundled(underlying)
    except LookupError as exc:
        log.warning("no bundled VIX/trend history for %s (%s): VIX filters and regimes are off", underlying, exc)
        return None


class MonitorRun:
    """A wired monitor run: :meth:`run` until ``stop`` is set (or the replay ends). The run
    is recorded in the store (host, version, config text) from start to finish."""

    def __init__(self, *, store: Store, config: RiskPilotConfig, config_text: str | None, clock: Clock,
                 broker: BrokerPort, risk: RiskManager, monitor: PositionMonitor, alerter: Alerter | None,
                 command: str, dry_run: bool, replay: ReplayMarket | None = None, speed: float = 0.0,
                 warm_up: list[date] | None = None, sessions: Sessions | None = None, account: str = "paper",
                 broker_name: str = "paper", lease: HeldLease | None = None,
                 event_replay: EventReplay | None = None,
                 closers: list[Callable[[], Awaitable[None]]] | None = None) -> None:
        self.store = store
        self.config = config
        self.config_text = config_text
        self.clock = clock
        self.broker = broker
        self.risk = risk
        self.monitor = monitor
        self.alerter = alerter
        self.command = command
        self.dry_run = dry_run
        self.replay = replay
        self.speed = speed
        self.warm_up = warm_up or []
        self.sessions = sessions
        #: The broker account this run trades: the key of its lease (IBKR: the IB account id).
        self.account = account
        self.broker_name = broker_name
        #: The account's lease when the caller took it before wiring (so that a second monitor
        #: is refused before it builds anything); else :meth:`run` takes it.
        self.lease = lease
        self.event_replay = event_replay
        #: Called once when the run ends, whatever the way (the brokers' connections).
        self.closers = closers or []

    async def run(self, stop: asyncio.Event) -> RunSummary:
        """Take the account's lease (a second monitor is refused with :class:`LeaseHeldError`
        naming the holder), then reconcile and monitor; the lease is beaten every cycle and
        released on the way out."""
        try:
            lease = self.lease or take_lease(self.store, self.account, command=self.command,
                                             broker=self.broker_name, simulated=isinstance(self.clock, SimulatedClock))
        except BaseException:
            await self.close_broker()
            raise

        def beat(at: datetime) -> None:
            lease.heartbeat(datetime.now(UTC), last_cycle_at=at, broker_connected=self.monitor.broker_connected)

        self.monitor.on_cycle = beat
        if self.alerter is not None:
            # The outbox: alerts stored with their change but not yet sent (a kill came between,
            # or the reconciliation recorded the fill): delivered on start and after each cycle.
            # Alerts whose delivery failed before are tried again on start (up to
            # OUTBOX_MAX_ATTEMPTS times each); after a cycle, only those never tried.
            await self.alerter.deliver_pending(max_attempts=OUTBOX_MAX_ATTEMPTS)
            alerter = self.alerter
            self.monitor.outbox = lambda: alerter.deliver_pending(max_attempts=1)
        state = StateRepository(self.store)
        run_started = {e.id for e in ExitRepository(self.store).all_exits()}
        run_id = state.start_run(host=socket.gethostname(), version=__version__, dry_run=self.dry_run,
                                 started_at=datetime.now(UTC), config_text=self.config_text, command=self.command)
        try:
            if self.event_replay is not None:
                ev = self.event_replay
                report = await replay_events(self.monitor, ev.snapshots, self.clock_as_simulated(), ev.times,
                                             speed=self.speed, stop=stop)
                await self.monitor.shutdown()
                return self._event_summary(report, ev, run_started)
            if self.replay is not None:
                report = await replay_days(self.monitor, self.replay, self.clock_as_simulated(), speed=self.speed,
                                           stop=stop, warm_up_days=self.warm_up)
                await self.monitor.shutdown()
                return self._replay_summary(report)
            await self.monitor.run(stop, sessions=self.sessions)
            await self.monitor.shutdown()
            lines = [f"monitor stopped: {len(self.monitor.positions)} positions open, "
                     f"trading {self.risk.trading_state.value}" + (" [dry run: nothing sent]" if self.dry_run else "")]
            if self.monitor.reconciles:
                first = self.monitor.reconciles[0]
                lines += [f"reconciled on start{' (dry run)' if self.dry_run else ''}: {line}"
                          for line in first.lines()]
                if len(self.monitor.reconciles) > 1:
                    lines.append(f"reconciled again after {len(self.monitor.reconciles) - 1} reconnects")
            return RunSummary(lines)
        finally:
            self.monitor.on_cycle = None
            if self.alerter is not None:
                await self.alerter.drain()
            await self.close_broker()
            state.finish_run(run_id, datetime.now(UTC))
            lease.release(datetime.now(UTC))

    async def close_broker(self) -> None:
        """Close what the run opened at its broker (IB Gateway/TWS, Kalshi's HTTP session); once."""
        closers, self.closers = self.closers, []
        for close in closers:
            await close()

    def clock_as_simulated(self) -> SimulatedClock:
        if not isinstance(self.clock, SimulatedClock):
            raise TypeError("a replay runs on a SimulatedClock")
        return self.clock

    def _replay_summary(self, report: ReplayReport) -> RunSummary:
        opened = sum(1 for _, r in report.entries if r.quantity > 0)
        exits = sum(len(c.exits_started) for c in report.cycles)
        how = "stopped by signal" if report.stopped_early else "replay finished"
        calls = getattr(self.broker, "total_api_calls", None)
        lines = [
            f"{how}: {len(report.days)} days ({report.days[0] if report.days else '-'} to "
            f"{report.days[-1] if report.days else '-'}), {opened} entries, {exits} exits started, "
            f"{len(report.settled)} settled at expiration, {len(self.monitor.positions)} positions open, "
            f"broker calls {calls}" + (" [dry run: nothing sent]" if self.dry_run else "")
        ]
        refused = self.monitor.entries.refused if self.monitor.entries is not None else {}
        if refused:
            lines.append("entries refused: " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
        return RunSummary(lines)

    def _event_summary(self, report: ReplayReport, ev: EventReplay, before: set[int]) -> RunSummary:
        """What an event replay prints: its span (SYNTHETIC when the recording says so), the
        entries, every exit of this run with its rule, and the realized P&L after fees."""
        exits = [e for e in ExitRepository(self.store).all_exits() if e.id not in before and e.filled_quantity > 0]
        positions = PositionRepository(self.store)
        opened = sum(1 for _, r in report.entries if r.quantity > 0)
        how = "stopped by signal" if report.stopped_early else "replay finished"
        label = "a SYNTHETIC recording (generated, not recorded)" if ev.snapshots.synthetic else "a recording"
        span = (f"{report.instants[0]:%Y-%m-%d %H:%M} to {report.instants[-1]:%H:%M} UTC" if report.instants
                else "nothing")
        calls = getattr(self.broker, "total_api_calls", None)
        lines = [f"{how}: {len(report.instants)} instants of {label} ({span}), {opened} entries, "
                 f"{len(exits)} exits, {len(self.monitor.positions)} positions open, broker calls {calls}"
                 + (" [dry run: nothing sent]" if self.dry_run else "")]
        by_rule = Counter(e.rule or "-" for e in exits)
        if by_rule:
            lines.append("exits by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
        realized = fees = 0.0
        seen: set[str] = set()
        for e in sorted(exits, key=lambda e: (e.executed_at or e.triggered_at, e.id)):
            sp = positions.get(e.position_id)
            pos = sp.position
            why = e.reason if e.rule and e.reason.startswith(e.rule) else f"{e.rule}: {e.reason}"
            lines.append(f"  {(e.executed_at or e.triggered_at):%H:%M:%S} {pos.legs[0].contract} x{e.filled_quantity} "
                         f"bought {pos.entry_premium:.2f} sold {e.fill_price or 0.0:.2f}  {why}")
            if e.position_id not in seen:
                seen.add(e.position_id)
                realized += sp.monitoring.realized_pnl
                fees += sp.monitoring.commissions
        lines.append(f"realized P&L ${realized - fees:,.2f} after ${fees:,.2f} of fees (${realized:,.2f} before)")
        refused = self.monitor.entries.refused if self.monitor.entries is not None else {}
        if refused:
            lines.append("entries refused: " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
        return RunSummary(lines)


def build_replay(store: Store, cfg: RiskPilotConfig, config_text: str | None, opts: MonitorOptions,
                 replay: ReplayOptions, *, paper_broker: Callable[..., PaperBroker] | None = None,
                 lease: HeldLease | None = None) -> MonitorRun:
    """The live loop over ``replay.chains`` on a simulated clock set to each day's close
    (:mod:`riskpilot.live.replay`), trading ``replay.method`` in ``replay.underlying`` through the
    paper broker with the backtest's fill model."""
    if opts.broker != "paper":
        raise WiringError(f"--replay trades on the paper broker; --broker {opts.broker!r} cannot replay history")
    chains = ChainStore(replay.chains)
    start = resume_from(store, lease.previous if lease is not None else None, replay.underlying, replay.start,
                        replay.end)
    if start is not None and start != replay.start:
        log.warning("resuming the replay of %s from %s (the store holds the days before)", replay.underlying, start)
    market = ReplayMarket(chains, replay.underlying, start or date(1900, 1, 1), replay.end)
    clock = SimulatedClock(close_of(market.days[0]) - timedelta(seconds=1))
    model = _fill_model(opts)
    broker = (paper_broker or PaperBroker)(StorePaperBook(store), market, account=opts.account, fill_model=model,
                                           clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    alerter = None if opts.dry_run else Alerter.from_config(store, cfg.alerts, clock=clock)
    # End-of-day quotes, as the backtest's: a jump confirmed by the next quote would act a day late.
    risk = RiskManager(cfg, equity=opts.equity, confirm_jumps=cfg.monitoring.confirms_jumps(end_of_day=True))
    # The call limit counts the replay's clock: real seconds would throttle a --speed 0 replay.
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring,
                                      limiter=ClockLimiter(clock, cfg.monitoring.max_api_calls_per_minute))
    md = _market_data(replay.underlying)
    entries = EntryWorkflow(
        store=store, broker=broker, risk=risk, config=cfg, clock=clock, method=replay.method,
        underlying=replay.underlying, quotes=quotes, market=md, dry_run=opts.dry_run, fill_model=model,
        equity=MarkedEquity(opts.equity, store, market, clock, cfg.monitoring.mark_basis,
                            cfg.monitoring.mark_checks()),
    )
    # Expiries settle as in the backtest (not in a dry run, which writes nothing).
    closes = DayCloses(replay.underlying, lambda lo, hi: chains.days(replay.underlying, lo, hi), market.chain)
    settlement = None if opts.dry_run else StoreSettlement(
        store, risk, OfficialValues(replay.underlying, closes, warn=log.warning),
        settlement_for(replay.underlying), expire=broker.expire)
    monitor = PositionMonitor(
        store, broker, risk, cfg, clock, executor=ExitExecutor(broker, StoreLedger(store), cfg, clock, alerter),
        alerts=alerter,
        quotes=quotes, dry_run=opts.dry_run, exit_regime=(lambda d: md.regime(d, cfg.regimes)) if md else None,
        entries=entries, settlement=settlement, underlying=replay.underlying,
    )
    warm: list[date] = []
    if iv_filters_set(cfg.method(replay.method).entry):
        warm = chains.days(replay.underlying, None, market.days[0] - timedelta(days=1))[-IV_WINDOW:]
    return MonitorRun(store=store, config=cfg, config_text=config_text, clock=clock, broker=broker, risk=risk,
                      monitor=monitor, alerter=alerter, command="monitor --replay", dry_run=opts.dry_run,
                      replay=market, speed=replay.speed, warm_up=warm, account=opts.account, broker_name="paper",
                      lease=lease)


def _fair_values(cfg: RiskPilotConfig, config_dir: Path | None, what: str) -> EdgeFeatures | None:
    return None if cfg.fair_value is None else EdgeFeatures(_fair_source(cfg, config_dir, what),
                                                            max_quote_age_seconds=cfg.monitoring.max_quote_age_seconds)


def _fair_source(cfg: RiskPilotConfig, config_dir: Path | None, what: str):  # type: ignore[no-untyped-def]
    if cfg.fair_value is None:
        raise WiringError(f"{what} needs fair values for its edge: add fair_value: {{feed: FILE}} (or callable: "
                          "module:function) to the --config file")
    try:
        return load_fair_values(cfg.fair_value, base_dir=config_dir)
    except FairValueError as exc:
        raise WiringError(f"fair_value: {exc}") from None


def build_event_replay(store: Store, cfg: RiskPilotConfig, config_text: str | None, opts: MonitorOptions,
                       replay: EventReplayOptions, *, paper_broker: Callable[..., PaperBroker] | None = None,
                       lease: HeldLease | None = None) -> MonitorRun:
    """The live loop over the event markets recorded in ``replay.snapshots`` on a simulated
    clock set to each recording instant (:func:`riskpilot.live.replay.replay_events`): the
    step's entries by the edge threshold (``event_entries``), exits by ``replay.method``'s
    rules with the edge from ``fair_value``, settlement at each market's result; the paper
    broker quotes the recording and fills at the touch with Kalshi's taker fee, as the
    backtest of the same file does. A store that already replayed part of the recording (the
    account's lease says at which instant its last cycle ran) resumes after that instant."""
    if opts.broker != "paper":
        raise WiringError(f"--replay trades on the paper broker; --broker {opts.broker!r} cannot replay a recording")
    try:
        snapshots = EventSnapshots.from_path(replay.snapshots)
    except SnapshotFormatError as exc:
        raise WiringError(f"--replay {exc}") from None
    fair = _fair_source(cfg, replay.config_dir, "an event replay")
    times = snapshots.between(replay.start, replay.end)
    previous = lease.previous if lease is not None else None
    if previous is not None and previous.clock == "simulated" and previous.last_cycle_at is not None:
        done = previous.last_cycle_at
        if times and times[0] <= done:
            log.warning("resuming the replay after %s (the store holds the instants before)", done.isoformat())
        times = [t for t in times if t > done]
        if not times:
            raise WiringError(f"this store already replayed {replay.snapshots} through {done.isoformat()}: replay "
                              "into a fresh --db")
    if not times:
        raise WiringError(f"--start/--end: {replay.snapshots} holds no instant between "
                          f"{replay.start or 'its start'} and {replay.end or 'its end'} (it covers "
                          f"{snapshots.first:%Y-%m-%d} to {snapshots.last:%Y-%m-%d})")
    clock = SimulatedClock(times[0] - timedelta(seconds=1))
    model = event_fill_model()
    broker = (paper_broker or PaperBroker)(StorePaperBook(store), snapshots, account=opts.account,
                                           fill_model=model, clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    alerter = None if opts.dry_run else Alerter.from_config(store, cfg.alerts, clock=clock)
    risk = RiskManager(cfg, equity=opts.equity)
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring,
                                      limiter=ClockLimiter(clock, cfg.monitoring.max_api_calls_per_minute))
    planner = EventEntryPlanner(cfg, replay.method, fair, fill_model=model)
    entries = EntryWorkflow(
        store=store, broker=broker, risk=risk, config=cfg, clock=clock, method=replay.method, underlying=EVENTS,
        quotes=quotes, dry_run=opts.dry_run, fill_model=model, planner=planner,
        max_new_positions_per_day=cfg.event_entries.max_new_positions,
        equity=MarkedEquity(opts.equity, store, snapshots, clock, cfg.monitoring.mark_basis),
    )
    settlement = None if opts.dry_run else StoreSettlement(store, risk, None, "cash", expire=broker.expire,
                                                           settler=EventResults(snapshots.result))
    monitor = PositionMonitor(
        store, broker, risk, cfg, clock, executor=ExitExecutor(broker, StoreLedger(store), cfg, clock, alerter),
        alerts=alerter,
        quotes=quotes, dry_run=opts.dry_run, entries=entries, settlement=settlement,
        features=snapshot_edges(snapshots, fair, cfg),
    )
    return MonitorRun(store=store, config=cfg, config_text=config_text, clock=clock, broker=broker, risk=risk,
                      monitor=monitor, alerter=alerter, command="monitor --replay (event markets)",
                      dry_run=opts.dry_run, speed=replay.speed, event_replay=EventReplay(snapshots, times),
                      account=opts.account, broker_name="paper", lease=lease)


async def kalshi_broker(cfg: RiskPilotConfig, clock: Clock) -> KalshiBroker:
    """The Kalshi adapter on the configuration's ``kalshi`` block, credentials from the
    environment or the key file it names (never from the YAML or the store)."""
    try:
        from riskpilot.brokers.kalshi import KalshiBroker, KalshiCredentials, KalshiCredentialsError
    except ImportError:
        raise WiringError("Kalshi needs its SDK: pip install 'riskpilot[kalshi]'") from None
    try:
        creds = KalshiCredentials.load(cfg.kalshi)
    except KalshiCredentialsError as exc:
        raise WiringError(str(exc)) from None
    return KalshiBroker(cfg.kalshi, creds, clock=clock.now,
                        limiter=_clock_limiter(clock, cfg.kalshi.max_api_calls_per_minute))


def _clock_limiter(clock: Clock, per_minute: int) -> ClockLimiter | None:
    """A call limit counted on a simulated clock (tests, benchmarks: real seconds would throttle
    a run that compresses minutes into milliseconds); None for the wall clock (aiolimiter)."""
    return ClockLimiter(clock, per_minute) if isinstance(clock, SimulatedClock) else None


async def paper_walk_broker(store: Store, opts: MonitorOptions, clock: Clock) -> PaperBroker:
    """The paper broker on its own market: a seeded random walk (one step per
    ``opts.walk_step_seconds`` of the clock) starting from each contract the paper account
    holds at its average price. A contract without a positive price has no quote (its
    position holds)."""
    broker = PaperBroker(StorePaperBook(store), ScriptedMarket(), account=opts.account, fill_model=_fill_model(opts),
                         clock=clock.now)
    walk = RandomWalkMarket({}, seed=opts.walk_seed, step_seconds=opts.walk_step_seconds)
    for held in await broker.positions():
        price = abs(held.avg_price)
        if price > 0:
            walk.add(held.contract, price)
        else:
            log.warning("paper account holds %s at no price: it is not quoted", held.contract)
    broker.source = walk
    return broker


#: Brokers ``riskpilot monitor`` runs live against.
LIVE_BROKERS = ("paper", "kalshi", "ibkr")


def _sessions(opts: MonitorOptions) -> Sessions:
    mode = opts.sessions if opts.sessions != "auto" else ("always" if opts.broker == "kalshi" else "exchange")
    if mode == "always":
        if opts.broker not in ("paper", "kalshi"):
            raise WiringError("--sessions always is for paper practice only (and Kalshi, open around the clock): a "
                              "real options account trades in its exchange's sessions")
        return AlwaysOpen()
    return ExchangeSessions("XNYS")


def _ibkr_settings(cfg: RiskPilotConfig, account: str | None) -> IbkrConfig:
    from riskpilot.config.brokers import BrokerSettingsError, ibkr_settings

    try:
        return ibkr_settings(cfg.brokers.ibkr, account=account)
    except BrokerSettingsError as exc:
        raise WiringError(str(exc)) from None


def _ibkr_run(cfg: RiskPilotConfig, opts: MonitorOptions) -> tuple[IbkrConfig, str]:
    """An IBKR run's settings and the method holdings it adopts are managed by."""
    settings = _ibkr_settings(cfg, opts.ib_account)
    adopt_as = adopt_method_of(cfg, settings.adopt_method) if settings.unknown_positions == "adopt" else "default"
    return settings, adopt_as


def adopt_method_of(cfg: RiskPilotConfig, method: str | None) -> str:
    """The method adopted positions are managed by: ``method``, else the configuration's only
    one; it must be one of the configuration's methods."""
    if method is None:
        if len(cfg.methods) != 1:
            raise WiringError(f"say which method adopted positions are managed by (--method, or "
                              f"brokers.ibkr.adopt_method): the configuration has {sorted(cfg.methods)}")
        return next(iter(cfg.methods))
    if method not in cfg.methods:
        raise WiringError(f"method {method!r} is not in the configuration (methods: {sorted(cfg.methods)})")
    return method


async def connect_ibkr(store: Store, settings: IbkrConfig, *, clock: Callable[[], datetime], bind: bool,
                       command: str, lease: HeldLease | None = None, simulated: bool = False
                       ) -> tuple[IbkrBroker, HeldLease]:
    """An :class:`~riskpilot.brokers.ibkr_broker.IbkrBroker` connected with ``settings``, its
    orders found at IB mapped back through the store's order intents, and the lease of the
    connected account: ``lease`` when the caller took it (its account must be the connected
    one), else taken here, before the store is touched. The store's IBKR account is checked
    against the connected one (refused when they differ) and, with ``bind``, recorded on
    first use. Every failure is a :class:`WiringError` with one line, and leaves the gateway
    disconnected and a lease taken here released."""
    try:
        from riskpilot.brokers.ibkr_broker import IbkrBroker
    except ImportError:
        raise WiringError("Interactive Brokers needs ib_async: pip install 'riskpilot[live]'") from None
    from riskpilot.execution.port import BrokerError
    from riskpilot.store import AccountMismatchError, AccountRepository, LeaseHeldError, OrderRepository

    broker = IbkrBroker(settings, clock=clock, order_lookup=OrderRepository(store).intended_order)
    try:
        await broker.connect()
    except BrokerError as exc:
        raise WiringError(str(exc)) from None
    taken: HeldLease | None = None
    try:
        if lease is None:
            lease = taken = take_lease(store, broker.account, command=command, broker="ibkr", simulated=simulated)
        elif lease.account != broker.account:
            raise WiringError(f"the lease was taken for account {lease.account!r}, but IB Gateway/TWS at "
                              f"{settings.address} trades {broker.account!r}")
        accounts = AccountRepository(store)
        if bind:
            accounts.bind("ibkr", broker.account, datetime.now(UTC), by=command)
        else:
            accounts.check("ibkr", broker.account)
    except (WiringError, LeaseHeldError, AccountMismatchError) as exc:
        await broker.close()
        if taken is not None:
            taken.release(datetime.now(UTC))
        raise WiringError(str(exc)) from None
    return broker, lease


async def read_ibkr_holdings(store: Store, cfg: RiskPilotConfig, *, account: str | None = None
                             ) -> tuple[HeldLease, list[BrokerPosition]]:
    """The IB account's option holdings (``riskpilot positions adopt``): connect, take the
    account's lease (no monitor may run on it while positions are adopted), check the store's
    account, read the positions, disconnect. Returns the lease (release it once the adoption
    is stored or dropped; ``lease.account`` is the account id) and the holdings."""
    from riskpilot.execution.port import BrokerError

    broker, lease = await connect_ibkr(store, _ibkr_settings(cfg, account), clock=WallClock().now, bind=False,
                                       command="positions adopt --broker ibkr")
    try:
        return lease, await broker.positions()
    except BrokerError as exc:
        lease.release(datetime.now(UTC))
        raise WiringError(f"reading the account's positions failed: {exc}") from None
    finally:
        await broker.close()


def adopt_holdings(store: Store, plan: AdoptionPlan, *, broker: str, account: str) -> list[Position]:
    """Store the plan's positions (``riskpilot positions adopt``, after confirmation) and
    bind the store to ``account`` of ``broker``."""
    from riskpilot.live.adoption import adopt
    from riskpilot.store import AccountMismatchError, AccountRepository

    try:
        AccountRepository(store).bind(broker, account, datetime.now(UTC), by=f"positions adopt --broker {broker}")
    except AccountMismatchError as exc:
        raise WiringError(str(exc)) from None
    return adopt(store, plan)


async def build_live(store: Store, cfg: RiskPilotConfig, config_text: str | None, opts: MonitorOptions, *,
                     broker: BrokerPort | None = None, clock: Clock | None = None,
                     sessions: Sessions | None = None, lease: HeldLease | None = None,
                     config_dir: Path | None = None) -> MonitorRun:
    """The live loop on ``clock`` (default: the wall clock) within ``sessions`` (default by
    ``opts.sessions``) against ``broker`` (default by ``opts.broker``: ``paper``, ``kalshi``
    through :func:`kalshi_broker`, or IB Gateway/TWS through :func:`connect_ibkr`, closed when
    the run ends). It manages the exits of what the store holds; entries need a snapshot
    source, which the live loop does not have yet (they run in replays and backtests). With a
    ``fair_value`` in the configuration the edge rules read each event position's edge
    (:class:`EdgeFeatures`; a relative feed is read from ``config_dir``); no alternative
    markets are scanned, so ``rebalance`` stays silent live."""
    clock = clock or WallClock()
    if sessions is None:
        sessions = _sessions(opts)
    if opts.broker not in LIVE_BROKERS and broker is None:
        raise WiringError(f"--broker {opts.broker!r} is not wired to the monitor yet: use one of "
                          f"{', '.join(LIVE_BROKERS)}")
    features = _fair_values(cfg, config_dir, "the monitor")
    command = f"monitor --broker {opts.broker}" + (" --dry-run" if opts.dry_run else "")
    closers: list[Callable[[], Awaitable[None]]] = []
    results = None
    account = opts.account
    ib = _ibkr_run(cfg, opts) if opts.broker == "ibkr" else None
    if broker is None:
        if opts.broker == "kalshi":
            kalshi = await kalshi_broker(cfg, clock)
            closers.append(kalshi.close)
            results = VenueResults(kalshi.market_results)
            broker = kalshi
        elif ib is not None:
            ibkr, lease = await connect_ibkr(store, ib[0], clock=clock.now, bind=not opts.dry_run,
                                             command=command, lease=lease, simulated=isinstance(clock, SimulatedClock))
            closers.append(ibkr.close)
            broker, account = ibkr, ibkr.account
        else:
            broker = await paper_walk_broker(store, opts, clock)
    elif account == opts.account:
        account = getattr(broker, "account", account)  # a broker handed in names its own account
    alerter = None if opts.dry_run else Alerter.from_config(store, cfg.alerts, clock=clock.now)
    risk = RiskManager(cfg, equity=opts.equity, confirm_jumps=cfg.monitoring.confirms_jumps(end_of_day=False))
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring,
                                      limiter=_clock_limiter(clock, cfg.monitoring.max_api_calls_per_minute))
    executor = ExitExecutor(broker, StoreLedger(store), cfg, clock, alerter)
    # Event positions settle at the venue's results (Kalshi pays them out on its own; the store
    # books the payout); nothing is written in a dry run.
    settlement = None if results is None or opts.dry_run else StoreSettlement(store, risk, None, "cash",
                                                                              settler=results)
    monitor = PositionMonitor(store, broker, risk, cfg, clock, executor=executor, alerts=alerter, quotes=quotes,
                              dry_run=opts.dry_run, features=features, settlement=settlement,
                              unknown_positions=ib[0].unknown_positions if ib is not None else "ignore",
                              adopt_method=ib[1] if ib is not None else "default")
    return MonitorRun(store=store, config=cfg, config_text=config_text, clock=clock, broker=broker, risk=risk,
                      monitor=monitor, alerter=alerter, command=command, dry_run=opts.dry_run, sessions=sessions,
                      account=account, broker_name=opts.broker, lease=lease, closers=closers)


__all__ = [
    "LIVE_BROKERS",
    "SLIPPAGES",
    "EventReplayOptions",
    "MonitorOptions",
    "MonitorRun",
    "ReplayOptions",
    "RunSummary",
    "WiringError",
    "adopt_holdings",
    "adopt_method_of",
    "build_event_replay",
    "build_live",
    "build_replay",
    "connect_ibkr",
    "kalshi_broker",
    "paper_walk_broker",
    "read_ibkr_holdings",
]
