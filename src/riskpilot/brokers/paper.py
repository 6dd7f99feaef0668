"""A paper broker: a real, usable venue that fills orders against a quote source.

It implements :class:`riskpilot.execution.port.BrokerPort` with the fill rules of
:mod:`riskpilot.execution.fills`, keeps its book (orders, fills, net positions) in the
relational store so a restart resumes where it stopped, and can inject the faults a real
venue shows (:class:`Faults`): latency, partial fills, rejects, timeouts, disconnects and
stale quotes. It counts every API call (``api_calls``), so the monitor's call budget can be
checked against it.

Quote sources (:mod:`riskpilot.brokers.paper_markets`, re-exported here) take the time from
the broker's clock: a scripted market, a seeded random walk, a replay of stored chains.

Prices on the tick grid: a limit is put on the grid of its class
(:func:`riskpilot.execution.ticks.rule_for_legs`, the table the backtest uses) in the direction
that does not make it more aggressive, as IB does with its market rules; a limit off the grid
whose direction (debit or credit) cannot be told without a two-sided quote on every leg is
REJECTED, as the IBKR adapter refuses it. :meth:`PaperBroker.tick_rule` tells the executor the
same grid, so the limits it records are the ones the venue works.

Timing: an order is matched when it is placed or replaced, and on every :meth:`PaperBroker.process`
(call it after the market moves, or let :meth:`PaperBroker.run` call it periodically). A
match fills at the fill model's price against the quotes of that instant.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from riskpilot.brokers.paper_book import PaperBook, PaperHolding
from riskpilot.brokers.paper_markets import (
    ChainReplaySource,
    Clock,
    DayChains,
    QuoteSource,
    RandomWalkMarket,
    ScriptedMarket,
    wall_clock,
)
from riskpilot.execution.fills import FillModel, MidSlippage, combo_price, fill_order
from riskpilot.execution.port import (
    BrokerDisconnectedError,
    BrokerPosition,
    BrokerTimeoutError,
    OrderEvent,
    OrderModificationError,
    OrderState,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.execution.ticks import TickRule, limit_on_grid, rule_for_contracts, rule_for_legs
from riskpilot.model.contract import Contract
from riskpilot.model.enums import OrderType, Side
from riskpilot.model.order import Fill, Order
from riskpilot.model.quote import Quote

# --- faults ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults to inject; rates are probabilities per order, drawn from the seed and the
    client order id (so a run repeats, and a venue restarted mid-run injects the same faults).

    - ``latency_seconds``: every call waits this long before it acts.
    - ``partial_fill_ratio``: each match fills at most ``ceil(ratio * remaining)`` units.
    - ``reject_rate`` / ``reject_client_ids``: new orders are REJECTED.
    - ``timeout_rate``: ``place_order`` accepts the order but raises BrokerTimeoutError (the
      caller cannot know it arrived: it must re-send the same client order id).
    - ``disconnected``: every call raises BrokerDisconnectedError and nothing happens.
    - ``stale_quotes_seconds``: quotes are served this many seconds old.
    """

    latency_seconds: float = 0.0
    partial_fill_ratio: float | None = None
    reject_rate: float = 0.0
    reject_client_ids: frozenset[str] = frozenset()
    timeout_rate: float = 0.0
    disconnected: bool = False
    stale_quotes_seconds: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_seconds", "stale_quotes_seconds"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"Faults.{name} must be a finite number >= 0, got {v!r}")
        for name in ("reject_rate", "timeout_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"Faults.{name} is a probability within [0, 1], got {v!r}")
        r = self.partial_fill_ratio
        if r is not None and not 0 < r <= 1:
            raise ValueError(f"Faults.partial_fill_ratio must be within (0, 1], got {r!r}")


# --- the broker ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Book:
    order: Order
    state: OrderState


@dataclass(slots=True)
class _Holding:
    contract: Contract
    quantity: int
    avg_price: float


@dataclass(slots=True)
class _Changes:
    orders: list[_Book] = field(default_factory=list)
    fills: list[tuple[Fill, str]] = field(default_factory=list)
    holdings: list[_Holding] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)


class PaperBroker:
    """A simulated venue implementing :class:`riskpilot.execution.port.BrokerPort`; its book
    persists in ``book`` (:class:`riskpilot.brokers.paper_book.PaperBook`; the store's is
    ``riskpilot.store.StorePaperBook``), so a restart resumes it."""

    def __init__(
        self,
        book: PaperBook,
        source: QuoteSource,
        *,
        account: str = "paper",
        fill_model: FillModel | None = None,
        faults: Faults | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        if not account or len(account) > 32:
            raise ValueError(f"account must be a non-empty name of at most 32 characters, got {account!r}")
        self.book = book
        self.source = source
        self.account = account
        self.fill_model = fill_model or FillModel()
        self.clock = clock
        self.api_calls: Counter[str] = Counter()
        self._faults = faults or Faults()
        self._orders: dict[str, _Book] = {}
        self._fills: list[Fill] = []
        self._holdings: dict[Contract, _Holding] = {}
        self._order_seq = 0
        self._fill_seq = 0
        self._subscribers: list[asyncio.Queue[OrderEvent]] = []
        self._lock = asyncio.Lock()
        self._load()

    # --- configuration -------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Change the injected faults."""
        self._faults = faults

    def _draw(self, fault: str, client_order_id: str) -> float:
        """A uniform draw in [0, 1) fixed by the seed, the fault and the order: whether an
        order is rejected or times out does not depend on what came before it, so a venue
        restarted mid-run (a kill test) injects exactly the faults an uninterrupted one does."""
        return random.Random(f"{self._faults.seed}|{fault}|{client_order_id}").random()

    @property
    def total_api_calls(self) -> int:
        return sum(self.api_calls.values())

    # --- persistence ---------------------------------------------------------------------
    def _load(self) -> None:
        state = self.book.load(self.account, self.clock())
        self._order_seq, self._fill_seq = state.order_seq, state.fill_seq
        for order, st in state.orders:
            self._orders[order.client_order_id] = _Book(order, st)
        self._fills = [f for f, _ in state.fills]
        for h in state.holdings:
            self._holdings[h.contract] = _Holding(h.contract, h.quantity, h.avg_price)

    def _persist(self, ch: _Changes) -> None:
        self.book.save(
            self.account, self.clock(), order_seq=self._order_seq, fill_seq=self._fill_seq,
            orders=[(b.order, b.state) for b in ch.orders], fills=ch.fills,
            holdings=[PaperHolding(h.contract, h.quantity, h.avg_price) for h in ch.holdings],
        )

    def _publish(self, events: list[OrderEvent]) -> None:
        for e in events:
            for q in self._subscribers:
                q.put_nowait(e)

    # --- call plumbing -------------------------------------------------------------------
    async def _enter(self, name: str) -> None:
        self.api_calls[name] += 1
        if self._faults.disconnected:
            raise BrokerDisconnectedError(f"paper broker {self.account!r}: disconnected (injected fault)")
        if self._faults.latency_seconds:
            await asyncio.sleep(self._faults.latency_seconds)

    # --- port: quotes --------------------------------------------------------------------
    async def get_quotes(self, contracts: Sequence[Contract]) -> dict[Contract, Quote]:
        await self._enter("get_quotes")
        now = self.clock()
        quotes = self.source.quotes(list(dict.fromkeys(contracts)), now)
        age = self._faults.stale_quotes_seconds
        if age:
            stamp = now - timedelta(seconds=age)
            quotes = {c: replace(q, timestamp=stamp) for c, q in quotes.items()}
        return quotes

    # --- port: orders --------------------------------------------------------------------
    async def place_order(self, order: Order) -> OrderState:
        await self._enter("place_order")
        async with self._lock:
            existing = self._orders.get(order.client_order_id)
            if existing is not None:
                return existing.state  # idempotent re-send
            now = self.clock()
            self._order_seq += 1
            broker_id = f"{self.account}-O{self._order_seq:08d}"
            order, off_grid = self._on_grid(order, order.limit_price)
            reject = off_grid is not None or order.client_order_id in self._faults.reject_client_ids or (
                self._faults.reject_rate > 0 and self._draw("reject", order.client_order_id) < self._faults.reject_rate
            )
            state = OrderState(
                client_order_id=order.client_order_id,
                broker_order_id=broker_id,
                status=OrderStatus.REJECTED if reject else OrderStatus.SUBMITTED,
                quantity=order.quantity,
                filled_quantity=0,
                avg_fill_price=None,
                limit_price=order.limit_price,
                updated_at=now,
                reason=off_grid or ("rejected by the paper venue (injected fault)" if reject else None),
            )
            book = _Book(order, state)
            self._orders[order.client_order_id] = book
            ch = _Changes(orders=[book], events=[OrderEvent(state)])
            if not reject:
                self._match(book, ch)
            self._persist(ch)
            self._publish(ch.events)
            timed_out = (self._faults.timeout_rate > 0
                         and self._draw("timeout", order.client_order_id) < self._faults.timeout_rate)
        if timed_out:
            raise BrokerTimeoutError(
                f"paper broker {self.account!r}: no answer for order {order.client_order_id!r} "
                "(injected timeout; the order did arrive: re-send it or ask order_status)"
            )
        return book.state

    async def tick_rule(self, contracts: Sequence[Contract]) -> TickRule:
        """The grid limits on these contracts are worked on (the class table; not an API call)."""
        return rule_for_contracts(contracts)

    def _on_grid(self, order: Order, limit: float | None) -> tuple[Order, str | None]:
        """``order`` with ``limit`` (its new limit, None: unchanged) on the tick grid, or why
        it cannot be put there."""
        if limit is None or order.order_type is not OrderType.LIMIT:
            return order, None
        rule = rule_for_legs(order.legs)
        if rule.on_grid(limit):
            return order, None
        trades = [leg.quantity * (1 if order.side is Side.BUY else -1) for leg in order.legs]
        pays: bool | None = True if all(t > 0 for t in trades) else False if all(t < 0 for t in trades) else None
        if pays is None:
            priced = combo_price(order.legs, order.side, self.source.quotes([leg.contract for leg in order.legs],
                                                                            self.clock()), MidSlippage())
            if isinstance(priced, str):
                return order, (f"limit {limit:g} is off the {rule.describe()} grid and, with {priced}, cannot be "
                               "told a debit or a credit to round it the safe way; not accepted")
            pays = priced.pays
        return replace(order, limit_price=limit_on_grid(limit, rule, pays=pays)), None

    def _known(self, client_order_id: str) -> _Book:
        book = self._orders.get(client_order_id)
        if book is None:
            raise UnknownOrderError(client_order_id)
        return book

    async def cancel_order(self, client_order_id: str) -> OrderState:
        await self._enter("cancel_order")
        async with self._lock:
            book = self._known(client_order_id)
            if book.state.status.is_final:
                return book.state
            book.state = replace(
                book.state, status=OrderStatus.CANCELLED, updated_at=self.clock(), reason="cancelled by client"
            )
            ch = _Changes(orders=[book], events=[OrderEvent(book.state)])
            self._persist(ch)
            self._publish(ch.events)
            return book.state

    async def replace_order(
        self,
        client_order_id: str,
        *,
        limit_price: float | None = None,
        quantity: int | None = None,
    ) -> OrderState:
        await self._enter("replace_order")
        async with self._lock:
            book = self._known(client_order_id)
            if book.state.status.is_final:
                raise OrderModificationError(
                    f"order {client_order_id!r} is {book.state.status.value}; only working orders can be replaced"
                )
            if limit_price is not None and book.order.order_type is not OrderType.LIMIT:
                raise OrderModificationError(f"order {client_order_id!r} is a MARKET order and takes no limit price")
            if quantity is not None and quantity < max(book.state.filled_quantity, 1):
                raise OrderModificationError(
                    f"order {client_order_id!r}: new quantity {quantity} is below the "
                    f"{book.state.filled_quantity} already filled (or below 1)"
                )
            new_order = replace(
                book.order,
                limit_price=book.order.limit_price if limit_price is None else limit_price,
                quantity=book.order.quantity if quantity is None else quantity,
            )
            new_order, off_grid = self._on_grid(new_order, limit_price)
            if off_grid is not None:
                raise OrderModificationError(f"order {client_order_id!r}: {off_grid}")
            done = book.state.filled_quantity >= new_order.quantity
            book.order = new_order
            book.state = replace(
                book.state,
                quantity=new_order.quantity,
                limit_price=new_order.limit_price,
                status=OrderStatus.FILLED if done else book.state.status,
                updated_at=self.clock(),
            )
            ch = _Changes(orders=[book], events=[OrderEvent(book.state)])
            if not done:
                self._match(book, ch)
            self._persist(ch)
            self._publish(ch.events)
            return book.state

    async def order_status(self, client_order_id: str) -> OrderState:
        await self._enter("order_status")
        return self._known(client_order_id).state

    async def open_orders(self) -> list[OrderState]:
        """Every order still working at the venue."""
        await self._enter("open_orders")
        return [b.state for b in self._orders.values() if b.state.status.is_working]

    async def order_events(self) -> AsyncIterator[OrderEvent]:
        """Every order event from the moment of subscription, as an async iterator."""
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.remove(q)

    def subscribe(self) -> asyncio.Queue[OrderEvent]:
        """A queue that receives every order event from now on (the non-generator form)."""
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        return q

    async def positions(self) -> list[BrokerPosition]:
        await self._enter("positions")
        return [BrokerPosition(h.contract, h.quantity, h.avg_price) for h in self._holdings.values() if h.quantity != 0]

    def expire(self, contracts: Sequence[Contract]) -> None:
        """Expiration: the account no longer holds ``contracts`` (settled in cash, or
        exercised/assigned and the shares taken as closed at once, as the backtest settles).
        Not a broker call; a replay calls it when it settles an expiring position."""
        ch = _Changes()
        for c in contracts:
            h = self._holdings.get(c)
            if h is not None and h.quantity != 0:
                h.quantity = 0
                ch.holdings.append(h)
        if ch.holdings:
            self._persist(ch)

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        await self._enter("executions")
        return [f for f in self._fills if since is None or f.timestamp >= since]

    # --- matching ------------------------------------------------------------------------
    async def process(self) -> list[OrderEvent]:
        """Match every working order against the current quotes; returns the events. Not
        counted as an API call: it is the venue's own matching, not a client request."""
        if self._faults.disconnected:
            return []
        async with self._lock:
            ch = _Changes()
            for book in self._orders.values():
                if book.state.status.is_working:
                    self._match(book, ch)
            if ch.orders:
                self._persist(ch)
                self._publish(ch.events)
            return ch.events

    async def run(self, interval_seconds: float, stop: asyncio.Event) -> None:
        """Match working orders every ``interval_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            await self.process()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except TimeoutError:
                continue

    def _match(self, book: _Book, ch: _Changes) -> None:
        remaining = book.state.remaining
        if remaining <= 0:
            return
        now = self.clock()
        quotes = self.source.quotes([leg.contract for leg in book.order.legs], now)
        result = fill_order(book.order, quotes, self.fill_model, quantity=remaining)
        qty = result.filled_quantity
        ratio = self._faults.partial_fill_ratio
        if ratio is not None and qty > 0:
            qty = min(qty, max(1, math.ceil(ratio * remaining)))
        if qty == 0 or result.price is None:
            return
        self._fill_seq += 1
        commission = result.commission * qty / result.filled_quantity
        fill = Fill(
            fill_id=f"{self.account}-F{self._fill_seq:08d}",
            client_order_id=book.order.client_order_id,
            quantity=qty,
            price=result.price,
            timestamp=now,
            side=book.order.side,
            position_id=book.order.position_id,
            commission=commission,
        )
        st = book.state
        filled = st.filled_quantity + qty
        avg = ((st.avg_fill_price or 0.0) * st.filled_quantity + result.price * qty) / filled
        book.state = replace(
            st,
            filled_quantity=filled,
            avg_fill_price=avg,
            status=OrderStatus.FILLED if filled == st.quantity else OrderStatus.PARTIALLY_FILLED,
            updated_at=now,
        )
        self._fills.append(fill)
        ch.fills.append((fill, st.broker_order_id))
        if book not in ch.orders:
            ch.orders.append(book)
        ch.events.append(OrderEvent(book.state, fill))
        sign = 1 if book.order.side is Side.BUY else -1
        for leg, px in zip(book.order.legs, result.leg_prices, strict=True):
            ch.holdings.append(self._apply_holding(leg.contract, sign * leg.quantity * qty, px))

    def _apply_holding(self, contract: Contract, delta: int, price: float) -> _Holding:
        h = self._holdings.get(contract)
        if h is None:
            h = _Holding(contract, 0, 0.0)
            self._holdings[contract] = h
        new_qty = h.quantity + delta
        if h.quantity == 0 or (h.quantity > 0) == (delta > 0):
            h.avg_price = (abs(h.quantity) * h.avg_price + abs(delta) * price) / abs(new_qty)
        elif new_qty != 0 and (new_qty > 0) != (h.quantity > 0):
            h.avg_price = price  # flipped through zero: the rest opened at this price
        h.quantity = new_qty
        return h

    def snapshot(self) -> dict[str, Any]:
        """Counts for logs and tests: orders by status, fills, API calls."""
        by_status = Counter(b.state.status.value for b in self._orders.values())
        return {"orders": dict(by_status), "fills": len(self._fills), "api_calls": dict(self.api_calls)}


__all__ = [
    "ChainReplaySource",
    "DayChains",
    "Faults",
    "PaperBroker",
    "QuoteSource",
    "RandomWalkMarket",
    "ScriptedMarket",
    "wall_clock",
]
