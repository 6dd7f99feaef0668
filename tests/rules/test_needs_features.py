"""A rule that declares ``needs_features`` is silent on a position without features, so the
evaluator may skip it there (``ExitEvaluator.decide``); and the evaluator decides the same with
the skip as with every rule run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.model.decision import RuleFiring
from riskpilot.rules import BUILTIN_RULES, ExitEvaluator
from riskpilot.rules.base import PortfolioView
from riskpilot.testing import make_context, make_position

NEEDS = [name for name in BUILTIN_RULES.names() if BUILTIN_RULES.get(name).needs_features]


def test_the_feature_rules_declare_it() -> None:
    assert sorted(NEEDS) == ["early_exit", "edge_disappeared", "rebalance", "volatility_scaled_stop"]


@settings(max_examples=200, deadline=None)
@given(
    premium_factor=st.floats(min_value=0.0, max_value=4.0),
    entry=st.sampled_from([0.20, 1.00, 2.50]),
    credit=st.booleans(),
    dte=st.integers(min_value=0, max_value=60),
    day_pnl=st.sampled_from([0.0, -50_000.0]),
    k=st.sampled_from([0.1, 3.0]),
    min_edge=st.sampled_from([-1.0, 0.02, 1.0]),
)
def test_feature_rules_are_silent_without_features_and_the_skip_changes_no_decision(
    premium_factor: float, entry: float, credit: bool, dte: int, day_pnl: float, k: float, min_edge: float
) -> None:
    ctx = make_context(round(entry * premium_factor, 2), position=make_position(entry, credit=credit, dte=dte),
                       portfolio=PortfolioView(equity=100_000, day_pnl=day_pnl, daily_loss_limit=3_000))
    overrides = {"volatility_scaled_stop": {"k": k}, "early_exit": {"min_edge": min_edge}}
    for name in NEEDS:
        spec = BUILTIN_RULES.get(name)
        fired: RuleFiring | None = spec.fn(ctx, spec.params_model(**overrides.get(name, {})))
        assert fired is None, name
    ev = ExitEvaluator.with_defaults()
    every_rule = ev.decide(ctx, ev.calls(range(len(ev.rules))))
    assert ev.decide(ctx) == every_rule
