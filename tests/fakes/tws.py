"""A fake TWS / IB Gateway on loopback speaking the TWS API wire protocol.

The real ``ib_async`` client connects to it and runs unchanged: the handshake (``API\\0`` and a
``v157..178`` version range, answered with the negotiated server version and a connection
time), ``startApi``, managed accounts and next valid id, then every request ``ib_async``
makes at connect (positions, open and completed orders, account updates, executions) and the
ones an adapter uses: contract details, market rules, market data (streaming and snapshots,
with the market data type so frozen or delayed data can be scripted), positions, place /
modify / cancel order, open orders, order status, execution details, commission reports and
error messages. Field orders follow ``ib_async``'s ``decoder.py`` and ``client.py`` for server
version 178 (the highest ``ib_async`` 2.1 asks for); the message ids are the TWS API's.

Scripting (from a test, in the same event loop):

- contracts: :meth:`FakeTws.add_option`, :meth:`FakeTws.add_stock`, :meth:`FakeTws.add_market_rule`;
- quotes over time: :meth:`FakeTws.set_quote` (pushed to streaming subscribers at once);
- how orders fill: a :class:`FillPlan` per order (``plan_next`` for the next orders placed,
  ``plan_for(order_ref)``, or ``default_plan``): marketable-against-quotes, at once, in
  partial chunks, never, or rejected with an IB code and message, after a latency;
- the connection: :meth:`FakeTws.drop_connections` (sockets closed under the client),
  :meth:`FakeTws.broadcast_error` (1100/1102 connectivity messages), :meth:`FakeTws.pause`
  and :meth:`FakeTws.resume` (nothing listening, then listening again on the same port).

Time: execution times come from ``clock`` (the wall clock by default; a test on simulated time
passes its own), so fills carry the time of the market they happened in.

Simplifications, deliberate: one account; reqExecutions answers every execution of the
account whatever the filter's client id (as for a master client); combo fills price each leg
at its quote's mid shifted so the legs net to the combo price; commissions are a flat amount
per contract; positions move with fills at the fill price.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

SERVER_VERSION = 178
UNSET = 1.7976931348623157e308
BAG_CON_ID = 28812380  # IB's conId for BAG contracts in executions

# Message ids, server -> client (TWS API "IN" ids)
TICK_PRICE, TICK_SIZE, ORDER_STATUS, ERR_MSG, OPEN_ORDER = 1, 2, 3, 4, 5
ACCT_VALUE, PORTFOLIO_VALUE, ACCT_UPDATE_TIME, NEXT_VALID_ID, CONTRACT_DATA = 6, 7, 8, 9, 10
EXECUTION_DATA, MANAGED_ACCTS, CURRENT_TIME, CONTRACT_DATA_END, OPEN_ORDER_END = 11, 15, 49, 52, 53
ACCT_DOWNLOAD_END, EXECUTION_DATA_END, TICK_SNAPSHOT_END, MARKET_DATA_TYPE = 54, 55, 57, 58
COMMISSION_REPORT, POSITION_DATA, POSITION_END, ACCOUNT_SUMMARY, ACCOUNT_SUMMARY_END = 59, 61, 62, 63, 64
ACCOUNT_UPDATE_MULTI, ACCOUNT_UPDATE_MULTI_END, MARKET_RULE = 73, 74, 93
COMPLETED_ORDER, COMPLETED_ORDERS_END = 101, 102

Mode = Literal["marketable", "immediate", "partial", "never", "reject"]


@dataclass(frozen=True)
class FillPlan:
    """How the fake works one order.

    - ``marketable`` (the default): a market order fills at once at the natural price; a limit
      fills (at the natural price) when it crosses the natural price of the quotes, now or when
      quotes or the limit change.
    - ``immediate``: fills in full at once, at the limit (or the natural price for a market order).
    - ``partial``: fills ``units`` (one execution each, ``interval`` seconds apart), then
      behaves as ``then``.
    - ``never``: rests until cancelled.
    - ``reject``: answered with error ``code`` / ``message`` and cancelled, nothing filled.

    ``delay`` seconds pass before the fake acknowledges (or rejects) the order.
    """

    mode: Mode = "marketable"
    units: tuple[int, ...] = ()
    interval: float = 0.0
    then: Mode = "never"
    code: int = 201
    message: str = "Order rejected - reason: scripted reject"
    delay: float = 0.0


@dataclass
class FakeContract:
    con_id: int
    symbol: str
    sec_type: str
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    trading_class: str = ""
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    local_symbol: str = ""
    min_tick: float = 0.01
    market_rule: int = 110
    valid_exchanges: str = "SMART,CBOE"

    def wire(self) -> list[object]:
        """The 12 contract fields as ``ib_async`` writes and reads them."""
        return [self.con_id, self.symbol, self.sec_type, self.expiry, self.strike if self.sec_type in ("OPT", "FOP")
                else 0.0, self.right, self.multiplier, self.exchange, self.primary_exchange, self.currency,
                self.local_symbol, self.trading_class]


@dataclass
class FakeQuote:
    bid: float | None
    ask: float | None
    bid_size: float = 10.0
    ask_size: float = 10.0
    volume: float | None = 500.0
    data_type: int = 1  # 1 live, 2 frozen, 3 delayed, 4 delayed-frozen


@dataclass
class ComboLegSpec:
    con_id: int
    ratio: int
    action: str


@dataclass
class FakeExecution:
    exec_id: str
    order: FakeOrder
    contract: FakeContract | None  # None: the BAG summary execution
    side: str
    shares: float
    price: float
    time: datetime
    cum_qty: float
    avg_price: float
    commission: float


@dataclass
class FakeOrder:
    order_id: int
    client_id: int
    perm_id: int
    contract: list[str]
    legs: list[ComboLegSpec]
    action: str
    quantity: float
    order_type: str
    lmt: float | None
    tif: str
    account: str
    order_ref: str
    plan: FillPlan
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_price: float = 0.0
    last_price: float = 0.0
    cancelled_by_client: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def is_bag(self) -> bool:
        return self.contract[2] == "BAG"

    @property
    def done(self) -> bool:
        return self.status in ("Filled", "Cancelled", "Inactive")

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    version: int = SERVER_VERSION
    client_id: int | None = None
    market_data_type: int = 1
    streams: dict[int, int] = field(default_factory=dict)  # reqId -> conId (streaming lines)


def _enc(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return "" if v == UNSET else repr(v)
    return str(v)


class FakeTws:
    """The fake gateway. ``await start()`` listens on 127.0.0.1 (port 0: a free port, read
    ``port``); ``await stop()`` closes everything."""

    def __init__(self, *, account: str = "DU1234567", server_version: int = SERVER_VERSION,
                 commission_per_contract: float = 0.65, net_liquidation: float = 250_000.0,
                 buying_power: float = 1_000_000.0, clock: Callable[[], datetime] | None = None) -> None:
        self.account = account
        #: Execution times come from here (a test on simulated time passes its clock).
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.server_version = server_version
        self.commission_per_contract = commission_per_contract
        self.account_values = {"NetLiquidation": net_liquidation, "BuyingPower": buying_power,
                               "TotalCashValue": net_liquidation, "AvailableFunds": net_liquidation * 0.8}
        self.port = 0
        self.contracts: dict[int, FakeContract] = {}
        self.market_rules: dict[int, list[tuple[float, float]]] = {
            110: [(0.0, 0.05), (3.0, 0.10)], 239: [(0.0, 0.01)], 32: [(0.0, 0.01), (3.0, 0.05)]}
        self.quotes: dict[int, FakeQuote] = {}
        self.positions: dict[int, tuple[float, float]] = {}  # conId -> (qty, avg cost per contract)
        self.orders: dict[int, FakeOrder] = {}  # by permId
        self.executions: list[FakeExecution] = []
        self.default_plan = FillPlan()
        self.send_bag_execution = True
        self.inbound: Counter[int] = Counter()
        self.outbound: Counter[int] = Counter()
        self.placed: list[tuple[str, str, float | None]] = []  # (orderRef, "new"|"modify", lmt) on the wire
        self._plans_next: list[FillPlan] = []
        self._plans_by_ref: dict[str, FillPlan] = {}
        self._next_order_id: dict[int, int] = {}
        self._sessions: list[_Session] = []
        self._server: asyncio.Server | None = None
        self._con_ids = itertools.count(700_000_001)
        self._perm_ids = itertools.count(1_900_000_001)
        self._exec_seq = itertools.count(1)
        self.add_stock("SPY", con_id=756733, market_rule=239)

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        await self.pause()
        for o in self.orders.values():
            if o.task is not None:
                o.task.cancel()

    async def pause(self) -> None:
        """Stop listening and drop every connection: the gateway went away from the client,
        while IB works on: orders received are acknowledged and fill by their plans."""
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def resume(self) -> None:
        """Listen again on the same port."""
        await self.start()

    def drop_connections(self) -> None:
        """Close every client socket abruptly (as a gateway restart or a network cut does)."""
        for s in list(self._sessions):
            s.writer.transport.abort()
        self._sessions.clear()

    @property
    def connected_clients(self) -> list[int]:
        return [s.client_id for s in self._sessions if s.client_id is not None]

    # --- scripting ---------------------------------------------------------------------------
    def add_option(self, symbol: str, expiry: date, strike: float, right: str, *, multiplier: int = 100,
                   trading_class: str | None = None, market_rule: int = 110, con_id: int | None = None) -> int:
        cid = con_id if con_id is not None else next(self._con_ids)
        tc = trading_class or symbol
        local = f"{tc:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"
        min_tick = min(inc for _, inc in self.market_rules.get(market_rule, [(0.0, 0.01)]))
        self.contracts[cid] = FakeContract(cid, symbol, "OPT", f"{expiry:%Y%m%d}", float(strike), right,
                                           str(multiplier), tc, local_symbol=local, market_rule=market_rule,
                                           min_tick=min_tick)
        return cid

    def add_stock(self, symbol: str, *, con_id: int | None = None, market_rule: int = 239,
                  sec_type: str = "STK") -> int:
        cid = con_id if con_id is not None else next(self._con_ids)
        self.contracts[cid] = FakeContract(cid, symbol, sec_type, trading_class=symbol, local_symbol=symbol,
                                           primary_exchange="ARCA" if sec_type == "STK" else "CBOE",
                                           market_rule=market_rule, valid_exchanges="SMART,ARCA")
        return cid

    def add_market_rule(self, rule_id: int, increments: Iterable[tuple[float, float]]) -> None:
        self.market_rules[rule_id] = list(increments)

    def set_quote(self, con_id: int, bid: float | None, ask: float | None, *, volume: float | None = 500.0,
                  data_type: int = 1, sizes: tuple[float, float] = (10.0, 10.0)) -> None:
        """The market of one contract from now on; pushed to its streaming subscribers, and
        working marketable-plan orders are matched against it."""
        self.quotes[con_id] = FakeQuote(bid, ask, sizes[0], sizes[1], volume, data_type)
        for s in self._sessions:
            for req_id, cid in s.streams.items():
                if cid == con_id:
                    self._send_ticks(s, req_id, con_id)
        for o in list(self.orders.values()):
            if not o.done and o.status != "PendingSubmit" and o.plan.mode == "marketable":
                self._try_marketable(o)

    def add_position(self, con_id: int, quantity: float, avg_cost: float) -> None:
        """A holding of the account: ``avg_cost`` per contract, as IB reports it (premium x multiplier)."""
        self.positions[con_id] = (quantity, avg_cost)

    def plan_next(self, *plans: FillPlan) -> None:
        self._plans_next.extend(plans)

    def plan_for(self, order_ref: str, plan: FillPlan) -> None:
        self._plans_by_ref[order_ref] = plan

    def broadcast_error(self, code: int, message: str, req_id: int = -1) -> None:
        for s in self._sessions:
            self._error(s, req_id, code, message)

    def orders_by_ref(self, order_ref: str) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.order_ref == order_ref]

    # --- wire --------------------------------------------------------------------------------
    def _send(self, s: _Session, *fields: object) -> None:
        payload = "".join(_enc(f) + "\0" for f in fields).encode()
        self.outbound[int(fields[0])] += 1  # type: ignore[call-overload]
        if not s.writer.is_closing():
            s.writer.write(struct.pack(">I", len(payload)) + payload)

    def _error(self, s: _Session, req_id: int, code: int, message: str) -> None:
        self._send(s, ERR_MSG, 2, req_id, code, message, "")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = _Session(writer)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            hello = await self._read(reader)
            lo, hi = (int(x) for x in hello[0].split(" ")[0].lstrip("v").split(".."))
            s.version = min(hi, self.server_version)
            if s.version < lo:
                return
            now = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
            payload = f"{s.version}\0{now}\0".encode()
            writer.write(struct.pack(">I", len(payload)) + payload)
            self._sessions.append(s)
            while True:
                fields = await self._read(reader)
                self.inbound[int(fields[0])] += 1
                self._dispatch(s, fields)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the fake is shutting down
        finally:
            if s in self._sessions:
                self._sessions.remove(s)
            writer.transport.abort()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> list[str]:
        (n,) = struct.unpack(">I", await reader.readexactly(4))
        fields = (await reader.readexactly(n)).decode().split("\0")
        return fields[:-1] if fields and fields[-1] == "" else fields

    def _dispatch(self, s: _Session, f: list[str]) -> None:
        msg = int(f[0])
        handler = {
            71: self._start_api, 1: self._req_mkt_data, 2: self._cancel_mkt_data, 3: self._place_order,
            4: self._cancel_order, 5: self._req_open_orders, 16: self._req_all_open_orders,
            6: self._req_account_updates, 7: self._req_executions, 8: self._req_ids, 9: self._req_contract_details,
            17: lambda s, f: self._send(s, MANAGED_ACCTS, 1, self.account),
            49: lambda s, f: self._send(s, CURRENT_TIME, 1, int(datetime.now(UTC).timestamp())),
            59: self._req_market_data_type, 61: self._req_positions, 62: self._req_account_summary,
            76: self._req_account_updates_multi, 91: self._req_market_rule, 99: self._req_completed_orders,
        }.get(msg)
        if handler is not None:
            handler(s, f)

    # --- session -----------------------------------------------------------------------------
    def _start_api(self, s: _Session, f: list[str]) -> None:
        cid = int(f[2])
        if cid in self.connected_clients:
            self._error(s, -1, 326, f"Unable to connect as the client id is already in use. Retry with a unique "
                        f"client id. (client id {cid})")
            s.writer.transport.abort()
            return
        s.client_id = cid
        self._send(s, MANAGED_ACCTS, 1, self.account)
        self._send(s, NEXT_VALID_ID, 1, self._next_order_id.setdefault(cid, 1))
        for code, text in ((2104, "Market data farm connection is OK:usopt"),
                           (2106, "HMDS data farm connection is OK:ushmds")):
            self._error(s, -1, code, text)

    def _req_ids(self, s: _Session, f: list[str]) -> None:
        self._send(s, NEXT_VALID_ID, 1, self._next_order_id.setdefault(s.client_id or 0, 1))

    def _req_market_data_type(self, s: _Session, f: list[str]) -> None:
        s.market_data_type = int(f[2])

    # --- reference data ----------------------------------------------------------------------
    def _match(self, c: list[str]) -> list[FakeContract]:
        con_id, symbol, sec_type, expiry, strike, right, mult = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        if con_id and int(con_id):
            found = self.contracts.get(int(con_id))
            return [found] if found else []
        out = []
        for k in self.contracts.values():
            if (symbol and k.symbol != symbol) or (sec_type and k.sec_type != sec_type):
                continue
            if (expiry and k.expiry != expiry) or (right and k.right != right[0].upper()):
                continue
            if (strike and float(strike) and k.strike != float(strike)) or (mult and k.multiplier != mult):
                continue
            if c[11] and k.trading_class != c[11]:
                continue
            out.append(k)
        return out

    def _req_contract_details(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        found = self._match(f[3:15])
        if not found:
            self._error(s, req_id, 200, "No security definition has been found for the request")
            return
        for k in found:
            rules = ",".join(str(k.market_rule) for _ in k.valid_exchanges.split(","))
            self._send(s, CONTRACT_DATA, req_id, k.symbol, k.sec_type, k.expiry, k.strike, k.right, k.exchange,
                       k.currency, k.local_symbol, k.trading_class, k.trading_class, k.con_id, k.min_tick,
                       k.multiplier, "ACTIVETIM,LMT,MKT,REL", k.valid_exchanges, 1,
                       0 if k.sec_type == "STK" else 756733,
                       f"{k.symbol} fake", k.primary_exchange, k.expiry[:6], "", "", "", "US/Eastern", "", "", "", "",
                       0, 1, k.symbol, "STK" if k.sec_type == "OPT" else "", rules, k.expiry, "", 1, 1, 1)
        self._send(s, CONTRACT_DATA_END, 1, req_id)

    def _req_market_rule(self, s: _Session, f: list[str]) -> None:
        rule_id = int(f[1])
        incs = self.market_rules.get(rule_id, [])
        self._send(s, MARKET_RULE, rule_id, len(incs), *[x for pair in incs for x in pair])

    # --- market data -------------------------------------------------------------------------
    def _req_mkt_data(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        c = f[3:15]
        rest = f[15:]
        if c[2] == "BAG":
            n = int(rest[0])
            rest = rest[1 + 4 * n:]
        rest = rest[4:] if rest[0] == "1" else rest[1:]  # the delta-neutral contract, if any
        snapshot = rest[1] == "1"
        found = self._match(c)
        if len(found) != 1:
            self._error(s, req_id, 200, "No security definition has been found for the request")
            return
        con_id = found[0].con_id
        if not snapshot:
            s.streams[req_id] = con_id
        self._send_ticks(s, req_id, con_id)
        if snapshot:
            self._send(s, TICK_SNAPSHOT_END, 1, req_id)

    def _send_ticks(self, s: _Session, req_id: int, con_id: int) -> None:
        q = self.quotes.get(con_id)
        if q is None:
            return  # no market: IB sends nothing (or -1 prices); the client sees no bid/ask
        delayed = q.data_type in (3, 4)
        self._send(s, MARKET_DATA_TYPE, 1, req_id, q.data_type)
        bid_t, ask_t, bsz_t, asz_t, vol_t = (66, 67, 69, 70, 74) if delayed else (1, 2, 0, 3, 8)
        self._send(s, TICK_PRICE, 6, req_id, bid_t, -1.0 if q.bid is None else q.bid,
                   0.0 if q.bid is None else q.bid_size, 0)
        self._send(s, TICK_PRICE, 6, req_id, ask_t, -1.0 if q.ask is None else q.ask,
                   0.0 if q.ask is None else q.ask_size, 0)
        if q.bid is not None:
            self._send(s, TICK_SIZE, 6, req_id, bsz_t, q.bid_size)
        if q.ask is not None:
            self._send(s, TICK_SIZE, 6, req_id, asz_t, q.ask_size)
        if q.volume is not None:
            self._send(s, TICK_SIZE, 6, req_id, vol_t, q.volume)

    def _cancel_mkt_data(self, s: _Session, f: list[str]) -> None:
        s.streams.pop(int(f[2]), None)

    # --- account -----------------------------------------------------------------------------
    def _position_fields(self, con_id: int) -> list[object]:
        k = self.contracts[con_id]
        return [k.con_id, k.symbol, k.sec_type, k.expiry, k.strike, k.right, k.multiplier]

    def _req_positions(self, s: _Session, f: list[str]) -> None:
        for cid, (qty, cost) in self.positions.items():
            k = self.contracts[cid]
            self._send(s, POSITION_DATA, 3, self.account, *self._position_fields(cid), k.exchange, k.currency,
                       k.local_symbol, k.trading_class, qty, cost)
        self._send(s, POSITION_END, 1)

    def _req_account_updates(self, s: _Session, f: list[str]) -> None:
        if f[2] != "1":
            return
        for key, val in self.account_values.items():
            self._send(s, ACCT_VALUE, 2, key, f"{val:.2f}", "USD", self.account)
        for cid, (qty, cost) in self.positions.items():
            k = self.contracts[cid]
            q = self.quotes.get(cid)
            mark = (q.bid + q.ask) / 2 if q and q.bid is not None and q.ask is not None else cost / 100
            mult = float(k.multiplier or 1)
            self._send(s, PORTFOLIO_VALUE, 8, *self._position_fields(cid), k.primary_exchange, k.currency,
                       k.local_symbol, k.trading_class, qty, mark, mark * mult * qty, cost,
                       (mark * mult - cost) * qty, 0.0, self.account)
        self._send(s, ACCT_UPDATE_TIME, 1, datetime.now(UTC).strftime("%H:%M"))
        self._send(s, ACCT_DOWNLOAD_END, 1, self.account)

    def _req_account_updates_multi(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        for key, val in self.account_values.items():
            self._send(s, ACCOUNT_UPDATE_MULTI, 1, req_id, self.account, "", key, f"{val:.2f}", "USD")
        self._send(s, ACCOUNT_UPDATE_MULTI_END, 1, req_id)

    def _req_account_summary(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        for key, val in self.account_values.items():
            self._send(s, ACCOUNT_SUMMARY, 1, req_id, self.account, key, f"{val:.2f}", "USD")
        self._send(s, ACCOUNT_SUMMARY_END, 1, req_id)

    # --- orders ------------------------------------------------------------------------------
    def _session_of(self, client_id: int) -> _Session | None:
        return next((s for s in self._sessions if s.client_id == client_id), None)

    def _place_order(self, s: _Session, f: list[str]) -> None:
        order_id = int(f[1])
        contract = f[2:14]
        action, qty, otype, lmt = f[16], float(f[17]), f[18], f[19]
        tif, account, order_ref = f[21], f[23], f[26]
        legs: list[ComboLegSpec] = []
        if contract[2] == "BAG":
            n = int(f[35])
            for i in range(n):
                leg = f[36 + 8 * i: 44 + 8 * i]
                legs.append(ComboLegSpec(int(leg[0]), int(leg[1]), leg[2]))
        limit = float(lmt) if lmt else None
        cid = s.client_id or 0
        existing = next((o for o in self.orders.values() if o.client_id == cid and o.order_id == order_id), None)
        if existing is not None:
            self._modify(s, existing, qty, limit)
            return
        self._next_order_id[cid] = max(self._next_order_id.get(cid, 1), order_id + 1)
        bad = [leg.con_id for leg in legs if leg.con_id not in self.contracts]
        if (contract[2] != "BAG" and len(self._match(contract)) != 1) or bad:
            self._error(s, order_id, 200, "No security definition has been found for the request")
            return
        if contract[2] != "BAG":
            contract = [str(x) for x in self._match(contract)[0].wire()]
        plan = self._plans_by_ref.get(order_ref) or (self._plans_next.pop(0) if self._plans_next else self.default_plan)
        o = FakeOrder(order_id, cid, next(self._perm_ids), contract, legs, action, qty, otype, limit, tif,
                      account or self.account, order_ref, plan)
        self.orders[o.perm_id] = o
        self.placed.append((order_ref, "new", limit))
        o.task = asyncio.get_running_loop().create_task(self._work(o))

    def _modify(self, s: _Session, o: FakeOrder, qty: float, limit: float | None) -> None:
        if o.done:
            self._error(s, o.order_id, 104, f"Can't modify a filled order. (status {o.status})")
            return
        o.quantity, o.lmt = qty, limit
        self.placed.append((o.order_ref, "modify", limit))
        self._report(o)
        if o.plan.mode == "marketable" or (o.plan.mode == "partial" and o.task is not None and o.task.done()
                                           and o.plan.then == "marketable"):
            self._try_marketable(o)

    async def _work(self, o: FakeOrder) -> None:
        plan = o.plan
        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.mode == "reject":
            o.status = "Cancelled"
            s = self._session_of(o.client_id)
            if s is not None:
                self._error(s, o.order_id, plan.code, plan.message)
                self._send_status(s, o)
            return
        o.status = "Submitted"
        self._report(o)
        mode = plan.mode
        if mode == "partial":
            for units in plan.units:
                if o.done:
                    return
                self._fill(o, min(units, o.remaining), self._fill_price(o, at_limit=True))
                if plan.interval:
                    await asyncio.sleep(plan.interval)
            mode = plan.then
        if o.done:
            return
        if mode == "immediate":
            self._fill(o, o.remaining, self._fill_price(o, at_limit=True))
        elif mode == "marketable":
            self._try_marketable(o)

    def _cancel_order(self, s: _Session, f: list[str]) -> None:
        order_id = int(f[2])
        o = next((o for o in self.orders.values() if o.client_id == s.client_id and o.order_id == order_id), None)
        if o is None or o.done:
            self._error(s, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        o.status, o.cancelled_by_client = "Cancelled", True
        if o.task is not None:
            o.task.cancel()
        self._error(s, order_id, 202, "Order Canceled - reason:")
        self._send_status(s, o)

    def _report(self, o: FakeOrder) -> None:
        s = self._session_of(o.client_id)
        if s is not None:
            self._send_open_order(s, o)
            self._send_status(s, o)

    def _send_status(self, s: _Session, o: FakeOrder) -> None:
        self._send(s, ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0,
                   o.last_price, o.client_id, "", 0.0)

    def _leg_wire(self, o: FakeOrder) -> list[object]:
        out: list[object] = [len(o.legs)]
        for leg in o.legs:
            out += [leg.con_id, leg.ratio, leg.action, "SMART", 0, 0, "", -1]
        return out

    def _send_open_order(self, s: _Session, o: FakeOrder) -> None:
        c = o.contract
        lmt = UNSET if o.lmt is None else o.lmt
        head = [o.order_id, *c[:8], *c[9:12], o.action, o.quantity, o.order_type, lmt, UNSET, o.tif, "", o.account,
                "", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0.0, "", "", "", "", ""]  # .. faPercentage
        terms = ["", "", "", "", "", 0, "", -1, 0, *[UNSET] * 5, 0, 0, 0, 0, "", 0, 0, 0, UNSET, 0, 0, UNSET, 0,
                 "", UNSET]  # modelCode .. deltaNeutralAuxPrice
        trail = [0, 0, UNSET, UNSET, UNSET, "", ""]  # continuousUpdate .. comboLegsDescrip
        routing = ["", "", "", "", 0, "", "", 0, 0, ""]  # scale x3, hedgeType, optOut .. dncPresent, algoStrategy
        state = [0, 0, o.status, *[""] * 9, UNSET, UNSET, UNSET, "", "", 0, 0]  # solicited, whatIf, status ..
        tail = [0, "", *[UNSET] * 6, 0, "", "", "", UNSET, 0, 0, UNSET, "",  # conditions .. usePriceMgmtAlgo
                "", "", 0, "", "", UNSET, UNSET, UNSET]  # duration, postToAts, autoCancelParent, v170 fields
        self._send(s, OPEN_ORDER, *head, *terms, *trail, *self._leg_wire(o), 0, 0, *routing, *state, *tail)

    def _send_completed_order(self, s: _Session, o: FakeOrder) -> None:
        c = o.contract
        lmt = UNSET if o.lmt is None else o.lmt
        head = [*c[:8], *c[9:12], o.action, o.quantity, o.order_type, lmt, UNSET, o.tif, "", o.account, "", 0,
                o.order_ref, o.perm_id, 0, 0, 0.0, "", "", "", ""]  # .. faPercentage
        terms = ["", "", "", "", "", 0, "", -1, *[UNSET] * 5, 0, 0, 0, "", 0, 0, UNSET, 0, "", UNSET]
        trail = [0, 0, UNSET, UNSET, ""]  # continuousUpdate .. comboLegsDescrip
        routing = ["", "", "", "", "", "", 0, 0, ""]  # scale x3, hedgeType, clearing x2, notHeld, dnc, algo
        done_at = self.clock().strftime("%Y%m%d %H:%M:%S UTC")
        tail = [UNSET, UNSET, UNSET, 0, 0, "", o.filled, "", 0, "", 0, 0, "", done_at, o.status,
                "", "", UNSET, UNSET, UNSET]
        self._send(s, COMPLETED_ORDER, *head, *terms, *trail, *self._leg_wire(o), 0, 0, *routing,
                   0, o.status, 0, 0, 0, *tail)

    def _req_open_orders(self, s: _Session, f: list[str], *, every_client: bool = False) -> None:
        for o in self.orders.values():
            if not o.done and o.status != "PendingSubmit" and (every_client or o.client_id == s.client_id):
                self._send_open_order(s, o)
                self._send_status(s, o)
        self._send(s, OPEN_ORDER_END, 1)

    def _req_all_open_orders(self, s: _Session, f: list[str]) -> None:
        self._req_open_orders(s, f, every_client=True)

    def _req_completed_orders(self, s: _Session, f: list[str]) -> None:
        for o in self.orders.values():
            if o.done:
                self._send_completed_order(s, o)
        self._send(s, COMPLETED_ORDERS_END)

    # --- fills -------------------------------------------------------------------------------
    def _legs_of(self, o: FakeOrder) -> list[tuple[FakeContract, float]]:
        """(contract, signed contracts per unit as the order trades them: + buys, - sells)."""
        sign = 1 if o.action == "BUY" else -1
        if not o.is_bag:
            return [(self.contracts[int(o.contract[0])], float(sign))]
        return [(self.contracts[leg.con_id], sign * leg.ratio * (1 if leg.action == "BUY" else -1)) for leg in o.legs]

    def _natural(self, o: FakeOrder) -> float | None:
        """The order's natural price in IB's terms (what the bag's BUY pays / SELL receives)."""
        debit = 0.0
        for k, t in self._legs_of(o):
            q = self.quotes.get(k.con_id)
            if q is None or q.bid is None or q.ask is None:
                return None
            debit += t * (q.ask if t > 0 else q.bid)
        return debit if o.action == "BUY" else -debit

    def _fill_price(self, o: FakeOrder, *, at_limit: bool) -> float:
        if at_limit and o.lmt is not None:
            return o.lmt
        natural = self._natural(o)
        return natural if natural is not None else 1.0

    def _try_marketable(self, o: FakeOrder) -> None:
        if o.done or o.remaining <= 0:
            return
        natural = self._natural(o)
        if o.order_type == "MKT":
            self._fill(o, o.remaining, natural if natural is not None else 1.0)
            return
        if natural is None or o.lmt is None:
            return
        if (o.action == "BUY" and o.lmt >= natural - 1e-9) or (o.action == "SELL" and o.lmt <= natural + 1e-9):
            self._fill(o, o.remaining, natural)

    def _leg_prices(self, o: FakeOrder, price: float) -> list[tuple[FakeContract, float, float]]:
        """Each leg's (contract, signed contracts per unit, price) netting to ``price`` (IB terms)."""
        legs = self._legs_of(o)
        mids = []
        for k, _ in legs:
            q = self.quotes.get(k.con_id)
            mids.append((q.bid + q.ask) / 2 if q and q.bid is not None and q.ask is not None else 1.0)
        target = price if o.action == "BUY" else -price  # net debit of the trades
        gap = target - sum(t * m for (_, t), m in zip(legs, mids, strict=True))
        for j, (_, t) in enumerate(legs):
            if mids[j] + gap / t >= 0:
                mids[j] += gap / t
                break
        return [(k, t, round(m, 6)) for (k, t), m in zip(legs, mids, strict=True)]

    def _fill(self, o: FakeOrder, units: float, price: float) -> None:
        if units <= 0:
            return
        now = self.clock()
        s = self._session_of(o.client_id)
        prev = o.filled
        o.filled += units
        o.avg_price = (o.avg_price * prev + price * units) / o.filled
        o.last_price = price
        o.status = "Filled" if o.remaining <= 1e-9 else "Submitted"
        seq = next(self._exec_seq)
        execs = []
        for i, (k, t, px) in enumerate(self._leg_prices(o, price), start=1):
            shares = abs(t) * units
            ex = FakeExecution(f"0000fake.{o.perm_id:x}.{seq:02d}.{i:02d}", o, k, "BOT" if t > 0 else "SLD", shares,
                               px, now, shares, px, self.commission_per_contract * shares)
            execs.append(ex)
            qty, cost = self.positions.get(k.con_id, (0.0, 0.0))
            signed = shares if t > 0 else -shares
            new_qty = qty + signed
            mult = float(k.multiplier or 1)
            if new_qty == 0:
                self.positions.pop(k.con_id, None)
            else:
                grew = qty == 0 or (qty > 0) == (signed > 0)
                self.positions[k.con_id] = (new_qty, (abs(qty) * cost + shares * px * mult) / abs(new_qty)
                                            if grew else cost)
        if o.is_bag and self.send_bag_execution:
            execs.append(FakeExecution(f"0000fake.{o.perm_id:x}.{seq:02d}.00", o, None,
                                       "BOT" if o.action == "BUY" else "SLD", units, price, now, o.filled,
                                       o.avg_price, 0.0))
        self.executions.extend(execs)
        if s is not None:
            for ex in execs:
                self._send_execution(s, -1, ex)
            self._send_status(s, o)
            for ex in execs:
                if ex.contract is not None:
                    self._send_commission(s, ex)

    def _send_execution(self, s: _Session, req_id: int, ex: FakeExecution) -> None:
        o = ex.order
        c = ex.contract.wire() if ex.contract is not None else [BAG_CON_ID, *o.contract[1:12]]
        self._send(s, EXECUTION_DATA, req_id, o.order_id, *c[:7], "SMART", c[9], c[10], c[11], ex.exec_id,
                   ex.time.strftime("%Y%m%d %H:%M:%S UTC"), o.account, "CBOE", ex.side, ex.shares, ex.price,
                   o.perm_id, o.client_id, 0, ex.cum_qty, ex.avg_price, o.order_ref, "", UNSET, "", 1, 0)

    def _send_commission(self, s: _Session, ex: FakeExecution) -> None:
        self._send(s, COMMISSION_REPORT, 1, ex.exec_id, ex.commission, "USD", UNSET, UNSET, 0)

    def _req_executions(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        since = f[5]
        for ex in self.executions:
            if since and ex.time.strftime("%Y%m%d %H:%M:%S") < since.replace("-", " ")[:17]:
                continue
            self._send_execution(s, req_id, ex)
        for ex in self.executions:
            if ex.contract is not None:
                self._send_commission(s, ex)
        self._send(s, EXECUTION_DATA_END, 1, req_id)


__all__ = ["SERVER_VERSION", "FakeContract", "FakeOrder", "FakeQuote", "FakeTws", "FillPlan"]
