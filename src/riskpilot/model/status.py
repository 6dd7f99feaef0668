"""Order status as a venue reports it: the lifecycle, the state of one order, and a change of
it. Value objects shared by the broker port, the executor and the store. Prices are net
premium per share of one unit, as on :class:`riskpilot.model.order.Order`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from riskpilot.model.order import Fill


class OrderStatus(enum.StrEnum):
    """Lifecycle of an order at the broker."""

    PENDING_SUBMIT = "PENDING_SUBMIT"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)

    @property
    def is_working(self) -> bool:
        return not self.is_final


@dataclass(frozen=True, slots=True)
class OrderState:
    """The broker's view of one order. ``avg_fill_price`` is net premium per share, None
    until something fills; ``reason`` explains a reject or a cancel."""

    client_order_id: str
    broker_order_id: str
    status: OrderStatus
    quantity: int
    filled_quantity: int
    avg_fill_price: float | None
    limit_price: float | None
    updated_at: datetime
    reason: str | None = None

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A change of an order: its new state, and the fill that caused it (if any)."""

    state: OrderState
    fill: Fill | None = None




class ExitStatus(enum.StrEnum):
    """Lifecycle of one exit: being worked, fully executed, or given up (escalated/failed)."""

    WORKING = "WORKING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"


__all__ = ["ExitStatus", "OrderEvent", "OrderState", "OrderStatus"]
