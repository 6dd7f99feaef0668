"""The broker port: what the engine needs from a venue, and nothing more.

Every broker adapter (``riskpilot.brokers.paper``, ``riskpilot.brokers.ibkr``) implements
:class:`BrokerPort`. The engine only ever talks to this protocol, so a backtest, a paper run
and a live run are wired with different objects behind the same calls.

Semantics every implementation must honour
------------------------------------------

Idempotency
    An order is identified by its ``client_order_id`` (see :func:`riskpilot.model.client_order_id`).
    Placing an order whose client order id the broker already knows does **not** create a
    second order: ``place_order`` returns the existing order's current :class:`OrderState`.
    This makes "re-send after a timeout or a crash" safe.

Partial fills
    An order may fill in several executions. Each execution is reported once, as an
    :class:`OrderEvent` carrying a :class:`riskpilot.model.Fill` with a unique ``fill_id``;
    the order's state then says ``PARTIALLY_FILLED`` with ``filled_quantity`` < ``quantity``
    and keeps working until it fills, is cancelled, or is replaced. ``avg_fill_price`` is the
    quantity-weighted average over the fills so far.

Rejects
    A venue refusing an order is not an exception: ``place_order`` returns (and the event
    stream reports) a state with status ``REJECTED`` and ``reason`` set. Exceptions are kept
    for failures of the conversation itself (:class:`BrokerDisconnectedError`,
    :class:`BrokerTimeoutError`), after which the caller does not know whether the order
    arrived and must re-send the same client order id or ask ``order_status``.

Unknown ids
    ``cancel_order``, ``replace_order`` and ``order_status`` on a client order id the broker
    does not know raise :class:`UnknownOrderError`. Cancelling an order that is already
    final (filled, cancelled, rejected) returns its state unchanged.

Prices
    Net premium per share of one unit of the combo, positive (see :class:`riskpilot.model.Order`).

Optional capabilities
---------------------
A broker may also offer (each checked with ``isinstance`` by who needs it):

- :class:`ConnectionAware`: a connection that can drop (IB Gateway/TWS): its
  :class:`ConnectionState` and listeners told of every change, so a monitor holds while it is
  down and reconciles when it is back;
- :class:`OpenOrders`: the orders carrying a client order id that are working at the broker,
  so reconciliation can name the ones the store does not know;
- :class:`riskpilot.execution.ticks.TickRuleSource`: the tick grid of the contracts it trades.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from riskpilot.model.contract import Contract
from riskpilot.model.order import Fill, Order
from riskpilot.model.quote import Quote
from riskpilot.model.status import OrderEvent, OrderState, OrderStatus


class BrokerError(Exception):
    """Base class of the errors a broker adapter raises."""


class UnknownOrderError(BrokerError, KeyError):
    """The broker does not know this client order id."""

    def __init__(self, client_order_id: str) -> None:
        super().__init__(client_order_id)
        self.client_order_id = client_order_id

    def __str__(self) -> str:
        return (
            f"unknown order {self.client_order_id!r}: the broker has no order with this client "
            "order id (was it placed on another account or before a reset?)"
        )


class BrokerDisconnectedError(BrokerError):
    """The connection to the broker is down; nothing was sent or received."""


class BrokerTimeoutError(BrokerError):
    """The broker did not answer in time. The request may or may not have arrived: re-send
    with the same client order id (idempotent) or ask ``order_status``."""


class OrderModificationError(BrokerError):
    """A replace asked for something the order cannot become (final order, quantity below
    what already filled, a limit price on a market order)."""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """Net contracts held in one option or event contract (negative = short) and the average
    price per share (per contract for an event contract)."""

    contract: Contract
    quantity: int
    avg_price: float


@runtime_checkable
class BrokerPort(Protocol):
    """What the engine asks of a broker. All calls are coroutines; see the module docstring
    for partial fills, rejects, unknown ids and idempotency."""

    async def get_quotes(self, contracts: Sequence[Contract]) -> dict[Contract, Quote]:
        """Quotes for many contracts in one batched request. A contract the venue has no
        market for is absent from the result (never a made-up quote)."""
        ...

    async def place_order(self, order: Order) -> OrderState:
        """Send a single-leg or multi-leg (combo) order. Idempotent per client order id."""
        ...

    async def cancel_order(self, client_order_id: str) -> OrderState:
        """Cancel what is still working; raises :class:`UnknownOrderError` for an unknown id."""
        ...

    async def replace_order(
        self,
        client_order_id: str,
        *,
        limit_price: float | None = None,
        quantity: int | None = None,
    ) -> OrderState:
        """Modify a working order in place (same client order id): a new limit price (a
        price walk) and/or a new total quantity (not below what already filled)."""
        ...

    async def order_status(self, client_order_id: str) -> OrderState:
        """The order's current state; raises :class:`UnknownOrderError` for an unknown id."""
        ...

    def order_events(self) -> AsyncIterator[OrderEvent]:
        """Every order change from now on (acks, fills, cancels, rejects), in order."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Net positions held at the broker, for reconciliation."""
        ...

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        """Fills since ``since`` (all when None), oldest first, for reconciliation."""
        ...


class ConnectionState(enum.StrEnum):
    """``CONNECTED``: calls go through. ``DISCONNECTED``: every call raises
    :class:`BrokerDisconnectedError`. ``CONNECTING``: between the two, while the adapter
    resynchronises (calls are still refused)."""

    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"


#: ``listener(state, why)``: called on every change of a broker's connection state.
ConnectionListener = Callable[[ConnectionState, str], None]


@runtime_checkable
class ConnectionAware(Protocol):
    """A broker whose connection can drop and come back (see the module docstring)."""

    @property
    def connection_state(self) -> ConnectionState: ...

    def add_connection_listener(self, listener: ConnectionListener) -> None: ...


@runtime_checkable
class OpenOrders(Protocol):
    """A broker that lists the orders carrying a client order id that are working there."""

    async def open_orders(self) -> list[OrderState]: ...


class AlertSink(Protocol):
    """Where the executor raises alerts. ``kind`` is one of ``exit_executed``,
    ``exit_escalated``, ``exit_rejected``, ``exit_failed``, ``exit_suspended``; ``fields``
    carry at least ``position_id``, ``exit_id`` and ``priority`` (a Priority name)."""

    async def __call__(self, kind: str, message: str, **fields: Any) -> None: ...


__all__ = [
    "AlertSink",
    "BrokerDisconnectedError",
    "BrokerError",
    "BrokerPort",
    "BrokerPosition",
    "BrokerTimeoutError",
    "ConnectionAware",
    "ConnectionListener",
    "ConnectionState",
    "OpenOrders",
    "OrderEvent",
    "OrderModificationError",
    "OrderState",
    "OrderStatus",
    "UnknownOrderError",
]
