"""The vectorized screens never exclude a position on which a rule fires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.model import Leg, Mark, OptionContract, Position, PremiumType, Right
from riskpilot.rules import BUILTIN_RULES, ExitEvaluator, PortfolioView, RuleContext
from riskpilot.rules.screen import ScreenBatch
from riskpilot.rules.trailing_stop import TrailingStopAction, TrailState

NOW = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[RuleContext, ScreenBatch]:
    credit = draw(st.booleans())
    entry = draw(st.floats(0.05, 10.0))
    premium = draw(st.floats(0.0, 30.0))
    spread = draw(st.floats(0.0, 3.0))
    dte = draw(st.integers(0, 90))
    held = draw(st.integers(0, 120))
    mult = draw(st.sampled_from([1, 100]))
    vol = draw(st.one_of(st.none(), st.integers(0, 500)))
    qty = draw(st.integers(1, 20))
    features = draw(st.dictionaries(st.sampled_from(["edge", "alternative_edge", "atr", "implied_move"]),
                                    st.floats(-0.5, 2.0), max_size=3))
    day_pnl = draw(st.floats(-10_000, 10_000))
    trigger = draw(st.booleans())
    leg_rel = draw(st.one_of(st.none(), st.floats(0.0, 2.0)))
    exp = TODAY + timedelta(days=dte)
    pos = Position(
        id="p", legs=(Leg(OptionContract("SPY", exp, 500, Right.PUT, mult), -1),),
        premium_type=PremiumType.CREDIT if credit else PremiumType.DEBIT, entry_premium=entry, quantity=qty,
        opened_at=NOW - timedelta(days=held), method="m",
    )
    pos = pos.marked(premium, NOW)
    mark = replace(Mark.from_premium(premium, NOW, spread=spread, volume=vol), leg_relative_spread=leg_rel)
    view = PortfolioView(equity=100_000, day_pnl=day_pnl, daily_loss_limit=3_000)
    trail = TrailState(entry_premium=entry, credit=credit, active=True, stop=premium, best=premium)
    action = TrailingStopAction.TRIGGER if trigger else TrailingStopAction.HOLD
    ctx = RuleContext.build(pos, mark, NOW, portfolio=view, features=features, trail=trail, trail_action=action)
    rel = leg_rel if leg_rel is not None else mark.relative_spread
    batch = ScreenBatch(
        profit_pct=np.array([ctx.profit_pct]), credit=np.array([credit]), dte=np.array([float(ctx.dte)]),
        spread=np.array([mark.spread]), relative_spread=np.array([np.nan if rel is None else rel]),
        leg_relative_spread=np.array([np.nan if leg_rel is None else leg_rel]),
        min_volume=np.array([np.nan if vol is None else float(vol)]), event_contract=np.array([mult == 1]),
        days_held=np.array([float(pos.state.days_held)]), trail_trigger=np.array([trigger]),
        has_features=np.array([bool(features)]), day_loss=-day_pnl, daily_loss_limit=3_000,
    )
    return ctx, batch


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_screen_never_excludes_a_position_on_which_a_rule_fires(case: tuple[RuleContext, ScreenBatch]) -> None:
    ctx, batch = case
    for name in BUILTIN_RULES.names():
        spec = BUILTIN_RULES.get(name)
        params = spec.params_model()
        fired = spec.fn(ctx, params) is not None
        if fired:
            assert spec.screen is None or bool(spec.screen(batch, params)[0]), f"{name} fired but was screened out"


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_evaluator_screen_false_means_the_decision_is_hold(case: tuple[RuleContext, ScreenBatch]) -> None:
    ctx, batch = case
    ev = ExitEvaluator.with_defaults()
    if not ev.screen(batch)[0]:
        assert ev.evaluate(ctx).is_hold
