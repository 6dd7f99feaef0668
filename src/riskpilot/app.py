"""Wiring: the one place that decides, from a configuration and the command's options, which
clock, quote source, executor and store a run gets. Nothing below it asks which it has.

- :func:`build_replay`: the live loop on a simulated clock over a stored chain, the paper
  broker filling by the backtest's fill model (``riskpilot monitor --replay``).
- :func:`build_live`: the live loop on the wall clock within the exchange's sessions,
  against a broker (``riskpilot monitor``); ``--broker paper`` without a replay trades on
  the paper broker's own random-walk market, seeded from what its account holds;
  ``--broker ibkr`` connects to IB Gateway/TWS (:func:`connect_ibkr`: the store's account
  checked, or bound on first use) and reconciles with the account before it acts.
- :func:`read_ibkr_holdings` and :func:`adopt_holdings`: ``riskpilot positions adopt``.
- The backtest's wiring is :func:`riskpilot.backtest.runner.run_spec` (a spec in, a run out).

CLI commands parse flags and call these; they build nothing themselves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
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
from riskpilot.data.store import ChainStore
from riskpilot.execution.clock import Clock, SimulatedClock, WallClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.fills import SlippageSpec, fill_model_for
from riskpilot.execution.port import BrokerPort, BrokerPosition
from riskpilot.live.adopt import AdoptionPlan
from riskpilot.live.entries import EntryWorkflow
from riskpilot.live.monitor import PositionMonitor
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.reconcile import UnknownPositions
from riskpilot.live.replay import ClockLimiter, MarkedEquity, ReplayMarket, ReplayReport, replay_days, resume_from
from riskpilot.live.session import AlwaysOpen, ExchangeSessions, Sessions
from riskpilot.live.settlement import DayCloses, StoreSettlement
from riskpilot.model.position import Position
from riskpilot.risk.manager import RiskManager
from riskpilot.store import HeldLease, StateRepository, Store
from riskpilot.store.lease import take_lease
from riskpilot.trading.settlement import OfficialValues, settlement_for
from riskpilot.trading.signals import IV_WINDOW, MarketData, iv_filters_set

if TYPE_CHECKING:  # ib_async is the `live` extra: imported when an IBKR run is wired
    from riskpilot.brokers.ibkr_broker import IbkrBroker
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
    ``commission`` (dollars per contract per leg) are the paper broker's fill model;
    ``sessions``: ``exchange`` (XNYS sessions) or ``always`` (paper practice only)."""

    broker: str = "paper"
    dry_run: bool = False
    account: str = "paper"
    #: IBKR: the account to trade (None: brokers.ibkr.account, or the login's only one).
    ib_account: str | None = None
    equity: float = 100_000.0
    slippage: str = "orats"
    commission: float = 0.65
    sessions: Literal["exchange", "always"] = "exchange"
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
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
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
        self._on_close = on_close

    async def run(self, stop: asyncio.Event) -> RunSummary:
        """Take the account's lease (a second monitor is refused with :class:`LeaseHeldError`
        naming the holder), then reconcile and monitor; the lease is beaten every cycle and
        released on the way out."""
        lease = self.lease or take_lease(self.store, self.account, command=self.command, broker=self.broker_name,
                                         simulated=isinstance(self.clock, SimulatedClock))

        def beat(at: datetime) -> None:
            lease.heartbeat(datetime.now(UTC), last_cycle_at=at, broker_connected=self.monitor.broker_connected)

        self.monitor.on_cycle = beat
        if self.alerter is not None:
            # The outbox: alerts stored with their change but not yet sent (a kill came between).
            await self.alerter.deliver_pending(max_attempts=OUTBOX_MAX_ATTEMPTS)
        state = StateRepository(self.store)
        run_id = state.start_run(host=socket.gethostname(), version=__version__, dry_run=self.dry_run,
                                 started_at=datetime.now(UTC), config_text=self.config_text, command=self.command)
        try:
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
        """Disconnect from a broker this run connected to (IB Gateway/TWS); once."""
        close, self._on_close = self._on_close, None
        if close is not None:
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
    broker = (paper_broker or PaperBroker)(store, market, account=opts.account, fill_model=model, clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    alerter = None if opts.dry_run else Alerter.from_config(store, cfg.alerts, clock=clock)
    risk = RiskManager(cfg, equity=opts.equity)
    # The call limit counts the replay's clock: real seconds would throttle a --speed 0 replay.
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring,
                                      limiter=ClockLimiter(clock, cfg.monitoring.max_api_calls_per_minute))
    md = _market_data(replay.underlying)
    entries = EntryWorkflow(
        store=store, broker=broker, risk=risk, config=cfg, clock=clock, method=replay.method,
        underlying=replay.underlying, quotes=quotes, market=md, dry_run=opts.dry_run, fill_model=model,
        equity=MarkedEquity(opts.equity, store, market, clock, cfg.monitoring.mark_basis),
    )
    # Expiries settle as in the backtest (not in a dry run, which writes nothing).
    closes = DayCloses(replay.underlying, lambda lo, hi: chains.days(replay.underlying, lo, hi), market.chain)
    settlement = None if opts.dry_run else StoreSettlement(
        store, risk, OfficialValues(replay.underlying, closes, warn=log.warning),
        settlement_for(replay.underlying), expire=broker.expire)
    monitor = PositionMonitor(
        store, broker, risk, cfg, clock, executor=ExitExecutor(broker, store, cfg, clock, alerter), alerts=alerter,
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


async def paper_walk_broker(store: Store, opts: MonitorOptions, clock: Clock) -> PaperBroker:
    """The paper broker on its own market: a seeded random walk (one step per
    ``opts.walk_step_seconds`` of the clock) starting from each contract the paper account
    holds at its average price. A contract without a positive price has no quote (its
    position holds)."""
    broker = PaperBroker(store, ScriptedMarket(), account=opts.account, fill_model=_fill_model(opts),
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


def _ibkr_settings(cfg: RiskPilotConfig, account: str | None) -> IbkrConfig:
    from riskpilot.config.brokers import BrokerSettingsError, ibkr_settings

    try:
        return ibkr_settings(cfg.brokers.ibkr, account=account)
    except BrokerSettingsError as exc:
        raise WiringError(str(exc)) from None


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
                     sessions: Sessions | None = None, lease: HeldLease | None = None) -> MonitorRun:
    """The live loop on ``clock`` (default: the wall clock) within ``sessions`` (default by
    ``opts.sessions``) against ``broker`` (default by ``opts.broker``: the paper broker's
    random walk, or IB Gateway/TWS through :func:`connect_ibkr`). It manages the exits of
    what the store holds; entries need a chain source, which the live loop does not have yet
    (they run in replays and backtests)."""
    clock = clock or WallClock()
    if sessions is None:
        if opts.sessions == "always":
            if opts.broker != "paper":
                raise WiringError("--sessions always is for paper practice only: a real account trades in its "
                                  "exchange's sessions")
            sessions = AlwaysOpen()
        else:
            sessions = ExchangeSessions("XNYS")
    command = f"monitor --broker {opts.broker}" + (" --dry-run" if opts.dry_run else "")
    unknown: UnknownPositions = "ignore"
    adopt_as = "default"
    account = opts.account
    on_close: Callable[[], Awaitable[None]] | None = None
    if opts.broker == "ibkr":
        settings = _ibkr_settings(cfg, opts.ib_account)
        unknown = settings.unknown_positions
        if unknown == "adopt":
            adopt_as = adopt_method_of(cfg, settings.adopt_method)
        if broker is None:
            ib, lease = await connect_ibkr(store, settings, clock=clock.now, bind=not opts.dry_run, command=command,
                                           lease=lease, simulated=isinstance(clock, SimulatedClock))
            broker, account, on_close = ib, ib.account, ib.close
    elif opts.broker != "paper":
        raise WiringError(f"--broker {opts.broker!r}: use paper or ibkr")
    if broker is not None and account == opts.account:
        account = getattr(broker, "account", account)  # a broker handed in names its own account
    if broker is None:
        broker = await paper_walk_broker(store, opts, clock)
    alerter = None if opts.dry_run else Alerter.from_config(store, cfg.alerts, clock=clock.now)
    risk = RiskManager(cfg, equity=opts.equity)
    # On a simulated clock (a simulated trading day) the call limit counts simulated seconds.
    limiter = (ClockLimiter(clock, cfg.monitoring.max_api_calls_per_minute) if isinstance(clock, SimulatedClock)
               else None)
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring, limiter=limiter)
    executor = ExitExecutor(broker, store, cfg, clock, alerter)
    monitor = PositionMonitor(store, broker, risk, cfg, clock, executor=executor, alerts=alerter, quotes=quotes,
                              dry_run=opts.dry_run, unknown_positions=unknown, adopt_method=adopt_as)
    return MonitorRun(store=store, config=cfg, config_text=config_text, clock=clock, broker=broker, risk=risk,
                      monitor=monitor, alerter=alerter, command=command, dry_run=opts.dry_run, sessions=sessions,
                      account=account, broker_name=opts.broker, lease=lease, on_close=on_close)


__all__ = [
    "SLIPPAGES",
    "MonitorOptions",
    "MonitorRun",
    "ReplayOptions",
    "RunSummary",
    "WiringError",
    "adopt_holdings",
    "adopt_method_of",
    "build_live",
    "build_replay",
    "connect_ibkr",
    "paper_walk_broker",
    "read_ibkr_holdings",
]
