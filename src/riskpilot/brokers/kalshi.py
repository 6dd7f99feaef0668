"""Kalshi adapter: a :class:`riskpilot.execution.port.BrokerPort` for binary event contracts on
Kalshi's official SDK (``kalshi-python-async``; install the ``kalshi`` extra).

What it does, in the port's terms (``execution/port.py`` for the semantics):

- **Quotes** come in batches from ``GET /markets?tickers=...`` (``quote_batch_size`` tickers a
  call): each side's bid, and the other side's bid turned into its ask (``1 - q``);
  :meth:`KalshiBroker.order_book` reads a market's depth (``GET /markets/{ticker}/orderbook``).
  A market that is not open for trading has no quote (it is absent from the result).
- **Orders** carry our client order id. An event position's order is one leg, long one side:
  ``BUY`` buys it, ``SELL`` sells it (``reduce_only`` when closing). Limits go on the 1-cent
  grid rounded the way that never makes the order more aggressive (a buy down, a sell up);
  a limit outside 1-99 cents is REJECTED without being sent. A MARKET order is a limit at the
  far end of the range (99 cents to buy, 1 to sell), immediate-or-cancel: it takes what the
  book offers and never rests. A price walk (:meth:`replace_order`) amends the order in
  place; the venue's client order id then gets a suffix (``rp-...:1``).
- **Idempotency**: a client order id seen before returns that order's state; one the venue
  already holds (a re-send after a crash: HTTP 409) is looked up and returned. Unknown ids
  raise :class:`UnknownOrderError`. A venue refusal (HTTP 400) is a REJECTED state.
- **Fills** (``GET /portfolio/fills``) become :class:`riskpilot.model.Fill` with the fee of
  :func:`riskpilot.execution.fees.kalshi_fee` (maker or taker as the venue says, the series'
  fee type and multiplier from ``GET /series/{ticker}``) as the commission. The venue stopped
  echoing client order ids on fills in 2026, so fills are matched to orders by order id.
- **Positions** (``GET /portfolio/positions``): a positive count is YES contracts, a negative
  one NO contracts, each reported long on its side. **Settlements** (``GET
  /portfolio/settlements``) and :meth:`KalshiBroker.market_results` give the results the core's
  settlement step needs (:func:`riskpilot.model.event.settle_event_position`).
- **Rate**: every call waits on an aiolimiter limiter set from ``kalshi.max_api_calls_per_minute``
  (60 by default, under the venue's 600). An HTTP 429 is retried after the server's
  Retry-After (else an exponential back-off with jitter), up to ``kalshi.max_retries`` times;
  still refused, the call raises :class:`KalshiRateLimitedError` (nothing was executed).
- **Credentials** (:class:`KalshiCredentials`) are read from the environment or a key file and
  handed to the SDK's request signer; they are never logged, printed or stored.

Kalshi's REST API pushes nothing: :meth:`KalshiBroker.poll` refreshes the working orders and
publishes what changed to :meth:`order_events`; every other call publishes the changes it sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import aiohttp
from aiolimiter import AsyncLimiter
from kalshi_python_async.api.events_api import EventsApi
from kalshi_python_async.api.exchange_api import ExchangeApi
from kalshi_python_async.api.market_api import MarketApi
from kalshi_python_async.api.orders_api import OrdersApi
from kalshi_python_async.api.portfolio_api import PortfolioApi
from kalshi_python_async.api_client import ApiClient
from kalshi_python_async.auth import KalshiAuth
from kalshi_python_async.configuration import Configuration
from kalshi_python_async.exceptions import ApiException, ConflictException, NotFoundException
from kalshi_python_async.models.market import Market
from kalshi_python_async.models.order import Order as KOrder
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from riskpilot.brokers.kalshi_wire import (
    KalshiCredentials,
    KalshiCredentialsError,
    OrderBook,
    action_of,
    book_from_orderbook,
    contract_from_market,
    dollars,
    error_message,
    market_result,
    our_client_id,
    price_field,
    quote_from_market,
    rejected_state,
    retry_after_seconds,
    side_of,
    state_from_order,
    venue_client_id,
)
from riskpilot.config.event_contracts import KalshiConfig
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.execution.fees import KalshiFeeType, kalshi_fee
from riskpilot.execution.port import (
    BrokerDisconnectedError,
    BrokerError,
    BrokerPosition,
    BrokerTimeoutError,
    OrderEvent,
    OrderModificationError,
    OrderState,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.model.contract import EVENT_MAX_PRICE, Contract, EventContract
from riskpilot.model.enums import ContractSide, MarketResult, OrderType, Side
from riskpilot.model.event import limit_to_cents
from riskpilot.model.order import Fill, Order, OrderPurpose
from riskpilot.model.quote import Quote

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pages of ``GET /portfolio/orders`` searched for a client order id the adapter has not seen
#: (after a restart): 200 orders a page.
SEARCH_PAGES = 5
_PAGE = 200


class _Signer(KalshiAuth):
    """The SDK's request signer (:meth:`KalshiAuth.create_auth_headers`: RSA-PSS over timestamp,
    method and path) on a key already parsed: ``KalshiAuth.__init__`` would parse the PEM again,
    which costs a full RSA key check each time."""

    def __init__(self, credentials: KalshiCredentials) -> None:  # the parent's parsing is skipped
        self.key_id = credentials.key_id
        self.private_key = credentials.private_key


class KalshiApiError(BrokerError):
    """The venue answered a call with an error the port has no meaning for (status, code and
    message in the text; never a request header)."""


class KalshiAuthError(KalshiApiError):
    """HTTP 401/403: the request signature or the key was refused."""


class KalshiRateLimitedError(BrokerDisconnectedError):
    """Still answered HTTP 429 after every retry. The venue executed nothing: retry later."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 429


@dataclass(slots=True)
class _Tracked:
    """An order this adapter sent or found: what the port needs to answer for it."""

    client_order_id: str
    ticker: str
    side: ContractSide
    action: str
    quantity: int
    state: OrderState
    order_id: str | None = None
    amendments: int = 0
    position_id: str | None = None


@dataclass(frozen=True, slots=True)
class KalshiSettlement:
    """A market the account held at settlement: its result, the YES and NO contracts held,
    and the revenue paid (dollars)."""

    ticker: str
    event: str
    result: MarketResult
    yes_count: int
    no_count: int
    revenue: float
    settled_at: datetime


class KalshiBroker:
    """The Kalshi adapter (module docstring). Use as ``async with KalshiBroker(...) as b``
    (or call :meth:`close`): the SDK keeps an HTTP session open."""

    def __init__(
        self,
        config: KalshiConfig,
        credentials: KalshiCredentials,
        *,
        clock: Callable[[], datetime] = _wall_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limiter: AbstractAsyncContextManager[None] | None = None,
    ) -> None:
        """``clock`` stamps quotes; ``sleep`` waits out a 429 back-off; ``limiter`` replaces
        the real-time :class:`aiolimiter.AsyncLimiter` of ``config.max_api_calls_per_minute``
        (a replay passes one on its simulated clock, as for the monitor's quotes)."""
        self.config = config
        self.clock = clock
        self._sleep = sleep
        # retries=None: no retry inside the SDK; 429 back-off is ours (it honours Retry-After).
        client = ApiClient(Configuration(host=config.host, retries=None))
        # The SDK's signer (ApiClient.set_kalshi_auth would build it, but fails on a missing
        # import in kalshi-python-async 3.2.0), holding the key parsed once by the credentials.
        client.kalshi_auth = _Signer(credentials)  # type: ignore[assignment]  # the SDK types it as None
        self._client = client
        self._market = MarketApi(client)
        self._events = EventsApi(client)
        self._orders_api = OrdersApi(client)
        self._portfolio = PortfolioApi(client)
        self._exchange = ExchangeApi(client)
        self._limiter: AbstractAsyncContextManager[None] = limiter or AsyncLimiter(
            config.max_api_calls_per_minute, 60.0
        )
        self._backoff = wait_random_exponential(multiplier=0.5, max=config.max_backoff_seconds)
        self.api_calls: Counter[str] = Counter()
        self.waits: list[float] = []
        self._orders: dict[str, _Tracked] = {}
        self._by_order_id: dict[str, str] = {}
        self._markets: dict[str, Market] = {}
        self._series_of_event: dict[str, str] = {}
        self._fees: dict[str, tuple[KalshiFeeType, float]] = {}
        self._subscribers: list[asyncio.Queue[OrderEvent]] = []

    async def __aenter__(self) -> KalshiBroker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]  # the SDK leaves close() untyped

    # --- calls --------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        headers = exc.headers if isinstance(exc, ApiException) else None
        told = retry_after_seconds(headers)
        wait = min(told, self.config.max_backoff_seconds) if told is not None else float(self._backoff(state))
        self.waits.append(wait)
        log.info("Kalshi answered 429 (rate limited); retrying in %.2f s", wait)
        return wait

    async def _call(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One API call through the limiter, with the 429 back-off; transport failures become
        the port's errors, other venue errors propagate for the caller to map."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_rate_limited),
            wait=self._wait,
            stop=stop_after_attempt(self.config.max_retries + 1),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self._limiter:
                        self.api_calls[name] += 1
                        async with asyncio.timeout(self.config.request_timeout_seconds):
                            return await fn()
        except ApiException as exc:
            if exc.status == 429:
                raise KalshiRateLimitedError(
                    f"Kalshi {name}: still rate limited (HTTP 429) after {self.config.max_retries} retries"
                ) from None
            if exc.status in (401, 403):
                raise KalshiAuthError(
                    f"Kalshi {name}: HTTP {exc.status} {error_message(exc.body)} (check the API key id "
                    "and that the private key is the one registered for it)"
                ) from None
            if exc.status is not None and exc.status >= 500:
                # The venue failed mid-request: whether it acted is unknown, which is the port's
                # timeout (re-send with the same client order id, or ask order_status).
                raise BrokerTimeoutError(f"Kalshi {name}: HTTP {exc.status} {error_message(exc.body)}") from None
            raise
        except TimeoutError:
            raise BrokerTimeoutError(
                f"Kalshi {name}: no answer within {self.config.request_timeout_seconds:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise BrokerDisconnectedError(f"Kalshi {name}: {type(exc).__name__}: {exc}") from None
        raise RuntimeError("the retry loop ended without an outcome")  # tenacity reraises; never reached

    @staticmethod
    def _venue_error(name: str, exc: ApiException) -> KalshiApiError:
        return KalshiApiError(f"Kalshi {name}: HTTP {exc.status} {error_message(exc.body)}")

    # --- markets ----------------------------------------------------------------------------
    async def markets(self, tickers: Sequence[str]) -> dict[str, Market]:
        """Market summaries by ticker, ``quote_batch_size`` tickers a call (absent: unknown)."""
        unique = list(dict.fromkeys(tickers))
        out: dict[str, Market] = {}
        size = self.config.quote_batch_size
        for i in range(0, len(unique), size):
            batch = unique[i : i + size]
            call = partial(self._market.get_markets, tickers=",".join(batch), limit=len(batch))
            try:
                resp = await self._call("get_markets", call)
            except ApiException as exc:
                raise self._venue_error("get_markets", exc) from None
            for m in resp.markets:
                out[m.ticker] = m
                self._markets[m.ticker] = m
        return out

    async def get_quotes(self, contracts: Sequence[Contract]) -> dict[Contract, Quote]:
        """Quotes of the event contracts among ``contracts`` whose market is open (module
        docstring); others (options, closed or unknown markets) are absent."""
        wanted = [c for c in contracts if isinstance(c, EventContract)]
        if not wanted:
            return {}
        found = await self.markets([c.ticker for c in wanted])
        now = self.clock()
        out: dict[Contract, Quote] = {}
        for c in wanted:
            m = found.get(c.ticker)
            if m is not None and m.status == "active":
                out[c] = quote_from_market(c.side, m, now)
        return out

    async def order_book(self, contract: EventContract, depth: int = 10) -> OrderBook:
        """``contract``'s side of its market's book, ``depth`` levels a side."""
        call = partial(self._market.get_market_orderbook, ticker=contract.ticker, depth=depth)
        try:
            resp = await self._call("get_market_orderbook", call)
        except NotFoundException:
            raise KalshiApiError(f"Kalshi has no market {contract.ticker}") from None
        except ApiException as exc:
            raise self._venue_error("get_market_orderbook", exc) from None
        return book_from_orderbook(contract, resp.orderbook, self.clock())

    async def contracts(
        self, tickers: Sequence[str], side: ContractSide = ContractSide.YES
    ) -> dict[str, EventContract]:
        """Event contracts (``side``) for market tickers, with their series (one ``GET
        /events/{ticker}`` per event not seen before)."""
        missing = [t for t in dict.fromkeys(tickers) if t not in self._markets]
        if missing:
            await self.markets(missing)
        out: dict[str, EventContract] = {}
        for t in tickers:
            m = self._markets.get(t)
            if m is None:
                continue
            series = await self._series_of(m.event_ticker)
            out[t] = contract_from_market(m, series, side)
        return out

    async def _series_of(self, event: str) -> str:
        series = self._series_of_event.get(event)
        if series is None:
            try:
                resp = await self._call("get_event", partial(self._events.get_event, event_ticker=event))
            except ApiException as exc:
                raise self._venue_error("get_event", exc) from None
            series = self._series_of_event[event] = resp.event.series_ticker
        return series

    async def market_results(self, tickers: Sequence[str]) -> dict[str, MarketResult | None]:
        """Each market's result (``yes``, ``no``, ``void``), None while undetermined: what the
        core's settlement step settles event positions at."""
        found = await self.markets(tickers)
        return {t: market_result(found[t]) if t in found else None for t in tickers}

    async def _fee_terms(self, series: str) -> tuple[KalshiFeeType, float]:
        terms = self._fees.get(series)
        if terms is None:
            try:
                resp = await self._call("get_series", partial(self._market.get_series, series_ticker=series))
            except ApiException as exc:
                raise self._venue_error("get_series", exc) from None
            terms = self._fees[series] = (KalshiFeeType(resp.series.fee_type), float(resp.series.fee_multiplier))
        return terms

    # --- orders -----------------------------------------------------------------------------
    async def place_order(self, order: Order) -> OrderState:
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return await self.order_status(order.client_order_id)
        contract = _event_leg(order)
        now = self.clock()
        if order.order_type is OrderType.MARKET:
            # Marketable limit at the far end of the range, immediate-or-cancel: a market order.
            cents = round(EVENT_MAX_PRICE * 100) if order.side is Side.BUY else 1
            tif: str | None = "immediate_or_cancel"
        else:
            if order.limit_price is None:  # Order refuses a LIMIT without a price; the type checker wants it said
                raise ValueError(f"order {order.client_order_id}: a LIMIT order needs a limit_price")
            cents = limit_to_cents(order.limit_price, order.side)
            tif = None
        tracked = _Tracked(
            order.client_order_id, contract.ticker, contract.side, action_of(order.side), order.quantity,
            OrderState(order.client_order_id, "", OrderStatus.PENDING_SUBMIT, order.quantity, 0, None,
                       order.limit_price, now),
            position_id=order.position_id,
        )
        if not 1 <= cents <= 99:
            tracked.state = rejected_state(
                order.client_order_id, order.quantity, order.limit_price, now,
                f"limit {order.limit_price} is {cents} cents on the 1-cent grid; Kalshi takes 1-99 cents",
            )
            self._orders[order.client_order_id] = tracked
            self._publish(OrderEvent(tracked.state))
            return tracked.state
        body: dict[str, Any] = {
            "ticker": contract.ticker,
            "client_order_id": order.client_order_id,
            "side": contract.side.value,
            "action": action_of(order.side),
            "count": order.quantity,
            "type": "limit",
            price_field(contract.side): cents,
        }
        if tif is not None:
            body["time_in_force"] = tif
        if order.purpose is OrderPurpose.CLOSE and order.side is Side.SELL:
            body["reduce_only"] = True
        try:
            resp = await self._call("create_order", partial(self._orders_api.create_order, **body))
        except ConflictException:
            # Already at the venue (a re-send after a lost answer): that order is the answer.
            found = await self._find(order.client_order_id, contract.ticker)
            if found is None:
                raise KalshiApiError(
                    f"Kalshi refused client order id {order.client_order_id} as a duplicate, but no order "
                    "carries it"
                ) from None
            found.position_id = order.position_id
            return found.state
        except ApiException as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                tracked.state = rejected_state(
                    order.client_order_id, order.quantity, order.limit_price, now, error_message(exc.body)
                )
                self._orders[order.client_order_id] = tracked
                self._publish(OrderEvent(tracked.state))
                return tracked.state
            raise self._venue_error("create_order", exc) from None
        return self._track(tracked, resp.order)

    def _track(self, tracked: _Tracked, venue: KOrder) -> OrderState:
        tracked.order_id = venue.order_id
        self._orders[tracked.client_order_id] = tracked
        self._by_order_id[venue.order_id] = tracked.client_order_id
        return self._update(tracked, venue)

    def _update(self, tracked: _Tracked, venue: KOrder) -> OrderState:
        state = state_from_order(venue, tracked.client_order_id, self.clock(), quantity=tracked.quantity)
        if state != tracked.state:
            tracked.state = state
            self._publish(OrderEvent(state))
        return state

    async def _tracked(self, client_order_id: str) -> _Tracked:
        t = self._orders.get(client_order_id)
        if t is None:
            t = await self._find(client_order_id, None)
        if t is None:
            raise UnknownOrderError(client_order_id)
        return t

    async def _find(self, client_order_id: str, ticker: str | None) -> _Tracked | None:
        """Search the venue's orders for one of ours (newest first, :data:`SEARCH_PAGES`
        pages); track it when found."""
        cursor: str | None = None
        for _ in range(SEARCH_PAGES):
            call = partial(self._orders_api.get_orders, ticker=ticker, limit=_PAGE, cursor=cursor)
            try:
                resp = await self._call("get_orders", call)
            except ApiException as exc:
                raise self._venue_error("get_orders", exc) from None
            for o in resp.orders:
                if our_client_id(o.client_order_id) == client_order_id:
                    side = ContractSide.parse(o.side)
                    t = _Tracked(
                        client_order_id, o.ticker, side, o.action, o.initial_count,
                        state_from_order(o, client_order_id, self.clock()),
                        amendments=_amendments(o.client_order_id),
                    )
                    self._track(t, o)
                    return t
            cursor = resp.cursor or None
            if cursor is None:
                break
        return None

    async def order_status(self, client_order_id: str) -> OrderState:
        t = await self._tracked(client_order_id)
        if t.order_id is None:
            return t.state  # refused before it was sent
        try:
            resp = await self._call("get_order", partial(self._orders_api.get_order, order_id=t.order_id))
        except NotFoundException:
            raise UnknownOrderError(client_order_id) from None
        except ApiException as exc:
            raise self._venue_error("get_order", exc) from None
        return self._update(t, resp.order)

    async def cancel_order(self, client_order_id: str) -> OrderState:
        t = await self._tracked(client_order_id)
        if t.order_id is None or t.state.status.is_final:
            return t.state
        try:
            resp = await self._call("cancel_order", partial(self._orders_api.cancel_order, order_id=t.order_id))
        except NotFoundException:
            raise UnknownOrderError(client_order_id) from None
        except ApiException as exc:
            if exc.status == 400:  # already final at the venue (filled or cancelled meanwhile)
                return await self.order_status(client_order_id)
            raise self._venue_error("cancel_order", exc) from None
        return self._update(t, resp.order)

    async def replace_order(
        self, client_order_id: str, *, limit_price: float | None = None, quantity: int | None = None
    ) -> OrderState:
        """Amend a working order: a new limit (on the cent grid, rounded passively) and/or a
        new total quantity (not below what has filled)."""
        t = await self._tracked(client_order_id)
        state = await self.order_status(client_order_id)
        if state.status.is_final or t.order_id is None:
            raise OrderModificationError(f"order {client_order_id} is {state.status.value}: nothing to replace")
        if quantity is not None and quantity < state.filled_quantity:
            raise OrderModificationError(
                f"order {client_order_id}: quantity {quantity} is below the {state.filled_quantity} already filled"
            )
        side = side_of(t.action)
        cents = limit_to_cents(limit_price, side) if limit_price is not None else _cents(state.limit_price)
        if not 1 <= cents <= 99:
            raise OrderModificationError(f"order {client_order_id}: limit {limit_price} is {cents} cents, not 1-99")
        new_qty = quantity if quantity is not None else t.quantity
        body: dict[str, Any] = {
            "ticker": t.ticker,
            "side": t.side.value,
            "action": t.action,
            "client_order_id": venue_client_id(client_order_id, t.amendments),
            "updated_client_order_id": venue_client_id(client_order_id, t.amendments + 1),
            price_field(t.side): cents,
            "count": new_qty,
        }
        try:
            resp = await self._call("amend_order", partial(self._orders_api.amend_order, t.order_id, **body))
        except ApiException as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise OrderModificationError(
                    f"Kalshi refused to amend {client_order_id}: {error_message(exc.body)}"
                ) from None
            raise self._venue_error("amend_order", exc) from None
        t.amendments += 1
        t.quantity = new_qty
        if resp.order.order_id != t.order_id:
            self._by_order_id[resp.order.order_id] = client_order_id
            t.order_id = resp.order.order_id
        return self._update(t, resp.order)

    async def poll(self) -> list[OrderEvent]:
        """Refresh every working order (one call each) and return the changes, which
        :meth:`order_events` subscribers also receive."""
        seen: list[OrderEvent] = []
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            for cid, t in list(self._orders.items()):
                if t.order_id is not None and t.state.status.is_working:
                    await self.order_status(cid)
        finally:
            self._subscribers.remove(q)
        while not q.empty():
            seen.append(q.get_nowait())
        return seen

    async def order_events(self) -> AsyncIterator[OrderEvent]:
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.remove(q)

    def _publish(self, event: OrderEvent) -> None:
        for q in self._subscribers:
            q.put_nowait(event)

    # --- portfolio --------------------------------------------------------------------------
    async def executions(self, since: datetime | None = None) -> list[Fill]:
        """Fills since ``since`` (whole seconds: the venue filters by Unix time), oldest first,
        each with its fee as the commission."""
        min_ts = int(since.timestamp()) if since is not None else None
        out: list[Fill] = []
        cursor: str | None = None
        while True:
            call = partial(self._portfolio.get_fills, min_ts=min_ts, limit=_PAGE, cursor=cursor)
            try:
                resp = await self._call("get_fills", call)
            except ApiException as exc:
                raise self._venue_error("get_fills", exc) from None
            for f in resp.fills:
                when = f.created_time or datetime.fromtimestamp(f.ts or 0, UTC)
                if since is not None and when < since:
                    continue
                out.append(await self._fill(f, when))
            cursor = resp.cursor or None
            if cursor is None:
                break
        out.sort(key=lambda f: f.timestamp)
        return out

    async def _fill(self, f: Any, when: datetime) -> Fill:
        cid = self._by_order_id.get(f.order_id)
        if cid is None:
            try:
                resp = await self._call("get_order", partial(self._orders_api.get_order, order_id=f.order_id))
            except ApiException as exc:
                raise self._venue_error("get_order", exc) from None
            cid = our_client_id(resp.order.client_order_id)
            self._by_order_id[f.order_id] = cid
        side = ContractSide.parse(f.side)
        price = dollars(f.yes_price_fixed if side is ContractSide.YES else f.no_price_fixed)
        if price is None:
            raise KalshiApiError(f"Kalshi fill {f.fill_id} carries no price")
        contract = await self._contract_of(f.ticker, side)
        fee_type, multiplier = await self._fee_terms(contract.series)
        fee = kalshi_fee(price, f.count, maker=not f.is_taker, fee_type=fee_type, fee_multiplier=multiplier)
        tracked = self._orders.get(cid)
        return Fill(
            fill_id=f.fill_id,
            client_order_id=cid,
            quantity=f.count,
            price=price,
            timestamp=when,
            side=side_of(f.action),
            position_id=tracked.position_id if tracked is not None else None,
            commission=fee,
        )

    async def _contract_of(self, ticker: str, side: ContractSide) -> EventContract:
        got = await self.contracts([ticker], side)
        if ticker not in got:
            raise KalshiApiError(f"Kalshi has no market {ticker}")
        return got[ticker]

    async def positions(self) -> list[BrokerPosition]:
        """Net positions: YES contracts for a positive venue count, NO for a negative one;
        ``avg_price`` is the venue's market exposure over the count (dollars a contract)."""
        rows: list[tuple[str, int, float]] = []
        cursor: str | None = None
        while True:
            call = partial(self._portfolio.get_positions, count_filter="position", limit=_PAGE, cursor=cursor)
            try:
                resp = await self._call("get_positions", call)
            except ApiException as exc:
                raise self._venue_error("get_positions", exc) from None
            for p in resp.market_positions:
                if p.position != 0:
                    exposure = dollars(p.market_exposure_dollars) or 0.0
                    rows.append((p.ticker, p.position, exposure / abs(p.position)))
            cursor = resp.cursor or None
            if cursor is None:
                break
        # One batched GET /markets for every market not seen yet (not one call per position: a
        # restart with 200 open markets would otherwise spend minutes of the call budget here).
        await self.markets([t for t, _, _ in rows if t not in self._markets])
        out: list[BrokerPosition] = []
        for ticker, count, avg in rows:
            side = ContractSide.YES if count > 0 else ContractSide.NO
            out.append(BrokerPosition(await self._contract_of(ticker, side), abs(count), round(avg, 6)))
        return out

    async def settlements(self, since: datetime | None = None) -> list[KalshiSettlement]:
        """The account's settled markets since ``since``, oldest first."""
        min_ts = int(since.timestamp()) if since is not None else None
        out: list[KalshiSettlement] = []
        cursor: str | None = None
        while True:
            call = partial(self._portfolio.get_settlements, min_ts=min_ts, limit=_PAGE, cursor=cursor)
            try:
                resp = await self._call("get_settlements", call)
            except ApiException as exc:
                raise self._venue_error("get_settlements", exc) from None
            for s in resp.settlements:
                if s.market_result == "scalar":
                    raise KalshiApiError(f"{s.ticker} settled as a scalar market, which is not a binary contract")
                out.append(KalshiSettlement(
                    s.ticker, s.event_ticker, MarketResult.parse(s.market_result), s.yes_count, s.no_count,
                    s.revenue / 100.0, s.settled_time,
                ))
            cursor = resp.cursor or None
            if cursor is None:
                break
        return sorted(out, key=lambda s: s.settled_at)

    async def balance(self) -> tuple[float, float]:
        """(available balance, portfolio value), dollars."""
        try:
            resp = await self._call("get_balance", self._portfolio.get_balance)
        except ApiException as exc:
            raise self._venue_error("get_balance", exc) from None
        return resp.balance / 100.0, resp.portfolio_value / 100.0

    async def exchange_status(self) -> tuple[bool, bool]:
        """(exchange active, trading active)."""
        try:
            resp = await self._call("get_exchange_status", self._exchange.get_exchange_status)
        except ApiException as exc:
            raise self._venue_error("get_exchange_status", exc) from None
        return resp.exchange_active, resp.trading_active


def _event_leg(order: Order) -> EventContract:
    if len(order.legs) != 1 or not isinstance(order.legs[0].contract, EventContract) or order.legs[0].quantity != 1:
        raise ValueError(
            f"order {order.client_order_id}: Kalshi trades one event contract per order, held long on its "
            f"YES or NO side (one leg of quantity +1); got {[str(leg.contract) for leg in order.legs]}"
        )
    return order.legs[0].contract


def _amendments(venue_id: str) -> int:
    tail = venue_id.rpartition(":")[2]
    return int(tail) if ":" in venue_id and tail.isdigit() else 0


def _cents(price: float | None) -> int:
    return 0 if price is None else round(price * 100)


# --- broker check -------------------------------------------------------------------------------


async def kalshi_check_async(
    settings: RiskPilotConfig | KalshiConfig,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Lines for ``riskpilot broker check --broker kalshi``: where the credentials come from
    (never their values), the exchange's status, that the signed requests are accepted (the
    account balance), and the rate limit in force. A line starting ``FAIL`` says what to fix;
    the lines after a failure are skipped."""
    cfg = settings.kalshi if isinstance(settings, RiskPilotConfig) else settings
    lines = [f"Kalshi API: {cfg.host}"]
    try:
        creds = KalshiCredentials.load(cfg, environ)
    except KalshiCredentialsError as exc:
        return [*lines, f"FAIL credentials: {exc}"]
    lines.append(f"OK   credentials: read from {creds.origin} (not shown)")
    async with KalshiBroker(cfg, creds) as broker:
        try:
            exchange, trading = await broker.exchange_status()
            lines.append(
                f"OK   exchange: {'active' if exchange else 'INACTIVE'}, trading {'open' if trading else 'closed'}"
            )
            available, value = await broker.balance()
            lines.append(f"OK   signed requests accepted: balance ${available:,.2f}, portfolio ${value:,.2f}")
        except BrokerError as exc:
            return [*lines, f"FAIL {exc}"]
        lines.append(
            f"OK   rate limit: {cfg.max_api_calls_per_minute} calls a minute (venue ceiling 600), "
            f"{sum(broker.api_calls.values())} used by this check"
        )
    return lines


def kalshi_check(settings: RiskPilotConfig | KalshiConfig, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """:func:`kalshi_check_async` for synchronous callers (the command line)."""
    return asyncio.run(kalshi_check_async(settings, environ=environ))


__all__ = [
    "KalshiApiError",
    "KalshiAuthError",
    "KalshiBroker",
    "KalshiCredentials",
    "KalshiCredentialsError",
    "KalshiRateLimitedError",
    "KalshiSettlement",
    "OrderBook",
    "kalshi_check",
    "kalshi_check_async",
]
