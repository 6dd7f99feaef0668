"""Entries at a broker: the live loop's half of the entry phase of the cycle step.

The shared :class:`~riskpilot.trading.entry.EntryPlanner` decides (signal, strategy, price,
size: the backtest's very flow and refusal reasons); :meth:`EntryWorkflow.enter` executes the
plan: the position is stored PENDING, the intent recorded, and **all legs go as one combo
order** (client id ``entry_order_id(position_id)``). A combo fills by whole units, so a
partial fill means k of n units: after ``timeout_seconds`` what is still working is
cancelled and the position is settled at what filled (``settle_entry``: OPEN with k units at
the average price, or CLOSED unopened when nothing filled). ``order_type``: MARKET (what the
backtest's entry fill models) or LIMIT at ``limit_fraction`` of the combo's spread.

:meth:`EntryWorkflow.run` runs the step's entry phase alone on one chain snapshot (the
workflow is then the step's venue); the monitor delegates its venue's entry calls here.
``dry_run``: decide and log; no order, no store write. ``planner`` replaces the option
planner (event markets: :class:`riskpilot.trading.events.EventEntryPlanner`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Literal

from riskpilot.config.schema import RiskPilotConfig
from riskpilot.execution.clock import Clock
from riskpilot.execution.executor import EXECUTIONS_SLACK
from riskpilot.execution.fills import ComboMarket, FillModel, combo_market
from riskpilot.execution.port import BrokerDisconnectedError, BrokerPort, BrokerTimeoutError
from riskpilot.execution.tactics import limit_price
from riskpilot.execution.ticks import rule_for_legs
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.reconcile import entry_order_id, record_new_fills
from riskpilot.model.contract import EXCHANGE_TZ, Contract
from riskpilot.model.enums import OrderType, PositionStatus, Side
from riskpilot.model.mark import Mark
from riskpilot.model.order import Order, OrderPurpose
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.model.status import OrderState
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.manager import RiskManager
from riskpilot.store import NotFoundError, OrderRepository, PositionRepository, Store
from riskpilot.trading.entry import EntryPlan, EntryPlanner
from riskpilot.trading.settlement import SettlementPrice
from riskpilot.trading.signals import IV_WINDOW, MarketData
from riskpilot.trading.step import EntryResult, Planner, Snapshot, StepInputs, TradingStep

log = logging.getLogger("riskpilot.monitor")


class EntryWorkflow:
    """Entries of ``method`` in ``underlying`` at ``broker`` (module docstring).

    ``market`` gives VIX and regime as of each day (as in the backtest); ``equity`` returns
    the account's equity in dollars for sizing (default: the risk manager's as it is);
    ``fill_model``: the price the order is sized at is this model's market fill for one unit,
    as in the backtest (the paper broker fills by the same model); without it, the mid."""

    def __init__(
        self,
        *,
        store: Store,
        broker: BrokerPort,
        risk: RiskManager,
        config: RiskPilotConfig,
        clock: Clock,
        method: str,
        underlying: str,
        quotes: QuoteFetcher | None = None,
        market: MarketData | None = None,
        equity: Callable[[], float] | None = None,
        iv_window: int = IV_WINDOW,
        order_type: OrderType = OrderType.MARKET,
        limit_fraction: float = 0.5,
        timeout_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        multiplier: int = 100,
        fill_model: FillModel | None = None,
        dry_run: bool = False,
        max_new_positions_per_day: int = 1,
        planner: Planner | None = None,
    ) -> None:
        if not 0.0 <= limit_fraction <= 1.0:
            raise ValueError(f"limit_fraction is a share of the spread within [0, 1], got {limit_fraction!r}")
        if not timeout_seconds > 0 or not poll_seconds > 0:
            raise ValueError(f"timeout_seconds and poll_seconds must be > 0, got {timeout_seconds!r}, {poll_seconds!r}")
        self.planner: Planner = planner if planner is not None else EntryPlanner(
            config, method, underlying, market=market, fill_model=fill_model, multiplier=multiplier,
            iv_window=iv_window)
        #: The underlying whose positions this workflow's run settles (None: every one; an
        #: event planner spans many events).
        self.scope: str | None = underlying if planner is None else None
        self.store = store
        self.broker = broker
        self.risk = risk
        self.config = config
        self.clock = clock
        self.method = method
        self.underlying = underlying
        self.quote_source = quotes
        self.equity_source = equity
        self.order_type = order_type
        self.limit_fraction = limit_fraction
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds
        self.dry_run = dry_run
        self.max_new_positions_per_day = max_new_positions_per_day
        self.refused: dict[str, int] = {}
        self._positions = PositionRepository(store)
        self._orders = OrderRepository(store)
        self._step: TradingStep | None = None

    def warm_up(self, day: Snapshot) -> None:
        """Feed a day before the first traded one to the IV window (as ``trade_from`` does)."""
        self.planner.observe(day)

    def count(self, refused: Mapping[str, int]) -> None:
        for why, n in refused.items():
            self.refused[why] = self.refused.get(why, 0) + n
            log.info("entry %s %s refused: %s", self.underlying, self.method, why)

    # --- the entry phase alone -----------------------------------------------------------
    async def run(self, day: Snapshot) -> EntryResult:
        """One entry attempt on ``day`` through the cycle step's entry phase (call once per
        chain snapshot: it feeds the IV window)."""
        if self._step is None:
            self._step = TradingStep(self.config, self.risk, underlying=self.underlying, planner=self.planner,
                                     max_new_positions_per_day=self.max_new_positions_per_day)
        now = self.clock.now()
        d = day.quote_date
        report = await self._step.run(self, StepInputs(now, d, chain=day, regime=self.planner.regime(d)))
        self.count(report.refused)
        if report.entries and report.entries[-1].status != "refused":
            return report.entries[-1]
        why = next(iter(report.refused), "refused")
        return EntryResult("refused", why)

    # --- the venue calls the step's entry phase makes ------------------------------------
    async def begin(self, now: datetime) -> None:
        return None

    def due(self, now: datetime) -> Sequence[Position]:
        return ()

    def holding(self) -> Iterable[Position]:
        return [sp.position for sp in self._positions.load_open()]

    async def quotes(self, contracts: Collection[Contract], now: datetime) -> Mapping[Contract, Quote]:
        try:
            if self.quote_source is not None:
                return await self.quote_source.get(contracts)
            return await self.broker.get_quotes(list(contracts))
        except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
            log.warning("entry quotes unavailable (%s): no entry now", exc)
            return {}

    def observe(self, checks: ExitChecks, marks: Mapping[str, Mark], now: datetime) -> None:
        return None

    async def exit(self, check: PositionCheck, quotes: Mapping[Contract, Quote], now: datetime) -> None:
        raise RuntimeError("EntryWorkflow.run checks no position: nothing to exit")

    async def after_exits(self, now: datetime) -> None:
        return None

    async def exits_done(self) -> None:
        return None

    async def settle(self, position: Position, price: float, reason: str, spot: SettlementPrice, day: date) -> None:
        raise RuntimeError("EntryWorkflow.run settles nothing")

    def equity(self) -> float:
        return self.equity_source() if self.equity_source is not None else self.risk.equity

    def new_position_id(self, day: date) -> str:
        n = 1
        while True:
            pid = f"{self.underlying}-{self.method}-{day:%Y%m%d}-{n:02d}"
            try:
                self._positions.get(pid)
            except NotFoundError:
                return pid
            n += 1

    def entries_on(self, day: date) -> int:
        start = datetime.combine(day, time(0), tzinfo=EXCHANGE_TZ)
        return self._positions.count_opened(self.underlying, self.method, start, start + timedelta(days=1))

    async def enter(self, plan: EntryPlan) -> EntryResult:
        """Send ``plan`` as one combo order and work it to its end (module docstring)."""
        cand = plan.candidate
        pid, qty = plan.position_id, plan.quantity
        legs_text = ", ".join(f"{leg.quantity:+d} {leg.contract}" for leg in cand.legs)
        limit: float | None = None
        if self.order_type is OrderType.LIMIT:
            market = combo_market(cand.legs, Side.BUY, plan.quotes)
            if not isinstance(market, ComboMarket):  # priced on these quotes already: cannot happen
                return EntryResult("refused", "unfillable", pid, 0, qty)
            limit = limit_price(market, self.limit_fraction, rule_for_legs(cand.legs))  # on the class's grid
        if self.dry_run:
            log.info("DRY RUN entry: would open %s x%d [%s] %s near %.2f (%s)", pid, qty, legs_text,
                     cand.premium_type.value, plan.premium, plan.verdict.reason)
            return EntryResult("dry_run", plan.verdict.reason, pid, 0, qty, None)
        now = self.clock.now()
        position = Position(pid, cand.legs, cand.premium_type, plan.premium, qty, now, self.method,
                            status=PositionStatus.PENDING)
        self._positions.open_position(position)
        order = Order(entry_order_id(pid), cand.legs, Side.BUY, qty, self.order_type, now, limit, pid,
                      OrderPurpose.OPEN)
        self._orders.record_intent(order, tactic=f"entry:{self.order_type.value.lower()}")
        log.info("entry %s: %s x%d [%s] %s order near %.2f (%s)", pid, cand.premium_type.value, qty, legs_text,
                 self.order_type.value, plan.premium, plan.verdict.reason)
        return await self._work(order, position)

    async def _call(self, what: Callable[[], Awaitable[OrderState]], deadline: datetime) -> OrderState | None:
        """A broker call, retried (same client id: idempotent) until ``deadline``."""
        while True:
            try:
                return await what()
            except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
                if self.clock.now() >= deadline:
                    log.error("entry order: broker unreachable (%s); left for the restart reconciliation", exc)
                    return None
                await self.clock.sleep(self.poll_seconds)

    def resumable(self, position: Position, now: datetime) -> bool:
        """Whether ``position``'s working entry is this workflow's (its underlying and
        method) and still within its order window at ``now`` (``timeout_seconds`` from
        ``opened_at``): a restart then resumes it rather than cancelling it as stale."""
        mine = position.method == self.method and (self.scope is None or position.underlying == self.scope)
        return mine and now < position.opened_at + timedelta(seconds=self.timeout_seconds)

    async def resume(self, position_ids: Collection[str], *, risk: RiskManager | None = None) -> list[EntryResult]:
        """Work the entries of ``position_ids`` (unsettled, their order working at the broker:
        what a restart's reconciliation left working, ``ReconcileReport.entries_working``)
        to the deadline they had when placed (``opened_at`` + ``timeout_seconds``), then
        cancel what is left and settle, as :meth:`enter` would have done uninterrupted."""
        done: list[EntryResult] = []
        for pid in position_ids:
            position = self._positions.get(pid).position
            coid = entry_order_id(pid)
            rec = self._orders.get_order(coid)
            deadline = position.opened_at + timedelta(seconds=self.timeout_seconds)
            log.info("entry %s: resuming its working order %s (%d of %d filled) until %s", pid, coid,
                     rec.filled_quantity, rec.quantity, deadline.isoformat())
            state = await self._call(partial(self.broker.order_status, coid), deadline)
            # On a start the risk book is rebuilt from the store after (restore_risk): ``risk`` is
            # None and the fills stay out of it; after a reconnect the running book takes them.
            done.append(await self._follow(coid, rec.quantity, position, state, position.opened_at, deadline,
                                           risk=risk))
        return done

    async def _work(self, order: Order, position: Position) -> EntryResult:
        coid = order.client_order_id
        start = self.clock.now()
        deadline = start + timedelta(seconds=self.timeout_seconds)
        state = await self._call(lambda: self.broker.place_order(order), deadline)
        if state is None:
            return EntryResult("pending", "broker unreachable", position.id, 0, order.quantity)
        self._orders.record_order(coid, broker_order_id=state.broker_order_id, status=state.status,
                                  at=self.clock.now(), reason=state.reason)
        return await self._follow(coid, order.quantity, position, state, start, deadline, risk=self.risk)

    async def _follow(self, coid: str, quantity: int, position: Position, state: OrderState | None,
                      start: datetime, deadline: datetime, *, risk: RiskManager | None) -> EntryResult:
        """Poll the entry order ``coid`` until it is final or ``deadline``, cancel what is
        left working, record its fills and settle the position at what filled."""
        if state is None:
            state = await self._call(lambda: self.broker.cancel_order(coid), self.clock.now() + timedelta(
                seconds=self.timeout_seconds))
            if state is None:
                return EntryResult("pending", "broker unreachable", position.id, 0, quantity)
        while state.status.is_working and self.clock.now() < deadline:
            await self.clock.sleep(min(self.poll_seconds, (deadline - self.clock.now()).total_seconds()))
            polled = await self._call(lambda: self.broker.order_status(coid), deadline)
            if polled is None:
                break
            state = polled
        if state.status.is_working:
            cancelled = await self._call(lambda: self.broker.cancel_order(coid), self.clock.now() + timedelta(
                seconds=self.timeout_seconds))
            if cancelled is None:
                return EntryResult("pending", "broker unreachable on cancel", position.id, 0, quantity)
            state = cancelled
        fills = await self.broker.executions(start - EXECUTIONS_SLACK)
        await record_new_fills(self.store, fills, risk, only={coid})
        self._orders.update_from_broker(state)  # after the fills, so that a cancel's status stays
        rec = self._orders.get_order(coid)
        now = self.clock.now()
        self._positions.settle_entry(position.id, filled_quantity=rec.filled_quantity, avg_price=rec.avg_fill_price,
                                     at=now)
        if rec.filled_quantity == 0:
            log.warning("entry %s unfilled (%s): closed unopened", position.id, state.reason or state.status.value)
            return EntryResult("unfilled", state.reason or state.status.value, position.id, 0, quantity)
        status: Literal["filled", "partial"] = "filled" if rec.filled_quantity == quantity else "partial"
        log.info("entry %s %s: %d of %d at %.4f", position.id, status, rec.filled_quantity, quantity,
                 rec.avg_fill_price or float("nan"))
        return EntryResult(status, "entry order final", position.id, rec.filled_quantity, quantity,
                           rec.avg_fill_price)


__all__ = ["EntryWorkflow"]
