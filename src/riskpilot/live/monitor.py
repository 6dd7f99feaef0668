"""PositionMonitor: the asyncio loop over every open position (SPEC section 4).

Each position has its own next check time: ``monitoring.normal_frequency`` (30 s) after its
last check, or ``monitoring.urgent_frequency`` (5 s) while its close-out premium is within
``urgent_conditions`` of a trigger:

- stop loss: the premium at which ``stop_loss`` fires (credit: entry x (1 + stop_loss_pct);
  debit: entry x (1 - debit_stop_loss_pct));
- profit target: credit entry x (1 - profit_target_pct), debit entry x (1 + profit_target_pct);
- trailing stop: the active stop's premium;

"within 2%" meaning ``|premium - trigger| <= 0.02 x trigger``. Disabled rules have no trigger.
The levels and the band are :mod:`riskpilot.risk.levels` (the dashboard shows the same).

One cycle (:meth:`PositionMonitor.check_once`) is one run of the shared cycle step
(:class:`riskpilot.trading.step.TradingStep`), the monitor being its venue:

1. Take the trading state from the store (``riskpilot halt``/``resume`` act on a running
   monitor) and pick up exits queued there (``riskpilot close``) or left WORKING.
2. The positions that are due (and not being exited) are marked from quotes fetched through
   the :class:`~riskpilot.live.quotes.QuoteFetcher` (10 s cache, 60 calls a minute, **one
   batched call** for every contract not cached), at ``monitoring.mark_basis``, with quotes
   older than ``max_quote_age_seconds`` counted stale. A broker failure leaves every mark
   missing: the positions hold. A missing, crossed, naive, future-stamped or stale quote, a
   one-sided short leg or a mark outside the structure's bounds never triggers an exit (the
   rules engine holds such a position, naming the problem; ``docs/marks.md``). A mark that
   jumped beyond the recent range holds too, and its position is checked again after
   ``urgent_frequency`` with its legs' cached quotes dropped, so the next quote confirms
   the move (or not) one urgent interval later.
3. ``check_position_exits`` (the step's) decides and advances the trailing stops; every
   non-HOLD decision raises a ``decision`` alert and goes to the :class:`ExitWorkflow` as its
   own task, so an exit being worked never delays the others.
4. Unrealized P&L is kept in memory (:attr:`PositionMonitor.unrealized`, dollars). A
   position's mark and trailing stop are written to the store on a change of state only: a
   new peak/trough/MFE/MAE or day held, a trailing stop that moved (ACTIVATE/UPDATE/TRIGGER),
   a switch between normal and urgent checking, a non-HOLD decision, or its first check of
   this run. The day's unrealized total is written with them.
5. Each position that holds logs one line why: underlying, profit %, DTE, method, entry and
   current premium (or the quote problem that made it hold).
6. Circuit breaker: when the day's loss reaches ``risk.daily_loss_limit_pct`` the risk
   manager halts entries; the monitor stores the halt (with its day, so it lifts on the next
   trading day or on ``riskpilot resume --force``), raises a ``circuit_breaker`` alert and
   closes every position with CRITICAL tactics.
7. With a snapshot (a replay's day of chains, or its event markets at an instant), the exits
   started are awaited and the step's entry phase runs through the
   :class:`~riskpilot.live.entries.EntryWorkflow`; with ``settle``, what is due settles
   through the :class:`~riskpilot.live.settlement.StoreSettlement`.

``features`` (the rules' features, or a feature source called with each cycle's marks such as
:class:`~riskpilot.trading.fair_value.EdgeFeatures`) feed the edge rules of event contracts.

Broker outages: a broker whose link can drop (:class:`~riskpilot.execution.port.ConnectionAware`,
IB Gateway/TWS) is listened to. While it is not CONNECTED the monitor holds every decision: a
cycle checks nothing (no mark, no rule, no exit started, no queued exit picked up) and cached
quotes are dropped, so nothing is decided on what the broker said before the outage. Exits
already in flight keep following their orders (the executor retries its calls, then leaves the
exit WORKING). When the link is back, the next cycle first reconciles the store with the
broker (:func:`~riskpilot.live.reconcile.reconcile`: orders adopted, fills recorded, positions
compared) and takes the positions as the store then holds them, before it decides anything.

Time comes from the injected :class:`~riskpilot.execution.executor.Clock`: a
:class:`~riskpilot.execution.executor.SimulatedClock` runs a day of checks in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.execution.clock import Clock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.port import AlertSink, BrokerError, BrokerPort, ConnectionAware, ConnectionState
from riskpilot.live.entries import EntryWorkflow
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.reconcile import (
    ReconcileReport,
    UnknownPositions,
    apply_trading_state,
    reconcile,
    restore_risk,
    working_exit_positions,
)
from riskpilot.live.session import Sessions
from riskpilot.live.settlement import StoreSettlement
from riskpilot.live.workflows import ExitWorkflow, PositionMonitoringWorkflow
from riskpilot.model.contract import Contract, exchange_date
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import PositionStatus, Priority, QuoteProblem, TradingState
from riskpilot.model.mark import Mark, mark_position
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.levels import Triggers, near_trigger
from riskpilot.risk.manager import RiskManager
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.store import (
    ExitRepository,
    NotFoundError,
    PositionRepository,
    StateRepository,
    Store,
    TrailingSnapshot,
)
from riskpilot.trading.entry import EntryPlan
from riskpilot.trading.settlement import SettlementPrice
from riskpilot.trading.step import EntryResult, Features, FeatureSource, Snapshot, StepInputs, TradingStep

log = logging.getLogger("riskpilot.monitor")
hold_log = logging.getLogger("riskpilot.live.hold")

@dataclass(slots=True)
class CycleReport:
    """What one :meth:`PositionMonitor.check_once` did."""

    at: datetime
    checked: int = 0
    holds: int = 0
    exits_started: list[str] = field(default_factory=list)
    decisions: list[ExitDecision] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)
    bad_marks: int = 0
    marks_written: int = 0
    trails_written: int = 0
    circuit_breaker: bool = False
    quote_error: str | None = None
    #: Why the cycle held everything without checking (the broker's link is down), or None.
    broker_down: str | None = None
    #: The reconciliation this cycle ran first (after a reconnect), or None.
    reconciled: ReconcileReport | None = None
    entries: list[EntryResult] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    settled: list[tuple[Position, float, str]] = field(default_factory=list)


class PositionMonitor:
    """Monitors every open position of ``store`` at ``broker`` (module docstring).

    ``executor`` works the exits (None, or ``dry_run``: decisions are logged, nothing is
    sent); ``alerts`` receives ``decision`` and ``circuit_breaker`` alerts (the executor
    raises the exit ones); ``exit_regime`` gives the regime whose exit-rule overrides apply
    on a day (None: the base rules, as the backtest does)."""

    def __init__(
        self,
        store: Store,
        broker: BrokerPort,
        risk: RiskManager,
        config: RiskPilotConfig,
        clock: Clock,
        *,
        executor: ExitExecutor | None = None,
        alerts: AlertSink | None = None,
        quotes: QuoteFetcher | None = None,
        dry_run: bool = False,
        exit_regime: Callable[[date], RegimeName | None] | None = None,
        exit_workflow: ExitWorkflow | None = None,
        entries: EntryWorkflow | None = None,
        settlement: StoreSettlement | None = None,
        underlying: str | None = None,
        unknown_positions: UnknownPositions = "ignore",
        adopt_method: str = "default",
        features: Features | FeatureSource | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.risk = risk
        self.config = config
        self.clock = clock
        self.alerts = alerts
        self.dry_run = dry_run
        self.monitoring = config.monitoring
        self.quotes_fetcher = quotes or QuoteFetcher.from_config(broker, clock, config.monitoring)
        self.exits: ExitWorkflow | None = exit_workflow
        if self.exits is None and executor is not None:
            self.exits = ExitWorkflow(executor, risk, dry_run=dry_run)
        self.decide = PositionMonitoringWorkflow(risk, alerts, dry_run=dry_run)
        self.exit_regime = exit_regime
        self.entries = entries
        self.settlement = settlement
        self.features = features
        #: The cycle step this monitor drives (it is the step's venue).
        self.step = TradingStep(
            config, risk, underlying=underlying or (entries.scope if entries is not None else None),
            planner=entries.planner if entries is not None else None,
            settlement=settlement.kind if settlement is not None else "cash",
            prices=settlement.prices if settlement is not None else None,
            settler=settlement.settler if settlement is not None else None,
            max_new_positions_per_day=entries.max_new_positions_per_day if entries is not None else 1,
        )
        self._cycle: CycleReport | None = None
        self._force_all = False
        self._trails_before: dict[str, TrailState | None] = {}
        self._wrote = False
        self._marks: Mapping[str, Mark] = {}
        self._due: list[Position] = []
        #: The latest exit trigger time of each position, from the store at start.
        self._acted_at: dict[str, datetime] = {}
        #: Called with the monitor's clock after every cycle (the wiring beats the lease).
        self.on_cycle: Callable[[datetime], None] | None = None
        #: Delivers the alerts stored but not sent (the outbox: an alert is written with the change
        #: it reports, e.g. by a fill the reconciliation recorded); called after the start's
        #: reconciliation and after every cycle. The wiring sets it to the alerter's.
        self.outbox: Callable[[], Awaitable[object]] | None = None
        #: Open positions being monitored, by id, with their tracked state.
        self.positions: dict[str, Position] = {}
        #: Unrealized P&L in dollars at the last good mark, by position id.
        self.unrealized: dict[str, float] = {}
        self.next_due: dict[str, datetime] = {}
        self.urgent: set[str] = set()
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._written: set[str] = set()
        self._triggers: dict[tuple[str, RegimeName | None], Triggers] = {}
        self._positions_repo = PositionRepository(store)
        self._state_repo = StateRepository(store)
        self._state_seen: tuple[TradingState, object] | None = None
        self.started = False
        self.unknown_positions: UnknownPositions = unknown_positions
        self.adopt_method = adopt_method
        #: Every reconciliation this run made (on start, then after each reconnect).
        self.reconciles: list[ReconcileReport] = []
        #: Why decisions are held (the broker's link is down), None while it is up.
        self.broker_down: str | None = None
        self._reconcile_due = False
        self._link = broker if isinstance(broker, ConnectionAware) else None
        if self._link is not None:
            if self._link.connection_state is not ConnectionState.CONNECTED:
                self.broker_down = f"{self._link.connection_state.value}: not connected yet"
            self._link.add_connection_listener(self._on_link)

    # --- broker link ---------------------------------------------------------------------
    @property
    def broker_connected(self) -> bool | None:
        """Whether the broker's link is up (None: a broker without one, always reachable)."""
        return None if self._link is None else self.broker_down is None

    def _on_link(self, state: ConnectionState, why: str) -> None:
        if state is ConnectionState.CONNECTED:
            if self.broker_down is not None:
                log.warning("broker connection back (%s): reconciling with the broker before the next decision", why)
                self.broker_down = None
                self._reconcile_due = self.started
            return
        if self.broker_down is None:
            log.warning("broker connection %s (%s): holding every position; no exit starts until it is back and "
                        "reconciled", state.value, why)
        self.broker_down = f"{state.value}: {why}"
        self.quotes_fetcher.clear()

    async def _reconcile(self) -> ReconcileReport:
        now = self.clock.now()
        entries = self.entries
        keep = None if entries is None or self.dry_run else (lambda p: entries.resumable(p, now))
        risk = self.risk if self.started else None
        report = await reconcile(self.store, self.broker, now, risk=risk, unknown_positions=self.unknown_positions,
                                 adopt_method=self.adopt_method, dry_run=self.dry_run, keep_entry=keep)
        if entries is not None and report.entries_working:
            # An entry found working within its order window is worked on to the deadline it had,
            # as uninterrupted, before the book is rebuilt: a wait of at most its timeout_seconds.
            await entries.resume(report.entries_working, risk=risk)
        self.reconciles.append(report)
        return report

    async def reconcile_after_reconnect(self) -> ReconcileReport:
        """Reconcile again (the link came back) and take the positions as the store now
        holds them: new ones (adopted) tracked and booked, closed ones dropped, queued exits
        picked up."""
        self._reconcile_due = False
        try:
            report = await self._reconcile()
        except BrokerError:
            self._reconcile_due = True  # retried on the next cycle; nothing is decided meanwhile
            raise
        stored = self._positions_repo.load_open((PositionStatus.OPEN, PositionStatus.CLOSING))
        restore_risk(self.risk, self.store, stored, trading_state=False)
        now = self.clock.now()
        open_ids = set()
        for sp in stored:
            if sp.position.status is PositionStatus.OPEN and sp.position.id not in self.in_flight:
                open_ids.add(sp.position.id)
                self._track(sp.position, now)
        for pid in [p for p in self.positions if p not in open_ids]:
            self._forget(pid)
        self._pick_up_working_exits()
        return report

    # --- start ---------------------------------------------------------------------------
    async def start(self) -> ReconcileReport | None:
        """Reconcile the store with the broker (read-only in a dry run, which writes nothing),
        rebuild the risk book, load the open positions and resume exits in flight."""
        report = await self._reconcile()
        stored = self._positions_repo.load_open((PositionStatus.OPEN, PositionStatus.CLOSING))
        restore_risk(self.risk, self.store, stored, now=self.clock.now())
        st = self._state_repo.trading_state()
        self._state_seen = (st.state, st.halted_on)
        now = self.clock.now()
        for sp in stored:
            if sp.position.status is PositionStatus.OPEN:
                self._track(sp.position, now)
        self._acted_at = ExitRepository(self.store).last_triggered(self.positions)
        self.started = True
        if self.outbox is not None and not self.dry_run:
            await self.outbox()  # what the reconciliation's fills stored (an exit completed while down)
        self._pick_up_working_exits()
        log.info("monitor started: %d open positions, trading %s", len(self.positions), self.risk.trading_state.value)
        return report

    def _track(self, position: Position, now: datetime) -> None:
        self.positions[position.id] = position
        self.next_due[position.id] = now
        self._written.discard(position.id)

    def reload(self, position_id: str) -> None:
        """Take a position's state from the store again (after an exit or an entry)."""
        try:
            sp = self._positions_repo.get(position_id)
        except NotFoundError:
            self._forget(position_id)
            return
        if sp.position.status is PositionStatus.OPEN and sp.position.quantity > 0:
            self._track(sp.position, self.clock.now())
        else:
            self._forget(position_id)

    def _forget(self, pid: str) -> None:
        self.positions.pop(pid, None)
        self.unrealized.pop(pid, None)
        self.next_due.pop(pid, None)
        self.urgent.discard(pid)

    # --- trading state -------------------------------------------------------------------
    def _state_in(self, today: date) -> None:
        rm = self.risk
        if rm.trading_state is TradingState.HALTED and rm.halted_on is not None and today > rm.halted_on:
            # A circuit-breaker halt lasts until the next trading day (even with nothing to check).
            log.warning("circuit-breaker halt of %s lifted: a new trading day", rm.halted_on)
            rm.resume()
        st = self._state_repo.trading_state()
        key = (st.state, st.halted_on)
        if key == self._state_seen:
            return
        self._state_seen = key  # changed outside (riskpilot halt / resume): adopt it
        apply_trading_state(self.risk, st)
        log.warning("trading state set outside the monitor: %s (%s)", st.state.value, st.reason)

    def _state_out(self, now: datetime) -> bool:
        """Store the risk manager's state if it changed here; True for a new circuit-breaker halt."""
        rm = self.risk
        key = (rm.trading_state, rm.halted_on)
        if key == self._state_seen:
            return False
        was = self._state_seen
        self._state_seen = key
        if self.dry_run:
            return rm.trading_state is TradingState.HALTED and rm.halted_on is not None
        if rm.trading_state is TradingState.HALTED:
            self._state_repo.set_trading_state(TradingState.HALTED, rm.state_reason or "halted", now,
                                               halted_on=rm.halted_on)
            return rm.halted_on is not None
        reason = rm.state_reason or (
            f"circuit-breaker halt of {was[1]} lifted: a new trading day" if was and was[1] else "resumed"
        )
        self._state_repo.set_trading_state(rm.trading_state, reason, now)
        return False

    # --- exits ---------------------------------------------------------------------------
    def _pick_up_working_exits(self) -> None:
        """Work every exit the store holds WORKING that no task here works (queued by
        ``riskpilot close``, or left by a restart or an outage), with its own priority's
        tactic, from where it stopped: an order it left working at the broker is followed, not
        replaced by a more urgent one."""
        if self.exits is None or self.dry_run or self.broker_down is not None:
            return
        for pid in working_exit_positions(self.store):
            if pid in self.in_flight:
                continue
            pos = self.positions.get(pid)
            if pos is None:
                try:
                    pos = self._positions_repo.get(pid).position
                except NotFoundError:
                    continue
            # Resumed with its own tactic, from where its ladder stopped: never jumped to
            # another, so a restart does not change how an exit is worked.
            self._spawn_exit(pos, None, Mark(None, None, None, self.clock.now()))

    def _spawn_exit(self, position: Position, decision: ExitDecision | None, mark: Mark) -> None:
        """Work ``decision`` as its own task (None: resume the position's WORKING exit)."""
        if self.exits is None or position.id in self.in_flight:
            return
        self.positions.pop(position.id, None)
        self.next_due.pop(position.id, None)
        self.in_flight[position.id] = asyncio.get_running_loop().create_task(
            self._exit_task(position, decision, mark), name=f"exit:{position.id}"
        )

    async def _exit_task(self, position: Position, decision: ExitDecision | None, mark: Mark) -> None:
        assert self.exits is not None
        try:
            if decision is None:
                outcome = await self.exits.resume(position)
            else:
                outcome = await self.exits.execute(position, decision, mark)
            if outcome is not None:
                log.info("exit of %s: %s, %d of %d filled", position.id, outcome.status.value,
                         outcome.filled_quantity, outcome.requested_quantity)
        except Exception:
            # Logged, not lost: the exit stays WORKING in the store and the next cycle resumes it.
            log.exception("exit of %s stopped by an error; it resumes on the next cycle", position.id)
        finally:
            self.in_flight.pop(position.id, None)
            if not self.dry_run:
                self.reload(position.id)
            else:
                self._track(position, self.clock.now())

    async def wait_exits(self) -> None:
        """Wait until no exit is being worked."""
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight.values()), return_exceptions=True)

    # --- one cycle -----------------------------------------------------------------------
    def _triggers_for(self, method: str, regime: RegimeName | None) -> Triggers:
        key = (method, regime)
        t = self._triggers.get(key)
        if t is None:
            t = self._triggers[key] = Triggers.from_rules(self.config.exit_rules_for(method, regime))
        return t

    async def check_once(self, *, force_all: bool = False, chain: Snapshot | None = None,
                         settle: bool | Literal["before_marks"] = False) -> CycleReport:
        """One cycle over the positions due now (every one with ``force_all``): one run of
        the cycle step with this monitor as its venue. ``chain`` (a market snapshot: a day's
        chain, the event markets at an instant) runs the entry phase after the exits;
        ``settle`` settles what is due (``"before_marks"``: only before the marks, never
        waiting on exits in flight, as the live loop does)."""
        if not self.started:
            raise RuntimeError("call PositionMonitor.start() (reconciliation) before the first cycle")
        now = self.clock.now()
        if self.broker_down is not None:
            return CycleReport(now, holds=len(self.positions), broker_down=self.broker_down)
        reconciled = None
        if self._reconcile_due:
            try:
                reconciled = await self.reconcile_after_reconnect()
            except BrokerError as exc:
                log.warning("reconciliation after the reconnect failed (%s): holding every position", exc)
                return CycleReport(now, holds=len(self.positions), broker_down=f"reconciliation failed: {exc}")
            now = self.clock.now()  # the cycle starts once the store is in line
        report = self._cycle = CycleReport(now, reconciled=reconciled)
        self._force_all = force_all
        self._wrote = False
        self._marks = {}
        try:
            done = await self.step.run(self, StepInputs(now, exchange_date(now), chain=chain, settle=settle,
                                                        regime=self._regime(now), features=self.features))
        finally:
            self._cycle = None
        if self.on_cycle is not None:
            self.on_cycle(now)
        if self.outbox is not None and not self.dry_run:
            await self.outbox()
        report.checked = len(done.checks) if done.checks is not None else 0
        report.entries = done.entries
        report.refused = done.refused
        report.settled = done.settled
        if self.entries is not None:
            self.entries.count(done.refused)
        return report

    # --- the venue of the cycle step -----------------------------------------------------
    def _report(self) -> CycleReport:
        if self._cycle is None:
            raise RuntimeError("the monitor's venue calls belong to a cycle (check_once)")
        return self._cycle

    async def begin(self, now: datetime) -> None:
        self._state_in(exchange_date(now))
        self._pick_up_working_exits()

    def due(self, now: datetime) -> Sequence[Position]:
        # A position opened, or acted on, at this very instant is not checked again in it (a
        # replay restarted inside a day runs that day again: what it already did stays done).
        due = [p for pid, p in self.positions.items()
               if (self._force_all or self.next_due.get(pid, now) <= now)
               and p.opened_at < now and self._acted_at.get(pid, p.opened_at) < now]
        # The trailing stops before this cycle's check: a stop that moved is written.
        self._trails_before = {p.id: self.risk.trails.get(p.id) for p in due}
        self._due = due
        return due

    def holding(self) -> Iterable[Position]:
        return [sp.position for sp in self._positions_repo.load_open()]

    async def quotes(self, contracts: Collection[Contract], now: datetime) -> Mapping[Contract, Quote]:
        if self.broker_down is not None:  # the link dropped during this cycle: decide nothing
            self._report().quote_error = f"broker {self.broker_down}"
            return {}
        try:
            return await self.quotes_fetcher.get(contracts)
        except BrokerError as exc:
            report = self._report()
            report.quote_error = f"{type(exc).__name__}: {exc}"
            log.warning("quotes unavailable (%s): every due position holds this cycle", report.quote_error)
            return {}

    def observe(self, checks: ExitChecks, marks: Mapping[str, Mark], now: datetime) -> None:
        """Marks and trailing stops to the store on a change of state, urgent scheduling and
        one log line per holding position (module docstring, steps 4-5)."""
        report = self._report()
        self._marks = marks
        regime = self._regime(now)
        today = exchange_date(now)
        mon = self.monitoring
        normal = timedelta(seconds=mon.normal_frequency)
        urgent_dt = timedelta(seconds=mon.urgent_frequency)
        cond = mon.urgent_conditions
        trails = self.risk.trails
        before = self._trails_before
        hold_on = hold_log.isEnabledFor(logging.INFO)
        wrote = False
        exiting = {c.position.id: c for c in checks.exits()}
        # Checks are built lazily; a holding position with a good mark needs none built unless
        # its tracked state changed (the hot path of a quiet book).
        for i, old in enumerate(self._due):
            pid = old.id
            trail = trails.get(pid)
            check = exiting.get(pid)
            if check is not None:
                pos = check.position
                report.decisions.append(check.decision)
                self.positions[pid] = pos
                if check.mark.is_valid:
                    wrote |= self._write(pos, check.mark, trail, trail is not before.get(pid), now, report)
                continue
            report.holds += 1
            mark = marks[pid]
            premium = mark.premium
            if mark.problem is not None or premium is None:
                report.bad_marks += 1
                if mark.problem is QuoteProblem.UNCONFIRMED_JUMP:
                    # Confirmation needs the next quote: ask for it soon, past the cache.
                    self.quotes_fetcher.forget(leg.contract for leg in old.legs)
                    self.next_due[pid] = now + urgent_dt
                else:
                    self.next_due[pid] = now + normal
                if hold_on:
                    hold_log.info("HOLD %s %s %s: %s", pid, old.underlying, old.method, checks[i].decision.reason)
                continue
            pnl = old.profit(premium)
            self.unrealized[pid] = old.pnl_dollars(premium)
            near = near_trigger(old, premium, trail, self._triggers_for(old.method, regime), cond)
            was_urgent = pid in self.urgent
            if near is not None:
                self.urgent.add(pid)
                report.urgent.append(pid)
                self.next_due[pid] = now + urgent_dt
            else:
                self.urgent.discard(pid)
                self.next_due[pid] = now + normal
            ost = old.state
            trail_changed = trail is not before.get(pid)
            if (
                pid not in self._written
                or (near is not None) != was_urgent
                or trail_changed
                or premium > ost.peak_premium
                or premium < ost.trough_premium
                or pnl > ost.mfe
                or pnl < ost.mae
                or (today - old.opened_on).days > ost.days_held
            ):
                pos = checks[i].position  # the tracked state after this mark
                self.positions[pid] = pos
                wrote |= self._write(pos, mark, trail, trail_changed, now, report)
            if hold_on:
                hold_log.info(
                    "HOLD %s %s %s: profit %+.1f%%, %d DTE, entry %.2f, now %.2f%s; no rule fired",
                    pid, old.underlying, old.method, 100.0 * pnl / old.entry_premium, (old.expiration - today).days,
                    old.entry_premium, premium, f", near {near}" if near else "",
                )
        self._wrote = wrote

    async def exit(self, check: PositionCheck, quotes: Mapping[Contract, Quote], now: datetime) -> None:
        if self.broker_down is not None:
            log.warning("%s: %s held, the broker's link dropped (%s); decided again once it is back",
                        check.position.id, check.decision.rule, self.broker_down)
            return
        await self.decide.alert(check.position, check.decision, check.mark)
        self._spawn_exit(check.position, check.decision, check.mark)
        self._report().exits_started.append(check.position.id)

    async def after_exits(self, now: datetime) -> None:
        if self._wrote and not self.dry_run:
            self._state_repo.set_unrealized(exchange_date(now), math.fsum(self.unrealized.values()), now)
        if self._state_out(now):
            await self._circuit_breaker(now, self._report(), dict(self._marks))

    async def exits_done(self) -> None:
        await self.wait_exits()

    def equity(self) -> float:
        return self.entries.equity() if self.entries is not None else self.risk.equity

    def entries_on(self, day: date) -> int:
        return self.entries.entries_on(day) if self.entries is not None else 0

    def new_position_id(self, day: date) -> str:
        if self.entries is None:
            raise RuntimeError("this monitor enters nothing (no EntryWorkflow wired)")
        return self.entries.new_position_id(day)

    async def enter(self, plan: EntryPlan) -> EntryResult:
        if self.entries is None:
            raise RuntimeError("this monitor enters nothing (no EntryWorkflow wired)")
        result = await self.entries.enter(plan)
        if result.position_id is not None and result.quantity > 0:
            self.reload(result.position_id)
        return result

    async def settle(self, position: Position, price: float, reason: str, spot: SettlementPrice, day: date) -> None:
        if self.settlement is None:
            raise RuntimeError("this monitor settles nothing (no StoreSettlement wired)")
        if self.dry_run:
            log.warning("DRY RUN settlement: %s would settle at %.4f (%s)", position.id, price, reason)
            return
        self.settlement.settle(position, price, reason, spot, self.clock.now())
        self.reload(position.id)

    def _regime(self, now: datetime) -> RegimeName | None:
        return None if self.exit_regime is None else self.exit_regime(exchange_date(now))

    def _write(
        self, pos: Position, mark: Mark, trail: TrailState | None, trail_changed: bool, now: datetime,
        report: CycleReport,
    ) -> bool:
        """Store the mark (and the trailing stop when it changed)."""
        if self.dry_run or mark.premium is None:
            return False
        snap = None
        if trail is not None and (trail_changed or pos.id not in self._written):
            snap = TrailingSnapshot(trail.active, trail.stop, trail.to_dict())
            report.trails_written += 1
        self._positions_repo.apply_mark(pos.id, mark.premium, now, trailing=snap)
        self._written.add(pos.id)
        report.marks_written += 1
        return True

    async def _circuit_breaker(self, now: datetime, report: CycleReport, marks: dict[str, Mark] | None = None) -> None:
        """The day's loss limit was hit: alert, and close every position with CRITICAL tactics."""
        report.circuit_breaker = True
        reason = self.risk.state_reason or "circuit breaker"
        log.critical("%s: entries halted until the next trading day; closing every position", reason)
        if self.alerts is not None and not self.dry_run:
            try:
                await self.alerts("circuit_breaker", f"{reason}: closing all {len(self.positions)} positions",
                                  positions=len(self.positions), halted_on=str(self.risk.halted_on))
            except Exception:
                log.exception("circuit breaker alert could not be raised")
        rest = [p for p in self.positions.values() if p.id not in self.in_flight]
        if not rest:
            return
        have = marks or {}
        need = [p for p in rest if p.id not in have]
        if need:
            try:
                quotes = await self.quotes_fetcher.get({leg.contract for p in need for leg in p.legs})
            except BrokerError as exc:
                log.error("circuit breaker: quotes unavailable (%s); the next cycle retries", exc)
                quotes = {}
            mon = self.monitoring
            have = {**have, **{p.id: mark_position(p, quotes, now, basis=mon.mark_basis,
                                                   checks=self.step.mark_checks) for p in need}}
        for p in rest:
            m = have.get(p.id)
            if m is None or not m.is_valid:
                log.error("circuit breaker: %s not closed now: no usable quote (%s); retried next cycle", p.id,
                          m.problem if m is not None else "none")
                continue
            d = ExitWorkflow.close_decision(p, reason, Priority.CRITICAL, "circuit_breaker")
            report.decisions.append(d)
            report.exits_started.append(p.id)
            if self.dry_run:
                log.warning("DRY RUN circuit breaker: would close %s at market", p.id)
                continue
            self._spawn_exit(p, d, m)

    # --- the loop ------------------------------------------------------------------------
    def seconds_to_next(self) -> float:
        """Seconds until the next position is due (the normal frequency when none is open)."""
        now = self.clock.now()
        if not self.next_due:
            return float(self.monitoring.normal_frequency)
        first = min(self.next_due.values())
        return max((first - now).total_seconds(), 0.0)

    async def run(self, stop: asyncio.Event, *, max_idle_seconds: float | None = None,
                  sessions: Sessions | None = None) -> None:
        """Cycle until ``stop`` is set; sleeps on the clock until the next position is due
        (at most ``max_idle_seconds``, default the urgent frequency, so queued closes and
        halts are seen promptly). With ``sessions``, cycles run only while a session is open;
        outside one the monitor holds every position and waits for the next open (waking at
        least once a minute to see a stop)."""
        if not self.started:
            await self.start()
        cap = float(self.monitoring.urgent_frequency if max_idle_seconds is None else max_idle_seconds)
        closed_logged = False
        while not stop.is_set():
            to_open = sessions.seconds_to_open(self.clock.now()) if sessions is not None else 0.0
            if to_open > 0:
                if not closed_logged and sessions is not None:
                    log.warning("market closed (%s): holding every position", sessions.describe(self.clock.now()))
                    closed_logged = True
                if self.on_cycle is not None:
                    self.on_cycle(self.clock.now())  # holding, alive: the lease stays beaten
                wait = min(to_open, cap)
            else:
                if closed_logged:
                    log.warning("market open: monitoring resumes")
                    closed_logged = False
                # With a settlement wired (event markets at their results), what is due settles
                # first in each cycle; the loop never waits on the exits it has started.
                await self.check_once(settle="before_marks" if self.settlement is not None else False)
                wait = min(self.seconds_to_next(), cap)
            sleeper = asyncio.ensure_future(self.clock.sleep(max(wait, 0.05)))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in (sleeper, stopper):
                if not t.done():
                    t.cancel()

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Give exits in flight ``grace_seconds`` (real time) to finish; cancel the rest
        (their exits stay WORKING in the store and resume on the next start)."""
        if not self.in_flight:
            return
        tasks = list(self.in_flight.values())
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("%d exits left WORKING at shutdown; they resume on the next start", len(pending))


__all__ = ["CycleReport", "PositionMonitor", "near_trigger"]
