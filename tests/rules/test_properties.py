"""Invariants of the exit-rule layer, checked with hypothesis over random scenarios."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot import ExitAction, ExitEvaluator, Position, TrailingStop, TrailingStopAction, TrailingStopConfig
from riskpilot.model import Mark
from riskpilot.rules import BUILTIN_RULES, PortfolioView, prepare_context
from riskpilot.rules.partial_exit_target import stage_quantity
from riskpilot.testing import NOW, make_context, run_rule
from testkit import (
    bad_marks,
    feature_maps,
    good_marks,
    portfolios,
    positions,
    premium_paths,
    premiums,
    trailing_configs,
)

EVALUATOR = ExitEvaluator.with_defaults()
SLACK = 1e-9


def _usable(p: float | None) -> bool:
    return p is not None and not math.isnan(p)


# --- trailing stop ------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(entry=premiums, path=premium_paths(), config=trailing_configs(), credit=st.booleans())
def test_property_trailing_stop_never_moves_against_the_position(
    entry: float, path: list[float | None], config: TrailingStopConfig, credit: bool
) -> None:
    stop = TrailingStop(entry, config, credit=credit)
    previous: float | None = None

    for p in path:
        price, _ = stop.update(p)
        if previous is not None:
            assert price is not None, "an active stop never disappears without reset()"
            if credit:
                assert price <= previous + SLACK, f"credit stop rose from {previous} to {price}"
            else:
                assert price >= previous - SLACK, f"long stop fell from {previous} to {price}"
        if price is not None:
            previous = price


@settings(max_examples=300, deadline=None)
@given(entry=premiums, path=premium_paths(), config=trailing_configs(), credit=st.booleans())
def test_property_trailing_stop_is_placed_at_least_one_tick_from_the_premium(
    entry: float, path: list[float | None], config: TrailingStopConfig, credit: bool
) -> None:
    stop = TrailingStop(entry, config, credit=credit)

    for p in path:
        price, action = stop.update(p)
        if action in (TrailingStopAction.ACTIVATE, TrailingStopAction.UPDATE):
            assert p is not None and price is not None
            gap = (price - p) if credit else (p - price)
            assert gap >= config.tick_size - SLACK, f"{action.value} placed {gap} from premium {p}"


@settings(max_examples=300, deadline=None)
@given(entry=premiums, path=premium_paths(), config=trailing_configs(), credit=st.booleans())
def test_property_trailing_stop_triggers_exactly_when_the_premium_is_at_or_through_an_active_stop(
    entry: float, path: list[float | None], config: TrailingStopConfig, credit: bool
) -> None:
    stop = TrailingStop(entry, config, credit=credit)

    for p in path:
        was_active = stop.is_active
        price, action = stop.update(p)
        if not _usable(p) or not was_active:
            assert action is not TrailingStopAction.TRIGGER
            continue
        assert p is not None and price is not None
        through = p >= price - SLACK if credit else p <= price + SLACK
        assert (action is TrailingStopAction.TRIGGER) == through


@settings(max_examples=200, deadline=None)
@given(entry=premiums, path=premium_paths(), config=trailing_configs(), credit=st.booleans(),
       bad=st.sampled_from([None, math.nan]))
def test_property_trailing_stop_ignores_none_and_nan_whatever_came_before(
    entry: float, path: list[float | None], config: TrailingStopConfig, credit: bool, bad: float | None
) -> None:
    stop = TrailingStop(entry, config, credit=credit)
    for p in path:
        stop.update(p)
    before = stop.state

    price, action = stop.update(bad)

    assert action is TrailingStopAction.HOLD
    assert price == before.stop
    after = stop.state
    assert (after.active, after.stop, after.best, after.highest, after.lowest) == (
        before.active, before.stop, before.best, before.highest, before.lowest,
    )


@settings(max_examples=100, deadline=None)
@given(entry=premiums, head=premium_paths(30), tail=premium_paths(30), config=trailing_configs(),
       credit=st.booleans())
def test_property_trailing_stop_restored_from_json_answers_like_the_original(
    entry: float, head: list[float | None], tail: list[float | None], config: TrailingStopConfig, credit: bool
) -> None:
    original = TrailingStop(entry, config, credit=credit)
    for p in head:
        original.update(p)

    restored = TrailingStop.from_dict(json.loads(json.dumps(original.to_dict())))

    for p in tail:
        assert restored.update(p) == original.update(p)


# --- evaluator ----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(position=positions(), mark=good_marks(), features=feature_maps(), portfolio=portfolios())
def test_property_decision_priority_is_the_max_of_the_rules_that_fired(
    position: Position, mark: Mark, features: dict[str, float], portfolio: PortfolioView
) -> None:
    ctx = make_context(mark=mark, position=position, features=features, portfolio=portfolio)
    fired = [f for name in BUILTIN_RULES.names() if (f := run_rule(name, ctx)) is not None]

    decision = EVALUATOR.evaluate(ctx)

    if not fired:
        assert decision.is_hold
        return
    top = max(f.priority for f in fired)
    assert decision.priority is top
    # The winner is the first rule of the top priority in the documented order.
    assert decision.rule == next(f.rule for f in fired if f.priority is top)
    assert decision.rule is not None
    assert sorted([decision.rule, *(f.rule for f in decision.also_fired)]) == sorted(f.rule for f in fired)
    order = [int(f.priority) for f in decision.also_fired]
    assert order == sorted(order, reverse=True)
    for f in fired:
        assert 1 <= f.quantity <= position.quantity
        assert (f.action is ExitAction.PARTIAL_CLOSE) == (f.quantity < position.quantity)


@settings(max_examples=300, deadline=None)
@given(position=positions(), mark=bad_marks(), features=feature_maps(), portfolio=portfolios())
def test_property_no_rule_fires_on_an_invalid_quote(
    position: Position, mark: Mark, features: dict[str, float], portfolio: PortfolioView
) -> None:
    ctx, observed, _ = prepare_context(position, mark, NOW, features=features, portfolio=portfolio)

    decision = EVALUATOR.evaluate(ctx)

    assert decision.is_hold
    assert decision.also_fired == ()
    assert mark.problem is not None and decision.inputs["quote_problem"] == mark.problem.value
    assert observed == position, "a bad mark must not move peak, trough, MFE or MAE"


# --- partial exits ------------------------------------------------------------------------
@given(
    original=st.integers(min_value=1, max_value=10_000),
    data=st.data(),
    pct=st.floats(min_value=0.01, max_value=100.0, allow_nan=False),
)
def test_property_partial_quantity_is_whole_at_least_one_and_at_most_open(
    original: int, data: st.DataObject, pct: float
) -> None:
    open_qty = data.draw(st.integers(min_value=0, max_value=original))

    q = stage_quantity(original, open_qty, pct)

    assert isinstance(q, int)
    if open_qty == 0:
        assert q == 0
    else:
        assert 1 <= q <= open_qty
        assert q <= max(1, math.floor(original * pct / 100.0 + 1e-9))


@settings(max_examples=200, deadline=None)
@given(position=positions(), mark=good_marks())
def test_property_partial_exit_rule_closes_whole_contracts_within_what_is_open(position: Position, mark: Mark) -> None:
    firing = run_rule("partial_exit_target", make_context(mark=mark, position=position))

    if firing is None:
        return
    assert isinstance(firing.quantity, int)
    assert 1 <= firing.quantity <= position.quantity
    assert firing.stage not in position.state.stages_done
    assert (firing.action is ExitAction.CLOSE) == (firing.quantity == position.quantity)


# --- features -----------------------------------------------------------------------------
FEATURE_RULES = ("early_exit", "edge_disappeared", "rebalance", "volatility_scaled_stop")
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


@settings(max_examples=150, deadline=None)
@given(position=positions(), mark=good_marks(), portfolio=portfolios(),
       features=st.fixed_dictionaries(
           {}, optional={"edge": NON_FINITE, "alternative_edge": NON_FINITE, "atr": NON_FINITE,
                         "implied_move": NON_FINITE}))
def test_property_rules_that_need_features_stay_silent_without_finite_ones(
    position: Position, mark: Mark, portfolio: PortfolioView, features: dict[str, float]
) -> None:
    ctx = make_context(mark=mark, position=position, portfolio=portfolio, features=features)

    for name in FEATURE_RULES:
        assert run_rule(name, ctx) is None, f"{name} fired on features {features}"
    assert run_rule("volatility_scaled_stop", ctx, measure="implied_move") is None
