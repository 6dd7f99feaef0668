"""What the store's repositories hand back, and the errors they refuse with. Prices are net
premium per share; P&L and commissions dollars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from riskpilot.model.enums import (
    OrderType,
    PositionStatus,
    Priority,
    TradingState,
)
from riskpilot.model.order import OrderPurpose
from riskpilot.model.position import Position
from riskpilot.model.status import OrderStatus
from riskpilot.store.models import (
    AlertLevel,
    ExitStatus,
)

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
    #: The partial-exit stage the exit works (None for a whole close).
    stage: str | None = None


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


@dataclass(frozen=True, slots=True)
class DailyPnl:
    trade_date: date
    realized_pnl: float
    unrealized_pnl: float
    commissions: float



