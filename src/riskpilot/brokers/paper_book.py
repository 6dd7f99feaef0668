"""What the paper broker persists, as a small protocol (the store implements it:
``riskpilot.store.StorePaperBook``), so that a restarted paper venue resumes its book: the
order and fill counters, every order with its last state, every fill, every holding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from riskpilot.model.contract import Contract
from riskpilot.model.order import Fill, Order
from riskpilot.model.status import OrderState


@dataclass(frozen=True, slots=True)
class PaperHolding:
    """Net contracts held (negative: short) and the average price per share."""

    contract: Contract
    quantity: int
    avg_price: float


@dataclass(slots=True)
class PaperAccountState:
    """An account's book as stored: counters, orders with their states, fills (oldest first,
    with the broker order id), holdings."""

    order_seq: int = 0
    fill_seq: int = 0
    orders: list[tuple[Order, OrderState]] = field(default_factory=list)
    fills: list[tuple[Fill, str]] = field(default_factory=list)
    holdings: list[PaperHolding] = field(default_factory=list)


class PaperBook(Protocol):
    """Where a paper account's book lives."""

    def load(self, account: str, now: datetime) -> PaperAccountState:
        """The account's book (a new, empty one is created when there is none)."""
        ...

    def save(self, account: str, now: datetime, *, order_seq: int, fill_seq: int,
             orders: Sequence[tuple[Order, OrderState]], fills: Sequence[tuple[Fill, str]],
             holdings: Sequence[PaperHolding]) -> None:
        """Store the changes of one venue step in one transaction: the counters, the orders
        (new or updated), the new fills, the holdings that changed."""
        ...


__all__ = ["PaperAccountState", "PaperBook", "PaperHolding"]
