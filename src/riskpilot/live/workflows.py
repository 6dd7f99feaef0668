"""Two of the workflows of SPEC section 5: position monitoring and exit (the entry workflow is
:mod:`riskpilot.live.entries`, the live half of the cycle step's entry phase).

PositionMonitoringWorkflow
    ``check_position_exits`` for the positions given, and a ``decision`` alert for every
    non-HOLD decision.

ExitWorkflow
    Executes a decision with the :class:`~riskpilot.execution.executor.ExitExecutor`: CLOSE and
    PARTIAL_CLOSE (the store marks a partial-exit stage done with the fill that fills it), ROLL (close, then
    reopen further out through ``reopen`` when one is given), HOLD (nothing). After each exit the
    risk manager's book takes the exit's fills (so the day's P&L and the circuit breaker see
    them), and the trailing stop goes with the position: kept while units remain, dropped
    with the last unit (``RiskManager.record_fill``); a rolled position starts a fresh stop.

``dry_run`` (every workflow): decide and log; no order, no alert, no store write.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from riskpilot.config.schema import RegimeName
from riskpilot.execution.executor import EXECUTIONS_SLACK, ExitExecutor, ExitOutcome
from riskpilot.execution.port import AlertSink, BrokerDisconnectedError, BrokerTimeoutError
from riskpilot.live.reconcile import record_new_fills
from riskpilot.model.contract import exchange_date
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.model.mark import Mark
from riskpilot.model.order import Order
from riskpilot.model.position import Position
from riskpilot.risk.checks import ExitChecks
from riskpilot.risk.manager import RiskManager

log = logging.getLogger("riskpilot.monitor")


# --- monitoring ------------------------------------------------------------------------------


def decision_alert_text(position: Position, decision: ExitDecision) -> str:
    pri = decision.priority.name if decision.priority is not None else "-"
    return (f"{decision.action.value} {position.id} ({position.underlying}, {position.method}): "
            f"{decision.rule} [{pri}] {decision.reason}")


class PositionMonitoringWorkflow:
    """Decisions for the positions given, and an alert for every non-HOLD one."""

    def __init__(self, risk: RiskManager, alerts: AlertSink | None = None, *, dry_run: bool = False) -> None:
        self.risk = risk
        self.alerts = alerts
        self.dry_run = dry_run

    async def evaluate(
        self,
        positions: Sequence[Position],
        marks: Mapping[str, Mark],
        now: datetime,
        *,
        regime: RegimeName | None = None,
        features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ExitChecks:
        checks = self.risk.check_position_exits(positions, marks, now, regime=regime, features=features)
        for c in checks.exits():
            await self.alert(c.position, c.decision, c.mark)
        return checks

    async def alert(self, position: Position, decision: ExitDecision, mark: Mark) -> None:
        text = decision_alert_text(position, decision)
        if self.dry_run:
            log.warning("DRY RUN decision: %s", text)
            return
        log.warning("decision: %s", text)
        if self.alerts is None:
            return
        try:
            await self.alerts(
                "decision", text, position_id=position.id, action=decision.action.value, rule=decision.rule,
                priority=decision.priority.name if decision.priority is not None else None,
                quantity=decision.quantity, premium=mark.premium,
            )
        except Exception:  # an alert channel failing must never stop the monitor
            log.exception("decision alert for %s could not be raised", position.id)


# --- exit ------------------------------------------------------------------------------------


def describe_order(order: Order) -> str:
    """``SELL 2 x [-1 SPY 2024-04-19 480P, +1 SPY 2024-04-19 475P] LIMIT 1.05 as <id>``."""
    legs = ", ".join(f"{leg.quantity:+d} {leg.contract}" for leg in order.legs)
    price = f"LIMIT {order.limit_price:.2f}" if order.limit_price is not None else "MARKET"
    return f"{order.side.value} {order.quantity} x [{legs}] {price} as {order.client_order_id}"


Reopen = Callable[[Position, datetime], Awaitable[object]]


class ExitWorkflow:
    """Executes exit decisions (see the module docstring)."""

    def __init__(
        self,
        executor: ExitExecutor,
        risk: RiskManager,
        *,
        dry_run: bool = False,
        reopen: Reopen | None = None,
    ) -> None:
        self.executor = executor
        self.risk = risk
        self.dry_run = dry_run
        self.reopen = reopen

    async def execute(self, position: Position, decision: ExitDecision, mark: Mark) -> ExitOutcome | None:
        if decision.action is ExitAction.HOLD:
            return None
        if self.dry_run:
            order = await self.executor.preview(position, decision)
            log.warning("DRY RUN exit: would %s %s (%s, %s): %s; nothing sent", decision.action.value, position.id,
                        decision.rule, decision.priority.name if decision.priority is not None else "-",
                        describe_order(order) if isinstance(order, Order) else order)
            return None
        outcome = await self.executor.execute(position, decision, mark)
        await self.sync_risk(outcome)  # (a stage is marked done by the store with its fill)
        if outcome.filled and decision.action is ExitAction.ROLL and self.reopen is not None:
            await self.reopen(position, self.executor.clock.now())
        return outcome

    async def resume(self, position: Position) -> ExitOutcome | None:
        """Continue the position's WORKING exit with its own tactic (see
        :meth:`ExitExecutor.resume`), then give the risk book its fills."""
        if self.dry_run:
            return None
        outcome = await self.executor.resume(position)
        if outcome is not None:
            await self.sync_risk(outcome)
        return outcome

    async def sync_risk(self, outcome: ExitOutcome) -> None:
        """Give the risk book the exit's fills (each applied once, by fill id)."""
        coids = {a.client_order_id for a in outcome.attempts}
        if not coids or outcome.triggered_at is None:
            return
        try:
            fills = await self.executor.broker.executions(outcome.triggered_at - EXECUTIONS_SLACK)
        except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
            log.warning("risk book: fills of %s's exit unavailable now (%s)", outcome.position_id, exc)
            return
        await record_new_fills(self.executor.ledger.orders, fills, self.risk, only=coids)

    @staticmethod
    def close_decision(position: Position, reason: str, priority: Priority, rule: str) -> ExitDecision:
        return ExitDecision(position.id, ExitAction.CLOSE, reason, rule=rule, priority=priority,
                            quantity=position.quantity)


__all__ = [
    "EXECUTIONS_SLACK",
    "ExitWorkflow",
    "PositionMonitoringWorkflow",
    "decision_alert_text",
    "describe_order",
    "exchange_date",
]
