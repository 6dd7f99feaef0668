"""The three workflows of SPEC section 5: entry, position monitoring, exit.

EntryWorkflow
    One entry attempt on a chain snapshot (a :class:`~riskpilot.data.daychain.DayChain`):
    the signal (trading state, VIX within ``vix_min``/``vix_max``, IV rank/percentile of the
    chain's ATM IV over the trailing window, a known regime when market data is given, no
    conflicting position), the strategy (:func:`riskpilot.trading.strategies.select_entry`,
    the very builder the backtest uses, never into an expiration already held in the
    underlying), the price (the legs' quotes from the broker), ``validate_order`` (sizing from
    the method's ``max_contracts`` under the regime's multiplier and every portfolio limit),
    then the order: the position is stored PENDING, the intent recorded, and **all legs go as
    one combo order** (client id ``client_order_id(position_id, OPEN, 1)``). A combo fills by
    whole units, so a partial fill means k of n units: after ``timeout_seconds`` what is still
    working is cancelled and the position is settled at what filled (``settle_entry``: OPEN
    with k units at the average price, or CLOSED unopened when nothing filled). Refusal
    reasons are the backtest's (``vix_filter``, ``iv_rank_filter``, ``no_candidate``,
    ``portfolio_heat``, ...) plus ``conflicting_position`` (an entry of this underlying still
    working) and ``trading_state``.

PositionMonitoringWorkflow
    ``check_position_exits`` for the positions given, and a ``decision`` alert for every
    non-HOLD decision.

ExitWorkflow
    Executes a decision with the :class:`~riskpilot.execution.executor.ExitExecutor`: CLOSE and
    PARTIAL_CLOSE (a partial-exit stage is recorded done once filled), ROLL (close, then
    reopen further out through ``reopen`` when one is given), HOLD (nothing). After each exit the
    risk manager's book takes the exit's fills (so the day's P&L and the circuit breaker see
    them), and the trailing stop goes with the position: kept while units remain, dropped
    with the last unit (``RiskManager.record_fill``); a rolled position starts a fresh stop.

``dry_run`` (every workflow): decide and log; no order, no alert, no store write.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.data.daychain import DayChain
from riskpilot.execution.clock import Clock
from riskpilot.execution.executor import EXECUTIONS_SLACK, ExitExecutor, ExitOutcome
from riskpilot.execution.fills import ComboMarket, FillModel, combo_market, simulate_fill
from riskpilot.execution.port import AlertSink, BrokerDisconnectedError, BrokerPort, BrokerTimeoutError, OrderState
from riskpilot.execution.tactics import limit_price
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.reconcile import entry_order_id, record_new_fills
from riskpilot.model.contract import exchange_date
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import ExitAction, OrderType, PositionStatus, PremiumType, Priority, Side, TradingState
from riskpilot.model.mark import Mark
from riskpilot.model.order import Order, OrderPurpose
from riskpilot.model.position import Position
from riskpilot.risk.checks import ExitChecks
from riskpilot.risk.manager import OrderRequest, RiskManager
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.store import NotFoundError, OrderRepository, PositionRepository, Store
from riskpilot.trading.signals import IV_WINDOW, IVTracker, MarketData, entry_refusal, iv_filters_set
from riskpilot.trading.strategies import select_entry

log = logging.getLogger("riskpilot.monitor")


# --- entry -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One entry attempt. ``status``: ``refused`` (``reason`` names why, as the backtest's
    refusal counts do), ``filled``, ``partial`` (``quantity`` of ``requested`` units),
    ``unfilled`` (nothing filled; the position closed unopened), ``dry_run`` (would have
    sent), ``pending`` (the broker could not be reached; the restart reconciliation settles
    it). ``price`` is the average fill, net premium per share."""

    status: Literal["refused", "filled", "partial", "unfilled", "dry_run", "pending"]
    reason: str
    position_id: str | None = None
    quantity: int = 0
    requested: int = 0
    price: float | None = None


class EntryWorkflow:
    """Entries of ``method`` in ``underlying`` (see the module docstring).

    ``market`` gives VIX and regime as of each day (as in the backtest); ``equity`` returns
    the account's equity in dollars for sizing (default: the risk manager's as it is).
    ``order_type``: MARKET (what the backtest's entry fill models) or LIMIT at
    ``limit_fraction`` of the combo's spread (0.5 = mid). ``fill_model``: the price the
    order is sized at (``max_loss_per_unit``) is this model's market fill for one unit, as in
    the backtest (the paper broker fills by the same model); without it, the combo's mid."""

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
    ) -> None:
        self.mcfg = config.method(method)  # KeyError naming the methods when unknown
        if not 0.0 <= limit_fraction <= 1.0:
            raise ValueError(f"limit_fraction is a share of the spread within [0, 1], got {limit_fraction!r}")
        if not timeout_seconds > 0 or not poll_seconds > 0:
            raise ValueError(f"timeout_seconds and poll_seconds must be > 0, got {timeout_seconds!r}, {poll_seconds!r}")
        self.store = store
        self.broker = broker
        self.risk = risk
        self.config = config
        self.clock = clock
        self.method = method
        self.underlying = underlying
        self.quotes = quotes
        self.market = market
        self.equity = equity
        self.order_type = order_type
        self.limit_fraction = limit_fraction
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds
        self.multiplier = multiplier
        self.fill_model = fill_model
        self.dry_run = dry_run
        self.iv = IVTracker(iv_window) if iv_filters_set(self.mcfg.entry) else None
        self.refused: dict[str, int] = {}
        self._positions = PositionRepository(store)
        self._orders = OrderRepository(store)

    def warm_up(self, day: DayChain) -> None:
        """Feed a day before the first traded one to the IV window (as ``trade_from`` does)."""
        if self.iv is not None:
            self.iv.observe(day)

    def _refuse(self, why: str, detail: str = "") -> EntryResult:
        self.refused[why] = self.refused.get(why, 0) + 1
        log.info("entry %s %s refused: %s%s", self.underlying, self.method, why, f" ({detail})" if detail else "")
        return EntryResult("refused", why)

    async def run(self, day: DayChain) -> EntryResult:
        """One entry attempt on ``day`` (call once per chain snapshot: it feeds the IV window)."""
        now = self.clock.now()
        entry = self.mcfg.entry
        reading = self.iv.observe(day) if self.iv is not None else None
        if self.risk.trading_state is not TradingState.ACTIVE:
            return self._refuse("trading_state", f"{self.risk.trading_state.value}: {self.risk.state_reason}")
        d = day.quote_date
        regime: RegimeName | None = self.market.regime(d, self.config.regimes) if self.market is not None else None
        why = entry_refusal(entry, self.market, d, reading, regime)
        if why is not None:
            return self._refuse(why)
        held: set[int] = set()
        for sp in self._positions.load_open():
            p = sp.position
            if p.underlying != self.underlying:
                continue
            if p.status is PositionStatus.PENDING:
                return self._refuse("conflicting_position", f"entry {p.id} is still working")
            held.add((p.expiration - date(1970, 1, 1)).days)
        cand = select_entry(day, self.mcfg.strategy, entry, multiplier=self.multiplier,
                            exclude_expirations=frozenset(held))
        if cand is None:
            return self._refuse("no_candidate")
        contracts = [leg.contract for leg in cand.legs]
        try:
            fetch = self.quotes.get(contracts) if self.quotes is not None else self.broker.get_quotes(contracts)
            quotes = await fetch
        except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
            return self._refuse("no_quotes", str(exc))
        max_age = self.config.monitoring.max_quote_age_seconds
        bad = [c for c in contracts if c not in quotes or quotes[c].problem(now, max_age)]
        market = combo_market(cand.legs, Side.BUY, quotes)
        if not isinstance(market, ComboMarket):
            return self._refuse("unfillable", market)
        if bad:
            return self._refuse("unfillable", f"no usable quote for {bad[0]}")
        credit = cand.premium_type is PremiumType.CREDIT
        if market.pays == credit:
            return self._refuse("no_credit" if credit else "no_debit", f"combo mid {market.mid:+.4f}")
        estimate = limit_price(market, 0.5)
        if self.fill_model is not None:
            # Sized at the price the fill model will give the order, as the backtest sizes it.
            priced = simulate_fill(cand.legs, Side.BUY, 1, OrderType.MARKET, None, quotes, self.fill_model)
            if not priced.filled or priced.net_debit is None:
                return self._refuse("unfillable", priced.reason or "no fill-model price")
            estimate = -priced.net_debit if credit else priced.net_debit
        if not estimate > 0:
            return self._refuse("no_credit" if credit else "no_debit", f"entry price {estimate:+.4f}")
        mlpu = max_loss_per_unit(cand.legs, estimate, cand.premium_type,
                                 underlying_price=day.underlying_price if math.isfinite(day.underlying_price) else None)
        if mlpu <= 0:
            return self._refuse("no_risk")
        if self.equity is not None:
            self.risk.set_equity(max(self.equity(), 1e-6))
        pid = self._new_id(d)
        delta = cand.delta_per_share * self.multiplier
        request = OrderRequest(
            underlying=self.underlying,
            quantity=self.mcfg.sizing.max_contracts,
            max_loss_per_unit=mlpu,
            underlying_price=day.underlying_price if math.isfinite(day.underlying_price) else None,
            delta_per_unit=delta if math.isfinite(delta) else 0.0,
            method=self.method,
            position_id=None if self.dry_run else pid,
            premium_type=cand.premium_type,
            multiplier=self.multiplier,
        )
        verdict = self.risk.validate_order(request, regime=regime)
        if not verdict.approved:
            return self._refuse(verdict.binding_limit or "refused", verdict.reason)
        qty = verdict.quantity
        limit = limit_price(market, self.limit_fraction) if self.order_type is OrderType.LIMIT else None
        legs_text = ", ".join(f"{leg.quantity:+d} {leg.contract}" for leg in cand.legs)
        if self.dry_run:
            log.info("DRY RUN entry: would open %s x%d [%s] %s near %.2f (%s)", pid, qty, legs_text,
                     cand.premium_type.value, estimate, verdict.reason)
            return EntryResult("dry_run", verdict.reason, pid, 0, qty, None)
        position = Position(pid, cand.legs, cand.premium_type, estimate, qty, now, self.method,
                            status=PositionStatus.PENDING)
        self._positions.open_position(position)
        order = Order(entry_order_id(pid), cand.legs, Side.BUY, qty, self.order_type, now, limit, pid,
                      OrderPurpose.OPEN)
        self._orders.record_intent(order, tactic=f"entry:{self.order_type.value.lower()}")
        log.info("entry %s: %s x%d [%s] %s order near %.2f (%s)", pid, cand.premium_type.value, qty, legs_text,
                 self.order_type.value, estimate, verdict.reason)
        return await self._work(order, position)

    def _new_id(self, d: date) -> str:
        n = 1
        while True:
            pid = f"{self.underlying}-{self.method}-{d:%Y%m%d}-{n:02d}"
            try:
                self._positions.get(pid)
            except NotFoundError:
                return pid
            n += 1

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

    async def _work(self, order: Order, position: Position) -> EntryResult:
        coid = order.client_order_id
        start = self.clock.now()
        deadline = start + timedelta(seconds=self.timeout_seconds)
        state = await self._call(lambda: self.broker.place_order(order), deadline)
        if state is None:
            return EntryResult("pending", "broker unreachable", position.id, 0, order.quantity)
        self._orders.record_order(coid, broker_order_id=state.broker_order_id, status=state.status,
                                  at=self.clock.now(), reason=state.reason)
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
                return EntryResult("pending", "broker unreachable on cancel", position.id, 0, order.quantity)
            state = cancelled
        fills = await self.broker.executions(start - EXECUTIONS_SLACK)
        await record_new_fills(self.store, fills, self.risk, only={coid})
        self._orders.update_from_broker(state)  # after the fills, so that a cancel's status stays
        rec = self._orders.get_order(coid)
        now = self.clock.now()
        self._positions.settle_entry(position.id, filled_quantity=rec.filled_quantity, avg_price=rec.avg_fill_price,
                                     at=now)
        if rec.filled_quantity == 0:
            log.warning("entry %s unfilled (%s): closed unopened", position.id, state.reason or state.status.value)
            return EntryResult("unfilled", state.reason or state.status.value, position.id, 0, order.quantity)
        status: Literal["filled", "partial"] = "filled" if rec.filled_quantity == order.quantity else "partial"
        log.info("entry %s %s: %d of %d at %.4f", position.id, status, rec.filled_quantity, order.quantity,
                 rec.avg_fill_price or float("nan"))
        return EntryResult(status, "entry order final", position.id, rec.filled_quantity, order.quantity,
                           rec.avg_fill_price)


# --- monitoring ------------------------------------------------------------------------------


def decision_alert_text(position: Position, decision: ExitDecision) -> str:
    pri = decision.priority.name if decision.priority is not None else "-"
    return (f"{decision.action.value} {position.id} ({position.underlying}, {position.method}): "
            f"{decision.rule} [{pri}] {decision.reason}")


class PositionMonitoringWorkflow:
    """Decisions for the positions given, and an alert for every non-HOLD one."""

    def __init__(self, risk: RiskManager, alerts: AlertSink | None = None, *, dry_run: bool = False) -> None:
        self.risk = risk
        self.alerts = alerts
        self.dry_run = dry_run

    async def evaluate(
        self,
        positions: Sequence[Position],
        marks: Mapping[str, Mark],
        now: datetime,
        *,
        regime: RegimeName | None = None,
        features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ExitChecks:
        checks = self.risk.check_position_exits(positions, marks, now, regime=regime, features=features)
        for c in checks.exits():
            await self.alert(c.position, c.decision, c.mark)
        return checks

    async def alert(self, position: Position, decision: ExitDecision, mark: Mark) -> None:
        text = decision_alert_text(position, decision)
        if self.dry_run:
            log.warning("DRY RUN decision: %s", text)
            return
        log.warning("decision: %s", text)
        if self.alerts is None:
            return
        try:
            await self.alerts(
                "decision", text, position_id=position.id, action=decision.action.value, rule=decision.rule,
                priority=decision.priority.name if decision.priority is not None else None,
                quantity=decision.quantity, premium=mark.premium,
            )
        except Exception:  # an alert channel failing must never stop the monitor
            log.exception("decision alert for %s could not be raised", position.id)


# --- exit ------------------------------------------------------------------------------------


Reopen = Callable[[Position, datetime], Awaitable[object]]


class ExitWorkflow:
    """Executes exit decisions (see the module docstring)."""

    def __init__(
        self,
        executor: ExitExecutor,
        risk: RiskManager,
        *,
        dry_run: bool = False,
        reopen: Reopen | None = None,
    ) -> None:
        self.executor = executor
        self.risk = risk
        self.dry_run = dry_run
        self.reopen = reopen
        self._positions = PositionRepository(executor.store)

    async def execute(self, position: Position, decision: ExitDecision, mark: Mark) -> ExitOutcome | None:
        if decision.action is ExitAction.HOLD:
            return None
        if self.dry_run:
            log.warning("DRY RUN exit: would %s %s (%s, %s)", decision.action.value, position.id, decision.rule,
                        decision.priority.name if decision.priority is not None else "-")
            return None
        outcome = await self.executor.execute(position, decision, mark)
        await self.sync_risk(outcome)
        if outcome.filled and decision.stage is not None:
            self._positions.mark_stage_done(position.id, decision.stage)
        if outcome.filled and decision.action is ExitAction.ROLL and self.reopen is not None:
            await self.reopen(position, self.executor.clock.now())
        return outcome

    async def sync_risk(self, outcome: ExitOutcome) -> None:
        """Give the risk book the exit's fills (each applied once, by fill id)."""
        coids = {a.client_order_id for a in outcome.attempts}
        if not coids or outcome.triggered_at is None:
            return
        try:
            fills = await self.executor.broker.executions(outcome.triggered_at - EXECUTIONS_SLACK)
        except (BrokerDisconnectedError, BrokerTimeoutError) as exc:
            log.warning("risk book: fills of %s's exit unavailable now (%s)", outcome.position_id, exc)
            return
        await record_new_fills(self.executor.store, fills, self.risk, only=coids)

    @staticmethod
    def close_decision(position: Position, reason: str, priority: Priority, rule: str) -> ExitDecision:
        return ExitDecision(position.id, ExitAction.CLOSE, reason, rule=rule, priority=priority,
                            quantity=position.quantity)


__all__ = [
    "EXECUTIONS_SLACK",
    "EntryResult",
    "EntryWorkflow",
    "ExitWorkflow",
    "PositionMonitoringWorkflow",
    "decision_alert_text",
    "exchange_date",
]
