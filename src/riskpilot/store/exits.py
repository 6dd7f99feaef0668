"""Exits of positions and their order attempts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.enums import (
    PositionStatus,
    Priority,
)
from riskpilot.model.order import Order, OrderPurpose
from riskpilot.model.status import OrderStatus
from riskpilot.store.database import Store
from riskpilot.store.fills import add_intent
from riskpilot.store.models import (
    ExitAttemptRow,
    ExitStatus,
    OrderIntentRow,
    PositionExitRow,
    PositionRow,
)
from riskpilot.store.records import (
    AttemptRecord,
    ExitRecord,
    InvariantError,
    NotFoundError,
)
from riskpilot.store.rows import (
    add_daily,
    exit_record,
    lock_position,
    multiplier_of,
    realized_pnl,
    utc,
)


class ExitRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def begin_exit(
        self,
        position_id: str,
        *,
        reason: str,
        priority: Priority,
        quantity: int,
        tactic: str,
        triggered_at: datetime,
        rule: str | None = None,
        unrealized_pnl_at_trigger: float | None = None,
        stage: str | None = None,
    ) -> int:
        """Start working an exit of ``quantity`` units: the position becomes CLOSING with the
        exit's reason and priority. Returns the exit id; fills of its attempts' orders
        (:meth:`record_attempt`) reduce the position as they arrive. ``stage``: the
        partial-exit stage the exit works, marked done by its first fill in that fill's
        transaction."""
        at = utc(triggered_at, "triggered_at")
        with self.store.transaction() as s:
            pos = lock_position(s, position_id)
            self._check_quantity(pos, quantity)
            ex = PositionExitRow(
                position_id=position_id,
                rule=rule,
                reason=reason,
                priority=priority,
                quantity=quantity,
                is_partial=quantity < pos.quantity,
                tactic=tactic,
                status=ExitStatus.WORKING,
                filled_quantity=0,
                unrealized_pnl_at_trigger=unrealized_pnl_at_trigger,
                triggered_at=at,
                stage=stage,
            )
            s.add(ex)
            pos.status = PositionStatus.CLOSING
            pos.exit_reason = reason
            pos.exit_priority = priority
            s.flush()
            return ex.id

    @staticmethod
    def _check_quantity(pos: PositionRow, quantity: int) -> None:
        if pos.status is PositionStatus.CLOSED:
            raise InvariantError(f"position {pos.id!r} is already CLOSED")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"exit quantity must be a whole number >= 1, got {quantity!r}")
        if quantity > pos.quantity:
            raise InvariantError(f"exit of {quantity} exceeds the {pos.quantity} open in position {pos.id!r}")

    def record_attempt(self, exit_id: int, order: Order, *, tactic: str | None = None) -> int:
        """Record one order attempt of an exit together with its order intent (so the
        intent-before-order rule holds for exits too). Returns the attempt number (1, 2, ...)."""
        if order.purpose is not OrderPurpose.CLOSE:
            raise ValueError(f"exit order {order.client_order_id!r} must have purpose CLOSE")
        at = utc(order.created_at, "order created_at")
        with self.store.transaction() as s:
            ex = s.execute(
                select(PositionExitRow).where(PositionExitRow.id == exit_id).with_for_update()
            ).scalar_one_or_none()
            if ex is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            if order.position_id != ex.position_id:
                raise InvariantError(
                    f"order {order.client_order_id!r} is for position {order.position_id!r}, "
                    f"exit {exit_id} for {ex.position_id!r}"
                )
            n = len(s.execute(select(ExitAttemptRow.id).where(ExitAttemptRow.exit_id == exit_id)).all())
            add_intent(s, order, tactic or ex.tactic)
            s.add(
                ExitAttemptRow(
                    exit_id=exit_id,
                    attempt_no=n + 1,
                    client_order_id=order.client_order_id,
                    order_type=order.order_type,
                    limit_price=order.limit_price,
                    quantity=order.quantity,
                    status=OrderStatus.PENDING_SUBMIT,
                    filled_quantity=0,
                    attempted_at=at,
                    updated_at=at,
                )
            )
            return n + 1

    def fail_exit(self, exit_id: int, at: datetime) -> None:
        """Give an exit up (escalated or abandoned); the position goes back to OPEN if
        anything is left and no other exit is working."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            ex = s.get(PositionExitRow, exit_id, with_for_update=True)
            if ex is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            ex.status = ExitStatus.FAILED
            pos = lock_position(s, ex.position_id)
            others = s.execute(
                select(PositionExitRow.id).where(
                    PositionExitRow.position_id == ex.position_id,
                    PositionExitRow.status == ExitStatus.WORKING,
                    PositionExitRow.id != exit_id,
                )
            ).first()
            if pos.quantity > 0 and pos.status is PositionStatus.CLOSING and others is None:
                pos.status = PositionStatus.OPEN

    def record_exit(
        self,
        position_id: str,
        *,
        reason: str,
        priority: Priority,
        quantity: int,
        fill_price: float,
        tactic: str,
        triggered_at: datetime,
        executed_at: datetime,
        rule: str | None = None,
        unrealized_pnl_at_trigger: float | None = None,
        commission: float = 0.0,
    ) -> int:
        """Record an exit that executed in full (backtests, manual closes) and reduce the
        position in the same transaction: quantity, realized P&L (dollars), CLOSED at zero."""
        trig = utc(triggered_at, "triggered_at")
        done = utc(executed_at, "executed_at")
        with self.store.transaction() as s:
            pos = lock_position(s, position_id)
            self._check_quantity(pos, quantity)
            realized = realized_pnl(
                pos.premium_type,
                pos.entry_premium,
                fill_price,
                quantity,
                multiplier_of(s, position_id),
            )
            ex = PositionExitRow(
                position_id=position_id,
                rule=rule,
                reason=reason,
                priority=priority,
                quantity=quantity,
                is_partial=quantity < pos.quantity,
                tactic=tactic,
                status=ExitStatus.EXECUTED,
                filled_quantity=quantity,
                fill_price=fill_price,
                unrealized_pnl_at_trigger=unrealized_pnl_at_trigger,
                triggered_at=trig,
                executed_at=done,
            )
            s.add(ex)
            pos.quantity -= quantity
            pos.realized_pnl += realized
            pos.commissions += commission
            pos.exit_reason = reason
            pos.exit_priority = priority
            if pos.quantity == 0:
                pos.status = PositionStatus.CLOSED
                pos.closed_at = done
            add_daily(s, done.astimezone(EXCHANGE_TZ).date(), realized, commission, done)
            s.flush()
            return ex.id

    def last_triggered(self, position_ids: Iterable[str]) -> dict[str, datetime]:
        """The latest exit trigger time of each of ``position_ids`` that has an exit."""
        ids = list(position_ids)
        if not ids:
            return {}
        with self.store.read() as s:
            rows = s.execute(
                select(PositionExitRow.position_id, func.max(PositionExitRow.triggered_at))
                .where(PositionExitRow.position_id.in_(ids)).group_by(PositionExitRow.position_id)
            ).all()
        return {pid: at for pid, at in rows if at is not None}

    def get_exit(self, exit_id: int) -> ExitRecord:
        with self.store.read() as s:
            row = s.get(PositionExitRow, exit_id)
            if row is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            return exit_record(row)

    def exits_for(self, position_id: str) -> list[ExitRecord]:
        with self.store.read() as s:
            rows = s.execute(
                select(PositionExitRow).where(PositionExitRow.position_id == position_id).order_by(PositionExitRow.id)
            ).scalars()
            return [exit_record(r) for r in rows]

    def all_exits(self) -> list[ExitRecord]:
        """Every exit of every position, oldest first."""
        with self.store.read() as s:
            rows = s.execute(select(PositionExitRow).order_by(PositionExitRow.triggered_at, PositionExitRow.id))
            return [exit_record(r) for r in rows.scalars()]

    def set_tactic(self, exit_id: int, tactic: str) -> None:
        """The tactic now working the exit (after an escalation to the next priority's)."""
        with self.store.transaction() as s:
            ex = s.get(PositionExitRow, exit_id, with_for_update=True)
            if ex is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            ex.tactic = tactic

    def attempts_for(self, exit_id: int) -> list[AttemptRecord]:
        with self.store.read() as s:
            rows = s.execute(
                select(ExitAttemptRow, OrderIntentRow.tactic)
                .join(OrderIntentRow, OrderIntentRow.client_order_id == ExitAttemptRow.client_order_id)
                .where(ExitAttemptRow.exit_id == exit_id)
                .order_by(ExitAttemptRow.attempt_no)
            ).all()
            return [
                AttemptRecord(
                    id=r.id,
                    exit_id=r.exit_id,
                    attempt_no=r.attempt_no,
                    client_order_id=r.client_order_id,
                    order_type=r.order_type,
                    limit_price=r.limit_price,
                    quantity=r.quantity,
                    status=r.status,
                    filled_quantity=r.filled_quantity,
                    attempted_at=r.attempted_at,
                    tactic=tactic,
                )
                for r, tactic in rows
            ]


