"""Orders and fills. Prices are net premium per share of one unit, positive."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from riskpilot.model._checks import non_negative, whole
from riskpilot.model.contract import Leg
from riskpilot.model.enums import OrderType, Side


class OrderPurpose(str, Enum):
    OPEN = "OPEN"
    CLOSE = "CLOSE"


def client_order_id(position_id: str, purpose: OrderPurpose | str, sequence: int) -> str:
    """Deterministic client order id: the same (position, purpose, attempt) always gives the
    same id, so an order re-sent after a crash is recognised by the broker as a duplicate
    instead of being executed twice."""
    p = purpose.value if isinstance(purpose, OrderPurpose) else str(purpose)
    digest = hashlib.blake2b(f"{position_id}|{p}|{sequence}".encode(), digest_size=10).hexdigest()
    return f"rp-{digest}"


@dataclass(frozen=True, slots=True)
class Order:
    """An order for ``quantity`` units of the combo ``legs`` (per-unit signed quantities as
    held by the *position*; ``side`` says whether this order buys or sells that combo).

    ``limit_price`` is required for LIMIT and refused for MARKET orders."""

    client_order_id: str
    legs: tuple[Leg, ...]
    side: Side
    quantity: int
    order_type: OrderType
    created_at: datetime
    limit_price: float | None = None
    position_id: str | None = None
    purpose: OrderPurpose = OrderPurpose.OPEN

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("client_order_id must be a non-empty string (use client_order_id())")
        if not self.legs:
            raise ValueError(f"order {self.client_order_id}: needs at least one leg")
        if not isinstance(self.legs, tuple):
            object.__setattr__(self, "legs", tuple(self.legs))
        whole(f"order {self.client_order_id}: quantity", self.quantity, minimum=1)
        if self.order_type is OrderType.LIMIT:
            if self.limit_price is None:
                raise ValueError(f"order {self.client_order_id}: a LIMIT order needs a limit_price")
            object.__setattr__(
                self, "limit_price", non_negative("limit_price", self.limit_price)
            )
        elif self.limit_price is not None:
            raise ValueError(
                f"order {self.client_order_id}: a MARKET order takes no limit_price "
                f"(got {self.limit_price})"
            )
        if self.created_at.tzinfo is None:
            raise ValueError(f"order {self.client_order_id}: created_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution of ``quantity`` units of an order at ``price`` (net premium per share).
    ``side`` is the order's side on the combo as the position holds it: BUY opens (a credit
    spread is opened by buying the combo [-1 short put, +1 long put], receiving a credit),
    SELL closes. ``fill_id`` is the venue's execution id: a fill is applied at most once."""

    fill_id: str
    client_order_id: str
    quantity: int
    price: float
    timestamp: datetime
    side: Side
    position_id: str | None = None
    commission: float = 0.0

    def __post_init__(self) -> None:
        if not self.fill_id:
            raise ValueError("fill_id must be a non-empty string")
        whole(f"fill {self.fill_id}: quantity", self.quantity, minimum=1)
        object.__setattr__(self, "price", non_negative(f"fill {self.fill_id}: price", self.price))
        object.__setattr__(
            self, "commission", non_negative(f"fill {self.fill_id}: commission", self.commission)
        )
        if self.timestamp.tzinfo is None:
            raise ValueError(f"fill {self.fill_id}: timestamp must be timezone-aware")


__all__ = ["Fill", "Order", "OrderPurpose", "client_order_id"]
