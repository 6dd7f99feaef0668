"""Exit attribution: what each exit rule earned or cost, against holding on.

For every trade closed by a rule (a partial exit is its own trade), the same units are
followed on after the closing, on the same chain, by the same fill model and tactics, under
the same fill timing, along two counterfactual paths:

- **held to expiration**: never closed by a rule; settled at expiration like any position
  (:mod:`riskpilot.trading.settlement`: the official value, AM or PM).
- **held to the next rule**: the rule that closed it is switched off, and the units close
  when any *other* rule of the method would have closed them, filled by that rule's urgency
  tactic (all the units go, even when that rule is a partial stage), or settle at expiration
  when none does. The units carry on from the position's tracked state at the closing (peak,
  trough, MFE/MAE, stages done, trailing stop). Portfolio rules are left out of this path:
  the circuit breaker is off (what one position would have done, not the book).

Under ``fill="close"`` the path starts with the next day's marks (the closing day's quotes
were the fill); under ``fill="next"`` with the marks of the fill day (the decision was the
day before). A path still open on the last day of the run is valued at its last good mid
mark, and flagged ``open_at_end``.

P&L of a path, in dollars for the trade's units: ``profit(exit price) x multiplier x units``,
less the opening commission's share and, for a rule's exit, the closing commission (none at
settlement), as the trade's own P&L is counted. The **edge** of a rule over a path is the
trades' P&L minus the path's: positive when closing by the rule made more than holding on.
Trades closed by settlement are their own counterfactual (edge 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from riskpilot.backtest.trade import Trade
from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.data.daychain import DayChain
from riskpilot.execution.fills import FillModel
from riskpilot.execution.tactics import TacticBook, simulate_exit
from riskpilot.model.decision import ExitDecision
from riskpilot.model.mark import MarkBasis, MarkChecks
from riskpilot.model.position import Position
from riskpilot.risk.manager import RiskManager
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.trading.marking import mark_for_rules
from riskpilot.trading.settlement import Settlement, is_am_settled, settlement_close, settles_before
from riskpilot.trading.step import SettlementPrices

#: ``Outcome.how`` of a path still open on the run's last day.
OPEN_AT_END = "open_at_end"

#: Exit reasons of settlement (trades that were held to expiration already).
SETTLEMENT_REASONS = frozenset({"expiration_settlement", "assignment"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a counterfactual path ended: ``pnl`` in dollars for the trade's units (after
    commissions, as the trade's), on ``exit_date`` at ``exit_price`` (net premium per share),
    ``how``: the rule that closed it, ``expiration_settlement``, ``assignment``, or
    :data:`OPEN_AT_END`."""

    pnl: float
    exit_date: date
    exit_price: float
    how: str


@dataclass(frozen=True, slots=True)
class TradeAttribution:
    """The two counterfactual paths of one trade (index ``trade`` in the trade log)."""

    trade: int
    rule: str
    held_to_expiration: Outcome
    held_to_next_rule: Outcome


@dataclass(frozen=True, slots=True)
class RuleAttribution:
    """One exit reason's trades: their count and P&L, the P&L of the same units held to
    expiration and held to the next rule, and how many paths were still open at the end
    (valued at their last mark). Dollars."""

    rule: str
    trades: int
    pnl: float
    pnl_if_held_to_expiration: float
    pnl_if_held_to_next_rule: float
    open_at_end: int = 0

    @property
    def edge_vs_expiration(self) -> float:
        """What closing by the rule made over holding to expiration (positive: it earned)."""
        return self.pnl - self.pnl_if_held_to_expiration

    @property
    def edge_vs_next_rule(self) -> float:
        """What closing by the rule made over holding until the next rule fired."""
        return self.pnl - self.pnl_if_held_to_next_rule

    def as_dict(self) -> dict[str, Any]:
        return {
            "trades": self.trades, "pnl": self.pnl,
            "pnl_if_held_to_expiration": self.pnl_if_held_to_expiration,
            "edge_vs_expiration": self.edge_vs_expiration,
            "pnl_if_held_to_next_rule": self.pnl_if_held_to_next_rule,
            "edge_vs_next_rule": self.edge_vs_next_rule,
            "open_at_end": self.open_at_end,
        }


def summarize(trades: Sequence[Trade], attributions: Iterable[TradeAttribution]) -> dict[str, RuleAttribution]:
    """Per exit reason (rules and settlement alike), ordered by trade count: the trades'
    P&L against their counterfactual paths. A settled trade counts as its own path."""
    by_trade = {a.trade: a for a in attributions}
    acc: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0])
    for i, t in enumerate(trades):
        row = acc[t.exit_reason]
        a = by_trade.get(i)
        held = (t.pnl, t.pnl) if a is None else (a.held_to_expiration.pnl, a.held_to_next_rule.pnl)
        row[0] += 1
        row[1] += t.pnl
        row[2] += held[0]
        row[3] += held[1]
        if a is not None and OPEN_AT_END in (a.held_to_expiration.how, a.held_to_next_rule.how):
            row[4] += 1
    out = {rule: RuleAttribution(rule, int(r[0]), r[1], r[2], r[3], int(r[4])) for rule, r in acc.items()}
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].trades, kv[0])))


@dataclass(slots=True)
class _Path:
    """The units of one trade followed on after its closing."""

    trade: int
    rule: str
    position: Position
    opened_commission: float
    started: date
    last_premium: float
    expiration: Outcome | None = None
    next_rule: Outcome | None = None
    working: ExitDecision | None = None  # fill="next": decided, to fill on the next day

    @property
    def done(self) -> bool:
        return self.expiration is not None and self.next_rule is not None


@dataclass(slots=True)
class AttributionTracker:
    """Follows every rule-closed trade's units along both paths, one day at a time after the
    backtest's own step (module docstring). Feed it with :meth:`on_rule_close` (the venue's
    hook), :meth:`step` each day, and :meth:`finish` once."""

    config: RiskPilotConfig
    method: str
    model: FillModel
    tactics: TacticBook
    settlement: Settlement
    prices: SettlementPrices
    fill: str = "close"
    basis: MarkBasis = MarkBasis.MID
    max_quote_age_seconds: float = 60.0
    paths: list[_Path] = field(default_factory=list)
    results: list[TradeAttribution] = field(default_factory=list)
    _managers: dict[str, RiskManager] = field(default_factory=dict)
    _seq: int = 0
    _last_day: DayChain | None = None
    _last_now: datetime | None = None

    @property
    def mark_checks(self) -> MarkChecks:
        """The marks' checks as the backtest's step applies them (``monitoring.marks``)."""
        return replace(self.config.monitoring.mark_checks(), max_age_seconds=self.max_quote_age_seconds)

    def on_rule_close(self, trade_index: int, before: Position, trade: Trade, decision: ExitDecision,
                      trail: TrailState | None) -> None:
        self._seq += 1
        units = _units(before, trade.quantity, f"{before.id}~{self._seq}")
        rule = decision.rule or trade.exit_reason
        opened = trade.commission - self._closing_commission(before, trade.quantity)
        path = _Path(trade_index, rule, units, opened, trade.closed, trade.exit_premium)
        rm = self._manager(rule)
        if trail is not None:
            rm.trails[units.id] = trail
        self.paths.append(path)

    def _closing_commission(self, pos: Position, qty: int) -> float:
        return self.model.commission_per_contract * sum(abs(leg.quantity) for leg in pos.legs) * qty

    def _manager(self, rule: str) -> RiskManager:
        """A risk manager of the method with ``rule`` (and the circuit breaker) switched off."""
        rm = self._managers.get(rule)
        if rm is None:
            # Marked as the backtest marks (jumps confirmed only where the backtest confirms them).
            rm = self._managers[rule] = RiskManager(
                _without(self.config, self.method, rule), equity=1.0,
                confirm_jumps=self.config.monitoring.confirms_jumps(end_of_day=True))
        return rm

    def step(self, day: DayChain, now: datetime, regime: RegimeName | None) -> None:
        """Advance every open path through ``day`` (the backtest's day, already stepped)."""
        if not self.paths:
            return
        d = day.quote_date
        for path in self.paths:
            if path.working is not None:  # fill="next": yesterday's decision fills now
                self._fill(path, path.working, day, now, keep_on_failure=True)
        for path in self.paths:
            exp = path.position.expiration
            if not path.done and (exp < d or (exp == d and settles_before(path.position, now))):
                self._settle(path, d)
        self._last_day, self._last_now = day, now
        # Only the next-rule path needs daily marks: the held-to-expiration one waits for its
        # settlement (or the last day's mark, taken in finish()).
        live = [p for p in self.paths if p.next_rule is None]
        marks = {}
        for path in live:
            quotes = day.quotes([leg.contract for leg in path.position.legs])
            mark = mark_for_rules(path.position, quotes, now, basis=self.basis, checks=self.mark_checks,
                                  underlying_price=_spot(day))
            marks[path.position.id] = mark
            if mark.is_valid and mark.premium is not None:
                path.last_premium = mark.premium
        deciding: dict[str, list[_Path]] = defaultdict(list)
        for path in live:
            fresh = d > path.started or (self.fill == "next" and d >= path.started)
            if path.next_rule is None and path.working is None and fresh:
                deciding[path.rule].append(path)
        for rule, group in deciding.items():
            checks = self._manager(rule).check_position_exits([p.position for p in group], marks, now, regime=regime)
            for path, check in zip(group, checks, strict=True):
                path.position = check.position
                if check.decision.is_hold:
                    continue
                if self.fill == "next":
                    path.working = check.decision
                else:
                    self._fill(path, check.decision, day, now, keep_on_failure=False)
        for path in self.paths:
            if not path.done and path.position.expiration == d:
                self._settle(path, d)
        self._retire()

    def _fill(self, path: _Path, decision: ExitDecision, day: DayChain, now: datetime, *,
              keep_on_failure: bool) -> None:
        pos = path.position
        if decision.priority is None or path.next_rule is not None:
            path.working = None
            return
        quotes = day.quotes([leg.contract for leg in pos.legs])
        sim = simulate_exit(pos.legs, pos.quantity, decision.priority, quotes, self.model, self.tactics)
        if not sim.filled or sim.net_debit is None:
            if not keep_on_failure:
                path.working = None  # the rules decide again on the next day, as the backtest's exits
            return
        price = sim.net_debit if pos.is_credit else -sim.net_debit
        price = max(price, 0.0)
        # A volume cap may fill part: the path's units close at that fill (the attribution
        # values the decision, not the depth of the day's market).
        pnl = pos.profit(price) * pos.multiplier * pos.quantity - path.opened_commission \
            - sim.commission / sim.filled_quantity * pos.quantity
        path.next_rule = Outcome(pnl, day.quote_date, price, decision.rule or "rule")
        path.working = None

    def _settle(self, path: _Path, d: date) -> None:
        pos = path.position
        spot = self.prices.on(pos.underlying, pos.expiration, is_am_settled(pos))
        price, reason = settlement_close(pos, spot.spot, self.settlement)
        outcome = Outcome(pos.profit(price) * pos.multiplier * pos.quantity - path.opened_commission, d, price, reason)
        if path.expiration is None:
            path.expiration = outcome
        if path.next_rule is None:
            path.next_rule = outcome
        path.working = None

    def _retire(self) -> None:
        if any(p.done for p in self.paths):
            for p in self.paths:
                if p.done:
                    assert p.expiration is not None and p.next_rule is not None
                    self.results.append(TradeAttribution(p.trade, p.rule, p.expiration, p.next_rule))
                    self._managers[p.rule].forget(p.position.id)
            self.paths = [p for p in self.paths if not p.done]

    def finish(self, last_day: date) -> list[TradeAttribution]:
        """Value the paths still open at their mark on the last day (the last good one before
        when that day has none) and return every trade's attribution, in trade order."""
        for path in self.paths:
            pos = path.position
            if self._last_day is not None and self._last_now is not None:
                quotes = self._last_day.quotes([leg.contract for leg in pos.legs])
                mark = mark_for_rules(pos, quotes, self._last_now, basis=self.basis, checks=self.mark_checks,
                                      underlying_price=_spot(self._last_day))
                if mark.is_valid and mark.premium is not None:
                    path.last_premium = mark.premium
            outcome = Outcome(pos.profit(path.last_premium) * pos.multiplier * pos.quantity - path.opened_commission,
                              last_day, path.last_premium, OPEN_AT_END)
            path.expiration = path.expiration or outcome
            path.next_rule = path.next_rule or outcome
        self._retire()
        return sorted(self.results, key=lambda a: a.trade)


def _spot(day: DayChain | None) -> float | None:
    """The day's underlying close, which bounds each option by its intrinsic value."""
    px = day.underlying_price if day is not None else math.nan
    return px if math.isfinite(px) and px > 0 else None


def _units(pos: Position, qty: int, pid: str) -> Position:
    """``qty`` units of ``pos`` under a new id, with its tracked state."""
    return Position(pid, pos.legs, pos.premium_type, pos.entry_premium, qty, pos.opened_at, pos.method,
                    original_quantity=pos.original_quantity or pos.quantity, state=pos.state)


def _without(config: RiskPilotConfig, method: str, rule: str) -> RiskPilotConfig:
    """``config`` with ``rule`` and the circuit breaker off for ``method`` (in every regime
    override too) and no daily loss limit."""
    data = config.model_dump(mode="python")
    rules = data["methods"][method]["exit_rules"]
    for name in (rule, "circuit_breaker"):
        if name in rules:
            rules[name]["enabled"] = False
    for overrides in data["regimes"]["exit_rules"].values():
        for name in (rule, "circuit_breaker"):
            if name in overrides:
                overrides[name] = {**overrides[name], "enabled": False}
    data["risk"]["daily_loss_limit_pct"] = None
    return RiskPilotConfig.model_validate(data)


__all__ = [
    "OPEN_AT_END",
    "SETTLEMENT_REASONS",
    "AttributionTracker",
    "Outcome",
    "RuleAttribution",
    "TradeAttribution",
    "summarize",
]
