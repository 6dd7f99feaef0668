"""Tables of the relational store (SQLAlchemy 2 typed declarative).

Conventions, for every table:

- **Money and prices are IEEE doubles** (``DOUBLE PRECISION``), not ``NUMERIC``. Premiums are
  quoted per share to the cent or tick, and the model layer, the rules and the fill model all
  compute in ``float``; a double holds 15 significant digits, so a premium or a day's P&L of
  any realistic size round-trips to far better than a cent. ``NUMERIC`` would force a
  ``Decimal`` conversion on every read (10,000 positions are loaded per monitoring cycle) and
  invite float/Decimal mixing bugs at the boundary. Prices are per share of one unit of the
  combo (multiply by the multiplier and the quantity for dollars); P&L columns named
  ``*_pnl`` are in dollars unless the docstring says otherwise.
- **Timestamps are timezone-aware** and stored in UTC (:class:`UTCDateTime`).
- **Enums are stored by name** as short strings with a CHECK constraint (portable between
  SQLite and PostgreSQL, no native enum type to migrate).

The schema is created and changed only by the Alembic migrations in
``riskpilot/store/migrations``; a test compares these models with the migrated database.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from riskpilot.model.enums import (
    ContractSide,
    OrderType,
    PositionStatus,
    PremiumType,
    Priority,
    Right,
    Side,
    TradingState,
)
from riskpilot.model.order import OrderPurpose
from riskpilot.model.status import ExitStatus as ExitStatus  # re-exported: the store names it too
from riskpilot.model.status import OrderStatus
from riskpilot.store.types import UTCDateTime

#: Deterministic constraint names, so migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Revision 0005: an option leg fills the option columns, an event leg the event columns.
LEG_KIND_CHECK = (
    "(contract_kind = 'option' AND strike IS NOT NULL AND \"right\" IS NOT NULL AND expiry_time IS NOT NULL"
    " AND market_ticker IS NULL AND side IS NULL)"
    " OR (contract_kind = 'event' AND series IS NOT NULL AND event IS NOT NULL AND market_ticker IS NOT NULL"
    " AND side IS NOT NULL AND close_time IS NOT NULL AND settlement_time IS NOT NULL AND strike IS NULL"
    " AND \"right\" IS NULL AND expiry_time IS NULL AND multiplier = 1)"
)


class AlertLevel(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    return SAEnum(cls, name=name, native_enum=False, create_constraint=True, length=16)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        float: Double(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class MethodRow(Base):
    """A method: a strategy, its entry filters, exit rules and sizing under one name."""

    __tablename__ = "methods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


class PositionRow(Base):
    """A strategy execution: legs held as a unit, with the monitoring fields of SPEC §8.

    ``entry_premium``, ``current_price``, ``peak_price``, ``trough_price``,
    ``trailing_stop_price`` are net premiums per share of one unit; ``mfe``/``mae`` are P&L in
    premium points per share of one unit (as :class:`riskpilot.model.PositionState`);
    ``unrealized_pnl`` and ``realized_pnl`` are dollars for the whole position;
    ``unrealized_pnl_pct`` is a fraction of the entry premium (0.35 = 35%).
    """

    __tablename__ = "positions"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("quantity <= original_quantity", name="quantity_le_original"),
        CheckConstraint("original_quantity >= 1", name="original_quantity_positive"),
        CheckConstraint("entry_premium > 0", name="entry_premium_positive"),
        Index("ix_positions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(64), ForeignKey("methods.name"), index=True)
    underlying: Mapped[str] = mapped_column(String(64), index=True)  # 64 since 0005: event tickers
    premium_type: Mapped[PremiumType] = mapped_column(_enum(PremiumType, "premium_type"))
    entry_premium: Mapped[float]
    quantity: Mapped[int]
    original_quantity: Mapped[int]
    status: Mapped[PositionStatus] = mapped_column(_enum(PositionStatus, "position_status"))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    realized_pnl: Mapped[float] = mapped_column(default=0.0)
    commissions: Mapped[float] = mapped_column(default=0.0)
    # Monitoring fields (SPEC section 8).
    current_price: Mapped[float | None]
    unrealized_pnl: Mapped[float | None]
    unrealized_pnl_pct: Mapped[float | None]
    last_update: Mapped[datetime | None]
    trailing_stop_active: Mapped[bool] = mapped_column(Boolean, default=False)
    peak_price: Mapped[float]
    trough_price: Mapped[float]
    trailing_stop_price: Mapped[float | None]
    exit_reason: Mapped[str | None] = mapped_column(Text)
    exit_priority: Mapped[Priority | None] = mapped_column(_enum(Priority, "priority"))
    mfe: Mapped[float] = mapped_column(default=0.0)
    mae: Mapped[float] = mapped_column(default=0.0)
    days_held: Mapped[int] = mapped_column(default=0)
    stages_done: Mapped[list[str]] = mapped_column(default=list)

    legs: Mapped[list[LegRow]] = relationship(
        back_populates="position",
        order_by="LegRow.leg_index",
        cascade="all, delete-orphan",
        lazy="raise",
    )


class LegRow(Base):
    """One leg: the contract and its signed quantity per unit (-1 short, +1 long).

    ``contract_kind`` says which columns describe the contract (revision 0005): an
    ``option`` leg has ``strike``, ``right`` and ``expiry_time``; an ``event`` leg (one side
    of a binary market, :class:`riskpilot.model.EventContract`) has ``series``, ``event``,
    ``market_ticker``, ``side``, ``close_time`` and ``settlement_time``, with ``underlying``
    the event, ``expiration`` the New York date of the close and ``multiplier`` 1. A CHECK
    constraint keeps each kind's columns filled and the other kind's empty."""

    __tablename__ = "position_legs"
    __table_args__ = (
        UniqueConstraint("position_id", "leg_index", name="uq_position_legs_position_leg"),
        CheckConstraint("quantity <> 0", name="quantity_non_zero"),
        CheckConstraint(LEG_KIND_CHECK, name="contract_columns"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    position_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("positions.id", ondelete="CASCADE"), index=True
    )
    leg_index: Mapped[int]
    contract_kind: Mapped[str] = mapped_column(String(8), default="option", server_default="option")
    underlying: Mapped[str] = mapped_column(String(64))
    expiration: Mapped[date] = mapped_column(Date)
    strike: Mapped[float | None]
    right: Mapped[Right | None] = mapped_column(_enum(Right, "option_right"))
    multiplier: Mapped[int]
    expiry_time: Mapped[time | None] = mapped_column(Time)
    quantity: Mapped[int]
    # Revision 0005: the columns of an event leg (NULL on an option leg).
    series: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(64))
    market_ticker: Mapped[str | None] = mapped_column(String(96))
    side: Mapped[ContractSide | None] = mapped_column(_enum(ContractSide, "contract_side"))
    close_time: Mapped[datetime | None]
    settlement_time: Mapped[datetime | None]

    position: Mapped[PositionRow] = relationship(back_populates="legs")


class OrderIntentRow(Base):
    """What the engine meant to send, written before the order goes to the broker, so that a
    crash between deciding and sending leaves a trace to reconcile. ``legs`` is the JSON form
    of the order's legs; ``limit_price`` is net premium per share."""

    __tablename__ = "order_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    position_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("positions.id"), index=True
    )
    purpose: Mapped[OrderPurpose] = mapped_column(_enum(OrderPurpose, "order_purpose"))
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    order_type: Mapped[OrderType] = mapped_column(_enum(OrderType, "order_type"))
    quantity: Mapped[int]
    limit_price: Mapped[float | None]
    legs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    tactic: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class OrderRow(Base):
    """An order sent to the broker; its client order id refers to its intent."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("filled_quantity >= 0", name="filled_non_negative"),
        CheckConstraint("filled_quantity <= quantity", name="filled_le_quantity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("order_intents.client_order_id"), unique=True
    )
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    position_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("positions.id"), index=True
    )
    purpose: Mapped[OrderPurpose] = mapped_column(_enum(OrderPurpose, "order_purpose"))
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    order_type: Mapped[OrderType] = mapped_column(_enum(OrderType, "order_type"))
    quantity: Mapped[int]
    limit_price: Mapped[float | None]
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    filled_quantity: Mapped[int] = mapped_column(default=0)
    avg_fill_price: Mapped[float | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FillRow(Base):
    """One execution, applied at most once (``fill_id`` is the venue's execution id)."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fill_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("orders.client_order_id"), index=True
    )
    position_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("positions.id"), index=True
    )
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    quantity: Mapped[int]
    price: Mapped[float]
    commission: Mapped[float] = mapped_column(default=0.0)
    filled_at: Mapped[datetime]


class PositionExitRow(Base):
    """One exit of a position (SPEC §3): why, how urgent, how much, at what price, with which
    tactic, the unrealized P&L (dollars) when it triggered, and when it triggered/executed.
    ``fill_price`` is the average fill price (net premium per share) of what has filled."""

    __tablename__ = "position_exits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    position_id: Mapped[str] = mapped_column(String(64), ForeignKey("positions.id"), index=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "priority"))
    quantity: Mapped[int]
    is_partial: Mapped[bool] = mapped_column(Boolean)
    tactic: Mapped[str] = mapped_column(String(32))
    status: Mapped[ExitStatus] = mapped_column(_enum(ExitStatus, "exit_status"))
    filled_quantity: Mapped[int] = mapped_column(default=0)
    fill_price: Mapped[float | None]
    unrealized_pnl_at_trigger: Mapped[float | None]
    triggered_at: Mapped[datetime]
    executed_at: Mapped[datetime | None]
    # Revision 0004: the partial-exit stage this exit works (its fill marks the stage done).
    stage: Mapped[str | None] = mapped_column(String(64))


class ExitAttemptRow(Base):
    """One order attempt of an exit: order type, limit price, quantity, status, filled
    quantity and time."""

    __tablename__ = "exit_attempts"
    __table_args__ = (UniqueConstraint("exit_id", "attempt_no", name="uq_exit_attempts_exit_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exit_id: Mapped[int] = mapped_column(ForeignKey("position_exits.id"), index=True)
    attempt_no: Mapped[int]
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_type: Mapped[OrderType] = mapped_column(_enum(OrderType, "order_type"))
    limit_price: Mapped[float | None]
    quantity: Mapped[int]
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    filled_quantity: Mapped[int] = mapped_column(default=0)
    attempted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TrailingStopStateRow(Base):
    """The trailing stop manager's state for one position, as JSON (opaque to the store)."""

    __tablename__ = "trailing_stop_states"

    position_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("positions.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class AlertRow(Base):
    """One alert (SPEC §4): stored before it is sent; ``level`` is its severity, ``payload``
    its fields as JSON; ``delivered_at`` or ``delivery_error`` says how sending went."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    level: Mapped[AlertLevel] = mapped_column(_enum(AlertLevel, "alert_level"))
    kind: Mapped[str] = mapped_column(String(64))
    position_id: Mapped[str | None] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None]
    delivered_at: Mapped[datetime | None]
    # Revision 0003: why the last delivery failed (NULL once delivered) and how often it was tried.
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Revision 0004: set on an alert the store writes with the change it reports (an outbox
    # row), so raising that alert again delivers this row instead of a second one.
    dedupe_key: Mapped[str | None] = mapped_column(String(96), unique=True)


class DailyPnlRow(Base):
    """P&L of one trading day, dollars."""

    __tablename__ = "daily_pnl"

    trade_date: Mapped[date] = mapped_column(Date, primary_key=True)
    realized_pnl: Mapped[float] = mapped_column(default=0.0)
    unrealized_pnl: Mapped[float] = mapped_column(default=0.0)
    commissions: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime]


class TradingStateRow(Base):
    """The trading-state gate: a single row (id = 1)."""

    __tablename__ = "trading_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[TradingState] = mapped_column(_enum(TradingState, "trading_state"))
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime]
    #: Revision 0003: exchange date of a circuit-breaker halt (it lifts once that day has
    #: rolled); NULL for a manual halt, which lasts until a manual resume.
    halted_on: Mapped[date | None] = mapped_column(Date)


class RunRow(Base):
    """One run of the engine: its configuration text, host, version and dry-run flag."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    command: Mapped[str | None] = mapped_column(String(128))
    config_text: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64))
    dry_run: Mapped[bool] = mapped_column(Boolean)


class ActionOutcome(enum.StrEnum):
    """How an operator action through the dashboard ended: recorded PENDING before it acts,
    then DONE, REFUSED (the store said no: nothing to close, a halt not to resume yet) or
    FAILED (an error)."""

    PENDING = "PENDING"
    DONE = "DONE"
    REFUSED = "REFUSED"
    FAILED = "FAILED"


class DashboardActionRow(Base):
    """One operator action taken through the dashboard (revision 0006): who (the name the
    operator signed in with, and the client address), when, what (``action`` and its
    ``target``: a position id, an underlying, or none), with which reason and priority, and
    how it ended (``outcome``, ``detail``: what it changed or why it did not)."""

    __tablename__ = "dashboard_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requested_at: Mapped[datetime] = mapped_column(index=True)
    operator: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[Priority | None] = mapped_column(_enum(Priority, "priority"))
    outcome: Mapped[ActionOutcome] = mapped_column(_enum(ActionOutcome, "action_outcome"))
    detail: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class MonitorLeaseRow(Base):
    """Revision 0004: the monitor that holds an account (one live monitor per account). Held
    while ``released_at`` is NULL and ``expires_at`` is ahead; ``last_cycle_at`` is the
    monitor's own clock at its last cycle (market time in a replay)."""

    __tablename__ = "monitor_leases"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    command: Mapped[str | None] = mapped_column(String(128))
    broker: Mapped[str | None] = mapped_column(String(32))
    clock: Mapped[str] = mapped_column(String(16))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    last_cycle_at: Mapped[datetime | None]
    broker_connected: Mapped[bool | None] = mapped_column(Boolean)


# --- paper broker (revision 0002) -----------------------------------------------------------
# The paper broker plays the part of an outside venue: its book lives in its own tables so
# the engine's store and the "broker" can be reconciled against each other like a real pair.


class PaperAccountRow(Base):
    __tablename__ = "paper_accounts"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_seq: Mapped[int] = mapped_column(default=0)
    fill_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class PaperOrderRow(Base):
    """An order as the paper venue knows it. ``order`` is the JSON form of the model.Order;
    ``avg_fill_price`` net premium per share."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("account", "client_order_id", name="uq_paper_orders_account_client"),
        Index("ix_paper_orders_account_status", "account", "status"),
    )

    broker_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), ForeignKey("paper_accounts.account"))
    client_order_id: Mapped[str] = mapped_column(String(64))
    order: Mapped[dict[str, Any]]
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    filled_quantity: Mapped[int] = mapped_column(default=0)
    avg_fill_price: Mapped[float | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaperFillRow(Base):
    __tablename__ = "paper_fills"

    fill_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), ForeignKey("paper_accounts.account"))
    broker_order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("paper_orders.broker_order_id"), index=True
    )
    client_order_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    quantity: Mapped[int]
    price: Mapped[float]
    commission: Mapped[float]
    filled_at: Mapped[datetime]


class PaperPositionRow(Base):
    """Net contracts held per option contract (signed: negative = short) and the average
    price per share paid (long) or received (short)."""

    __tablename__ = "paper_positions"

    account: Mapped[str] = mapped_column(
        String(32), ForeignKey("paper_accounts.account"), primary_key=True
    )
    contract_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    contract: Mapped[dict[str, Any]]
    quantity: Mapped[int]
    avg_price: Mapped[float]
    updated_at: Mapped[datetime]


# --- live accounts (revision 0007) -------------------------------------------------------------


class BrokerAccountRow(Base):
    """The broker account a store's positions belong to, one per broker: written by the first
    live run or adoption against that broker, checked by every later one (a store never mixes
    two accounts' positions)."""

    __tablename__ = "broker_accounts"

    broker: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    bound_at: Mapped[datetime]
    bound_by: Mapped[str | None] = mapped_column(String(128))
