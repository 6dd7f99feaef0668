"""Repositories: every write is one transaction that keeps the store's invariants.

- A position is opened together with its legs (and its method row, created on first use).
- A mark updates the monitoring fields from :meth:`riskpilot.model.Position.marked`, the one
  place where peak, trough, MFE and MAE are computed.
- An order intent exists before its order: :meth:`OrderRepository.record_order` refuses a
  client order id that has no intent (:class:`MissingIntentError`).
- A fill is applied once: a second fill with the same ``fill_id`` raises
  :class:`DuplicateFillError` and changes nothing. In the same transaction a fill updates
  its order, its position (quantity, status, realized P&L) and, for an exit's order, the
  exit and its attempt.
- A position and its exit move together: recording an executed exit reduces the position's
  quantity and closes it at zero in the same transaction.

Concurrency: one writer and any number of readers. Rows that a write reads and then changes
are locked with ``SELECT ... FOR UPDATE`` (PostgreSQL; SQLite writers are serialized by the
database lock, taken at BEGIN).

P&L units: realized P&L and commissions in dollars; prices are net premium per share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, case, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from riskpilot.config.redact import redact_config_text, redact_text
from riskpilot.execution.port import OrderState, OrderStatus
from riskpilot.model.contract import EXCHANGE_TZ, Leg, OptionContract
from riskpilot.model.enums import (
    OrderType,
    PositionStatus,
    PremiumType,
    Priority,
    Side,
    TradingState,
)
from riskpilot.model.order import Fill, Order, OrderPurpose
from riskpilot.model.position import Position, PositionState
from riskpilot.store.database import Store
from riskpilot.store.models import (
    AlertLevel,
    AlertRow,
    Base,
    DailyPnlRow,
    ExitAttemptRow,
    ExitStatus,
    FillRow,
    LegRow,
    MethodRow,
    OrderIntentRow,
    OrderRow,
    PositionExitRow,
    PositionRow,
    RunRow,
    TradingStateRow,
    TrailingStopStateRow,
)
from riskpilot.store.serialize import leg_to_dict

OPEN_STATUSES: tuple[PositionStatus, ...] = (
    PositionStatus.PENDING,
    PositionStatus.OPEN,
    PositionStatus.CLOSING,
)


# --- errors ----------------------------------------------------------------------------------


class StoreError(Exception):
    """Base class of the repositories' refusals."""


class NotFoundError(StoreError, LookupError):
    pass


class DuplicateError(StoreError):
    pass


class DuplicateFillError(DuplicateError):
    def __init__(self, fill_id: str) -> None:
        super().__init__(
            f"fill {fill_id!r} was already applied; a fill is applied once (the position was "
            "not changed again). Reconciliation should skip fills whose id the store knows."
        )
        self.fill_id = fill_id


class MissingIntentError(StoreError):
    def __init__(self, client_order_id: str) -> None:
        super().__init__(
            f"order {client_order_id!r} has no recorded intent: call "
            "OrderRepository.record_intent(order) before sending the order to the broker"
        )
        self.client_order_id = client_order_id


class InvariantError(StoreError):
    """A write would break a rule of the store (overfill, closing more than is open, ...)."""


def _table(model: type[Base]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


# --- what the repositories hand back ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Monitoring:
    """The stored monitoring fields of one position (SPEC §8). Prices are net premium per
    share; ``unrealized_pnl``/``realized_pnl`` dollars; ``unrealized_pnl_pct`` a fraction."""

    current_price: float | None
    unrealized_pnl: float | None
    unrealized_pnl_pct: float | None
    last_update: datetime | None
    trailing_stop_active: bool
    trailing_stop_price: float | None
    exit_reason: str | None
    exit_priority: Priority | None
    realized_pnl: float
    commissions: float
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredPosition:
    """A position as loaded from the store: the model object (with its tracked state), the
    monitoring fields, and the trailing stop's JSON state (None when it has none)."""

    position: Position
    monitoring: Monitoring
    trailing_state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class TrailingSnapshot:
    """What the trailing stop manager wants persisted for one position."""

    active: bool
    stop_price: float | None
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """The result of applying one fill."""

    order_status: OrderStatus
    order_filled_quantity: int
    position_id: str | None
    position_quantity: int | None
    position_status: PositionStatus | None
    realized_pnl: float
    exit_id: int | None


@dataclass(frozen=True, slots=True)
class ExitRecord:
    id: int
    position_id: str
    rule: str | None
    reason: str
    priority: Priority
    quantity: int
    is_partial: bool
    tactic: str
    status: ExitStatus
    filled_quantity: int
    fill_price: float | None
    unrealized_pnl_at_trigger: float | None
    triggered_at: datetime
    executed_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    id: int
    exit_id: int
    attempt_no: int
    client_order_id: str
    order_type: OrderType
    limit_price: float | None
    quantity: int
    status: OrderStatus
    filled_quantity: int
    attempted_at: datetime
    #: The tactic (or ladder step) the attempt's order intent was recorded with.
    tactic: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    broker_order_id: str | None
    position_id: str | None
    purpose: OrderPurpose
    quantity: int
    limit_price: float | None
    status: OrderStatus
    filled_quantity: int
    avg_fill_price: float | None
    reject_reason: str | None


# --- row <-> model helpers -------------------------------------------------------------------


def _legs_rows(position_id: str, legs: Sequence[Leg]) -> list[LegRow]:
    return [
        LegRow(
            position_id=position_id,
            leg_index=i,
            underlying=leg.contract.underlying,
            expiration=leg.contract.expiration,
            strike=leg.contract.strike,
            right=leg.contract.right,
            multiplier=leg.contract.multiplier,
            expiry_time=leg.contract.expiry_time,
            quantity=leg.quantity,
        )
        for i, leg in enumerate(legs)
    ]


def _position_from(row: Any, legs: tuple[Leg, ...]) -> Position:
    state = PositionState(
        peak_premium=row.peak_price,
        trough_premium=row.trough_price,
        mfe=row.mfe,
        mae=row.mae,
        days_held=row.days_held,
        last_premium=row.current_price,
        last_marked_at=row.last_update,
        stages_done=frozenset(row.stages_done or ()),
    )
    return Position(
        id=row.id,
        legs=legs,
        premium_type=row.premium_type,
        entry_premium=row.entry_premium,
        quantity=row.quantity,
        opened_at=row.opened_at,
        method=row.method,
        original_quantity=row.original_quantity,
        status=row.status,
        state=state,
    )


def _monitoring_from(row: Any) -> Monitoring:
    return Monitoring(
        current_price=row.current_price,
        unrealized_pnl=row.unrealized_pnl,
        unrealized_pnl_pct=row.unrealized_pnl_pct,
        last_update=row.last_update,
        trailing_stop_active=row.trailing_stop_active,
        trailing_stop_price=row.trailing_stop_price,
        exit_reason=row.exit_reason,
        exit_priority=row.exit_priority,
        realized_pnl=row.realized_pnl,
        commissions=row.commissions,
        closed_at=row.closed_at,
    )


def _leg_from(row: Any) -> Leg:
    return Leg(
        OptionContract(
            underlying=row.underlying,
            expiration=row.expiration,
            strike=row.strike,
            right=row.right,
            multiplier=row.multiplier,
            expiry_time=row.expiry_time,
        ),
        row.quantity,
    )


def _realized_pnl(premium_type: PremiumType, entry: float, price: float, qty: int, mult: int) -> float:
    """Dollars realized by closing ``qty`` units at ``price`` (net premium per share)."""
    per_share = entry - price if premium_type is PremiumType.CREDIT else price - entry
    return per_share * mult * qty


def _lock_position(session: Session, position_id: str) -> PositionRow:
    row = session.execute(
        select(PositionRow).where(PositionRow.id == position_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"position {position_id!r} is not in the store")
    return row


def _multiplier(session: Session, position_id: str) -> int:
    mult = session.execute(
        select(LegRow.multiplier).where(LegRow.position_id == position_id).limit(1)
    ).scalar_one_or_none()
    if mult is None:
        raise InvariantError(f"position {position_id!r} has no legs in the store")
    return mult


def _add_daily(session: Session, day: date, realized: float, commissions: float, at: datetime) -> None:
    """Add to the day's realized P&L and commissions (dollars) in one upsert."""
    dt = _table(DailyPnlRow)
    ins = pg_insert(dt) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(dt)
    stmt = ins.values(
        trade_date=day,
        realized_pnl=realized,
        unrealized_pnl=0.0,
        commissions=commissions,
        updated_at=at,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[dt.c.trade_date],
            set_={
                "realized_pnl": dt.c.realized_pnl + realized,
                "commissions": dt.c.commissions + commissions,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


# --- positions -------------------------------------------------------------------------------


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
                s.add(MethodRow(name=position.method, created_at=_utc(position.opened_at, "opened_at")))
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
            s.add_all(_legs_rows(position.id, position.legs))

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
            legs_by[lr.position_id].append(_leg_from(lr))
        trailing: dict[str, dict[str, Any]] = {
            tr.position_id: tr.state
            for tr in s.execute(
                select(tt.c.position_id, tt.c.state).join(pt, pt.c.id == tt.c.position_id).where(pos_filter)
            )
        }
        return [
            StoredPosition(
                position=_position_from(r, tuple(legs_by[r.id])),
                monitoring=_monitoring_from(r),
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
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = _lock_position(s, position_id)
            if row.status is PositionStatus.CLOSED:
                raise InvariantError(f"position {position_id!r} is CLOSED; a mark is refused")
            legs = tuple(
                _leg_from(lr)
                for lr in s.execute(
                    select(LegRow.__table__).where(LegRow.position_id == position_id).order_by(LegRow.leg_index)
                )
            )
            marked = _position_from(row, legs).marked(premium, at)
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
        at = _utc(at, "at")
        with self.store.transaction() as s:
            self._put_trailing(s, _lock_position(s, position_id), trailing, at)

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

    def mark_stage_done(self, position_id: str, stage: str) -> None:
        with self.store.transaction() as s:
            row = _lock_position(s, position_id)
            if stage not in row.stages_done:
                row.stages_done = sorted({*row.stages_done, stage})

    def settle_entry(self, position_id: str, *, filled_quantity: int, avg_price: float | None, at: datetime) -> None:
        """End a PENDING position's entry once its (combo) order is final: the position holds
        what filled, at the average fill price (net premium per share), and is OPEN; with
        nothing filled it is CLOSED without ever having been open (quantity 0)."""
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = _lock_position(s, position_id)
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
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = _lock_position(s, position_id)
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


class OrderRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_intent(self, order: Order, *, tactic: str | None = None) -> None:
        """Store what is about to be sent. Must precede :meth:`record_order`."""
        with self.store.transaction() as s:
            _add_intent(s, order, tactic)

    def has_intent(self, client_order_id: str) -> bool:
        with self.store.read() as s:
            q = select(OrderIntentRow.id).where(OrderIntentRow.client_order_id == client_order_id)
            return s.execute(q).first() is not None

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
        at = _utc(at, "at")
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
            _sync_attempt(s, client_order_id, status, None, at)

    def update_from_broker(self, state: OrderState) -> None:
        """Take the broker's status, limit price, quantity and reason for an order (after a
        replace, cancel or reject). Fill quantities are only ever changed by record_fill."""
        at = _utc(state.updated_at, "updated_at")
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
            _sync_attempt(s, state.client_order_id, row.status, None, at)

    def get_order(self, client_order_id: str) -> OrderRecord:
        with self.store.read() as s:
            row = s.execute(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"order {client_order_id!r} is not in the store")
            return _order_record(row)

    def working_orders(self) -> list[OrderRecord]:
        working = [st for st in OrderStatus if st.is_working]
        with self.store.read() as s:
            rows = s.execute(select(OrderRow).where(OrderRow.status.in_(working))).scalars()
            return [_order_record(r) for r in rows]

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
        server dropped is retried once on a fresh one (see :data:`_FILL_SQL`). On SQLite
        it is a handful of statements in one IMMEDIATE transaction."""
        at = _utc(fill.timestamp, "fill timestamp")
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
            _check_fill(fill, row)
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
            return conn.execute(_FILL_SQL, params).one_or_none()

    def _apply_fill(self, s: Session, fill: Fill, at: datetime) -> FillOutcome:
        # Written as a handful of Core statements (not ORM unit-of-work) because this is the
        # hot path: one locked read of the order, one insert, and updates with RETURNING.
        ot = _table(OrderRow)
        at_t = _table(ExitAttemptRow)
        lt = _table(LegRow)
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
                .where(_table(FillRow).c.fill_id == fill.fill_id)
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
        _check_fill(fill, order)
        new_filled = order.filled_quantity + fill.quantity
        position_id = order.position_id
        # The unique fill_id constraint refuses a duplicate here (see record_fill).
        s.execute(
            insert(_table(FillRow)).values(
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
            pos_qty, pos_status, realized = _apply_fill_to_position(
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
                pos_status = _apply_to_exit(s, order.exit_id, position_id, fill, at, pos_status)
        _add_daily(s, at.astimezone(EXCHANGE_TZ).date(), realized, fill.commission, at)
        return FillOutcome(
            order_status=status,
            order_filled_quantity=new_filled,
            position_id=position_id,
            position_quantity=pos_qty,
            position_status=pos_status,
            realized_pnl=realized,
            exit_id=exit_id,
        )


def _check_fill(fill: Fill, order: Any) -> None:
    """Refuse a fill that its (locked) order does not allow, naming the problem. ``order``
    carries ``side``, ``quantity``, ``filled_quantity``, ``position_id`` and ``multiplier``,
    and on PostgreSQL also ``purpose`` and ``pos_qty`` (the position's open units)."""
    side = Side(order.side)
    if fill.side is not side:
        raise InvariantError(
            f"fill {fill.fill_id!r} is a {fill.side.value} but order {fill.client_order_id!r} is a {side.value}"
        )
    if order.filled_quantity + fill.quantity > order.quantity:
        raise InvariantError(
            f"fill {fill.fill_id!r} of {fill.quantity} overfills order "
            f"{fill.client_order_id!r} ({order.filled_quantity} of {order.quantity} filled)"
        )
    position_id = order.position_id
    if fill.position_id is not None and position_id is not None and fill.position_id != position_id:
        raise InvariantError(
            f"fill {fill.fill_id!r} names position {fill.position_id!r} but its order belongs to {position_id!r}"
        )
    if position_id is None or not hasattr(order, "pos_qty"):
        return  # SQLite: the position's own checks run in its UPDATE
    if order.pos_qty is None:
        raise NotFoundError(f"position {position_id!r} is not in the store")
    if order.multiplier is None:
        raise InvariantError(f"position {position_id!r} has no legs in the store")
    if OrderPurpose(order.purpose) is OrderPurpose.CLOSE and order.pos_qty < fill.quantity:
        raise InvariantError(
            f"fill {fill.fill_id!r} closes {fill.quantity} but position {position_id!r} has {order.pos_qty} open"
        )


#: The whole of a fill on PostgreSQL, in one statement run as its own transaction
#: (autocommit): one round trip plus the commit. Every row it reads and then changes is
#: locked first (order, position, exit: ``FOR UPDATE`` in READ COMMITTED returns the latest
#: committed version), the checks are evaluated once into ``k.ok``, and every write hangs
#: off ``ins`` (the fill row, ``ON CONFLICT (fill_id) DO NOTHING``), so a refused or
#: duplicate fill writes nothing. The final row returns what the caller needs and, when
#: ``ok`` is false, the values :func:`_check_fill` uses to name the problem. Enum columns
#: hold enum *names*; prices are per share, realized P&L and commissions dollars.
_FILL_SQL = text(
    """
WITH o AS (
    SELECT o.id, o.side, o.quantity, o.filled_quantity, o.avg_fill_price, o.position_id,
           o.purpose, a.id AS attempt_id, a.exit_id
    FROM orders AS o
    LEFT JOIN exit_attempts AS a ON a.client_order_id = o.client_order_id
    WHERE o.client_order_id = CAST(:coid AS VARCHAR)
    FOR UPDATE OF o
),
p AS (
    SELECT p.quantity, p.status, p.premium_type, p.entry_premium,
           (SELECT l.multiplier FROM position_legs AS l
            WHERE l.position_id = p.id AND l.leg_index = 0) AS multiplier
    FROM positions AS p
    WHERE p.id = (SELECT position_id FROM o)
    FOR UPDATE
),
e AS (
    SELECT x.quantity, x.filled_quantity, x.fill_price
    FROM position_exits AS x
    WHERE x.id = (SELECT exit_id FROM o)
    FOR UPDATE
),
k0 AS (
    SELECT o.*, p.quantity AS pos_qty, p.status AS pos_status, p.premium_type,
           p.entry_premium, p.multiplier,
           e.quantity AS exit_qty, e.filled_quantity AS exit_filled, e.fill_price AS exit_price,
           EXISTS (SELECT 1 FROM fills WHERE fill_id = CAST(:fid AS VARCHAR)) AS known,
           o.filled_quantity + CAST(:qty AS INTEGER) AS new_filled
    FROM o LEFT JOIN p ON TRUE LEFT JOIN e ON TRUE
),
k AS (
    SELECT k0.*,
        (NOT k0.known
         AND k0.side = CAST(:side AS VARCHAR)
         AND k0.new_filled <= k0.quantity
         AND (CAST(:fpos AS VARCHAR) IS NULL OR k0.position_id IS NULL
              OR k0.position_id = CAST(:fpos AS VARCHAR))
         AND (k0.position_id IS NULL
              OR (k0.pos_qty IS NOT NULL AND k0.multiplier IS NOT NULL
                  AND (k0.purpose = 'OPEN' OR k0.pos_qty >= CAST(:qty AS INTEGER))))
        ) AS ok,
        CASE WHEN k0.new_filled = k0.quantity THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END
            AS new_status,
        CASE WHEN k0.purpose = 'CLOSE' AND k0.pos_qty IS NOT NULL THEN
            (CASE WHEN k0.premium_type = 'CREDIT'
                  THEN k0.entry_premium - CAST(:price AS DOUBLE PRECISION)
                  ELSE CAST(:price AS DOUBLE PRECISION) - k0.entry_premium END)
            * k0.multiplier * CAST(:qty AS INTEGER)
        ELSE 0.0 END AS realized,
        (k0.purpose = 'CLOSE' AND k0.position_id IS NOT NULL AND k0.attempt_id IS NOT NULL
         AND k0.exit_filled + CAST(:qty AS INTEGER) >= k0.exit_qty) AS exit_done
    FROM k0
),
ins AS (
    INSERT INTO fills (fill_id, client_order_id, position_id, side, quantity, price,
                       commission, filled_at)
    SELECT CAST(:fid AS VARCHAR), CAST(:coid AS VARCHAR), k.position_id, k.side,
           CAST(:qty AS INTEGER), CAST(:price AS DOUBLE PRECISION),
           CAST(:comm AS DOUBLE PRECISION), CAST(:at AS TIMESTAMPTZ)
    FROM k WHERE k.ok
    ON CONFLICT (fill_id) DO NOTHING
    RETURNING id
),
uo AS (
    UPDATE orders SET
        filled_quantity = k.new_filled,
        avg_fill_price = (COALESCE(k.avg_fill_price, 0.0) * k.filled_quantity
                          + CAST(:price AS DOUBLE PRECISION) * CAST(:qty AS INTEGER))
                         / k.new_filled,
        status = k.new_status,
        updated_at = CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    WHERE orders.id = k.id
),
up AS (
    UPDATE positions SET
        quantity = CASE WHEN k.purpose = 'CLOSE'
                        THEN positions.quantity - CAST(:qty AS INTEGER)
                        ELSE positions.quantity END,
        realized_pnl = positions.realized_pnl + k.realized,
        commissions = positions.commissions + CAST(:comm AS DOUBLE PRECISION),
        status = CASE
            WHEN k.purpose = 'OPEN' THEN
                CASE WHEN positions.status = 'PENDING' THEN 'OPEN' ELSE positions.status END
            WHEN positions.quantity - CAST(:qty AS INTEGER) = 0 THEN 'CLOSED'
            WHEN k.exit_done AND positions.status = 'CLOSING' THEN 'OPEN'
            ELSE positions.status END,
        closed_at = CASE WHEN k.purpose = 'CLOSE'
                              AND positions.quantity - CAST(:qty AS INTEGER) = 0
                         THEN CAST(:at AS TIMESTAMPTZ) ELSE positions.closed_at END
    FROM k, ins
    WHERE positions.id = k.position_id
    RETURNING positions.quantity, positions.status
),
ua AS (
    UPDATE exit_attempts SET
        status = k.new_status, filled_quantity = k.new_filled,
        updated_at = CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    WHERE exit_attempts.id = k.attempt_id
),
ue AS (
    UPDATE position_exits SET
        filled_quantity = k.exit_filled + CAST(:qty AS INTEGER),
        fill_price = (COALESCE(k.exit_price, 0.0) * k.exit_filled
                      + CAST(:price AS DOUBLE PRECISION) * CAST(:qty AS INTEGER))
                     / (k.exit_filled + CAST(:qty AS INTEGER)),
        status = CASE WHEN k.exit_done THEN 'EXECUTED' ELSE position_exits.status END,
        executed_at = CASE WHEN k.exit_done THEN CAST(:at AS TIMESTAMPTZ)
                           ELSE position_exits.executed_at END
    FROM k, ins
    WHERE position_exits.id = k.exit_id AND k.purpose = 'CLOSE' AND k.position_id IS NOT NULL
),
ud AS (
    INSERT INTO daily_pnl (trade_date, realized_pnl, unrealized_pnl, commissions, updated_at)
    SELECT CAST(:day AS DATE), k.realized, 0.0, CAST(:comm AS DOUBLE PRECISION),
           CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    ON CONFLICT (trade_date) DO UPDATE SET
        realized_pnl = daily_pnl.realized_pnl + EXCLUDED.realized_pnl,
        commissions = daily_pnl.commissions + EXCLUDED.commissions,
        updated_at = EXCLUDED.updated_at
)
SELECT k.side, k.quantity, k.filled_quantity, k.position_id, k.purpose, k.attempt_id,
       k.exit_id, k.multiplier, k.pos_qty, k.known, k.ok, k.new_status, k.realized,
       EXISTS (SELECT 1 FROM ins) AS applied,
       up.quantity AS new_pos_qty, up.status AS new_pos_status
FROM k LEFT JOIN up ON TRUE
"""
)


def _apply_fill_to_position(
    s: Session,
    position_id: str,
    fill: Fill,
    purpose: OrderPurpose,
    mult: int,
    at: datetime,
) -> tuple[int, PositionStatus, float]:
    """Update the position for one fill in a single UPDATE ... RETURNING (the row is locked
    by the update). Returns its new quantity, status and the dollars realized."""
    pt = _table(PositionRow)
    status_type = pt.c.status.type
    if purpose is OrderPurpose.OPEN:
        row = s.execute(
            update(pt)
            .where(pt.c.id == position_id)
            .values(
                commissions=pt.c.commissions + fill.commission,
                status=case(
                    (pt.c.status == PositionStatus.PENDING, literal(PositionStatus.OPEN, status_type)),
                    else_=pt.c.status,
                ),
            )
            .returning(pt.c.quantity, pt.c.status)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"position {position_id!r} is not in the store")
        return row.quantity, row.status, 0.0
    per_share = case(
        (pt.c.premium_type == PremiumType.CREDIT, pt.c.entry_premium - fill.price),
        else_=fill.price - pt.c.entry_premium,
    )
    left = pt.c.quantity - fill.quantity
    row = s.execute(
        update(pt)
        .where(pt.c.id == position_id, pt.c.quantity >= fill.quantity)
        .values(
            quantity=left,
            realized_pnl=pt.c.realized_pnl + per_share * mult * fill.quantity,
            commissions=pt.c.commissions + fill.commission,
            status=case((left == 0, literal(PositionStatus.CLOSED, status_type)), else_=pt.c.status),
            closed_at=case((left == 0, literal(at, pt.c.closed_at.type)), else_=pt.c.closed_at),
        )
        .returning(pt.c.quantity, pt.c.status, pt.c.premium_type, pt.c.entry_premium)
    ).one_or_none()
    if row is None:
        have = s.execute(select(pt.c.quantity).where(pt.c.id == position_id)).scalar_one_or_none()
        if have is None:
            raise NotFoundError(f"position {position_id!r} is not in the store")
        raise InvariantError(
            f"fill {fill.fill_id!r} closes {fill.quantity} but position {position_id!r} has {have} open"
        )
    realized = _realized_pnl(row.premium_type, row.entry_premium, fill.price, fill.quantity, mult)
    return row.quantity, row.status, realized


def _add_intent(s: Session, order: Order, tactic: str | None) -> None:
    q = select(OrderIntentRow.id).where(OrderIntentRow.client_order_id == order.client_order_id)
    if s.execute(q).first() is not None:
        raise DuplicateError(
            f"an intent for order {order.client_order_id!r} is already stored; re-send the "
            "existing order (same client order id) instead of recording a new intent"
        )
    s.add(
        OrderIntentRow(
            client_order_id=order.client_order_id,
            position_id=order.position_id,
            purpose=order.purpose,
            side=order.side,
            order_type=order.order_type,
            quantity=order.quantity,
            limit_price=order.limit_price,
            legs=[leg_to_dict(leg) for leg in order.legs],
            tactic=tactic,
            created_at=_utc(order.created_at, "order created_at"),
        )
    )
    s.flush()


def _sync_attempt(s: Session, client_order_id: str, status: OrderStatus, filled: int | None, at: datetime) -> None:
    att = s.execute(
        select(ExitAttemptRow).where(ExitAttemptRow.client_order_id == client_order_id)
    ).scalar_one_or_none()
    if att is None:
        return
    att.status = status
    if filled is not None:
        att.filled_quantity = filled
    att.updated_at = at


def _apply_to_exit(
    s: Session,
    exit_id: int,
    position_id: str,
    fill: Fill,
    at: datetime,
    pos_status: PositionStatus | None,
) -> PositionStatus | None:
    """Add a closing fill to its exit; when the exit completes and units remain, the
    position goes back from CLOSING to OPEN. Returns the position's status."""
    ex = s.execute(select(PositionExitRow).where(PositionExitRow.id == exit_id).with_for_update()).scalar_one()
    prev = (ex.fill_price or 0.0) * ex.filled_quantity
    ex.filled_quantity += fill.quantity
    ex.fill_price = (prev + fill.price * fill.quantity) / ex.filled_quantity
    if ex.filled_quantity >= ex.quantity:
        ex.status = ExitStatus.EXECUTED
        ex.executed_at = at
        if pos_status is PositionStatus.CLOSING:
            pos = s.get(PositionRow, position_id)
            if pos is not None and pos.quantity > 0:
                pos.status = PositionStatus.OPEN
                return PositionStatus.OPEN
    return pos_status


def _order_record(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_order_id=row.client_order_id,
        broker_order_id=row.broker_order_id,
        position_id=row.position_id,
        purpose=row.purpose,
        quantity=row.quantity,
        limit_price=row.limit_price,
        status=row.status,
        filled_quantity=row.filled_quantity,
        avg_fill_price=row.avg_fill_price,
        reject_reason=row.reject_reason,
    )


# --- exits -----------------------------------------------------------------------------------


def _exit_record(r: PositionExitRow) -> ExitRecord:
    return ExitRecord(
        id=r.id,
        position_id=r.position_id,
        rule=r.rule,
        reason=r.reason,
        priority=r.priority,
        quantity=r.quantity,
        is_partial=r.is_partial,
        tactic=r.tactic,
        status=r.status,
        filled_quantity=r.filled_quantity,
        fill_price=r.fill_price,
        unrealized_pnl_at_trigger=r.unrealized_pnl_at_trigger,
        triggered_at=r.triggered_at,
        executed_at=r.executed_at,
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
    ) -> int:
        """Start working an exit of ``quantity`` units: the position becomes CLOSING with the
        exit's reason and priority. Returns the exit id; fills of its attempts' orders
        (:meth:`record_attempt`) reduce the position as they arrive."""
        at = _utc(triggered_at, "triggered_at")
        with self.store.transaction() as s:
            pos = _lock_position(s, position_id)
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
        at = _utc(order.created_at, "order created_at")
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
            _add_intent(s, order, tactic or ex.tactic)
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
        at = _utc(at, "at")
        with self.store.transaction() as s:
            ex = s.get(PositionExitRow, exit_id, with_for_update=True)
            if ex is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            ex.status = ExitStatus.FAILED
            pos = _lock_position(s, ex.position_id)
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
        trig = _utc(triggered_at, "triggered_at")
        done = _utc(executed_at, "executed_at")
        with self.store.transaction() as s:
            pos = _lock_position(s, position_id)
            self._check_quantity(pos, quantity)
            realized = _realized_pnl(
                pos.premium_type,
                pos.entry_premium,
                fill_price,
                quantity,
                _multiplier(s, position_id),
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
            _add_daily(s, done.astimezone(EXCHANGE_TZ).date(), realized, commission, done)
            s.flush()
            return ex.id

    def get_exit(self, exit_id: int) -> ExitRecord:
        with self.store.read() as s:
            row = s.get(PositionExitRow, exit_id)
            if row is None:
                raise NotFoundError(f"exit {exit_id} is not in the store")
            return _exit_record(row)

    def exits_for(self, position_id: str) -> list[ExitRecord]:
        with self.store.read() as s:
            rows = s.execute(
                select(PositionExitRow).where(PositionExitRow.position_id == position_id).order_by(PositionExitRow.id)
            ).scalars()
            return [_exit_record(r) for r in rows]

    def all_exits(self) -> list[ExitRecord]:
        """Every exit of every position, oldest first."""
        with self.store.read() as s:
            rows = s.execute(select(PositionExitRow).order_by(PositionExitRow.triggered_at, PositionExitRow.id))
            return [_exit_record(r) for r in rows.scalars()]

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


# --- state, alerts, P&L, runs, methods -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    state: TradingState
    reason: str
    changed_at: datetime
    #: Exchange date of a circuit-breaker halt; None for a manual halt or when not halted.
    halted_on: date | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    created_at: datetime
    level: AlertLevel
    kind: str
    message: str
    position_id: str | None
    payload: dict[str, Any] | None
    delivered_at: datetime | None
    delivery_error: str | None = None
    delivery_attempts: int = 0


def _alert_record(r: AlertRow) -> AlertRecord:
    return AlertRecord(
        r.id,
        r.created_at,
        r.level,
        r.kind,
        r.message,
        r.position_id,
        r.payload,
        r.delivered_at,
        r.delivery_error,
        r.delivery_attempts,
    )


@dataclass(frozen=True, slots=True)
class DailyPnl:
    trade_date: date
    realized_pnl: float
    unrealized_pnl: float
    commissions: float


class StateRepository:
    """The trading-state gate, alerts, daily P&L, runs and methods."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def trading_state(self) -> TradingStateRecord:
        with self.store.read() as s:
            row = s.get(TradingStateRow, 1)
            if row is None:
                raise StoreError("the trading_state row is missing: run `riskpilot db upgrade`")
            return TradingStateRecord(row.state, row.reason, row.changed_at, row.halted_on)

    def set_trading_state(
        self, state: TradingState, reason: str, at: datetime, *, halted_on: date | None = None
    ) -> None:
        """Set the gate. ``halted_on`` (HALTED only) is the exchange date of a circuit-breaker
        halt, which lifts once that day has rolled; leave it None for a manual halt."""
        if halted_on is not None and state is not TradingState.HALTED:
            raise ValueError(f"halted_on is for a HALTED state, not {state.value}")
        if not reason.strip():
            raise ValueError("a trading-state change needs a reason (it is shown to the operator)")
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(TradingStateRow, 1, with_for_update=True)
            if row is None:
                raise StoreError("the trading_state row is missing: run `riskpilot db upgrade`")
            row.state = state
            row.reason = reason
            row.changed_at = at
            row.halted_on = halted_on

    def add_alert(
        self,
        level: AlertLevel,
        kind: str,
        message: str,
        at: datetime,
        *,
        position_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int:
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = AlertRow(
                created_at=at,
                level=level,
                kind=kind,
                message=message,
                position_id=position_id,
                payload=payload,
            )
            s.add(row)
            s.flush()
            return row.id

    def undelivered_alerts(self) -> list[AlertRecord]:
        with self.store.read() as s:
            rows = s.execute(select(AlertRow).where(AlertRow.delivered_at.is_(None)).order_by(AlertRow.id)).scalars()
            return [_alert_record(r) for r in rows]

    def get_alert(self, alert_id: int) -> AlertRecord:
        with self.store.read() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise NotFoundError(f"alert {alert_id} is not in the store")
            return _alert_record(row)

    def recent_alerts(self, limit: int = 50) -> list[AlertRecord]:
        """The ``limit`` newest alerts, newest first."""
        with self.store.read() as s:
            rows = s.execute(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)).scalars()
            return [_alert_record(r) for r in rows]

    def record_delivery(self, alert_id: int, at: datetime, error: str | None) -> None:
        """Record one delivery attempt: delivered at ``at`` when ``error`` is None, otherwise
        the error is kept on the alert (which stays undelivered, for a later retry)."""
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"alert {alert_id} is not in the store")
            row.delivery_attempts += 1
            if error is None:
                row.delivered_at = at
                row.delivery_error = None
            else:
                row.delivery_error = error

    def mark_delivered(self, alert_ids: Iterable[int], at: datetime) -> None:
        at = _utc(at, "at")
        ids = list(alert_ids)
        with self.store.transaction() as s:
            for row in s.execute(select(AlertRow).where(AlertRow.id.in_(ids))).scalars():
                row.delivered_at = at

    def set_unrealized(self, day: date, unrealized_pnl: float, at: datetime) -> None:
        """Set the day's unrealized P&L (dollars) from the latest marks."""
        at = _utc(at, "at")
        with self.store.transaction() as s:
            _add_daily(s, day, 0.0, 0.0, at)
            row = s.get(DailyPnlRow, day)
            if row is not None:
                row.unrealized_pnl = unrealized_pnl

    def daily_pnl(self, day: date) -> DailyPnl | None:
        with self.store.read() as s:
            row = s.get(DailyPnlRow, day)
            if row is None:
                return None
            return DailyPnl(row.trade_date, row.realized_pnl, row.unrealized_pnl, row.commissions)

    def daily_pnl_before(self, day: date) -> DailyPnl | None:
        """The latest day's P&L row strictly before ``day`` (None when there is none)."""
        with self.store.read() as s:
            row = s.execute(
                select(DailyPnlRow).where(DailyPnlRow.trade_date < day).order_by(DailyPnlRow.trade_date.desc()).limit(1)
            ).scalar_one_or_none()
            if row is None:
                return None
            return DailyPnl(row.trade_date, row.realized_pnl, row.unrealized_pnl, row.commissions)

    def start_run(
        self,
        *,
        host: str,
        version: str,
        dry_run: bool,
        started_at: datetime,
        config_text: str | None = None,
        command: str | None = None,
    ) -> int:
        at = _utc(started_at, "started_at")
        # Stored runs never hold secrets (alert URLs, broker keys): redacted here, at the door.
        with self.store.transaction() as s:
            row = RunRow(
                started_at=at,
                host=host,
                version=version,
                dry_run=dry_run,
                config_text=None if config_text is None else redact_config_text(config_text),
                command=None if command is None else redact_text(command),
            )
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, at: datetime) -> None:
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"run {run_id} is not in the store")
            row.finished_at = at

    def upsert_method(
        self,
        name: str,
        at: datetime,
        *,
        description: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        at = _utc(at, "at")
        with self.store.transaction() as s:
            row = s.execute(select(MethodRow).where(MethodRow.name == name).with_for_update()).scalar_one_or_none()
            if row is None:
                s.add(MethodRow(name=name, description=description, config=config, created_at=at))
            else:
                row.description = description
                row.config = config
