"""Orders and their fills: intents before orders, broker states, fills applied once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.enums import PositionStatus
from riskpilot.model.order import Fill, Order, OrderPurpose
from riskpilot.model.status import OrderState, OrderStatus
from riskpilot.store.database import Store
from riskpilot.store.fills import (
    FILL_SQL,
    add_intent,
    apply_fill_to_position,
    apply_to_exit,
    check_fill,
    sync_attempt,
)
from riskpilot.store.models import (
    ExitAttemptRow,
    FillRow,
    LegRow,
    OrderIntentRow,
    OrderRow,
)
from riskpilot.store.records import (
    DuplicateFillError,
    FillOutcome,
    InvariantError,
    MissingIntentError,
    NotFoundError,
    OrderRecord,
)
from riskpilot.store.rows import (
    add_daily,
    order_record,
    table_of,
    utc,
)
from riskpilot.store.serialize import leg_from_dict


class OrderRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_intent(self, order: Order, *, tactic: str | None = None) -> None:
        """Store what is about to be sent. Must precede :meth:`record_order`."""
        with self.store.transaction() as s:
            add_intent(s, order, tactic)

    def has_intent(self, client_order_id: str) -> bool:
        with self.store.read() as s:
            q = select(OrderIntentRow.id).where(OrderIntentRow.client_order_id == client_order_id)
            return s.execute(q).first() is not None

    def intended_order(self, client_order_id: str) -> Order | None:
        """The order as its intent recorded it (legs, side, quantity, type, limit), None for
        an id with no intent: how an adapter maps an order it finds at the broker after a
        restart back to what was sent."""
        with self.store.read() as s:
            row = s.execute(
                select(OrderIntentRow).where(OrderIntentRow.client_order_id == client_order_id)
            ).scalar_one_or_none()
            if row is None:
                return None
            return Order(
                client_order_id=row.client_order_id,
                legs=tuple(leg_from_dict(d) for d in row.legs),
                side=row.side,
                quantity=row.quantity,
                order_type=row.order_type,
                created_at=row.created_at,
                limit_price=row.limit_price,
                position_id=row.position_id,
                purpose=row.purpose,
            )

    def record_order(
        self,
        client_order_id: str,
        *,
        broker_order_id: str | None,
        status: OrderStatus,
        at: datetime,
        reason: str | None = None,
    ) -> None:
        """Record that the order of an existing intent was sent (or re-sent: an order row
        that exists is updated, never duplicated)."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            intent = s.execute(
                select(OrderIntentRow).where(OrderIntentRow.client_order_id == client_order_id)
            ).scalar_one_or_none()
            if intent is None:
                raise MissingIntentError(client_order_id)
            row = s.execute(
                select(OrderRow).where(OrderRow.client_order_id == client_order_id).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                s.add(
                    OrderRow(
                        client_order_id=client_order_id,
                        broker_order_id=broker_order_id,
                        position_id=intent.position_id,
                        purpose=intent.purpose,
                        side=intent.side,
                        order_type=intent.order_type,
                        quantity=intent.quantity,
                        limit_price=intent.limit_price,
                        status=status,
                        filled_quantity=0,
                        reject_reason=reason,
                        submitted_at=at,
                        updated_at=at,
                    )
                )
            else:
                row.broker_order_id = broker_order_id or row.broker_order_id
                row.status = status
                row.reject_reason = reason
                row.updated_at = at
            sync_attempt(s, client_order_id, status, None, at)

    def update_from_broker(self, state: OrderState) -> None:
        """Take the broker's status, limit price, quantity and reason for an order (after a
        replace, cancel or reject). Fill quantities are only ever changed by record_fill."""
        at = utc(state.updated_at, "updated_at")
        with self.store.transaction() as s:
            row = self._lock_order(s, state.client_order_id)
            if state.quantity < row.filled_quantity:
                raise InvariantError(
                    f"order {state.client_order_id!r}: broker quantity {state.quantity} is below "
                    f"the {row.filled_quantity} already filled"
                )
            row.broker_order_id = state.broker_order_id
            row.quantity = state.quantity
            row.limit_price = state.limit_price
            if not (row.status is OrderStatus.FILLED and state.status is not OrderStatus.FILLED):
                row.status = state.status
            row.reject_reason = state.reason
            row.updated_at = at
            sync_attempt(s, state.client_order_id, row.status, None, at)

    def get_order(self, client_order_id: str) -> OrderRecord:
        with self.store.read() as s:
            row = s.execute(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"order {client_order_id!r} is not in the store")
            return order_record(row)

    def working_orders(self) -> list[OrderRecord]:
        working = [st for st in OrderStatus if st.is_working]
        with self.store.read() as s:
            rows = s.execute(select(OrderRow).where(OrderRow.status.in_(working))).scalars()
            return [order_record(r) for r in rows]

    def known_fill_ids(self, fill_ids: Iterable[str]) -> set[str]:
        ids = list(fill_ids)
        with self.store.read() as s:
            return set(s.execute(select(FillRow.fill_id).where(FillRow.fill_id.in_(ids))).scalars())

    def record_new(self, fills: Sequence[Fill]) -> list[str]:
        """:meth:`record_fill` each of ``fills`` whose fill id the store does not know yet, in
        order; returns the fill ids recorded. A fill another writer records meanwhile (the
        executor and the reconciliation race on the same fills) raises
        :class:`DuplicateFillError`, which is skipped: it is applied once, as it should be."""
        known = self.known_fill_ids(f.fill_id for f in fills) if fills else set()
        recorded: list[str] = []
        for f in fills:
            if f.fill_id in known:
                continue
            try:
                self.record_fill(f)
            except DuplicateFillError:
                continue
            recorded.append(f.fill_id)
        return recorded

    @staticmethod
    def _lock_order(s: Session, client_order_id: str) -> OrderRow:
        row = s.execute(
            select(OrderRow).where(OrderRow.client_order_id == client_order_id).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(
                f"order {client_order_id!r} is not in the store: record_intent and record_order come before its fills"
            )
        return row

    def record_fill(self, fill: Fill) -> FillOutcome:
        """Apply one fill once: the fill row, its order's filled quantity and average price,
        its position (OPEN on an entry fill; reduced, realized P&L and CLOSED at zero on a
        closing fill), the exit and attempt it belongs to, and the day's P&L.

        A fill id the store already knows raises :class:`DuplicateFillError` before any
        other check (a replayed fill is reported as a duplicate, not as an overfill).

        On PostgreSQL this is one statement (data-modifying CTEs) run as its own
        transaction, so the fill costs one round trip plus the commit; a connection the
        server dropped is retried once on a fresh one (see :data:`FILL_SQL`). On SQLite
        it is a handful of statements in one IMMEDIATE transaction."""
        at = utc(fill.timestamp, "fill timestamp")
        if self.store.dialect == "postgresql":
            return self._record_fill_pg(fill, at)
        try:
            with self.store.transaction() as s:
                return self._apply_fill(s, fill, at)
        except IntegrityError as exc:
            # Two writers raced on the same fill id: the unique constraint decided.
            if self.known_fill_ids([fill.fill_id]):
                raise DuplicateFillError(fill.fill_id) from exc
            raise

    def _record_fill_pg(self, fill: Fill, at: datetime) -> FillOutcome:
        params = {
            "fid": fill.fill_id,
            "coid": fill.client_order_id,
            "fpos": fill.position_id,
            "side": fill.side.name,
            "qty": fill.quantity,
            "price": float(fill.price),
            "comm": float(fill.commission),
            "at": at,
            "day": at.astimezone(EXCHANGE_TZ).date(),
        }
        try:
            row = self._run_fill_sql(params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The pooled connection was dead (server restart, idle timeout, terminated
            # backend); the pool has been invalidated, so this runs on a new connection.
            # Safe to repeat: if the lost attempt did commit, the fill id is now known and
            # the retry raises DuplicateFillError without changing anything again.
            row = self._run_fill_sql(params)
        if row is None:
            raise NotFoundError(
                f"order {fill.client_order_id!r} is not in the store: record_intent and "
                "record_order come before its fills"
            )
        if row.known:
            raise DuplicateFillError(fill.fill_id)
        if not row.ok:
            check_fill(fill, row)
            raise InvariantError(f"fill {fill.fill_id!r} was refused by the store's checks")  # pragma: no cover
        if not row.applied:
            # Another writer inserted the same fill id between our snapshot and our insert.
            raise DuplicateFillError(fill.fill_id)
        new_filled = row.filled_quantity + fill.quantity
        exit_id: int | None = row.exit_id if row.attempt_id is not None else None
        return FillOutcome(
            order_status=OrderStatus[row.new_status],
            order_filled_quantity=new_filled,
            position_id=row.position_id,
            position_quantity=row.new_pos_qty,
            position_status=PositionStatus[row.new_pos_status] if row.new_pos_status is not None else None,
            realized_pnl=float(row.realized),
            exit_id=exit_id,
        )

    def _run_fill_sql(self, params: dict[str, Any]) -> Any:
        with self.store.single_statement() as conn:
            return conn.execute(FILL_SQL, params).one_or_none()

    def _apply_fill(self, s: Session, fill: Fill, at: datetime) -> FillOutcome:
        # Written as a handful of Core statements (not ORM unit-of-work) because this is the
        # hot path: one locked read of the order, one insert, and updates with RETURNING.
        ot = table_of(OrderRow)
        at_t = table_of(ExitAttemptRow)
        lt = table_of(LegRow)
        order = s.execute(
            select(
                ot.c.id,
                ot.c.side,
                ot.c.quantity,
                ot.c.filled_quantity,
                ot.c.avg_fill_price,
                ot.c.position_id,
                ot.c.purpose,
                at_t.c.id.label("attempt_id"),
                at_t.c.exit_id,
                lt.c.multiplier,
                select(literal(True))
                .where(table_of(FillRow).c.fill_id == fill.fill_id)
                .exists()
                .label("known"),
            )
            .select_from(
                ot.outerjoin(at_t, at_t.c.client_order_id == ot.c.client_order_id).outerjoin(
                    lt, (lt.c.position_id == ot.c.position_id) & (lt.c.leg_index == 0)
                )
            )
            .where(ot.c.client_order_id == fill.client_order_id)
            .with_for_update(of=ot)
        ).one_or_none()
        if order is None:
            raise NotFoundError(
                f"order {fill.client_order_id!r} is not in the store: record_intent and "
                "record_order come before its fills"
            )
        if order.known:
            raise DuplicateFillError(fill.fill_id)
        check_fill(fill, order)
        new_filled = order.filled_quantity + fill.quantity
        position_id = order.position_id
        # The unique fill_id constraint refuses a duplicate here (see record_fill).
        s.execute(
            insert(table_of(FillRow)).values(
                fill_id=fill.fill_id,
                client_order_id=fill.client_order_id,
                position_id=position_id,
                side=fill.side,
                quantity=fill.quantity,
                price=fill.price,
                commission=fill.commission,
                filled_at=at,
            )
        )
        prev_value = (order.avg_fill_price or 0.0) * order.filled_quantity
        status = OrderStatus.FILLED if new_filled == order.quantity else OrderStatus.PARTIALLY_FILLED
        s.execute(
            update(ot)
            .where(ot.c.id == order.id)
            .values(
                filled_quantity=new_filled,
                avg_fill_price=(prev_value + fill.price * fill.quantity) / new_filled,
                status=status,
                updated_at=at,
            )
        )
        realized = 0.0
        pos_qty: int | None = None
        pos_status: PositionStatus | None = None
        exit_id: int | None = None
        if position_id is not None:
            if order.multiplier is None:
                raise InvariantError(f"position {position_id!r} has no legs in the store")
            pos_qty, pos_status, realized = apply_fill_to_position(
                s, position_id, fill, order.purpose, order.multiplier, at
            )
        if order.attempt_id is not None:
            exit_id = order.exit_id
            s.execute(
                update(at_t)
                .where(at_t.c.id == order.attempt_id)
                .values(status=status, filled_quantity=new_filled, updated_at=at)
            )
            if order.purpose is OrderPurpose.CLOSE and position_id is not None:
                pos_status = apply_to_exit(s, order.exit_id, position_id, fill, at, pos_status)
        add_daily(s, at.astimezone(EXCHANGE_TZ).date(), realized, fill.commission, at)
        return FillOutcome(
            order_status=status,
            order_filled_quantity=new_filled,
            position_id=position_id,
            position_quantity=pos_qty,
            position_status=pos_status,
            realized_pnl=realized,
            exit_id=exit_id,
        )


