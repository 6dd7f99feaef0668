"""ExitExecutor: works an exit decision at a broker with the urgency tactics of SPEC section 3.

The same :class:`riskpilot.execution.tactics.Step` ladder the backtest simulates is run here
against a real :class:`riskpilot.execution.port.BrokerPort` (the paper broker or IBKR), with
time from an injected :class:`Clock` (tests and replays use :class:`SimulatedClock`, so a
60 s timeout costs nothing).

One exit, step by step
----------------------
1. **Refuse a bad trigger.** A decision whose mark has a problem (missing, crossed, stale) or
   is older than ``monitoring.max_quote_age_seconds`` never starts an exit.
2. **Record, then send.** ``ExitRepository.begin_exit`` (the position becomes CLOSING, with
   reason, priority, quantity, tactic and unrealized P&L at the trigger). Each order is
   recorded as an attempt (and its order intent) *before* it is sent, with a deterministic
   client order id ``client_order_id(position_id, CLOSE, n)``, ``n`` counting the position's
   closing orders. A restart finds the attempt and re-sends the *same* id, which the broker
   recognises (idempotent place), so no exit order is ever sent twice.
3. **Price.** A limit step fetches the legs' quotes, refuses any leg quote that is missing,
   crossed or older than ``max_quote_age_seconds``, and prices the limit at the step's
   spread fraction of the combo's bid/ask (:func:`riskpilot.execution.tactics.limit_price`).
   While no usable quote arrives, nothing is sent; if none arrives within the step's
   timeout the step counts as unfilled (walk/escalate as usual). Market steps need no price.
   The limit is put on the tick grid, never more aggressive: the broker's grid when it knows
   one (IB's market rules, :class:`riskpilot.execution.ticks.TickRuleSource`), else the class
   table the backtest uses (:func:`riskpilot.execution.ticks.rule_for_legs`).
4. **Wait** the step's timeout, polling ``order_status`` every ``poll_seconds`` (default: a
   tenth of the timeout, within [0.5, 5] s). New fills are read from ``executions`` and
   applied once each to the store (``OrderRepository.record_fill``: fill row, order, attempt,
   exit, position, daily P&L).
5. **Timeout.** Cancel what is still working (its fills up to the cancel are kept), then the
   next step works the *remaining* quantity: partial fills are kept and the rest goes on
   with the same ladder. A reject moves to the next step at once. Reaching the first step
   of the next priority's tactic is an escalation: the exit's tactic is updated and an
   ``exit_escalated`` alert is raised.
6. **End.** Filled: the store marks the exit EXECUTED (``exit_executed`` alert). Ladder
   exhausted: ``fail_exit`` (the position is OPEN again with what is left) and an
   ``exit_failed`` alert.

Broker outages: a disconnect or a timeout on a call is retried (same client order id) until
``max_outage_seconds``; if the broker stays unreachable the exit is left WORKING in the store
(outcome ``SUSPENDED``, ``exit_suspended`` alert) and the next :meth:`ExitExecutor.execute`
for that position (or :meth:`ExitExecutor.resume_all` after a restart) resumes it: it first
asks the broker about the last attempt's order, records fills that arrived meanwhile,
re-sends the order if the broker never saw it, and continues the ladder from that step.
A more urgent decision for a position whose exit is WORKING (a stop loss during a
profit-target exit) cancels the working order at once and jumps to the more urgent tactic.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from riskpilot.config.schema import RiskPilotConfig
from riskpilot.execution.clock import Clock
from riskpilot.execution.fills import ComboMarket, combo_market
from riskpilot.execution.ledger import AttemptView, ExitView, Ledger
from riskpilot.execution.port import (
    AlertSink,
    BrokerDisconnectedError,
    BrokerError,
    BrokerPort,
    BrokerTimeoutError,
    OrderState,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.execution.tactics import DEFAULT_MARKET_RETRIES, Step, TacticBook, step_index_of
from riskpilot.execution.ticks import TickRule, TickRuleSource, rule_for_legs
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import ExitAction, OrderType, PositionStatus, Priority, Side
from riskpilot.model.mark import Mark
from riskpilot.model.order import Order, OrderPurpose, client_order_id
from riskpilot.model.position import Position
from riskpilot.model.status import ExitStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Fills are read from ``executions(since=start - slack)``, ``start`` the earliest of the exit's
#: trigger time and its first attempt's time (an exit queued by ``riskpilot close`` is stamped
#: with wall-clock time while a replay's orders carry market time): clocks of engine and venue
#: may differ by this much.
EXECUTIONS_SLACK = timedelta(minutes=5)


# --- outcome ---------------------------------------------------------------------------------


class ExitOutcomeStatus(enum.StrEnum):
    FILLED = "FILLED"  # the whole exit quantity filled
    PARTIAL = "PARTIAL"  # the ladder ran out with part of it filled (exit FAILED in the store)
    FAILED = "FAILED"  # the ladder ran out with nothing filled (exit FAILED in the store)
    REFUSED = "REFUSED"  # never started: bad mark, nothing open, or already being worked here
    SUSPENDED = "SUSPENDED"  # the broker stayed unreachable: exit left WORKING, to be resumed


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One order of an exit as the broker last reported it. ``limit_price`` and
    ``avg_fill_price`` are net premium per share."""

    attempt_no: int
    client_order_id: str
    step: str
    order_type: OrderType
    limit_price: float | None
    quantity: int
    status: OrderStatus
    filled_quantity: int
    avg_fill_price: float | None
    sent_at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExitOutcome:
    """What :meth:`ExitExecutor.execute` achieved. ``avg_fill_price`` is the exit's average
    fill price (net premium per share, as stored); ``tactic`` the tactic working the exit at
    the end (the one that filled it); ``attempts`` the orders followed by this call (a resumed
    exit's earlier attempts are in the store: ``ExitRepository.attempts_for``); ``escalations``
    the tactics it escalated to, in order; ``skipped_steps`` limit steps that sent nothing for
    want of a usable quote. ``filled_quantity``, ``avg_fill_price`` and the times are the
    stored exit's."""

    position_id: str
    status: ExitOutcomeStatus
    priority: Priority | None
    requested_quantity: int
    filled_quantity: int
    avg_fill_price: float | None = None
    exit_id: int | None = None
    tactic: str | None = None
    attempts: tuple[AttemptOutcome, ...] = ()
    escalations: tuple[str, ...] = ()
    skipped_steps: tuple[str, ...] = ()
    triggered_at: datetime | None = None
    executed_at: datetime | None = None
    reason: str | None = None
    resumed: bool = False

    @property
    def remaining(self) -> int:
        return self.requested_quantity - self.filled_quantity

    @property
    def filled(self) -> bool:
        return self.status is ExitOutcomeStatus.FILLED


class _BrokerUnreachable(Exception):
    """The broker stayed unreachable past ``max_outage_seconds``."""


@dataclass(slots=True)
class _Run:
    """The state of one exit being worked."""

    position: Position
    exit: ExitView
    ladder: tuple[Step, ...]
    filled_before: int  # units filled by orders that are final
    attempts: list[AttemptOutcome] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    coids: set[str] = field(default_factory=set)
    next_seq: int = 1
    tactic: str = ""
    first_attempt_at: datetime | None = None  # the earliest attempt's time, stored or sent here

    @property
    def remaining(self) -> int:
        return self.exit.quantity - self.filled_before


# --- the executor ----------------------------------------------------------------------------


class ExitExecutor:
    """Executes exit decisions at ``broker`` with the tactics of ``config.exit_execution``,
    recording every exit and attempt in ``ledger`` (:mod:`riskpilot.execution.ledger`; the
    store's is ``riskpilot.store.StoreLedger``). See the module docstring."""

    def __init__(
        self,
        broker: BrokerPort,
        ledger: Ledger,
        config: RiskPilotConfig,
        clock: Clock,
        alerts: AlertSink | None = None,
        *,
        poll_seconds: float | None = None,
        market_retries: int = DEFAULT_MARKET_RETRIES,
        max_outage_seconds: float = 60.0,
        retry_delay_seconds: float = 0.5,
    ) -> None:
        if poll_seconds is not None and not poll_seconds > 0:
            raise ValueError(f"poll_seconds must be > 0 (or None for a tenth of each timeout), got {poll_seconds!r}")
        if not max_outage_seconds >= 0 or not retry_delay_seconds > 0:
            raise ValueError(
                f"max_outage_seconds must be >= 0 and retry_delay_seconds > 0, got "
                f"{max_outage_seconds!r} and {retry_delay_seconds!r}"
            )
        self.broker = broker
        self.ledger = ledger
        self.config = config
        self.clock = clock
        self.alerts = alerts
        self.tactics = TacticBook.from_config(config)
        self.poll_seconds = poll_seconds
        self.market_retries = market_retries
        self.max_outage_seconds = max_outage_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.max_quote_age_seconds = config.monitoring.max_quote_age_seconds
        self._exits = ledger.exits
        self._orders = ledger.orders
        self._positions = ledger.positions
        self._busy: set[str] = set()

    # --- public --------------------------------------------------------------------------
    async def execute(
        self,
        position: Position,
        decision: ExitDecision,
        mark: Mark,
        *,
        triggered_at: datetime | None = None,
    ) -> ExitOutcome:
        """Work ``decision`` (CLOSE, ROLL: the whole position; PARTIAL_CLOSE: its quantity)
        for ``position`` to completion with the tactic of ``decision.priority``; ``mark`` is
        the mark the decision was taken on (its premium gives the unrealized P&L at the
        trigger). An exit of this position left WORKING in the store (a restart, an outage)
        is resumed instead of starting a new one."""
        if decision.action is ExitAction.HOLD:
            raise ValueError(f"position {position.id}: a HOLD decision has nothing to execute")
        priority = decision.priority
        if priority is None:
            raise ValueError(f"position {position.id}: the {decision.action.value} decision carries no priority")
        if decision.position_id != position.id:
            raise ValueError(f"decision is for position {decision.position_id!r}, not {position.id!r}")
        if position.id in self._busy:
            return self._refused(position, decision, "an exit of this position is already being worked")
        self._busy.add(position.id)
        try:
            working = self._working_exit(position.id)
            if working is not None:
                return await self._resume(position, working, urgency=priority)
            return await self._start(position, decision, priority, mark, triggered_at)
        finally:
            self._busy.discard(position.id)

    async def resume(self, position: Position) -> ExitOutcome | None:
        """Continue ``position``'s WORKING exit where it stopped, with its own tactic (an exit
        queued by ``riskpilot close``, or left by a restart or an outage); None when it has
        none or one is already being worked here."""
        if position.id in self._busy:
            return None
        working = self._working_exit(position.id)
        if working is None:
            return None
        self._busy.add(position.id)
        try:
            return await self._resume(position, working)
        finally:
            self._busy.discard(position.id)

    async def resume_all(self) -> list[ExitOutcome]:
        """Resume every exit the store holds as WORKING (call once on start, after the
        reconciliation of orders and fills)."""
        outcomes: list[ExitOutcome] = []
        for stored in self._positions.load_open((PositionStatus.CLOSING, PositionStatus.OPEN)):
            working = self._working_exit(stored.position.id)
            if working is None or stored.position.id in self._busy:
                continue
            self._busy.add(stored.position.id)
            try:
                outcomes.append(await self._resume(stored.position, working))
            finally:
                self._busy.discard(stored.position.id)
        return outcomes

    async def preview(self, position: Position, decision: ExitDecision) -> Order | str:
        """The first order :meth:`execute` would send for ``decision`` now (its limit priced on
        the current quotes and put on the tick grid), without sending or recording anything
        (a dry run logs it); or why it would send nothing yet."""
        if decision.priority is None or decision.action is ExitAction.HOLD:
            return "nothing to send for a HOLD decision"
        step = self.tactics.ladder(decision.priority, market_retries=self.market_retries)[0]
        qty = position.quantity if decision.action in (ExitAction.CLOSE, ExitAction.ROLL) else decision.quantity
        limit: float | None = None
        if step.order_type is OrderType.LIMIT:
            try:
                quotes = await self.broker.get_quotes([leg.contract for leg in position.legs])
                market = combo_market(position.legs, Side.SELL, quotes)
                if not isinstance(market, ComboMarket):
                    return f"no order yet: {market}"
                limit = step.limit_price(market, await self._tick_rule(position))
            except (BrokerDisconnectedError, BrokerTimeoutError, _BrokerUnreachable) as exc:
                return f"no order yet: the broker did not answer ({exc})"
        return Order(client_order_id(position.id, OrderPurpose.CLOSE, self._next_seq(position.id)), position.legs,
                     Side.SELL, min(max(qty, 1), position.quantity), step.order_type, self.clock.now(), limit,
                     position.id, OrderPurpose.CLOSE)

    # --- start / resume ------------------------------------------------------------------
    def _refused(self, position: Position, decision: ExitDecision, why: str) -> ExitOutcome:
        log.warning("exit of %s (%s) refused: %s", position.id, decision.rule, why)
        return ExitOutcome(
            position_id=position.id,
            status=ExitOutcomeStatus.REFUSED,
            priority=decision.priority,
            requested_quantity=0,
            filled_quantity=0,
            reason=why,
        )

    def _working_exit(self, position_id: str) -> ExitView | None:
        working = [e for e in self._exits.exits_for(position_id) if e.status is ExitStatus.WORKING]
        return working[-1] if working else None

    async def _start(
        self,
        position: Position,
        decision: ExitDecision,
        priority: Priority,
        mark: Mark,
        triggered_at: datetime | None,
    ) -> ExitOutcome:
        now = self.clock.now()
        if not mark.is_valid or mark.premium is None:
            return self._refused(position, decision, f"the mark has a problem ({mark.problem}); no exit on a bad quote")
        age = (now - mark.timestamp).total_seconds()
        if age > self.max_quote_age_seconds:
            return self._refused(
                position,
                decision,
                f"the mark is {age:.0f} s old (max_quote_age_seconds {self.max_quote_age_seconds:g})"
            )
        if position.quantity < 1:
            return self._refused(position, decision, "nothing is open")
        qty = position.quantity if decision.action in (ExitAction.CLOSE, ExitAction.ROLL) else decision.quantity
        qty = min(max(qty, 1), position.quantity)
        ladder = self.tactics.ladder(priority, market_retries=self.market_retries)
        exit_id = self._exits.begin_exit(
            position.id,
            reason=decision.reason,
            priority=priority,
            quantity=qty,
            tactic=ladder[0].tactic.name,
            triggered_at=triggered_at or now,
            rule=decision.rule,
            unrealized_pnl_at_trigger=position.pnl_dollars(mark.premium),
            stage=decision.stage,
        )
        record = self._exits.get_exit(exit_id)
        run = _Run(position, record, ladder, 0, tactic=ladder[0].tactic.name)
        run.next_seq = self._next_seq(position.id)
        log.info(
            "exit %d of %s: %s %d units, %s (%s) with %s",
            exit_id, position.id, decision.action.value, qty, priority.name, decision.reason, run.tactic,
        )
        return await self._work(run, 0, None, resumed=False)

    def _next_seq(self, position_id: str) -> int:
        """The next closing-order sequence number of the position: one past every closing
        order its exits recorded, skipping ids already used by anything else."""
        n = sum(len(self._exits.attempts_for(e.id)) for e in self._exits.exits_for(position_id))
        seq = n + 1
        while self._orders.has_intent(client_order_id(position_id, OrderPurpose.CLOSE, seq)):
            seq += 1
        return seq

    async def _resume(self, position: Position, record: ExitView, *, urgency: Priority | None = None) -> ExitOutcome:
        """Continue a WORKING exit. With ``urgency`` above the exit's tactic (say a stop loss
        fires while a profit-target exit is working), the working order is cancelled at once
        and the ladder jumps to the first step of that priority's tactic."""
        ladder = self.tactics.ladder(record.priority, market_retries=self.market_retries)
        attempts = self._exits.attempts_for(record.id)
        run = _Run(position, record, ladder, 0, tactic=record.tactic)
        run.coids = {a.client_order_id for a in attempts}
        run.first_attempt_at = min((a.attempted_at for a in attempts), default=None)
        run.next_seq = self._next_seq(position.id)
        log.info("resuming exit %d of %s after %d attempts", record.id, position.id, len(attempts))
        if not attempts:
            return await self._work(run, 0, None, resumed=True, urgency=urgency)
        # Every attempt but the last was followed to a final state and its fills recorded
        # before the next was sent; the last one's order may be anywhere (never sent, working,
        # filled while we were down, not yet in the orders table): _follow_pending asks.
        last = attempts[-1]
        idx = step_index_of(last.tactic)
        if idx is None or idx >= len(ladder):
            idx = min(len(attempts) - 1, len(ladder) - 1)
        run.filled_before = sum(a.filled_quantity for a in attempts[:-1])
        return await self._work(run, idx, last, resumed=True, urgency=urgency)

    # --- the ladder ----------------------------------------------------------------------
    async def _work(
        self,
        run: _Run,
        start: int,
        pending: AttemptView | None,
        *,
        resumed: bool,
        urgency: Priority | None = None,
    ) -> ExitOutcome:
        """Run ``run.ladder`` from step ``start``; ``pending`` is an attempt of that step
        recorded before a restart (its order is followed, or re-sent, instead of a new one).
        Steps of tactics less urgent than ``urgency`` are skipped (a pending one is cancelled
        at once)."""
        try:
            for step in run.ladder[start:]:
                if run.remaining <= 0:
                    break
                too_slow = urgency is not None and step.tactic.priority < urgency
                if pending is not None:
                    await self._follow_pending(run, step, pending, cancel_now=too_slow)
                    pending = None
                    continue
                if too_slow:
                    continue
                if step.tactic.name != run.tactic and (step.escalated or urgency is not None):
                    await self._escalate(run, step)
                await self._run_step(run, step)
        except _BrokerUnreachable as exc:
            return await self._suspend(run, str(exc), resumed=resumed)
        return await self._finish(run, resumed=resumed)

    def _poll_for(self, step: Step) -> float:
        if self.poll_seconds is not None:
            return self.poll_seconds
        return min(max(step.timeout_seconds / 10.0, 0.5), 5.0)

    async def _run_step(self, run: _Run, step: Step) -> None:
        deadline = self.clock.now() + timedelta(seconds=step.timeout_seconds)
        limit: float | None = None
        if step.order_type is OrderType.LIMIT:
            market = await self._usable_market(run.position, deadline, self._poll_for(step))
            if market is None:
                run.skipped.append(step.label)
                log.warning("exit %d of %s: no usable quote for step %s", run.exit.id, run.position.id, step.label)
                return
            limit = step.limit_price(market, await self._tick_rule(run.position))
        seq = run.next_seq
        run.next_seq += 1
        order = Order(
            client_order_id=client_order_id(run.position.id, OrderPurpose.CLOSE, seq),
            legs=run.position.legs,
            side=Side.SELL,  # disposes of the held combo (the order convention)
            quantity=run.remaining,
            order_type=step.order_type,
            created_at=self.clock.now(),
            limit_price=limit,
            position_id=run.position.id,
            purpose=OrderPurpose.CLOSE,
        )
        attempt_no = self._exits.record_attempt(run.exit.id, order, tactic=step.label)
        run.coids.add(order.client_order_id)
        if run.first_attempt_at is None or order.created_at < run.first_attempt_at:
            run.first_attempt_at = order.created_at
        state = await self._place(order)
        self._orders.record_order(
            order.client_order_id,
            broker_order_id=state.broker_order_id,
            status=state.status,
            at=self.clock.now(),
            reason=state.reason,
        )
        await self._follow(run, step, attempt_no, order, state, deadline)

    async def _follow_pending(self, run: _Run, step: Step, pending: AttemptView, *, cancel_now: bool) -> None:
        """Pick up an attempt recorded before a restart: follow its order if the broker has
        it, re-send it (same client order id) if it never arrived; with ``cancel_now``, cancel
        it at once instead of waiting out its timeout."""
        order = Order(
            client_order_id=pending.client_order_id,
            legs=run.position.legs,
            side=Side.SELL,
            quantity=pending.quantity,
            order_type=pending.order_type,
            created_at=pending.attempted_at,
            limit_price=pending.limit_price,
            position_id=run.position.id,
            purpose=OrderPurpose.CLOSE,
        )
        deadline = pending.attempted_at + timedelta(seconds=step.timeout_seconds)
        try:
            state = await self._call(lambda: self.broker.order_status(order.client_order_id))
        except UnknownOrderError:
            if cancel_now:
                # Never sent and now superseded: recorded as cancelled, so nothing re-sends it.
                self._orders.record_order(
                    order.client_order_id,
                    broker_order_id=None,
                    status=OrderStatus.CANCELLED,
                    at=self.clock.now(),
                    reason="superseded by a more urgent exit before it reached the broker",
                )
                return
            log.info("exit %d: order %s never reached the broker; re-sending it", run.exit.id, order.client_order_id)
            state = await self._place(order)
            deadline = self.clock.now() + timedelta(seconds=step.timeout_seconds)
        if cancel_now:
            deadline = self.clock.now()
        self._orders.record_order(
            order.client_order_id,
            broker_order_id=state.broker_order_id,
            status=state.status,
            at=self.clock.now(),
            reason=state.reason,
        )
        await self._follow(run, step, pending.attempt_no, order, state, deadline)

    async def _follow(
        self, run: _Run, step: Step, attempt_no: int, order: Order, state: OrderState, deadline: datetime
    ) -> None:
        """Wait for ``order`` until ``deadline``, recording its fills; cancel what is left."""
        coid = order.client_order_id
        if state.status is OrderStatus.REJECTED:
            await self._alert(
                "exit_rejected",
                f"exit order {coid} for {run.position.id} rejected: {state.reason}",
                run,
                client_order_id=coid,
                step=step.label,
                reason=state.reason,
            )
        poll = self._poll_for(step)
        recorded = await self._sync_fills(run) or {}
        while state.status.is_working and self.clock.now() < deadline:
            wait = min(poll, (deadline - self.clock.now()).total_seconds())
            await self.clock.sleep(max(wait, 0.0))
            try:
                state = await self._call(lambda: self.broker.order_status(coid), give_up=False)
            except (BrokerDisconnectedError, BrokerTimeoutError):
                continue  # keep waiting until the deadline; the cancel below retries
            if state.filled_quantity > recorded.get(coid, 0):
                recorded = await self._sync_fills(run) or recorded
        if state.status.is_working:
            state = await self._call(lambda: self.broker.cancel_order(coid))
            self._orders.update_from_broker(state)
        await self._sync_fills_until_done(run, {coid: state.filled_quantity})
        run.filled_before += state.filled_quantity
        run.attempts.append(
            AttemptOutcome(
                attempt_no=attempt_no,
                client_order_id=coid,
                step=step.label,
                order_type=order.order_type,
                limit_price=order.limit_price,
                quantity=state.quantity,
                status=state.status,
                filled_quantity=state.filled_quantity,
                avg_fill_price=state.avg_fill_price,
                sent_at=order.created_at,
                reason=state.reason,
            )
        )

    async def _escalate(self, run: _Run, step: Step) -> None:
        previous = run.tactic
        run.tactic = step.tactic.name
        run.escalations.append(step.tactic.name)
        self._exits.set_tactic(run.exit.id, step.tactic.name)
        await self._alert(
            "exit_escalated",
            f"exit of {run.position.id} unfilled under {previous}: escalating to {step.tactic.name} "
            f"({run.filled_before} of {run.exit.quantity} filled)",
            run,
            from_tactic=previous,
            to_tactic=step.tactic.name,
            filled_quantity=run.filled_before,
            remaining=run.remaining,
        )

    async def _finish(self, run: _Run, *, resumed: bool) -> ExitOutcome:
        now = self.clock.now()
        record = self._exits.get_exit(run.exit.id)
        filled = record.filled_quantity
        if filled >= record.quantity:
            status = ExitOutcomeStatus.FILLED
            await self._alert(
                "exit_executed",
                f"exit of {run.position.id} filled: {filled} at {record.fill_price:.4f} with {run.tactic}",
                run,
                fill_price=record.fill_price,
                filled_quantity=filled,
            )
            reason = None
        else:
            status = ExitOutcomeStatus.PARTIAL if filled > 0 else ExitOutcomeStatus.FAILED
            reason = f"every step of the ladder ran out with {filled} of {record.quantity} filled"
            self._exits.fail_exit(run.exit.id, now)
            await self._alert(
                "exit_failed", f"exit of {run.position.id} failed: {reason}", run, filled_quantity=filled
            )
        return self._outcome(run, status, record, reason, resumed)

    async def _suspend(self, run: _Run, why: str, *, resumed: bool) -> ExitOutcome:
        await self._alert(
            "exit_suspended",
            f"exit of {run.position.id} suspended, broker unreachable ({why}); it resumes on the next try",
            run,
        )
        record = self._exits.get_exit(run.exit.id)
        return self._outcome(run, ExitOutcomeStatus.SUSPENDED, record, why, resumed)

    def _outcome(
        self, run: _Run, status: ExitOutcomeStatus, record: ExitView, reason: str | None, resumed: bool
    ) -> ExitOutcome:
        return ExitOutcome(
            position_id=run.position.id,
            status=status,
            priority=record.priority,
            requested_quantity=record.quantity,
            filled_quantity=record.filled_quantity,
            avg_fill_price=record.fill_price,
            exit_id=record.id,
            tactic=run.tactic,
            attempts=tuple(run.attempts),
            escalations=tuple(run.escalations),
            skipped_steps=tuple(run.skipped),
            triggered_at=record.triggered_at,
            executed_at=record.executed_at,
            reason=reason,
            resumed=resumed,
        )

    # --- broker plumbing -----------------------------------------------------------------
    async def _tick_rule(self, position: Position) -> TickRule:
        """The grid a limit on the position's legs goes on: the broker's (IB's market rules)
        when it knows one, else the class table (:func:`riskpilot.execution.ticks.rule_for_legs`)."""
        broker = self.broker
        if isinstance(broker, TickRuleSource):
            contracts = [leg.contract for leg in position.legs]
            try:
                return await self._call(lambda: broker.tick_rule(contracts))
            except BrokerError as exc:
                if isinstance(exc, (BrokerDisconnectedError, BrokerTimeoutError)):
                    raise
                log.warning("exit of %s: the broker has no tick rule for its legs (%s); pricing on the class table",
                            position.id, exc)
        return rule_for_legs(position.legs)

    async def _call(self, fn: Callable[[], Awaitable[T]], *, give_up: bool = True) -> T:
        """Call the broker, retrying disconnects and timeouts every ``retry_delay_seconds``
        until ``max_outage_seconds`` (then :class:`_BrokerUnreachable`); with
        ``give_up=False`` the first failure is raised to the caller instead."""
        until = self.clock.now() + timedelta(seconds=self.max_outage_seconds)
        while True:
            try:
                return await fn()
            except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
                if not give_up:
                    raise
                if self.clock.now() >= until:
                    raise _BrokerUnreachable(f"{type(exc).__name__}: {exc}") from exc
                log.warning("broker call failed (%s); retrying in %g s", exc, self.retry_delay_seconds)
                await self.clock.sleep(self.retry_delay_seconds)

    async def _place(self, order: Order) -> OrderState:
        # Re-sending the same client order id is safe: the broker returns the order it has.
        return await self._call(lambda: self.broker.place_order(order))

    async def _usable_market(self, position: Position, deadline: datetime, poll: float) -> ComboMarket | None:
        """The combo's bid/ask for closing, from quotes none of which is missing, crossed or
        stale; polls until ``deadline``, None when no usable quote came."""
        contracts = [leg.contract for leg in position.legs]
        while True:
            now = self.clock.now()
            try:
                quotes = await self.broker.get_quotes(contracts)
            except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
                log.warning("quotes for %s unavailable: %s", position.id, exc)
                quotes = {}
            good = all(
                c in quotes and quotes[c].problem(now, self.max_quote_age_seconds) is None for c in contracts
            )
            if good:
                market = combo_market(position.legs, Side.SELL, quotes)
                if isinstance(market, ComboMarket):
                    return market
            if self.clock.now() >= deadline:
                return None
            await self.clock.sleep(min(poll, max((deadline - self.clock.now()).total_seconds(), 0.0)))

    async def _sync_fills(self, run: _Run) -> dict[str, int] | None:
        """Record the fills of this exit's orders the store does not know yet; returns the
        units filled per client order id as the broker reports them, None on an outage."""
        start = run.exit.triggered_at
        if run.first_attempt_at is not None:
            start = min(start, run.first_attempt_at)
        since = start - EXECUTIONS_SLACK
        try:
            fills = await self.broker.executions(since)
        except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
            log.warning("executions unavailable for exit %d: %s", run.exit.id, exc)
            return None
        mine = [f for f in fills if f.client_order_id in run.coids]
        self._orders.record_new(mine)
        per_order: dict[str, int] = {}
        for f in mine:
            per_order[f.client_order_id] = per_order.get(f.client_order_id, 0) + f.quantity
        return per_order

    async def _sync_fills_until_done(self, run: _Run, expected: dict[str, int] | None = None) -> dict[str, int]:
        """:meth:`_sync_fills` until it succeeds and shows at least ``expected`` units per
        order, retrying an outage up to ``max_outage_seconds``."""
        until = self.clock.now() + timedelta(seconds=self.max_outage_seconds)
        while True:
            got = await self._sync_fills(run)
            if got is not None and all(got.get(c, 0) >= n for c, n in (expected or {}).items()):
                return got
            if self.clock.now() >= until:
                raise _BrokerUnreachable(f"the fills of exit {run.exit.id} could not be read from the broker")
            await self.clock.sleep(self.retry_delay_seconds)

    async def _alert(self, kind: str, message: str, run: _Run, **fields: Any) -> None:
        log.info("%s: %s", kind, message)
        if self.alerts is None:
            return
        try:
            await self.alerts(
                kind,
                message,
                position_id=run.position.id,
                exit_id=run.exit.id,
                priority=run.exit.priority.name,
                tactic=run.tactic,
                **fields,
            )
        except Exception:  # an alert channel failing must never stop an exit in flight
            log.exception("alert %s for exit %d could not be delivered", kind, run.exit.id)


__all__ = [
    "AttemptOutcome",
    "ExitExecutor",
    "ExitOutcome",
    "ExitOutcomeStatus",
]
