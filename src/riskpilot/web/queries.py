"""Read-only queries of the working-exits, history and state pages: each a few statements
whatever the size of the book. Units as in the store: prices net premium per share, P&L
dollars, times UTC."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.enums import Priority
from riskpilot.model.position import pnl_per_share
from riskpilot.store import (
    ActionRecord,
    ActionRepository,
    LeaseRepository,
    StateRepository,
    Store,
    TradingStateRecord,
)
from riskpilot.store.models import (
    AlertRow,
    DailyPnlRow,
    ExitAttemptRow,
    ExitStatus,
    LegRow,
    OrderIntentRow,
    PositionExitRow,
    PositionRow,
    RunRow,
)

#: Newest rows a history table shows (the filters narrow further).
HISTORY_LIMIT = 500


# --- working exits ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attempt:
    no: int
    order_type: str
    limit_price: float | None
    quantity: int
    filled: int
    status: str
    tactic: str | None
    at: datetime
    updated_at: datetime


@dataclass(slots=True)
class WorkingExit:
    id: int
    position_id: str
    underlying: str
    method: str
    rule: str | None
    reason: str
    priority: str
    tactic: str
    quantity: int
    filled: int
    triggered_at: datetime
    entry: float
    current: float | None
    attempts: list[Attempt] = field(default_factory=list)


def working_exits(store: Store) -> list[WorkingExit]:
    """Every WORKING exit, oldest first, with its ladder of attempts."""
    pe, pos = PositionExitRow, PositionRow
    with store.read() as s:
        rows = s.execute(
            select(pe.id, pe.position_id, pos.underlying, pos.method, pe.rule, pe.reason, pe.priority, pe.tactic,
                   pe.quantity, pe.filled_quantity, pe.triggered_at, pos.entry_premium, pos.current_price)
            .join(pos, pos.id == pe.position_id)
            .where(pe.status == ExitStatus.WORKING)
            .order_by(pe.triggered_at, pe.id)
        ).all()
        out = {r.id: WorkingExit(r.id, r.position_id, r.underlying, r.method, r.rule, r.reason, r.priority.name,
                                 r.tactic, r.quantity, r.filled_quantity, r.triggered_at, r.entry_premium,
                                 r.current_price) for r in rows}
        if out:
            att = s.execute(
                select(ExitAttemptRow, OrderIntentRow.tactic)
                .outerjoin(OrderIntentRow, OrderIntentRow.client_order_id == ExitAttemptRow.client_order_id)
                .where(ExitAttemptRow.exit_id.in_(list(out)))
                .order_by(ExitAttemptRow.exit_id, ExitAttemptRow.attempt_no)
            ).all()
            for a, tactic in att:
                out[a.exit_id].attempts.append(Attempt(a.attempt_no, a.order_type.value, a.limit_price, a.quantity,
                                                       a.filled_quantity, a.status.value, tactic, a.attempted_at,
                                                       a.updated_at))
    return list(out.values())


# --- history ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """The history page's filters: exact underlying and method, exchange dates inclusive."""

    underlying: str | None = None
    method: str | None = None
    start: date | None = None
    end: date | None = None

    def utc_bounds(self) -> tuple[datetime | None, datetime | None]:
        lo = None if self.start is None else datetime.combine(self.start, time(0), EXCHANGE_TZ).astimezone(UTC)
        hi = None if self.end is None else datetime.combine(self.end + timedelta(days=1), time(0),
                                                             EXCHANGE_TZ).astimezone(UTC)
        return lo, hi


@dataclass(frozen=True, slots=True)
class ExitLine:
    id: int
    position_id: str
    underlying: str
    method: str
    rule: str | None
    reason: str
    priority: str
    tactic: str
    status: str
    quantity: int
    filled: int
    fill_price: float | None
    pnl: float | None
    triggered_at: datetime
    executed_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertLine:
    id: int
    created_at: datetime
    level: str
    kind: str
    message: str
    position_id: str | None
    delivered_at: datetime | None
    delivery_error: str | None
    attempts: int

    @property
    def delivery(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.attempts == 0 else f"failed x{self.attempts}"


@dataclass(frozen=True, slots=True)
class DayLine:
    day: date
    realized: float
    commissions: float
    unrealized: float
    equity: float
    #: realized net of commissions + change of the closing unrealized P&L since the previous day
    day_pnl: float


def _filtered(q: Select[Any], f: HistoryFilter, stamp: Any) -> Select[Any]:
    if f.underlying:
        q = q.where(PositionRow.underlying == f.underlying)
    if f.method:
        q = q.where(PositionRow.method == f.method)
    lo, hi = f.utc_bounds()
    if lo is not None:
        q = q.where(stamp >= lo)
    if hi is not None:
        q = q.where(stamp < hi)
    return q


def exit_history(store: Store, f: HistoryFilter, limit: int = HISTORY_LIMIT) -> list[ExitLine]:
    """The newest exits matching ``f``, newest first; ``pnl`` is what the filled part
    realized (dollars, before commissions)."""
    pe, pos = PositionExitRow, PositionRow
    mult = select(LegRow.position_id, func.min(LegRow.multiplier).label("m")).group_by(LegRow.position_id).subquery()
    q = (select(pe, pos.underlying, pos.method, pos.premium_type, pos.entry_premium, mult.c.m)
         .join(pos, pos.id == pe.position_id).outerjoin(mult, mult.c.position_id == pe.position_id))
    q = _filtered(q, f, pe.triggered_at).order_by(pe.triggered_at.desc(), pe.id.desc()).limit(limit)
    out = []
    with store.read() as s:
        for e, und, method, ptype, entry, m in s.execute(q).all():
            pnl = None
            if e.fill_price is not None and e.filled_quantity > 0 and m is not None:
                pnl = pnl_per_share(ptype, entry, e.fill_price) * m * e.filled_quantity
            out.append(ExitLine(e.id, e.position_id, und, method, e.rule, e.reason, e.priority.name, e.tactic,
                                e.status.value, e.quantity, e.filled_quantity, e.fill_price, pnl, e.triggered_at,
                                e.executed_at))
    return out


def alert_history(store: Store, f: HistoryFilter, limit: int = HISTORY_LIMIT) -> list[AlertLine]:
    """The newest alerts matching ``f`` (an underlying or method filter keeps only alerts of
    positions in it), newest first."""
    a = AlertRow
    q = select(a)
    if f.underlying or f.method:
        q = q.join(PositionRow, PositionRow.id == a.position_id)
    q = _filtered(q, f, a.created_at).order_by(a.id.desc()).limit(limit)
    with store.read() as s:
        return [AlertLine(r.id, r.created_at, r.level.value, r.kind, r.message, r.position_id, r.delivered_at,
                          r.delivery_error, r.delivery_attempts) for r in s.execute(q).scalars()]


def daily_history(store: Store, starting_equity: float, f: HistoryFilter) -> list[DayLine]:
    """Every stored day (within ``f``'s dates) with the equity at its close: starting equity
    plus realized P&L net of commissions to date plus the day's closing unrealized P&L; and the
    day's P&L, the change of that equity from the previous stored day (the first day's from the
    starting equity). The running sum starts at the first stored day, whatever the filter shows."""
    with store.read() as s:
        rows = s.execute(select(DailyPnlRow).order_by(DailyPnlRow.trade_date)).scalars().all()
        out = []
        cum = 0.0
        prev_unrealized = 0.0
        for r in rows:
            net = r.realized_pnl - r.commissions
            cum += net
            if (f.start is None or r.trade_date >= f.start) and (f.end is None or r.trade_date <= f.end):
                out.append(DayLine(r.trade_date, r.realized_pnl, r.commissions, r.unrealized_pnl,
                                   starting_equity + cum + r.unrealized_pnl, net + r.unrealized_pnl - prev_unrealized))
            prev_unrealized = r.unrealized_pnl
        return out


def choices(store: Store) -> tuple[list[str], list[str]]:
    """The underlyings and methods the store knows, for the filters."""
    with store.read() as s:
        unds = s.execute(select(PositionRow.underlying).distinct().order_by(PositionRow.underlying)).scalars().all()
        methods = s.execute(select(PositionRow.method).distinct().order_by(PositionRow.method)).scalars().all()
    return list(unds), list(methods)


# --- state -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunLine:
    id: int
    command: str | None
    host: str
    version: str
    started_at: datetime
    finished_at: datetime | None
    dry_run: bool


@dataclass(frozen=True, slots=True)
class LeaseLine:
    """A monitor lease row (LEASE_API: ``monitor_leases``), as the state page shows it."""

    account: str
    holder_id: str
    host: str
    pid: int
    command: str | None
    broker: str | None
    clock: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    released_at: datetime | None
    last_cycle_at: datetime | None
    broker_connected: bool | None
    held: bool


@dataclass(slots=True)
class StateView:
    trading: TradingStateRecord
    runs: list[RunLine]
    newest_mark: datetime | None
    open_positions: int
    working_exits: int
    undelivered_alerts: int
    actions: list[ActionRecord]
    leases: list[LeaseLine]
    counts_by_status: dict[str, int] = field(default_factory=dict)


def leases(store: Store, now: datetime) -> list[LeaseLine]:
    """The monitor lease rows (one per account), newest heartbeat first."""
    out = []
    for r in sorted(LeaseRepository(store).all(), key=lambda r: r.heartbeat_at, reverse=True):
        out.append(LeaseLine(r.account, r.holder_id, r.host, r.pid, r.command, r.broker, r.clock, r.acquired_at,
                             r.heartbeat_at, r.expires_at, r.released_at, r.last_cycle_at, r.broker_connected,
                             bool(r.held(now))))
    return out


def state_view(store: Store, now: datetime) -> StateView:
    state = StateRepository(store)
    with store.read() as s:
        runs = [RunLine(r.id, r.command, r.host, r.version, r.started_at, r.finished_at, r.dry_run)
                for r in s.execute(select(RunRow).order_by(RunRow.id.desc()).limit(10)).scalars()]
        newest = s.execute(select(func.max(PositionRow.last_update))).scalar_one_or_none()
        by_status: dict[str, int] = defaultdict(int)
        for st, n in s.execute(select(PositionRow.status, func.count()).group_by(PositionRow.status)).all():
            by_status[st.value] = n
        working = s.execute(select(func.count()).select_from(PositionExitRow)
                            .where(PositionExitRow.status == ExitStatus.WORKING)).scalar_one()
        undelivered = s.execute(select(func.count()).select_from(AlertRow)
                                .where(AlertRow.delivered_at.is_(None))).scalar_one()
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    open_n = sum(n for st, n in by_status.items() if st != "CLOSED")
    return StateView(state.trading_state(), runs, newest, open_n, working, undelivered,
                     ActionRepository(store).recent(20), leases(store, now), dict(by_status))


PRIORITIES = [p.name for p in sorted(Priority, reverse=True)]
