"""Positions: opened with their legs, marked, trailed, settled and closed."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskpilot.model.contract import Leg
from riskpilot.model.enums import PositionStatus
from riskpilot.model.position import Position
from riskpilot.store.database import Store
from riskpilot.store.models import (
    LegRow,
    MethodRow,
    PositionExitRow,
    PositionRow,
    TrailingStopStateRow,
)
from riskpilot.store.records import (
    OPEN_STATUSES,
    DuplicateError,
    InvariantError,
    NotFoundError,
    StoredPosition,
    TrailingSnapshot,
)
from riskpilot.store.rows import (
    leg_from,
    legs_rows,
    lock_position,
    monitoring_from,
    position_from,
    utc,
)


class PositionRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open_position(self, position: Position) -> None:
        """Insert ``position`` with its legs (status as given: PENDING while the entry order
        works, OPEN once filled). The method row is created on first use."""
        with self.store.transaction() as s:
            if s.get(PositionRow, position.id) is not None:
                raise DuplicateError(f"position {position.id!r} is already in the store")
            if s.execute(select(MethodRow.id).where(MethodRow.name == position.method)).first() is None:
                s.add(MethodRow(name=position.method, created_at=utc(position.opened_at, "opened_at")))
                s.flush()
            st = position.state
            row = PositionRow(
                id=position.id,
                method=position.method,
                underlying=position.underlying,
                premium_type=position.premium_type,
                entry_premium=position.entry_premium,
                quantity=position.quantity,
                original_quantity=position.original_quantity,
                status=position.status,
                opened_at=position.opened_at,
                realized_pnl=0.0,
                commissions=0.0,
                current_price=st.last_premium,
                last_update=st.last_marked_at,
                trailing_stop_active=False,
                peak_price=st.peak_premium,
                trough_price=st.trough_premium,
                mfe=st.mfe,
                mae=st.mae,
                days_held=st.days_held,
                stages_done=sorted(st.stages_done),
            )
            s.add(row)
            s.add_all(legs_rows(position.id, position.legs))

    def get(self, position_id: str) -> StoredPosition:
        with self.store.read() as s:
            found = self._load(s, [position_id], None)
        if not found:
            raise NotFoundError(f"position {position_id!r} is not in the store")
        return found[0]

    def load_open(self, statuses: Iterable[PositionStatus] = OPEN_STATUSES) -> list[StoredPosition]:
        """Every position whose status is in ``statuses`` (default: not CLOSED), with legs,
        tracked state and trailing state, in three queries whatever their number."""
        with self.store.read() as s:
            return self._load(s, None, tuple(statuses))

    def realized_net(self) -> float:
        """Dollars realized by every position the store holds, net of every commission (entry
        and exit): the sum the risk book's total realized P&L would be, from the store."""
        with self.store.read() as s:
            rows = s.execute(select(PositionRow.realized_pnl, PositionRow.commissions).order_by(PositionRow.id)).all()
        return math.fsum(r - c for r, c in rows)

    def count_opened(self, underlying: str, method: str, since: datetime, until: datetime) -> int:
        """How many positions of ``underlying`` and ``method`` were opened in ``[since, until)``,
        whatever their status now (an entry that filled nothing and closed unopened counts:
        it was the attempt)."""
        lo, hi = utc(since, "since"), utc(until, "until")
        with self.store.read() as s:
            rows = s.execute(
                select(PositionRow.id).join(LegRow, (LegRow.position_id == PositionRow.id) & (LegRow.leg_index == 0))
                .where(PositionRow.method == method, LegRow.underlying == underlying,
                       PositionRow.opened_at >= lo, PositionRow.opened_at < hi)
            ).all()
        return len(rows)

    def _load(
        self,
        s: Session,
        ids: list[str] | None,
        statuses: tuple[PositionStatus, ...] | None,
    ) -> list[StoredPosition]:
        pt = PositionRow.__table__
        lt = LegRow.__table__
        tt = TrailingStopStateRow.__table__
        pos_filter = pt.c.id.in_(ids) if ids is not None else pt.c.status.in_(statuses or ())
        rows = s.execute(select(pt).where(pos_filter).order_by(pt.c.opened_at, pt.c.id)).all()
        if not rows:
            return []
        legs_by: dict[str, list[Leg]] = defaultdict(list)
        leg_q = (
            select(lt)
            .join(pt, pt.c.id == lt.c.position_id)
            .where(pos_filter)
            .order_by(lt.c.position_id, lt.c.leg_index)
        )
        for lr in s.execute(leg_q):
            legs_by[lr.position_id].append(leg_from(lr))
        trailing: dict[str, dict[str, Any]] = {
            tr.position_id: tr.state
            for tr in s.execute(
                select(tt.c.position_id, tt.c.state).join(pt, pt.c.id == tt.c.position_id).where(pos_filter)
            )
        }
        return [
            StoredPosition(
                position=position_from(r, tuple(legs_by[r.id])),
                monitoring=monitoring_from(r),
                trailing_state=trailing.get(r.id),
            )
            for r in rows
        ]

    def apply_mark(
        self,
        position_id: str,
        premium: float,
        at: datetime,
        *,
        trailing: TrailingSnapshot | None = None,
    ) -> Position:
        """Record that the close-out premium (per share) was ``premium`` at ``at``: peak,
        trough, MFE/MAE and days held via :meth:`Position.marked`, unrealized P&L in dollars
        and as a fraction of entry, and (optionally) the trailing stop's state."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = lock_position(s, position_id)
            if row.status is PositionStatus.CLOSED:
                raise InvariantError(f"position {position_id!r} is CLOSED; a mark is refused")
            legs = tuple(
                leg_from(lr)
                for lr in s.execute(
                    select(LegRow.__table__).where(LegRow.position_id == position_id).order_by(LegRow.leg_index)
                )
            )
            marked = position_from(row, legs).marked(premium, at)
            st = marked.state
            row.current_price = premium
            row.unrealized_pnl = marked.pnl_dollars(premium)
            row.unrealized_pnl_pct = marked.profit_pct(premium)
            row.last_update = at
            row.peak_price = st.peak_premium
            row.trough_price = st.trough_premium
            row.mfe = st.mfe
            row.mae = st.mae
            row.days_held = st.days_held
            if trailing is not None:
                self._put_trailing(s, row, trailing, at)
            return marked

    def save_trailing(self, position_id: str, trailing: TrailingSnapshot, at: datetime) -> None:
        at = utc(at, "at")
        with self.store.transaction() as s:
            self._put_trailing(s, lock_position(s, position_id), trailing, at)

    @staticmethod
    def _put_trailing(s: Session, row: PositionRow, t: TrailingSnapshot, at: datetime) -> None:
        row.trailing_stop_active = t.active
        row.trailing_stop_price = t.stop_price
        existing = s.get(TrailingStopStateRow, row.id)
        if existing is None:
            s.add(TrailingStopStateRow(position_id=row.id, state=dict(t.state), updated_at=at))
        else:
            existing.state = dict(t.state)
            existing.updated_at = at

    def rebuild_stages(self) -> dict[str, list[str]]:
        """Make every open position's done stages include the stage of each of its exits that
        has filled (a fill marks its stage done in its own transaction; this repairs stores
        written before that was so). Returns the stages added, by position id."""
        added: dict[str, list[str]] = {}
        with self.store.transaction() as s:
            filled = s.execute(
                select(PositionExitRow.position_id, PositionExitRow.stage)
                .join(PositionRow, PositionRow.id == PositionExitRow.position_id)
                .where(PositionExitRow.stage.is_not(None), PositionExitRow.filled_quantity > 0,
                       PositionRow.status.in_(OPEN_STATUSES))
            ).all()
            by_pid: dict[str, set[str]] = {}
            for pid, stage in filled:
                if stage is not None:
                    by_pid.setdefault(pid, set()).add(stage)
            for pid, stages in by_pid.items():
                row = s.get(PositionRow, pid, with_for_update=True)
                if row is None:
                    continue
                missing = sorted(stages - set(row.stages_done or ()))
                if missing:
                    row.stages_done = sorted({*(row.stages_done or ()), *missing})
                    added[pid] = missing
        return added

    def settle_entry(self, position_id: str, *, filled_quantity: int, avg_price: float | None, at: datetime) -> None:
        """End a PENDING position's entry once its (combo) order is final: the position holds
        what filled, at the average fill price (net premium per share), and is OPEN; with
        nothing filled it is CLOSED without ever having been open (quantity 0)."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = lock_position(s, position_id)
            if row.status not in (PositionStatus.PENDING, PositionStatus.OPEN) or row.quantity != row.original_quantity:
                raise InvariantError(
                    f"position {position_id!r} is {row.status.value} with {row.quantity} of "
                    f"{row.original_quantity} open: only an entry still being filled can be settled"
                )
            if isinstance(filled_quantity, bool) or not 0 <= filled_quantity <= row.original_quantity:
                raise InvariantError(
                    f"position {position_id!r}: {filled_quantity!r} filled is outside 0..{row.original_quantity}"
                )
            if filled_quantity == 0:
                row.quantity = 0
                row.status = PositionStatus.CLOSED
                row.closed_at = at
                row.exit_reason = "entry not filled"
                return
            if avg_price is None or not avg_price > 0:
                raise InvariantError(
                    f"position {position_id!r}: a filled entry needs a positive price, got {avg_price!r}"
                )
            row.quantity = row.original_quantity = filled_quantity
            row.entry_premium = row.peak_price = row.trough_price = avg_price
            row.status = PositionStatus.OPEN

    def set_status(self, position_id: str, status: PositionStatus, at: datetime) -> None:
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = lock_position(s, position_id)
            if row.status is PositionStatus.CLOSED and status is not PositionStatus.CLOSED:
                raise InvariantError(f"position {position_id!r} is CLOSED and cannot become {status.value}")
            if status is PositionStatus.CLOSED and row.quantity != 0:
                raise InvariantError(
                    f"position {position_id!r} still has {row.quantity} open; record the exit "
                    "that closes it instead of setting CLOSED"
                )
            row.status = status
            if status is PositionStatus.CLOSED and row.closed_at is None:
                row.closed_at = at


# --- orders and fills ------------------------------------------------------------------------


