"""Row <-> model conversions and the small locked reads and upserts every repository shares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from riskpilot.model.contract import EventContract, Leg, OptionContract
from riskpilot.model.enums import ContractSide, PremiumType
from riskpilot.model.position import Position, PositionState, pnl_per_share
from riskpilot.store.models import (
    AlertRow,
    Base,
    DailyPnlRow,
    LegRow,
    OrderRow,
    PositionExitRow,
    PositionRow,
)
from riskpilot.store.records import (
    AlertRecord,
    ExitRecord,
    InvariantError,
    Monitoring,
    NotFoundError,
    OrderRecord,
)


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


def utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)




def legs_rows(position_id: str, legs: Sequence[Leg]) -> list[LegRow]:
    """The ``position_legs`` rows of ``legs``: the option columns for an option, the event
    columns for one side of a binary event market (see :class:`LegRow`)."""
    rows = []
    for i, leg in enumerate(legs):
        c = leg.contract
        if isinstance(c, EventContract):
            rows.append(LegRow(
                position_id=position_id,
                leg_index=i,
                contract_kind="event",
                underlying=c.underlying,
                expiration=c.expiration,
                multiplier=c.multiplier,
                quantity=leg.quantity,
                series=c.series,
                event=c.event,
                market_ticker=c.ticker,
                side=c.side,
                close_time=c.close_time,
                settlement_time=c.settlement_time,
            ))
            continue
        rows.append(LegRow(
            position_id=position_id,
            leg_index=i,
            contract_kind="option",
            underlying=c.underlying,
            expiration=c.expiration,
            strike=c.strike,
            right=c.right,
            multiplier=c.multiplier,
            expiry_time=c.expiry_time,
            quantity=leg.quantity,
        ))
    return rows


def position_from(row: Any, legs: tuple[Leg, ...]) -> Position:
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


def monitoring_from(row: Any) -> Monitoring:
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


def leg_from(row: Any) -> Leg:
    """The leg a ``position_legs`` row (ORM or Core) describes."""
    if row.contract_kind == "event":
        return Leg(
            EventContract(
                series=row.series,
                event=row.event,
                ticker=row.market_ticker,
                side=_side(row.side),
                close_time=_aware(row.close_time),
                settlement_time=_aware(row.settlement_time),
            ),
            row.quantity,
        )
    if row.contract_kind != "option":
        raise InvariantError(
            f"position leg {row.position_id}#{row.leg_index}: unknown contract kind {row.contract_kind!r}"
        )
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


def _side(value: Any) -> ContractSide:
    # A Core select returns the enum type's value already converted; a name string otherwise.
    return value if isinstance(value, ContractSide) else ContractSide[str(value)]


def _aware(value: datetime) -> datetime:
    # UTCDateTime re-attaches UTC on read; a Core row read without the type (raw SQL) does not.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def realized_pnl(premium_type: PremiumType, entry: float, price: float, qty: int, mult: int) -> float:
    """Dollars realized by closing ``qty`` units at ``price`` (net premium per share)."""
    return pnl_per_share(premium_type, entry, price) * mult * qty


def lock_position(session: Session, position_id: str) -> PositionRow:
    row = session.execute(
        select(PositionRow).where(PositionRow.id == position_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"position {position_id!r} is not in the store")
    return row


def multiplier_of(session: Session, position_id: str) -> int:
    mult = session.execute(
        select(LegRow.multiplier).where(LegRow.position_id == position_id).limit(1)
    ).scalar_one_or_none()
    if mult is None:
        raise InvariantError(f"position {position_id!r} has no legs in the store")
    return mult


def add_daily(session: Session, day: date, realized: float, commissions: float, at: datetime) -> None:
    """Add to the day's realized P&L and commissions (dollars) in one upsert."""
    dt = table_of(DailyPnlRow)
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


def order_record(row: OrderRow) -> OrderRecord:
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


def exit_record(r: PositionExitRow) -> ExitRecord:
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
        stage=r.stage,
    )


def alert_record(r: AlertRow) -> AlertRecord:
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


