"""The backtest's venue: a book in memory and a simulated executor filling against the
day's quotes (:mod:`riskpilot.backtest.engine` for the timing). It implements
:class:`riskpilot.trading.step.Venue` and never suspends, so the step runs synchronously."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from riskpilot.backtest.result import BacktestResult
from riskpilot.backtest.trade import Event, Trade
from riskpilot.data.daychain import DayChain, close_of
from riskpilot.execution.fills import FillModel, simulate_fill
from riskpilot.execution.tactics import TacticBook, simulate_exit
from riskpilot.model.contract import Contract
from riskpilot.model.enums import OrderType, Side
from riskpilot.model.mark import Mark
from riskpilot.model.order import Fill, OrderPurpose, client_order_id
from riskpilot.model.position import Position, premium_sign
from riskpilot.model.quote import Quote
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.manager import RiskManager
from riskpilot.trading.entry import EntryPlan
from riskpilot.trading.settlement import SettlementPrice
from riskpilot.trading.step import EntryResult, closes_all


@dataclass(slots=True)
class _Open:
    """Backtest bookkeeping for an open position."""

    opened: date
    open_commission_per_unit: float
    last_premium: float
    closes: int = 0


class SimulatedVenue:
    """Cash, open positions and the trade log of one backtest; exits and entries fill at
    once by the fill model against the day's quotes."""

    dry_run = False

    def __init__(self, result: BacktestResult, risk: RiskManager, model: FillModel, tactics: TacticBook,
                 *, strategy: str, equity: float) -> None:
        self.result = result
        self.risk = risk
        self.model = model
        self.tactics = tactics
        self.strategy = strategy
        self.cash = float(equity)
        self.positions: dict[str, Position] = {}
        self.book: dict[str, _Open] = {}
        self.day: DayChain | None = None
        self._seq = 0

    # --- the day ---------------------------------------------------------------------------
    def start_day(self, day: DayChain) -> None:
        self.day = day

    def _today(self) -> DayChain:
        if self.day is None:
            raise RuntimeError("SimulatedVenue.start_day(day) comes before the day's step")
        return self.day

    async def begin(self, now: datetime) -> None:
        return None

    def due(self, now: datetime) -> Sequence[Position]:
        return list(self.positions.values())

    def holding(self) -> Iterable[Position]:
        return list(self.positions.values())

    async def quotes(self, contracts: Collection[Contract], now: datetime) -> Mapping[Contract, Quote]:
        return self._today().quotes(contracts)

    def equity(self) -> float:
        """Cash plus every open position at its last good mark (the entry premium before any)."""
        total = self.cash
        for pid, pos in self.positions.items():
            total += premium_sign(pos.premium_type) * self.book[pid].last_premium * pos.multiplier * pos.quantity
        return total

    # --- exits -----------------------------------------------------------------------------
    def observe(self, checks: ExitChecks, marks: Mapping[str, Mark], now: datetime) -> None:
        for check in checks:
            pos = check.position
            self.positions[pos.id] = pos
            if check.mark.is_valid and check.mark.premium is not None:
                self.book[pos.id].last_premium = check.mark.premium

    async def exit(self, check: PositionCheck, quotes: Mapping[Contract, Quote], now: datetime) -> None:
        pos, dec = check.position, check.decision
        d = self._today().quote_date
        qty = pos.quantity if closes_all(dec.action) else dec.quantity
        qty = min(max(qty, 1), pos.quantity)
        if dec.priority is None:
            raise ValueError(f"{d}: the {dec.action.value} decision for {pos.id} ({dec.rule}) has no priority")
        sim = simulate_exit(pos.legs, qty, dec.priority, quotes, self.model, self.tactics)
        if not sim.filled or sim.net_debit is None:
            self.result.warnings.append(
                f"{d}: exit of {pos.id} ({dec.rule}) unfilled after {len(sim.attempts)} attempts: {sim.reason}"
            )
            return
        # fills.py: SELL of the held combo closes it (a credit position buys its shorts back:
        # net_debit > 0 is what it pays; a debit position receives -net_debit).
        close_price = sim.net_debit if pos.is_credit else -sim.net_debit
        if close_price < 0:
            self.result.warnings.append(
                f"{d}: closing {pos.id} priced at {close_price:.4f} (inconsistent quotes); filled at 0"
            )
            close_price = 0.0
        if dec.stage is not None:
            pos = pos.with_stage_done(dec.stage)
            self.positions[pos.id] = pos
        kind = "CLOSE" if sim.filled_quantity == pos.quantity else "PARTIAL_CLOSE"
        self._close(pos, sim.filled_quantity, close_price, sim.commission, d, dec.rule or "rule",
                    dec.priority.name, kind)

    async def after_exits(self, now: datetime) -> None:
        return None

    async def exits_done(self) -> None:
        return None

    def _close(self, pos: Position, qty: int, price: float, commission: float, day: date, reason: str,
               priority: str | None, kind: str) -> None:
        info = self.book[pos.id]
        info.closes += 1
        coid = client_order_id(pos.id, OrderPurpose.CLOSE, info.closes)
        self.risk.record_fill(Fill(
            fill_id=f"{coid}-{kind}", client_order_id=coid, quantity=qty, price=price, timestamp=close_of(day),
            side=Side.SELL,  # disposes of the held combo (the order convention)
            position_id=pos.id, commission=commission,
        ))
        mult = pos.multiplier
        self.cash += premium_sign(pos.premium_type) * price * mult * qty - commission
        open_comm = info.open_commission_per_unit * qty
        self.result.trades.append(Trade(
            position_id=pos.id, method=pos.method, strategy=self.strategy,
            underlying=pos.underlying, legs=pos.legs, opened=info.opened, closed=day, quantity=qty,
            entry_premium=pos.entry_premium, exit_premium=price,
            pnl=pos.profit(price) * mult * qty - commission - open_comm,
            commission=commission + open_comm, exit_reason=reason, priority=priority,
            days_held=(day - info.opened).days,
            mfe=pos.state.mfe * mult * qty, mae=pos.state.mae * mult * qty,
        ))
        self.result.events.append(Event(day, kind, pos.id, qty, price, reason))
        left = pos.reduced(qty)
        if left.quantity == 0:
            del self.positions[pos.id]
            del self.book[pos.id]
        else:
            self.positions[pos.id] = left

    # --- entries ---------------------------------------------------------------------------
    def new_position_id(self, day: date) -> str:
        self._seq += 1
        return f"{self.result.underlying}-{self.result.method}-{self._seq:05d}"

    def entries_on(self, day: date) -> int:
        return sum(1 for info in self.book.values() if info.opened == day)

    async def enter(self, plan: EntryPlan) -> EntryResult:
        cand = plan.candidate
        res = simulate_fill(cand.legs, Side.BUY, plan.quantity, OrderType.MARKET, None, plan.quotes, self.model)
        if not res.filled or res.net_debit is None:
            return EntryResult("refused", "unfillable", plan.position_id, 0, plan.quantity)
        qty = res.filled_quantity
        pid = plan.position_id
        coid = client_order_id(pid, OrderPurpose.OPEN, 0)
        self.risk.record_fill(Fill(
            fill_id=f"{coid}-OPEN", client_order_id=coid, quantity=qty, price=plan.premium,
            timestamp=plan.at, side=Side.BUY,  # acquires the held combo (the order convention)
            position_id=pid, commission=res.commission,
        ))
        mult = plan.request.multiplier
        self.cash += -premium_sign(cand.premium_type) * plan.premium * mult * qty - res.commission
        self.positions[pid] = Position(pid, cand.legs, cand.premium_type, plan.premium, qty, plan.at,
                                       plan.request.method)
        self.book[pid] = _Open(plan.day, res.commission / qty, plan.premium)
        self.result.events.append(Event(plan.day, "OPEN", pid, qty, plan.premium, plan.verdict.reason))
        return EntryResult("filled" if qty == plan.quantity else "partial", plan.verdict.reason, pid, qty,
                           plan.quantity, plan.premium)

    # --- settlement ------------------------------------------------------------------------
    async def settle(self, position: Position, price: float, reason: str, spot: SettlementPrice, day: date) -> None:
        self._close(position, position.quantity, price, 0.0, day, reason, None, "SETTLE")


__all__ = ["SimulatedVenue"]
