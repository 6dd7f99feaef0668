"""What the exit executor needs of a persistent book, and nothing more: small protocols the
store's repositories satisfy (``riskpilot.store.StoreLedger`` puts them together). The executor
depends on these, not on the store, so the execution layer imports no database code.

Prices are net premium per share; times are timezone-aware. See
:mod:`riskpilot.store.exits` and :mod:`riskpilot.store.orders` for the transactions behind
each call (intents before orders, fills applied once, a stage and an alert with the fill that
completes an exit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from riskpilot.model.enums import OrderType, PositionStatus, Priority
from riskpilot.model.order import Fill, Order
from riskpilot.model.position import Position
from riskpilot.model.status import ExitStatus, OrderState, OrderStatus


class ExitView(Protocol):
    """One exit as stored."""

    @property
    def id(self) -> int: ...
    @property
    def position_id(self) -> str: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def quantity(self) -> int: ...
    @property
    def tactic(self) -> str: ...
    @property
    def status(self) -> ExitStatus: ...
    @property
    def filled_quantity(self) -> int: ...
    @property
    def fill_price(self) -> float | None: ...
    @property
    def triggered_at(self) -> datetime: ...
    @property
    def executed_at(self) -> datetime | None: ...


class AttemptView(Protocol):
    """One order attempt of an exit as stored."""

    @property
    def attempt_no(self) -> int: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def limit_price(self) -> float | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def filled_quantity(self) -> int: ...
    @property
    def attempted_at(self) -> datetime: ...
    @property
    def tactic(self) -> str | None: ...


class StoredPositionView(Protocol):
    @property
    def position(self) -> Position: ...


class ExitBook(Protocol):
    """Exits and their attempts."""

    def begin_exit(self, position_id: str, *, reason: str, priority: Priority, quantity: int, tactic: str,
                   triggered_at: datetime, rule: str | None = None, unrealized_pnl_at_trigger: float | None = None,
                   stage: str | None = None) -> int: ...

    def get_exit(self, exit_id: int) -> ExitView: ...

    def exits_for(self, position_id: str) -> Sequence[ExitView]: ...

    def attempts_for(self, exit_id: int) -> Sequence[AttemptView]: ...

    def record_attempt(self, exit_id: int, order: Order, *, tactic: str | None = None) -> int: ...

    def set_tactic(self, exit_id: int, tactic: str) -> None: ...

    def fail_exit(self, exit_id: int, at: datetime) -> None: ...


class OrderBook(Protocol):
    """Order intents, orders as the broker reports them, and fills."""

    def has_intent(self, client_order_id: str) -> bool: ...

    def record_order(self, client_order_id: str, *, broker_order_id: str | None, status: OrderStatus,
                     at: datetime, reason: str | None = None) -> None: ...

    def update_from_broker(self, state: OrderState) -> None: ...

    def record_new(self, fills: Sequence[Fill]) -> list[str]: ...


class PositionBook(Protocol):
    """The positions still open."""

    def load_open(self, statuses: Iterable[PositionStatus] = ...) -> Sequence[StoredPositionView]: ...


class Ledger(Protocol):
    """The three books the executor writes: ``exits``, ``orders`` and ``positions``."""

    @property
    def exits(self) -> ExitBook: ...
    @property
    def orders(self) -> OrderBook: ...
    @property
    def positions(self) -> PositionBook: ...


__all__ = ["AttemptView", "ExitBook", "ExitView", "Ledger", "OrderBook", "PositionBook", "StoredPositionView"]
