"""The backtest's venue: a book in memory and a simulated executor filling against the
snapshot's quotes (a day's chain, :mod:`riskpilot.backtest.engine` for the timing; or the event
markets at an instant, :mod:`riskpilot.backtest.events`). It implements
:class:`riskpilot.trading.step.Venue` and never suspends, so the step runs synchronously. A
fill is stamped with the step's instant (the close of the day for a chain).

Fill timing (``fill``):

- ``"close"``: an exit or entry decided from day *t*'s quotes fills at once against them.
- ``"next"``: it is queued, and filled at the start of day *t+1*'s step (``begin``) against
  *t+1*'s quotes, before *t+1*'s marks and decisions; the position stays exposed (and is
  re-marked on *t+1*) until then. An exit whose legs are not all quoted on *t+1* keeps
  working, tried again at the start of each later day until it fills or the position
  settles; while it works, new decisions for that position are not sent (no duplicate
  exits). An entry that cannot fill on *t+1* (a leg unquoted, or the credit gone) is
  cancelled, not chased: the refusal is counted (``next_day_unfillable``,
  ``next_day_no_credit``) and the planner decides afresh from *t+1*'s chain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from riskpilot.backtest.result import BacktestResult
from riskpilot.backtest.trade import Event, Trade
from riskpilot.data.daychain import close_of
from riskpilot.execution.fills import FillModel, simulate_fill
from riskpilot.execution.tactics import TacticBook, simulate_exit
from riskpilot.model.contract import Contract
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import OrderType, PositionStatus, PremiumType, Side
from riskpilot.model.mark import Mark, MarkBasis, mark_position
from riskpilot.model.order import Fill, OrderPurpose, client_order_id
from riskpilot.model.position import Position, premium_sign
from riskpilot.model.quote import Quote
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.manager import RiskManager
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.trading.entry import EntryPlan
from riskpilot.trading.settlement import SettlementPrice, settles_before
from riskpilot.trading.step import EntryResult, QuotedSnapshot, closes_all

#: When an order decided on day *t* fills: at *t*'s quotes, or at the next day's.
FillTiming = Literal["close", "next"]
FILL_TIMINGS: tuple[str, ...] = ("close", "next")

#: Called for every closing by a rule: the trade's index in the log, the position as it was
#: before the closing (its tracked state included), the trade booked, the decision that
#: closed it and the position's trailing-stop state then (None when it had none).
RuleCloseHook = Callable[[int, Position, Trade, ExitDecision, TrailState | None], None]


@dataclass(slots=True)
class _Open:
    """Backtest bookkeeping for an open position."""

    opened: date
    open_commission_per_unit: float
    last_premium: float
    closes: int = 0
    short_delta: float | None = None
    decided: date | None = None


@dataclass(slots=True)
class _WorkingExit:
    """An exit decided on ``decided`` and not filled yet (``fill="next"``)."""

    decision: ExitDecision
    quantity: int
    decided: date
    warned: bool = False


class SimulatedVenue:
    """Cash, open positions and the trade log of one backtest; exits and entries fill by the
    fill model against the quotes of the day that decided them (``fill="close"``) or of the
    next day (``fill="next"``), see the module docstring."""

    dry_run = False

    def __init__(self, result: BacktestResult, risk: RiskManager, model: FillModel, tactics: TacticBook,
                 *, strategy: str, equity: float, fill: FillTiming = "close",
                 mark_basis: MarkBasis = MarkBasis.MID, max_quote_age_seconds: float = 60.0,
                 on_rule_close: RuleCloseHook | None = None) -> None:
        if fill not in FILL_TIMINGS:
            raise ValueError(f"fill timing must be 'close' or 'next', got {fill!r}")
        self.result = result
        self.risk = risk
        self.model = model
        self.tactics = tactics
        self.strategy = strategy
        self.fill: FillTiming = fill
        self.mark_basis = mark_basis
        self.max_quote_age_seconds = max_quote_age_seconds
        self.on_rule_close = on_rule_close
        self.cash = float(equity)
        self.positions: dict[str, Position] = {}
        self.book: dict[str, _Open] = {}
        self.day: QuotedSnapshot | None = None
        self._now: datetime | None = None
        self.working_exits: dict[str, _WorkingExit] = {}
        self.working_entries: list[EntryPlan] = []
        self._unfilled_warned: set[str] = set()
        self._seq = 0

    # --- the day ---------------------------------------------------------------------------
    def start_day(self, day: QuotedSnapshot) -> None:
        self.day = day

    def _today(self) -> QuotedSnapshot:
        if self.day is None:
            raise RuntimeError("SimulatedVenue.start_day(day) comes before the day's step")
        return self.day

    async def begin(self, now: datetime) -> None:
        """Under ``fill="next"``: fill what the previous days decided, exits first (they free
        the risk the entries may need), against today's quotes."""
        self._now = now
        if self.fill == "close":
            return
        for pid in list(self.working_exits):
            self._work_exit(pid, now)
        plans, self.working_entries = self.working_entries, []
        for plan in plans:
            self._fill_entry(plan, now)

    def due(self, now: datetime) -> Sequence[Position]:
        return list(self.positions.values())

    def holding(self) -> Iterable[Position]:
        pending = [replace(self._position_of(plan, plan.premium, plan.quantity, plan.at), status=PositionStatus.PENDING)
                   for plan in self.working_entries]
        return [*self.positions.values(), *pending]

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
        if self.fill == "next":
            if pos.id not in self.working_exits:  # one exit at a time per position, as live
                self.working_exits[pos.id] = _WorkingExit(dec, qty, d)
            return
        self._execute_exit(pos, dec, qty, quotes, d)

    def _execute_exit(self, pos: Position, dec: ExitDecision, qty: int, quotes: Mapping[Contract, Quote],
                      d: date, *, decided: date | None = None) -> bool:
        """Run the urgency ladder of ``dec`` against ``quotes`` (day ``d``) and book what fills;
        False when nothing filled (the reason is a warning, or left to the caller)."""
        assert dec.priority is not None  # checked by exit()
        sim = simulate_exit(pos.legs, qty, dec.priority, quotes, self.model, self.tactics)
        if not sim.filled or sim.net_debit is None:
            if decided is None:
                if pos.id not in self._unfilled_warned:  # the rules fire again each day: say it once
                    self._unfilled_warned.add(pos.id)
                    self.result.warnings.append(
                        f"{d}: exit of {pos.id} ({dec.rule}) unfilled after {len(sim.attempts)} attempts: "
                        f"{sim.reason} (not repeated for this position)"
                    )
            elif not self.working_exits[pos.id].warned:
                self.working_exits[pos.id].warned = True
                self.result.warnings.append(
                    f"{d}: exit of {pos.id} ({dec.rule}) decided on {decided} unfilled: {sim.reason}; it keeps "
                    f"working on the next days"
                )
            return False
        # fills.py: SELL of the held combo closes it (a credit position buys its shorts back:
        # net_debit > 0 is what it pays; a debit position receives -net_debit).
        close_price = sim.net_debit if pos.is_credit else -sim.net_debit
        if close_price < 0:
            self.result.warnings.append(
                f"{d}: closing {pos.id} priced at {close_price:.4f} (inconsistent quotes); filled at 0"
            )
            close_price = 0.0
        before = pos
        if dec.stage is not None:
            pos = pos.with_stage_done(dec.stage)
            self.positions[pos.id] = pos
        kind = "CLOSE" if sim.filled_quantity == pos.quantity else "PARTIAL_CLOSE"
        trail = self.risk.trails.get(pos.id)
        trade = self._close(pos, sim.filled_quantity, close_price, sim.commission, d, dec.rule or "rule",
                            dec.priority.name, kind)
        if self.on_rule_close is not None:
            self.on_rule_close(len(self.result.trades) - 1, before, trade, dec, trail)
        return True

    def _work_exit(self, pid: str, now: datetime) -> None:
        """Try a working exit against today's quotes (``fill="next"``)."""
        work = self.working_exits[pid]
        pos = self.positions.get(pid)
        if pos is None:
            del self.working_exits[pid]
            return
        day = self._today()
        if pos.expiration < day.quote_date or settles_before(pos, now):
            return  # expired: the step settles it (and settle() drops this exit)
        quotes = day.quotes([leg.contract for leg in pos.legs])
        # Still exposed until the fill: re-marked on today's quotes first.
        mark = mark_position(pos, quotes, now, basis=self.mark_basis, max_age_seconds=self.max_quote_age_seconds)
        if mark.is_valid and mark.premium is not None:
            pos = self.positions[pid] = pos.marked(mark.premium, now, day.quote_date)
            self.book[pid].last_premium = mark.premium
        qty = min(work.quantity, pos.quantity)
        if self._execute_exit(pos, work.decision, qty, quotes, day.quote_date, decided=work.decided):
            # Filled (a volume cap may leave part of it: the rules decide again on the rest).
            self.working_exits.pop(pid, None)

    async def after_exits(self, now: datetime) -> None:
        return None

    async def exits_done(self) -> None:
        return None

    def _close(self, pos: Position, qty: int, price: float, commission: float, day: date, reason: str,
               priority: str | None, kind: str) -> Trade:
        info = self.book[pos.id]
        info.closes += 1
        coid = client_order_id(pos.id, OrderPurpose.CLOSE, info.closes)
        self.risk.record_fill(Fill(
            fill_id=f"{coid}-{kind}", client_order_id=coid, quantity=qty, price=price,
            timestamp=self._now if self._now is not None else close_of(day),
            side=Side.SELL,  # disposes of the held combo (the order convention)
            position_id=pos.id, commission=commission,
        ))
        mult = pos.multiplier
        self.cash += premium_sign(pos.premium_type) * price * mult * qty - commission
        open_comm = info.open_commission_per_unit * qty
        trade = Trade(
            position_id=pos.id, method=pos.method, strategy=self.strategy,
            underlying=pos.underlying, legs=pos.legs, opened=info.opened, closed=day, quantity=qty,
            entry_premium=pos.entry_premium, exit_premium=price,
            pnl=pos.profit(price) * mult * qty - commission - open_comm,
            commission=commission + open_comm, exit_reason=reason, priority=priority,
            days_held=(day - info.opened).days,
            mfe=pos.state.mfe * mult * qty, mae=pos.state.mae * mult * qty, entry_short_delta=info.short_delta,
            opened_at=pos.opened_at, closed_at=self._now,
        )
        self.result.trades.append(trade)
        self.result.events.append(Event(day, kind, pos.id, qty, price, reason))
        left = pos.reduced(qty)
        if left.quantity == 0:
            del self.positions[pos.id]
            del self.book[pos.id]
            self.working_exits.pop(pos.id, None)
        else:
            self.positions[pos.id] = left
        return trade

    # --- entries ---------------------------------------------------------------------------
    def new_position_id(self, day: date) -> str:
        self._seq += 1
        return f"{self.result.underlying}-{self.result.method}-{self._seq:05d}"

    def entries_on(self, day: date) -> int:
        """Entries decided on ``day`` (filled, or queued under ``fill="next"``, whose fill lands
        the day after: it counts against the day that decided it)."""
        return (sum(1 for info in self.book.values() if info.decided == day)
                + sum(1 for plan in self.working_entries if plan.day == day))

    async def enter(self, plan: EntryPlan) -> EntryResult:
        if self.fill == "next":
            self.working_entries.append(plan)
            return EntryResult("pending", "queued: fills at the next day's quotes", plan.position_id, 0,
                               plan.quantity)
        cand = plan.candidate
        res = simulate_fill(cand.legs, Side.BUY, plan.quantity, OrderType.MARKET, None, plan.quotes, self.model)
        if not res.filled or res.net_debit is None:
            return EntryResult("refused", "unfillable", plan.position_id, 0, plan.quantity)
        self._book_entry(plan, plan.premium, res.filled_quantity, res.commission, plan.day, plan.at)
        qty = res.filled_quantity
        return EntryResult("filled" if qty == plan.quantity else "partial", plan.verdict.reason, plan.position_id,
                           qty, plan.quantity, plan.premium)

    def _fill_entry(self, plan: EntryPlan, now: datetime) -> None:
        """A queued entry against today's quotes (``fill="next"``): filled at the fill model's
        market price now, or cancelled."""
        day = self._today()
        cand = plan.candidate
        quotes = day.quotes([leg.contract for leg in cand.legs])
        res = simulate_fill(cand.legs, Side.BUY, plan.quantity, OrderType.MARKET, None, quotes, self.model)
        if not res.filled or res.net_debit is None:
            self._refuse("next_day_unfillable")
            return
        credit = cand.premium_type is PremiumType.CREDIT
        premium = -res.net_debit if credit else res.net_debit
        if not premium > 0:
            self._refuse("next_day_no_credit" if credit else "next_day_no_debit")
            return
        # The book's worst loss per unit follows the price actually paid.
        px = getattr(day, "underlying_price", float("nan"))  # an event snapshot has none
        spot = px if px == px else None
        mlpu = max_loss_per_unit(cand.legs, premium, cand.premium_type, underlying_price=spot)
        self.risk.register_position(plan.position_id, replace(plan.request, max_loss_per_unit=max(mlpu, 0.0)))
        self._book_entry(plan, premium, res.filled_quantity, res.commission, day.quote_date, now)

    def _refuse(self, reason: str) -> None:
        self.result.entries_refused[reason] = self.result.entries_refused.get(reason, 0) + 1

    def _position_of(self, plan: EntryPlan, premium: float, qty: int, at: datetime) -> Position:
        cand = plan.candidate
        return Position(plan.position_id, cand.legs, cand.premium_type, premium, qty, at, plan.request.method)

    def _book_entry(self, plan: EntryPlan, premium: float, qty: int, commission: float, day: date,
                    at: datetime) -> None:
        pid = plan.position_id
        cand = plan.candidate
        coid = client_order_id(pid, OrderPurpose.OPEN, 0)
        self.risk.record_fill(Fill(
            fill_id=f"{coid}-OPEN", client_order_id=coid, quantity=qty, price=premium,
            timestamp=at, side=Side.BUY,  # acquires the held combo (the order convention)
            position_id=pid, commission=commission,
        ))
        mult = plan.request.multiplier
        self.cash += -premium_sign(cand.premium_type) * premium * mult * qty - commission
        self.positions[pid] = self._position_of(plan, premium, qty, at)
        delta = getattr(cand, "short_delta", float("nan"))  # an event candidate has no delta range
        self.book[pid] = _Open(day, commission / qty, premium, short_delta=delta if delta == delta else None,
                               decided=plan.day)
        self.result.events.append(Event(day, "OPEN", pid, qty, premium, plan.verdict.reason))

    # --- settlement ------------------------------------------------------------------------
    async def settle(self, position: Position, price: float, reason: str, spot: SettlementPrice, day: date) -> None:
        self.working_exits.pop(position.id, None)
        self._close(position, position.quantity, price, 0.0, day, reason, None, "SETTLE")


__all__ = ["FILL_TIMINGS", "FillTiming", "RuleCloseHook", "SimulatedVenue"]
