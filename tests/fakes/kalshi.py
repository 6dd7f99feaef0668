"""A fake Kalshi Trade API v2 on loopback, for the adapter's tests and benchmark.

A small real HTTP server (aiohttp.web: the SDK's own transport is aiohttp, so no new
dependency) that answers the endpoints :mod:`riskpilot.brokers.kalshi` uses with the JSON
shapes of the official SDK's models, so the SDK's request signing, serialization and
decoding all run. Every request must carry a valid Kalshi signature: ``KALSHI-ACCESS-KEY``
naming the registered key id, ``KALSHI-ACCESS-TIMESTAMP`` (milliseconds, within 30 s) and
``KALSHI-ACCESS-SIGNATURE``, base64 RSA-PSS/SHA-256 (salt = digest length) over
``timestamp + METHOD + path``, checked against the test's public key; anything else is 401.

Scripting (all synchronous, between awaits):

- markets and books: :meth:`FakeKalshi.add_market` with YES and NO bid ladders in cents; an
  order that crosses the book fills against it at once (taker), level by level, and the rest
  rests (or is cancelled, immediate-or-cancel);
- :meth:`fill` a resting order (a counterparty hits it: maker), :meth:`reject_next` (the next
  new order gets HTTP 400 with a code), :meth:`throttle` (the next requests get HTTP 429
  with a Retry-After), :meth:`settle` a market at a result (positions paid, settlements
  recorded);
- ``requests`` lists every request (method, path, status) for assertions and call counts;
- ``clock`` stamps orders, fills and settlements (default: the wall clock; a test on a simulated
  clock hands its own, so that fills read "since" a simulated instant are found). Signatures
  are always checked against the wall clock, as the venue does.

Endpoints: GET /exchange/status, /portfolio/balance, /markets, /markets/{ticker}/orderbook,
/events/{event}, /series/{series}, /portfolio/orders, /portfolio/orders/{id},
/portfolio/fills, /portfolio/positions, /portfolio/settlements; POST /portfolio/orders,
/portfolio/orders/{id}/amend; DELETE /portfolio/orders/{id}.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

PREFIX = "/trade-api/v2"
MAX_CLOCK_SKEW_MS = 30_000
Json = dict[str, Any]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _d(cents: int | float) -> str:
    return f"{cents / 100:.4f}"


def fee_cents(count: int, price_cents: int, rate_bp: int = 700) -> int:
    """The schedule's fee in whole cents by integer arithmetic (independent of the adapter's
    decimal code): ceil(rate x C x P x (1 - P)) dollars with the rate in basis points (700 =
    0.07) and P = p/100 is ceil(rate_bp x C x p x (100 - p) / 10^6) cents."""
    return -(-rate_bp * count * price_cents * (100 - price_cents) // 1_000_000)


@dataclass
class FakeMarket:
    ticker: str
    event: str
    series: str
    close_time: datetime
    settlement_time: datetime
    yes_bids: list[tuple[int, int]] = field(default_factory=list)  # (cents, size)
    no_bids: list[tuple[int, int]] = field(default_factory=list)
    volume_24h: int = 1000
    status: str = "active"
    result: str = ""
    last_price: int = 0

    def best(self, side: str) -> int:
        ladder = self.yes_bids if side == "yes" else self.no_bids
        return max((p for p, n in ladder if n > 0), default=0)


@dataclass
class FakeOrder:
    order_id: str
    client_order_id: str
    ticker: str
    side: str
    action: str
    price: int  # cents of the order's side
    initial: int
    tif: str | None
    reduce_only: bool
    created: datetime
    fill_count: int = 0
    remaining: int = 0
    status: str = "resting"
    taker_cost: int = 0
    maker_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    updated: datetime | None = None


class FakeKalshi:
    """The fake venue (module docstring). ``async with FakeKalshi(key_id, public_key) as k``
    starts it on 127.0.0.1 at a free port; ``k.base_url`` is the SDK host to use."""

    def __init__(self, key_id: str, public_key: RSAPublicKey) -> None:
        self.key_id = key_id
        self.public_key = public_key
        self.markets: dict[str, FakeMarket] = {}
        self.fee_types: dict[str, tuple[str, float]] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.fills: list[Json] = []
        self.positions: dict[str, list[int]] = {}  # ticker -> [signed count (YES +, NO -), exposure cents, fees]
        self.settlement_rows: list[Json] = []
        self.requests: list[tuple[str, str, int]] = []
        self.balance_cents = 100_000_00
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._ids = itertools.count(1)
        self._throttle: list[str | None] = []
        self._rejects: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> FakeKalshi:
        app = web.Application(middlewares=[self._gate])
        r = app.router
        r.add_get(f"{PREFIX}/exchange/status", self._exchange_status)
        r.add_get(f"{PREFIX}/portfolio/balance", self._balance)
        r.add_get(f"{PREFIX}/markets", self._markets)
        r.add_get(f"{PREFIX}/markets/{{ticker}}/orderbook", self._orderbook)
        r.add_get(f"{PREFIX}/events/{{event}}", self._event)
        r.add_get(f"{PREFIX}/series/{{series}}", self._series)
        r.add_post(f"{PREFIX}/portfolio/orders", self._create)
        r.add_get(f"{PREFIX}/portfolio/orders", self._list_orders)
        r.add_get(f"{PREFIX}/portfolio/orders/{{order_id}}", self._get_order)
        r.add_delete(f"{PREFIX}/portfolio/orders/{{order_id}}", self._cancel)
        r.add_post(f"{PREFIX}/portfolio/orders/{{order_id}}/amend", self._amend)
        r.add_get(f"{PREFIX}/portfolio/fills", self._fills)
        r.add_get(f"{PREFIX}/portfolio/positions", self._positions)
        r.add_get(f"{PREFIX}/portfolio/settlements", self._settlements)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}{PREFIX}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting --------------------------------------------------------------------------
    def add_market(
        self,
        ticker: str,
        *,
        event: str,
        series: str,
        close_time: datetime,
        settlement_time: datetime | None = None,
        yes_bids: list[tuple[int, int]] | None = None,
        no_bids: list[tuple[int, int]] | None = None,
        volume_24h: int = 1000,
        fee_type: str = "quadratic",
        fee_multiplier: float = 1.0,
    ) -> FakeMarket:
        m = FakeMarket(ticker, event, series, close_time, settlement_time or close_time,
                       list(yes_bids or []), list(no_bids or []), volume_24h)
        self.markets[ticker] = m
        self.fee_types.setdefault(series, (fee_type, fee_multiplier))
        return m

    def throttle(self, n: int = 1, retry_after: str | None = "1") -> None:
        """The next ``n`` requests are answered 429 (with ``Retry-After: retry_after``)."""
        self._throttle.extend([retry_after] * n)

    def reject_next(self, code: str = "insufficient_balance", message: str = "not enough balance") -> None:
        self._rejects.append((code, message))

    def by_client_id(self, client_order_id: str) -> FakeOrder:
        for o in self.orders.values():
            if o.client_order_id.split(":")[0] == client_order_id:
                return o
        raise KeyError(client_order_id)

    def fill(self, client_order_id: str, count: int, *, price: int | None = None) -> None:
        """A counterparty hits our resting order for ``count`` contracts (maker fill)."""
        o = self.by_client_id(client_order_id)
        if o.status != "resting" or count > o.remaining:
            raise ValueError(f"order {client_order_id} is {o.status} with {o.remaining} left; cannot fill {count}")
        self._execute(o, count, price if price is not None else o.price, taker=False)

    def settle(self, ticker: str, result: str) -> None:
        m = self.markets[ticker]
        m.status, m.result = "settled", result
        pos = self.positions.pop(ticker, None)
        count = pos[0] if pos else 0
        yes_n, no_n = max(count, 0), max(-count, 0)
        revenue = 100 * (yes_n if result == "yes" else no_n if result == "no" else 0)
        self.balance_cents += revenue
        self.settlement_rows.append({
            "ticker": ticker, "event_ticker": m.event, "market_result": result,
            "yes_count": yes_n, "yes_total_cost": pos[1] if pos and count > 0 else 0,
            "no_count": no_n, "no_total_cost": pos[1] if pos and count < 0 else 0,
            "revenue": revenue, "settled_time": _iso(self.clock()), "fee_cost": _d(pos[2] if pos else 0),
            "value": 100 if result == "yes" else 0,
        })

    def calls(self, path_part: str = "", method: str | None = None) -> int:
        return sum(1 for m, p, _ in self.requests if path_part in p and (method is None or m == method))

    # --- the gate: signature, then rate limit ------------------------------------------------
    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        status = 500
        try:
            bad = self._auth_problem(request)
            if bad is not None:
                status = 401
                return _error(401, "authentication_error", bad)
            if self._throttle:
                retry_after = self._throttle.pop(0)
                status = 429
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                return _error(429, "too_many_requests", "rate limit exceeded", headers)
            resp: web.StreamResponse = await handler(request)
            status = resp.status
            return resp
        finally:
            self.requests.append((request.method, request.path, status))

    def _auth_problem(self, request: web.Request) -> str | None:
        key = request.headers.get("KALSHI-ACCESS-KEY")
        ts = request.headers.get("KALSHI-ACCESS-TIMESTAMP")
        sig = request.headers.get("KALSHI-ACCESS-SIGNATURE")
        if not key or not ts or not sig:
            return "missing KALSHI-ACCESS-* headers"
        if key != self.key_id:
            return "unknown API key"
        if not ts.isdigit() or abs(int(ts) - int(time.time() * 1000)) > MAX_CLOCK_SKEW_MS:
            return "timestamp outside the allowed window"
        try:
            self.public_key.verify(
                base64.b64decode(sig),
                (ts + request.method + request.path).encode(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "invalid signature"
        return None

    # --- market data --------------------------------------------------------------------------
    async def _exchange_status(self, request: web.Request) -> web.Response:
        return web.json_response({"exchange_active": True, "trading_active": True})

    async def _balance(self, request: web.Request) -> web.Response:
        return web.json_response({"balance": self.balance_cents, "portfolio_value": 0, "updated_ts": int(time.time())})

    async def _markets(self, request: web.Request) -> web.Response:
        wanted = request.query.get("tickers")
        names = wanted.split(",") if wanted else list(self.markets)
        limit = int(request.query.get("limit", "100"))
        rows = [self._market_json(self.markets[t]) for t in names if t in self.markets][:limit]
        return web.json_response({"markets": rows, "cursor": ""})

    def _market_json(self, m: FakeMarket) -> Json:
        yb, nb = m.best("yes"), m.best("no")
        ya, na = (100 - nb) if nb else 0, (100 - yb) if yb else 0
        t0 = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "ticker": m.ticker, "event_ticker": m.event, "market_type": "binary", "title": m.ticker,
            "subtitle": "", "yes_sub_title": "yes", "no_sub_title": "no", "created_time": t0, "open_time": t0,
            "close_time": _iso(m.close_time), "expected_expiration_time": _iso(m.settlement_time),
            "expiration_time": _iso(m.settlement_time), "latest_expiration_time": _iso(m.settlement_time),
            "settlement_timer_seconds": 60, "status": m.status, "response_price_units": "usd_cent",
            "yes_bid": yb, "yes_bid_dollars": _d(yb), "yes_ask": ya, "yes_ask_dollars": _d(ya),
            "no_bid": nb, "no_bid_dollars": _d(nb), "no_ask": na, "no_ask_dollars": _d(na),
            "last_price": m.last_price, "last_price_dollars": _d(m.last_price), "volume": m.volume_24h,
            "volume_24h": m.volume_24h, "result": m.result, "can_close_early": False, "open_interest": 0,
            "notional_value": 100, "notional_value_dollars": _d(100), "previous_yes_bid": 0,
            "previous_yes_bid_dollars": _d(0), "previous_yes_ask": 0, "previous_yes_ask_dollars": _d(0),
            "previous_price": 0, "previous_price_dollars": _d(0), "liquidity": 0, "liquidity_dollars": _d(0),
            "settlement_value": (100 if m.result == "yes" else 0) if m.result else None,
            "expiration_value": "", "category": "test", "risk_limit_cents": 0, "tick_size": 1,
            "rules_primary": "synthetic test market", "rules_secondary": "", "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        }

    async def _orderbook(self, request: web.Request) -> web.Response:
        m = self.markets.get(request.match_info["ticker"])
        if m is None:
            return _error(404, "not_found", "no such market")
        depth = int(request.query.get("depth", "0") or 0)

        def ladder(rows: list[tuple[int, int]]) -> list[tuple[int, int]]:
            live = sorted((p, n) for p, n in rows if n > 0)  # ascending: best bid last, as the venue sends
            return live[-depth:] if depth > 0 else live

        yes, no = ladder(m.yes_bids), ladder(m.no_bids)
        return web.json_response({"orderbook": {
            "yes_dollars": [[_d(p), str(n)] for p, n in yes],
            "no_dollars": [[_d(p), str(n)] for p, n in no],
        }})

    async def _event(self, request: web.Request) -> web.Response:
        name = request.match_info["event"]
        m = next((m for m in self.markets.values() if m.event == name), None)
        if m is None:
            return _error(404, "not_found", "no such event")
        return web.json_response({"event": {
            "event_ticker": name, "series_ticker": m.series, "sub_title": "", "title": name,
            "collateral_return_type": "binary", "mutually_exclusive": False, "category": "test",
            "available_on_brokers": False, "product_metadata": None,
        }, "markets": []})

    async def _series(self, request: web.Request) -> web.Response:
        name = request.match_info["series"]
        if name not in self.fee_types:
            return _error(404, "not_found", "no such series")
        fee_type, mult = self.fee_types[name]
        return web.json_response({"series": {
            "ticker": name, "frequency": "daily", "title": name, "category": "test", "tags": [],
            "settlement_sources": [], "contract_url": "", "contract_terms_url": "", "fee_type": fee_type,
            "fee_multiplier": mult, "additional_prohibitions": [],
        }})

    # --- orders -------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        ticker, side, action = body.get("ticker"), body.get("side"), body.get("action")
        count, cid = body.get("count"), body.get("client_order_id") or ""
        price = body.get("yes_price") if side == "yes" else body.get("no_price")
        m = self.markets.get(ticker)
        if m is None:
            return _error(404, "market_not_found", f"no market {ticker}")
        if side not in ("yes", "no") or action not in ("buy", "sell") or not isinstance(count, int) or count < 1:
            return _error(400, "invalid_parameters", "side, action and count are required")
        if not isinstance(price, int) or not 1 <= price <= 99:
            return _error(400, "invalid_price", "the price of the order's side must be 1-99 cents")
        if any(o.client_order_id == cid for o in self.orders.values()):
            return _error(409, "order_already_exists", f"an order with client_order_id {cid} exists")
        if self._rejects:
            code, message = self._rejects.pop(0)
            return _error(400, code, message)
        if m.status != "active":
            return _error(400, "market_closed", f"{ticker} is {m.status}")
        reduce_only = bool(body.get("reduce_only"))
        if reduce_only and self._would_grow(ticker, side, action, count):
            return _error(400, "reduce_only_violation", "the order would open or grow a position")
        now = self.clock()
        o = FakeOrder(f"ord-{next(self._ids):06d}", cid, ticker, side, action, price, count,
                      body.get("time_in_force"), reduce_only, now, remaining=count, updated=now)
        self.orders[o.order_id] = o
        self._match(o)
        if o.tif == "immediate_or_cancel" and o.remaining > 0:
            o.remaining = 0
            o.status = "executed" if o.fill_count == o.initial else "canceled"
        return web.json_response({"order": _order_json(o)}, status=201)

    def _would_grow(self, ticker: str, side: str, action: str, count: int) -> bool:
        held = self.positions.get(ticker, [0, 0, 0])[0]
        delta = _yes_delta(side, action, count)
        return abs(held + delta) > abs(held) or (held != 0 and (held + delta) * held < 0)

    def _match(self, o: FakeOrder) -> None:
        """Fill ``o`` against the book as far as its limit allows (taker)."""
        m = self.markets[o.ticker]
        if o.action == "buy":
            # Buying our side at p meets the other side's bids q with p + q >= 100, at 100 - q.
            ladder = m.no_bids if o.side == "yes" else m.yes_bids
            for i, (q, n) in sorted(enumerate(ladder), key=lambda x: -x[1][0]):
                if o.remaining == 0 or o.price + q < 100 or n == 0:
                    continue
                take = min(n, o.remaining)
                ladder[i] = (q, n - take)
                self._execute(o, take, 100 - q, taker=True)
        else:
            ladder = m.yes_bids if o.side == "yes" else m.no_bids
            for i, (b, n) in sorted(enumerate(ladder), key=lambda x: -x[1][0]):
                if o.remaining == 0 or b < o.price or n == 0:
                    continue
                take = min(n, o.remaining)
                ladder[i] = (b, n - take)
                self._execute(o, take, b, taker=True)

    def _execute(self, o: FakeOrder, count: int, price: int, *, taker: bool) -> None:
        now = self.clock()
        o.fill_count += count
        o.remaining -= count
        if o.remaining == 0:
            o.status = "executed"
        o.updated = now
        series = self.markets[o.ticker].series
        fee_type, mult = self.fee_types[series]
        if taker:
            fee = fee_cents(count, price, round(700 * mult))
            o.taker_cost += price * count
            o.taker_fees += fee
        else:
            fee = fee_cents(count, price, round(175 * mult)) if fee_type == "quadratic_with_maker_fees" else 0
            o.maker_cost += price * count
            o.maker_fees += fee
        self.markets[o.ticker].last_price = price if o.side == "yes" else 100 - price
        yes_price = price if o.side == "yes" else 100 - price
        fid = f"fill-{next(self._ids):06d}"
        self.fills.append({
            "fill_id": fid, "trade_id": fid, "order_id": o.order_id, "ticker": o.ticker, "market_ticker": o.ticker,
            "side": o.side, "action": o.action, "count": count, "price": yes_price / 100,
            "yes_price": yes_price, "no_price": 100 - yes_price, "yes_price_fixed": _d(yes_price),
            "no_price_fixed": _d(100 - yes_price), "is_taker": taker, "created_time": _iso(now),
            "ts": int(now.timestamp()),
        })
        pos = self.positions.setdefault(o.ticker, [0, 0, 0])
        delta = _yes_delta(o.side, o.action, count)
        held = pos[0]
        held_price = price if (o.side == "yes") == (delta > 0) else 100 - price
        if held == 0 or (held > 0) == (delta > 0):
            pos[1] += held_price * count
        else:
            avg = pos[1] / abs(held)
            pos[1] = max(round(pos[1] - avg * min(count, abs(held))), 0)
        pos[0] = held + delta
        pos[2] += fee
        if pos[0] == 0:
            pos[1] = 0

    async def _list_orders(self, request: web.Request) -> web.Response:
        ticker, status = request.query.get("ticker"), request.query.get("status")
        rows = [o for o in reversed(list(self.orders.values()))
                if (ticker is None or o.ticker == ticker) and (status is None or o.status == status)]
        start = int(request.query.get("cursor") or 0)
        limit = int(request.query.get("limit", "100"))
        page = rows[start : start + limit]
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return web.json_response({"orders": [_order_json(o) for o in page], "cursor": cursor})

    async def _get_order(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["order_id"])
        if o is None:
            return _error(404, "not_found", "no such order")
        return web.json_response({"order": _order_json(o)})

    async def _cancel(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["order_id"])
        if o is None:
            return _error(404, "not_found", "no such order")
        if o.status != "resting":
            return _error(400, "order_not_resting", f"order is {o.status}")
        reduced = o.remaining
        o.remaining, o.status, o.updated = 0, "canceled", self.clock()
        return web.json_response({"order": _order_json(o), "reduced_by": reduced})

    async def _amend(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["order_id"])
        if o is None:
            return _error(404, "not_found", "no such order")
        body = await request.json()
        if o.status != "resting":
            return _error(400, "order_not_resting", f"order is {o.status}")
        if body.get("client_order_id") != o.client_order_id:
            return _error(400, "client_order_id_mismatch", "client_order_id is not the order's current one")
        price = body.get("yes_price") if o.side == "yes" else body.get("no_price")
        count = body.get("count", o.fill_count + o.remaining)
        if not isinstance(price, int) or not 1 <= price <= 99 or count < o.fill_count:
            return _error(400, "invalid_parameters", "bad price or count")
        old = _order_json(o)
        o.client_order_id = body["updated_client_order_id"]
        o.price, o.remaining, o.updated = price, count - o.fill_count, self.clock()
        if o.remaining == 0:
            o.status = "executed"
        self._match(o)
        return web.json_response({"old_order": old, "order": _order_json(o)})

    # --- portfolio ----------------------------------------------------------------------------
    async def _fills(self, request: web.Request) -> web.Response:
        min_ts = int(request.query.get("min_ts") or 0)
        rows = [f for f in self.fills if f["ts"] >= min_ts]
        start = int(request.query.get("cursor") or 0)
        limit = int(request.query.get("limit", "100"))
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return web.json_response({"fills": rows[start : start + limit], "cursor": cursor})

    async def _positions(self, request: web.Request) -> web.Response:
        rows = [
            {"ticker": t, "total_traded": p[1], "total_traded_dollars": _d(p[1]), "position": p[0],
             "market_exposure": p[1], "market_exposure_dollars": _d(p[1]), "realized_pnl": 0,
             "realized_pnl_dollars": _d(0), "resting_orders_count": 0, "fees_paid": p[2], "fees_paid_dollars": _d(p[2])}
            for t, p in self.positions.items() if p[0] != 0 or request.query.get("count_filter") != "position"
        ]
        return web.json_response({"market_positions": rows, "event_positions": [], "cursor": ""})

    async def _settlements(self, request: web.Request) -> web.Response:
        return web.json_response({"settlements": list(self.settlement_rows), "cursor": ""})


def _yes_delta(side: str, action: str, count: int) -> int:
    """Change of the signed position (YES +, NO -) of a trade."""
    sign = 1 if action == "buy" else -1
    return sign * count if side == "yes" else -sign * count


def _order_json(o: FakeOrder) -> Json:
    yes_price = o.price if o.side == "yes" else 100 - o.price
    return {
        "order_id": o.order_id, "user_id": "user-1", "client_order_id": o.client_order_id, "ticker": o.ticker,
        "side": o.side, "action": o.action, "type": "limit", "status": o.status,
        "yes_price": yes_price, "no_price": 100 - yes_price, "yes_price_dollars": _d(yes_price),
        "no_price_dollars": _d(100 - yes_price), "fill_count": o.fill_count, "remaining_count": o.remaining,
        "initial_count": o.initial, "taker_fees": o.taker_fees, "maker_fees": o.maker_fees,
        "taker_fill_cost": o.taker_cost, "maker_fill_cost": o.maker_cost,
        "taker_fill_cost_dollars": _d(o.taker_cost), "maker_fill_cost_dollars": _d(o.maker_cost),
        "queue_position": 0, "taker_fees_dollars": _d(o.taker_fees), "maker_fees_dollars": _d(o.maker_fees),
        "created_time": _iso(o.created), "last_update_time": _iso(o.updated or o.created),
    }


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "service": "fake-kalshi"}},
                             status=status, headers=headers)
