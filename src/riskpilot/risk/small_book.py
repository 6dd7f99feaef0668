"""Exit checks of a small book, one position at a time.

A backtest checks a handful of positions each day, thousands of times; the column path's numpy
calls cost tens of microseconds a call whatever the book's size, more than the work itself
for a few positions. This path observes and decides each position with the scalar pieces the
column path is tested against (:meth:`Position.marked`'s arithmetic, :func:`~riskpilot.rules.trailing_stop.trail_step`,
:meth:`ExitEvaluator.decide`), in the same order of effects: marks sorted first (the manager
has vetted them, :mod:`riskpilot.risk.marks`; a bad one holds its position), then the day's
P&L and the circuit breaker, then the trailing stops and the rules.
``tests/risk/test_check_paths.py`` checks the two paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from riskpilot.config.schema import RegimeName
from riskpilot.model.enums import ExitAction, PremiumType
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position, pnl_per_share
from riskpilot.risk.checks import (
    CheckHost,
    ExitChecks,
    PositionCheck,
    no_quote_check,
    observed_position,
    ready_checks,
)
from riskpilot.rules.base import RuleContext
from riskpilot.rules.evaluator import ExitEvaluator, hold_on_bad_mark, no_rule_fired
from riskpilot.rules.trailing_stop import TrailingStopAction, TrailingStopConfig, TrailState, trail_step

_CREDIT = PremiumType.CREDIT
_HOLD = ExitAction.HOLD
_HOLD_ACTION = TrailingStopAction.HOLD
_NO_FEATURES: Mapping[str, float] = {}


def check_small_book(
    host: CheckHost,
    positions: Sequence[Position],
    marks: Mapping[str, Mark],
    now: datetime,
    today: date,
    regime: RegimeName | None,
    features: Mapping[str, Mapping[str, float]] | None,
) -> ExitChecks:
    """:meth:`RiskManager.check_position_exits` of ``positions``, one at a time (``today``:
    the exchange date of ``now``, whose day the manager has already rolled to)."""
    trails = host.trails
    checks: list[PositionCheck | None] = [None] * len(positions)
    good: list[int] = []
    premiums: list[float] = []
    ids: list[str] = []
    pnls: list[float] = []  # per share of one unit
    dollars: list[float] = []
    for i, pos in enumerate(positions):
        pid = pos.id
        m = marks.get(pid)
        if m is None:
            checks[i] = no_quote_check(pos, trails.get(pid), now)
            continue
        premium = m.premium
        if m.problem is not None or premium is None:
            checks[i] = PositionCheck(pos, hold_on_bad_mark(pos, m), m, trails.get(pid), _HOLD_ACTION)
            continue
        entry = pos.entry_premium
        pnl = pnl_per_share(pos.premium_type, entry, premium)
        good.append(i)
        premiums.append(premium)
        ids.append(pid)
        pnls.append(pnl)
        dollars.append(pnl * pos.legs[0].contract.multiplier * pos.quantity)
    view = host._day_view(ids, dollars, today)
    candidates: list[int] = []
    today_ordinal = today.toordinal()
    rules: dict[str, tuple[ExitEvaluator, TrailingStopConfig | None]] = {}
    for i, premium, pnl in zip(good, premiums, pnls, strict=True):
        pos = positions[i]
        m = marks[pos.id]
        found = rules.get(pos.method)
        if found is None:
            found = rules[pos.method] = host._rules_for(pos.method, regime)
        ev, trail_config = found
        trail = trails.get(pos.id)
        action = _HOLD_ACTION
        if trail_config is not None and (trail_config.trail_credit or pos.premium_type is not _CREDIT):
            if trail is None:
                trail = TrailState.new(pos.entry_premium, credit=pos.premium_type is _CREDIT)
            trail, action = trail_step(trail, premium, trail_config)
            trails[pos.id] = trail
        # What Position.marked computes (as the column path does, by column).
        st = pos.state
        days = today_ordinal - pos.opened_on.toordinal()
        observed = observed_position(
            pos,
            premium if premium > st.peak_premium else st.peak_premium,
            premium if premium < st.trough_premium else st.trough_premium,
            pnl if pnl > st.mfe else st.mfe,
            pnl if pnl < st.mae else st.mae,
            days if days > st.days_held else st.days_held,
            premium,
            now,
        )
        profit_pct = pnl / pos.entry_premium
        dte = pos.expiration.toordinal() - today_ordinal
        if pos.quantity <= 0:
            decision = no_rule_fired(pos.id, profit_pct, dte, premium)
        else:
            f = features.get(pos.id, _NO_FEATURES) if features is not None else _NO_FEATURES
            ctx = RuleContext(observed, m, now, view, f, trail, action, premium, profit_pct, dte, today)
            decision = ev.decide(ctx)
            if decision.action is not _HOLD:
                candidates.append(i)
        checks[i] = PositionCheck(observed, decision, m, trail, action)
    return ready_checks(checks, candidates)
