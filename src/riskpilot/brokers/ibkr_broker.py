"""``IbkrBroker``: the :class:`riskpilot.execution.port.BrokerPort` on Interactive Brokers
through ib_async.

- Connection, pacing and reconnection: :mod:`riskpilot.brokers.ibkr_session` (calls during a
  disconnect raise ``BrokerDisconnectedError``; ``connection_state`` and
  ``add_connection_listener`` let a monitor hold while it lasts).
- Contracts are qualified once (``reqContractDetails``) and cached with their details; tick
  rules come from IB's market rules (``reqMarketRule``), cached by rule id.
- Quotes: :mod:`riskpilot.brokers.ibkr_quotes` (streaming lines, snapshots past the limit;
  no live two-sided market = absent).
- Orders: one contract per order, a ``Bag`` for several legs; the client order id travels in
  ``orderRef``. Every limit is put on the tick grid (:func:`riskpilot.execution.ticks.round_to_tick`)
  in the direction that does not make it more aggressive. After every (re)connection the
  adapter re-reads open (all clients') and completed orders and executions and finds its own
  by ``orderRef``: ``place_order`` with an id IB already has returns that order and sends
  nothing; an id IB does not have is unknown (``UnknownOrderError``) and may be sent again.
- Fills: per-leg executions and commission reports netted into whole combo units at the net
  price (:mod:`riskpilot.brokers.ibkr_fills`), each with a stable id, so each is applied once.

Order side after a restart: a combo's side is the BAG order's action. A single-leg order's IB
action is the direction the option is traded, which is the riskpilot side only for a long leg;
pass ``order_lookup`` (the store's order intents by client order id) so orders found at IB
are mapped with the side and legs they were sent with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ib_async import Contract, ContractDetails, Stock
from ib_async import Order as IbOrder
from ib_async import Trade as IbTrade

from riskpilot.brokers.ibkr import (
    from_ib_option,
    ib_limit,
    order_state_from_trade,
    to_ib_combo,
    to_ib_option,
    to_ib_order,
    trade_quantities,
)
from riskpilot.brokers.ibkr_fills import LegExecution, net_fills
from riskpilot.brokers.ibkr_quotes import QuoteLines, quote_from_ticker
from riskpilot.brokers.ibkr_session import IbkrSession, StateListener
from riskpilot.config.brokers import IbkrConfig
from riskpilot.execution.port import (
    BrokerDisconnectedError,
    BrokerError,
    BrokerPosition,
    BrokerTimeoutError,
    ConnectionState,
    OrderEvent,
    OrderModificationError,
    OrderState,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.execution.ticks import TickRule, combined_rule, round_to_tick, rule_from_ib
from riskpilot.model.contract import Contract as AnyContract
from riskpilot.model.contract import OptionContract
from riskpilot.model.enums import OrderType, Side
from riskpilot.model.order import Fill, Order
from riskpilot.model.quote import Quote

log = logging.getLogger(__name__)

OrderLookup = Callable[[str], Order | None]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Tracked:
    """One order of ours: the live ib_async Trade (re-bound after each reconnection), the
    riskpilot Order when known, and what netting its executions needs."""

    client_order_id: str
    trade: IbTrade | None
    order: Order | None
    ratios: dict[int, int]  # conId -> contracts per unit
    side: Side
    units_per_contract: int = 1  # a single-leg order's contracts per unit
    pays: bool | None = None
    local: OrderState | None = None  # refused before reaching IB
    published: OrderState | None = None


class IbkrBroker:
    """A :class:`riskpilot.execution.port.BrokerPort` on IB Gateway / TWS (module docstring)."""

    def __init__(self, settings: IbkrConfig, *, clock: Callable[[], datetime] = wall_clock,
                 order_lookup: OrderLookup | None = None) -> None:
        self.settings = settings
        self.session = IbkrSession(settings)
        self.ib = self.session.ib
        self.clock = clock
        self._lookup = order_lookup
        self._contracts: dict[OptionContract, Contract] = {}
        self._details: dict[int, ContractDetails] = {}
        self._rules: dict[int, TickRule] = {}
        self._orders: dict[str, _Tracked] = {}
        self._published_fills: set[str] = set()
        self._subscribers: list[asyncio.Queue[OrderEvent]] = []
        self.quotes = QuoteLines(self.session, self._qualify, clock)
        self.session.on_connected(self._resync)
        self.ib.orderStatusEvent += self._on_trade
        self.ib.execDetailsEvent += self._on_fill
        self.ib.commissionReportEvent += self._on_commission

    # --- connection ----------------------------------------------------------------------
    async def connect(self) -> IbkrBroker:
        await self.session.connect()
        return self

    async def close(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> IbkrBroker:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connection_state(self) -> ConnectionState:
        return self.session.state

    def add_connection_listener(self, listener: StateListener) -> None:
        self.session.add_listener(listener)

    async def wait_connected(self, timeout: float | None = None) -> bool:
        return await self.session.wait_connected(timeout)

    @property
    def account(self) -> str:
        return self.session.account

    async def _resync(self, reconnected: bool) -> None:
        """Find our orders at IB by orderRef (open orders of every client, completed orders
        and executions were read by ib_async's connect), then publish what changed."""
        await self.session.ib.reqAllOpenOrdersAsync()
        self.session.requests["reqAllOpenOrders"] += 1
        self.quotes.forget_dead_lines()
        found: dict[str, IbTrade] = {}
        for t in self.ib.trades():
            ref = t.order.orderRef
            if ref and (ref not in found or not t.isDone()):
                found[ref] = t
        for coid in list(self._orders):
            tr = self._orders[coid]
            if tr.local is not None:
                continue
            trade = found.get(coid)
            if trade is None:
                log.warning("order %s is not known at IB after reconnecting: treated as never sent", coid)
                del self._orders[coid]
            else:
                tr.trade = trade
        for coid, trade in found.items():
            if coid not in self._orders:
                self._orders[coid] = self._adopt(coid, trade)
        for coid in list(self._orders):
            self._publish(coid)

    def _adopt(self, coid: str, trade: IbTrade) -> _Tracked:
        order = self._lookup(coid) if self._lookup is not None else None
        c = trade.contract
        action_side = Side.BUY if trade.order.action == "BUY" else Side.SELL
        if c.secType == "BAG":
            ratios = {leg.conId: int(leg.ratio) for leg in c.comboLegs}
            return _Tracked(coid, trade, order, ratios, order.side if order else action_side)
        upc = abs(order.legs[0].quantity) if order else 1
        if order is None:
            log.warning("order %s found at IB without its riskpilot order: its fills take the IB action %s as "
                        "their side (pass order_lookup to map single-leg orders exactly)", coid, trade.order.action)
        return _Tracked(coid, trade, order, {c.conId: upc}, order.side if order else action_side, upc)

    # --- reference data ------------------------------------------------------------------
    async def _details_for(self, contract: Contract) -> list[ContractDetails]:
        await self.session.request("reqContractDetails")
        try:
            return await asyncio.wait_for(self.ib.reqContractDetailsAsync(contract),
                                          self.settings.request_timeout_seconds)
        except TimeoutError:
            raise BrokerTimeoutError(f"IB did not answer contract details for {contract} in "
                                     f"{self.settings.request_timeout_seconds:g} s") from None
        except ConnectionError as exc:
            raise BrokerDisconnectedError(f"connection lost while qualifying {contract}: {exc}") from None

    async def _qualify(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Contract]:
        """IB contracts for ``contracts``, qualified once and cached; an option IB does not
        list is absent. Where several trading classes list it (SPX and SPXW), the one named
        like the underlying wins (as the paper broker's chain replay does)."""
        todo = [c for c in dict.fromkeys(contracts) if c not in self._contracts]
        if todo:
            s = self.settings
            answers = await asyncio.gather(
                *[self._details_for(to_ib_option(c, exchange=s.exchange, currency=s.currency)) for c in todo]
            )
            for c, details in zip(todo, answers, strict=True):
                if len(details) > 1:
                    details = [d for d in details if d.contract and d.contract.tradingClass == c.underlying]
                if len(details) != 1 or details[0].contract is None:
                    continue
                ib = details[0].contract
                ib.exchange = s.exchange
                self._contracts[c] = ib
                self._details[ib.conId] = details[0]
        return {c: self._contracts[c] for c in contracts if c in self._contracts}

    async def _rule(self, rule_id: int) -> TickRule:
        rule = self._rules.get(rule_id)
        if rule is None:
            await self.session.request("reqMarketRule")
            increments = await self.ib.reqMarketRuleAsync(rule_id)
            if not increments:
                raise BrokerTimeoutError(f"IB did not answer market rule {rule_id}: cannot put a limit on the grid")
            rule = self._rules[rule_id] = rule_from_ib(rule_id, [(p.lowEdge, p.increment) for p in increments])
        return rule

    async def _rule_of(self, con_id: int) -> TickRule:
        """The tick rule of one contract on the configured exchange (its market rule there; the
        coarsest of its exchanges' rules if that exchange is not listed)."""
        d = self._details[con_id]
        ids = [int(x) for x in d.marketRuleIds.split(",") if x.strip()]
        venues = d.validExchanges.split(",")
        if len(ids) == len(venues) and self.settings.exchange in venues:
            return await self._rule(ids[venues.index(self.settings.exchange)])
        if not ids:
            raise BrokerError(f"IB gave no market rule for conId {con_id}: cannot put a limit on the grid")
        return combined_rule([await self._rule(i) for i in dict.fromkeys(ids)])

    async def tick_rule(self, contracts: Sequence[OptionContract]) -> TickRule:
        """The grid a limit on these legs is priced on (the coarsest of the legs' rules)."""
        q = await self._qualify(contracts)
        missing = [str(c) for c in contracts if c not in q]
        if missing:
            raise BrokerError(f"IB has no security definition for {', '.join(missing)}")
        return combined_rule([await self._rule_of(q[c].conId) for c in dict.fromkeys(contracts)])

    # --- port: quotes --------------------------------------------------------------------
    async def get_quotes(self, contracts: Sequence[AnyContract]) -> dict[AnyContract, Quote]:
        # IB has no market for an event contract: absent, as the port says of any unquoted one.
        got = await self.quotes.get([c for c in contracts if isinstance(c, OptionContract)])
        return {c: q for c, q in got.items()}

    @property
    def quote_problems(self) -> dict[OptionContract, str]:
        """Why each contract of the last batch was left out."""
        return dict(self.quotes.problems)

    # --- port: orders --------------------------------------------------------------------
    def _state(self, tr: _Tracked) -> OrderState:
        if tr.local is not None:
            return tr.local
        if tr.trade is None:
            raise RuntimeError(f"order {tr.client_order_id!r} has neither a trade nor a local state")
        return order_state_from_trade(tr.trade, self.clock(), client_order_id=tr.client_order_id,
                                      units_per_contract=tr.units_per_contract)

    def _refuse(self, order: Order, reason: str) -> OrderState:
        state = OrderState(order.client_order_id, "", OrderStatus.REJECTED, order.quantity, 0, None,
                           order.limit_price, self.clock(), reason)
        sides = trade_quantities(order)
        self._orders[order.client_order_id] = _Tracked(order.client_order_id, None, order, {}, order.side,
                                                       abs(sides[0]), local=state)
        self._emit(OrderEvent(state))
        return state

    @staticmethod
    def _options_of(order: Order) -> list[OptionContract] | None:
        """The order's option contracts, None when a leg is not an option (IB trades the
        options here; event contracts go to their own venue)."""
        out = [leg.contract for leg in order.legs if isinstance(leg.contract, OptionContract)]
        return out if len(out) == len(order.legs) else None

    async def _pays(self, order: Order) -> bool | None:
        """Whether the order's limit is a net debit: all legs bought, or all sold, tells; else
        the combo's mid from the quotes decides (as the tactics priced it), None without them."""
        t = trade_quantities(order)
        if all(x > 0 for x in t):
            return True
        if all(x < 0 for x in t):
            return False
        quotes = await self.get_quotes([leg.contract for leg in order.legs])
        if any(leg.contract not in quotes for leg in order.legs):
            return None
        mid = sum(x * (quotes[leg.contract].mid or 0.0) for x, leg in zip(t, order.legs, strict=True))
        return mid >= 0

    async def place_order(self, order: Order) -> OrderState:
        self.session.require_connected()
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return self._state(known)  # idempotent: never a second order for one client id
        options = self._options_of(order)
        if options is None:
            return self._refuse(order, "a leg is not an option contract: IBKR trades options here; not sent")
        contracts = options
        qualified = await self._qualify(contracts)
        missing = [str(c) for c in contracts if c not in qualified]
        if missing:
            return self._refuse(order, f"IB 200: no security definition for {', '.join(missing)}; not sent")
        t = trade_quantities(order)
        pays: bool | None = t[0] > 0
        limit = None
        if order.order_type is OrderType.LIMIT and order.limit_price is not None:
            pays = await self._pays(order)
            if pays is None:
                return self._refuse(order, "no two-sided quotes for every leg: cannot tell whether the combo limit "
                                           "is a debit or a credit; not sent")
            rule = await self.tick_rule(contracts)
            limit = round_to_tick(order.limit_price, rule, Side.BUY if pays else Side.SELL)
        s = self.settings
        if len(order.legs) == 1:
            ib_contract: Contract = qualified[contracts[0]]
        else:
            ib_contract = to_ib_combo(order.legs, {c: qualified[c].conId for c in contracts},
                                      exchange=s.exchange, currency=s.currency)
        ib_order = to_ib_order(order, pays=bool(pays), limit=limit, account=self.session.account)
        if self.ib.client.isReady():
            # Claim the order id now: an order id is never reused, even for a re-send.
            ib_order.orderId = self.ib.client.getReqId()
        await self.session.request("placeOrder")
        if order.client_order_id in self._orders:  # placed meanwhile by a concurrent call
            return self._state(self._orders[order.client_order_id])
        try:
            trade = self.ib.placeOrder(ib_contract, ib_order)
        except ConnectionError as exc:
            raise BrokerDisconnectedError(f"connection lost placing {order.client_order_id}: {exc}") from None
        self._orders[order.client_order_id] = _Tracked(
            order.client_order_id, trade, order,
            {qualified[c].conId: abs(x) for c, x in zip(contracts, t, strict=True)},
            order.side, abs(t[0]) if len(t) == 1 else 1, pays,
        )
        await self._wait(lambda: trade.orderStatus.status not in ("PendingSubmit", "ApiPending") or trade.isDone(),
                         self.settings.order_ack_timeout_seconds)
        return self._state(self._orders[order.client_order_id])

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while not done() and loop.time() < until:
            self.session.require_connected()
            await asyncio.sleep(0.002)

    def _known(self, client_order_id: str) -> _Tracked:
        self.session.require_connected()
        tr = self._orders.get(client_order_id)
        if tr is None:
            raise UnknownOrderError(client_order_id)
        return tr

    def _mine(self, tr: _Tracked, what: str) -> IbTrade:
        trade = tr.trade
        if trade is None:
            raise OrderModificationError(f"order {tr.client_order_id!r} never reached IB; nothing to {what}")
        if trade.order.clientId and trade.order.clientId != self.settings.client_id:
            raise OrderModificationError(
                f"order {tr.client_order_id!r} was placed by API client id {trade.order.clientId}; only that client "
                f"can {what} it (this is client id {self.settings.client_id}: use the same client id after a restart)"
            )
        return trade

    async def cancel_order(self, client_order_id: str) -> OrderState:
        tr = self._known(client_order_id)
        state = self._state(tr)
        if state.status.is_final:
            return state
        trade = self._mine(tr, "cancel")
        await self.session.request("cancelOrder")
        try:
            self.ib.cancelOrder(trade.order)
        except ConnectionError as exc:
            raise BrokerDisconnectedError(f"connection lost cancelling {client_order_id}: {exc}") from None
        await self._wait(trade.isDone, self.settings.order_ack_timeout_seconds)
        return self._state(tr)

    async def replace_order(self, client_order_id: str, *, limit_price: float | None = None,
                            quantity: int | None = None) -> OrderState:
        tr = self._known(client_order_id)
        state = self._state(tr)
        if state.status.is_final:
            raise OrderModificationError(
                f"order {client_order_id!r} is {state.status.value}; only working orders can be replaced")
        trade = self._mine(tr, "replace")
        ib_order: IbOrder = trade.order
        if limit_price is not None and ib_order.orderType != "LMT":
            raise OrderModificationError(f"order {client_order_id!r} is a MARKET order and takes no limit price")
        if quantity is not None and quantity < max(state.filled_quantity, 1):
            raise OrderModificationError(
                f"order {client_order_id!r}: new quantity {quantity} is below the {state.filled_quantity} "
                "already filled (or below 1)")
        if limit_price is not None:
            pays = tr.pays if tr.pays is not None else self._pays_from_ib(trade)
            rule = await self._rule_for_ratios(tr.ratios)
            rounded = round_to_tick(limit_price, rule, Side.BUY if pays else Side.SELL)
            ib_order.lmtPrice = self._signed_limit(tr, trade, rounded, pays)
        if quantity is not None:
            ib_order.totalQuantity = float(quantity * tr.units_per_contract)
        await self.session.request("placeOrder(modify)")
        try:
            self.ib.placeOrder(trade.contract, ib_order)
        except ConnectionError as exc:
            raise BrokerDisconnectedError(f"connection lost replacing {client_order_id}: {exc}") from None
        await self._wait(lambda: trade.isDone() or trade.log[-1].message != "Modify",
                         self.settings.order_ack_timeout_seconds)
        return self._state(tr)

    @staticmethod
    def _pays_from_ib(trade: IbTrade) -> bool:
        sign = 1.0 if trade.order.action == "BUY" else -1.0
        if trade.contract.secType != "BAG":
            return sign > 0
        return sign * float(trade.order.lmtPrice or 0.0) >= 0

    @staticmethod
    def _signed_limit(tr: _Tracked, trade: IbTrade, limit: float, pays: bool) -> float:
        if tr.order is not None:
            return ib_limit(tr.order, limit, pays=pays)
        if trade.contract.secType != "BAG":
            return limit
        sign = 1.0 if trade.order.action == "BUY" else -1.0
        return sign * (limit if pays else -limit)

    async def _rule_for_ratios(self, ratios: dict[int, int]) -> TickRule:
        for con_id in ratios:
            if con_id not in self._details:
                details = await self._details_for(Contract(conId=con_id))
                if details:
                    self._details[con_id] = details[0]
        return combined_rule([await self._rule_of(cid) for cid in ratios])

    async def order_status(self, client_order_id: str) -> OrderState:
        return self._state(self._known(client_order_id))

    async def open_orders(self) -> list[OrderState]:
        """Every order working at IB that carries a client order id (orderRef), whichever API
        client placed it (read at every connection with ``reqAllOpenOrders``)."""
        self.session.require_connected()
        return [self._state(tr) for tr in self._orders.values() if tr.trade is not None and not tr.trade.isDone()]

    # --- port: fills and events ----------------------------------------------------------
    def _fills_of(self, tr: _Tracked, by_ref: dict[str, list[LegExecution]]) -> list[Fill]:
        if tr.local is not None or not tr.ratios:
            return []
        deadline = self.clock() - timedelta(seconds=self.settings.commission_timeout_seconds)
        pid = tr.order.position_id if tr.order is not None else None
        return net_fills(tr.client_order_id, tr.ratios, tr.side, by_ref.get(tr.client_order_id, []),
                         position_id=pid, commission_deadline=deadline)

    def _leg_executions(self) -> dict[str, list[LegExecution]]:
        by_ref: dict[str, list[LegExecution]] = {}
        for f in self.ib.fills():
            ex = f.execution
            if not ex.orderRef or f.contract.secType == "BAG":
                continue  # not ours, or IB's combo summary (the legs carry the commissions)
            report = f.commissionReport
            commission = abs(report.commission) if report is not None and report.execId == ex.execId else None
            by_ref.setdefault(ex.orderRef, []).append(
                LegExecution(ex.execId, f.contract.conId, ex.side == "BOT", round(float(ex.shares)),
                             float(ex.price), ex.time.astimezone(UTC), commission))
        return by_ref

    async def executions(self, since: datetime | None = None) -> list[Fill]:
        """Fills of orders carrying a client order id (orderRef), oldest first. Served from
        what ib_async holds (live executions, and ``reqExecutions`` at every connection)."""
        self.session.require_connected()
        by_ref = self._leg_executions()
        fills = [f for tr in self._orders.values() for f in self._fills_of(tr, by_ref)]
        return sorted((f for f in fills if since is None or f.timestamp >= since), key=lambda f: f.timestamp)

    def _emit(self, event: OrderEvent) -> None:
        for q in self._subscribers:
            q.put_nowait(event)

    def _publish(self, coid: str) -> None:
        tr = self._orders.get(coid)
        if tr is None or tr.trade is None:
            return
        state = self._state(tr)
        new = [f for f in self._fills_of(tr, self._leg_executions()) if f.fill_id not in self._published_fills]
        for f in new:
            self._published_fills.add(f.fill_id)
            self._emit(OrderEvent(state, f))
        last = tr.published
        if not new and (last is None or replace(last, updated_at=state.updated_at) != state):
            self._emit(OrderEvent(state))
        tr.published = state

    def _on_trade(self, trade: IbTrade) -> None:
        if trade.order.orderRef in self._orders:
            self._publish(trade.order.orderRef)

    def _on_fill(self, trade: IbTrade, fill: object) -> None:
        self._on_trade(trade)

    def _on_commission(self, trade: IbTrade, fill: object, report: object) -> None:
        self._on_trade(trade)

    async def order_events(self) -> AsyncIterator[OrderEvent]:
        """Every order change from the moment of subscription (acks, fills, cancels, rejects)."""
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.remove(q)

    def subscribe(self) -> asyncio.Queue[OrderEvent]:
        """A queue receiving every order event from now on (the non-generator form)."""
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._subscribers.append(q)
        return q

    # --- port: account -------------------------------------------------------------------
    async def positions(self) -> list[BrokerPosition]:
        """Option holdings of the account, ``avg_price`` per share: IB's average cost is per
        contract (premium x multiplier, commissions included), so it is divided by the multiplier."""
        await self.session.request("reqPositions")
        try:
            held = await asyncio.wait_for(self.ib.reqPositionsAsync(), self.settings.request_timeout_seconds)
        except TimeoutError:
            raise BrokerTimeoutError("IB did not answer the positions request in time") from None
        except ConnectionError as exc:
            raise BrokerDisconnectedError(f"connection lost reading positions: {exc}") from None
        out = []
        for p in held:
            if p.account != self.account or p.contract.secType not in ("OPT", "FOP") or not p.position:
                continue
            c = from_ib_option(p.contract)
            out.append(BrokerPosition(c, int(p.position), abs(float(p.avgCost)) / c.multiplier))
        return out

    def account_values(self) -> dict[str, str]:
        """The account's values IB keeps current (NetLiquidation, BuyingPower, ...), by tag."""
        self.session.require_connected()
        return {v.tag: v.value for v in self.ib.accountValues(self.account) if v.currency in ("USD", "")}

    async def underlying_quote(self, symbol: str) -> tuple[Contract, Quote | str]:
        """A one-off quote of a stock (or, failing that, an index) for ``broker check``."""
        for sec_type in ("STK", "IND"):
            probe = Stock(symbol, self.settings.exchange, self.settings.currency)
            probe.secType = sec_type
            if sec_type == "IND":
                probe.exchange = "CBOE"
            details = await self._details_for(probe)
            if details and details[0].contract is not None:
                contract = details[0].contract
                self._details[contract.conId] = details[0]
                await self.session.request("reqMktData(snapshot)")
                [ticker] = await asyncio.wait_for(self.ib.reqTickersAsync(contract),
                                                  self.settings.first_quote_timeout_seconds * 5)
                return contract, quote_from_ticker(ticker, self.clock())
        raise BrokerError(f"IB has no stock or index named {symbol!r}")

    async def rule_of_contract(self, contract: Contract) -> TickRule:
        return await self._rule_of(contract.conId)


__all__ = ["IbkrBroker", "OrderLookup"]
