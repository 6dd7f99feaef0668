"""Operator actions taken through the dashboard, recorded with who and when
(``dashboard_actions``). An action is recorded PENDING before it acts (as an order intent is
before its order), then finished with its outcome, so a crash in between still leaves who
asked for what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from riskpilot.config.redact import redact_text
from riskpilot.model.enums import Priority
from riskpilot.store.database import Store
from riskpilot.store.models import ActionOutcome, DashboardActionRow
from riskpilot.store.records import NotFoundError
from riskpilot.store.rows import utc


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    requested_at: datetime
    operator: str
    client: str | None
    action: str
    target: str | None
    reason: str | None
    priority: Priority | None
    outcome: ActionOutcome
    detail: str | None
    finished_at: datetime | None


def _record(r: DashboardActionRow) -> ActionRecord:
    return ActionRecord(r.id, r.requested_at, r.operator, r.client, r.action, r.target, r.reason, r.priority,
                        r.outcome, r.detail, r.finished_at)


class ActionRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(
        self,
        *,
        operator: str,
        action: str,
        at: datetime,
        client: str | None = None,
        target: str | None = None,
        reason: str | None = None,
        priority: Priority | None = None,
    ) -> int:
        """Record that ``operator`` asked for ``action`` at ``at`` (PENDING); returns its id."""
        if not operator.strip():
            raise ValueError("an action needs the operator's name (who asked for it)")
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = DashboardActionRow(
                requested_at=at, operator=operator[:64], client=None if client is None else client[:64],
                action=action, target=target, reason=None if reason is None else redact_text(reason),
                priority=priority, outcome=ActionOutcome.PENDING,
            )
            s.add(row)
            s.flush()
            return row.id

    def finish(self, action_id: int, outcome: ActionOutcome, detail: str, at: datetime) -> None:
        """Record how the action ended (never PENDING again) and what it changed or why not."""
        if outcome is ActionOutcome.PENDING:
            raise ValueError("an action finishes DONE, REFUSED or FAILED, not PENDING")
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(DashboardActionRow, action_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"dashboard action {action_id} is not in the store")
            row.outcome = outcome
            row.detail = redact_text(detail)
            row.finished_at = at

    def get(self, action_id: int) -> ActionRecord:
        with self.store.read() as s:
            row = s.get(DashboardActionRow, action_id)
            if row is None:
                raise NotFoundError(f"dashboard action {action_id} is not in the store")
            return _record(row)

    def recent(self, limit: int = 50) -> list[ActionRecord]:
        """The ``limit`` newest actions, newest first."""
        with self.store.read() as s:
            rows = s.execute(select(DashboardActionRow).order_by(DashboardActionRow.id.desc()).limit(limit)).scalars()
            return [_record(r) for r in rows]


__all__ = ["ActionOutcome", "ActionRecord", "ActionRepository"]
