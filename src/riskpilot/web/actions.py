"""The dashboard's actions on the book: halt, resume, close a position, close an underlying,
close all. Each goes through :mod:`riskpilot.store.operator`, exactly as `riskpilot halt`,
`resume` and `close` do, and is recorded in ``dashboard_actions`` before it acts (who, from
where, what) and after (how it ended)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from riskpilot.config import RiskPilotConfig
from riskpilot.execution.tactics import TacticBook
from riskpilot.model.enums import Priority
from riskpilot.store import ActionRepository, Store, operator
from riskpilot.store.models import ActionOutcome
from riskpilot.web.auth import Operator

log = logging.getLogger("riskpilot.web")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    kind: str
    title: str
    what: str
    target: str | None  # the form field naming the target: "position", "underlying" or None
    closes: bool


ACTIONS: dict[str, ActionSpec] = {a.kind: a for a in (
    ActionSpec("halt", "Halt entries", "New entries stop; exits still pass. Lasts until resumed.", None, False),
    ActionSpec("resume", "Resume trading", "The trading state goes back to ACTIVE.", None, False),
    ActionSpec("close-position", "Close a position",
               "Queues an exit of the whole open quantity; the running monitor works it on its next cycle.",
               "position", True),
    ActionSpec("close-underlying", "Close an underlying",
               "Queues an exit for every open position in the symbol; the running monitor works them.",
               "underlying", True),
    ActionSpec("close-all", "Close every position",
               "Queues an exit for every open position; the running monitor works them.", None, True),
)}


class ActionInputError(ValueError):
    """A form that cannot make the action; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    spec: ActionSpec
    target: str | None
    reason: str
    priority: Priority | None
    force: bool


def parse_request(kind: str, form: dict[str, str]) -> ActionRequest:
    """The action ``kind`` with the confirmation form's fields, or :class:`ActionInputError`."""
    spec = ACTIONS.get(kind)
    if spec is None:
        raise ActionInputError(f"unknown action {kind!r}: use one of {', '.join(ACTIONS)}")
    target = None
    if spec.target is not None:
        target = (form.get(spec.target) or "").strip()
        if not target or len(target) > 64:
            raise ActionInputError(f"{spec.title}: the {spec.target} field is missing (open the action from the book)")
        if spec.target == "underlying":
            target = target.upper()
    reason = (form.get("reason") or "").strip() or "dashboard request"
    if len(reason) > 500:
        raise ActionInputError("reason: at most 500 characters")
    priority = None
    if spec.closes:
        name = (form.get("priority") or "HIGH").strip().upper()
        try:
            priority = Priority[name]
        except KeyError:
            raise ActionInputError(f"priority {name!r}: use CRITICAL, HIGH, MEDIUM or LOW") from None
    return ActionRequest(spec, target, reason, priority, form.get("force") == "yes")


@dataclass(frozen=True, slots=True)
class ActionResult:
    action_id: int
    outcome: ActionOutcome
    detail: str


def perform(store: Store, config: RiskPilotConfig, req: ActionRequest, who: Operator, client: str | None,
            at: datetime) -> ActionResult:
    """Record the action (PENDING), do it through the store, record how it ended."""
    actions = ActionRepository(store)
    action_id = actions.begin(operator=who.name, client=client, action=req.spec.kind, at=at, target=req.target,
                              reason=req.reason, priority=req.priority)
    try:
        outcome, detail = _do(store, config, req, at)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        log.exception("dashboard action %d (%s) failed", action_id, req.spec.kind)
        actions.finish(action_id, ActionOutcome.FAILED, detail, datetime.now(at.tzinfo))
        return ActionResult(action_id, ActionOutcome.FAILED, detail)
    actions.finish(action_id, outcome, detail, datetime.now(at.tzinfo))
    log.warning("dashboard action %d by %s (%s, %s): %s %s -> %s: %s", action_id, who.name, who.via, client,
                req.spec.kind, req.target or "", outcome.value, detail)
    return ActionResult(action_id, outcome, detail)


def _do(store: Store, config: RiskPilotConfig, req: ActionRequest, at: datetime) -> tuple[ActionOutcome, str]:
    kind = req.spec.kind
    if kind == "halt":
        change = operator.halt(store, req.reason, at)
        return ActionOutcome.DONE, f"trading state {change.before.state.value} -> HALTED ({change.after.reason})"
    if kind == "resume":
        try:
            change = operator.resume(store, at, force=req.force)
        except operator.ResumeRefusedError as exc:
            return ActionOutcome.REFUSED, f"{exc}; tick 'force' to resume now"
        if not change.changed:
            return ActionOutcome.DONE, "trading state was already ACTIVE; nothing changed"
        return ActionOutcome.DONE, f"trading state {change.before.state.value} -> ACTIVE"
    if req.priority is None:
        raise ActionInputError("a close needs a priority")
    tactic = TacticBook.from_config(config).ladder(req.priority)[0].tactic.name
    try:
        out = operator.queue_closes(
            store, position=req.target if kind == "close-position" else None,
            underlying=req.target if kind == "close-underlying" else None, close_all=kind == "close-all",
            priority=req.priority, tactic=tactic, reason=req.reason, at=at,
        )
    except operator.NothingToCloseError as exc:
        return ActionOutcome.REFUSED, str(exc)
    parts = [f"{len(out.queued)} exit(s) queued ({req.priority.name}, {tactic})"]
    parts += [f"{q.position_id}: exit {q.exit_id}, {q.quantity} units" for q in out.queued]
    parts += [f"{pid}: skipped, {why}" for pid, why in out.skipped]
    return (ActionOutcome.DONE if out.queued or not out.skipped else ActionOutcome.REFUSED), "; ".join(parts)
