"""ExitEvaluator: every rule evaluated, the highest priority firing wins, ties broken by the
configured order, every other firing listed; no rule evaluated on a bad quote."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from riskpilot import ExitAction, PortfolioView, Priority, RiskManager
from riskpilot.config import parse_config
from riskpilot.model import OptionContract, Quote, RuleFiring, mark_position
from riskpilot.rules import BUILTIN_RULES, ExitEvaluator, RuleContext, RuleParams, RuleRegistry, RuleSpec
from riskpilot.rules.base import EMPTY_PORTFOLIO
from riskpilot.testing import (
    NOW,
    make_context,
    make_evaluator,
    make_mark,
    make_position,
    make_quote,
    make_vertical,
    rule_params,
)

BREAKER_TRIPPED = PortfolioView(equity=100_000.0, day_pnl=-5_000.0, daily_loss_limit=3_000.0)


def _names(firings: tuple[RuleFiring, ...]) -> list[str]:
    return [f.rule for f in firings]


def test_evaluator_when_rules_of_every_priority_fire_then_critical_wins_and_the_rest_are_listed_in_order() -> None:
    # Arrange: a 1.00 credit now at 2.50 with 10 DTE, thin volume, a negative edge and a
    # tripped circuit breaker: CRITICAL, HIGH, MEDIUM and LOW rules all fire.
    ctx = make_context(
        mark=make_mark(2.50, spread=0.05, volume=10),
        position=make_vertical(1.00, quantity=2, dte=10),
        features={"edge": -0.01},
        portfolio=BREAKER_TRIPPED,
    )

    # Act
    decision = ExitEvaluator.with_defaults().evaluate(ctx)

    # Assert
    assert decision.rule == "stop_loss"
    assert decision.priority is Priority.CRITICAL
    assert decision.action is ExitAction.CLOSE
    assert decision.quantity == 2
    assert _names(decision.also_fired) == [
        "circuit_breaker", "liquidity_dried_up", "time_exit_dte", "early_exit", "edge_disappeared",
    ]
    assert [f.priority for f in decision.also_fired] == [
        Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW, Priority.LOW,
    ]


def test_evaluator_when_high_and_medium_fire_then_high_wins() -> None:
    ctx = make_context(mark=make_mark(0.40, spread=0.02, volume=10), position=make_position(1.00, quantity=4))

    decision = ExitEvaluator.with_defaults().evaluate(ctx)

    assert decision.rule == "liquidity_dried_up"
    assert decision.priority is Priority.HIGH
    assert _names(decision.also_fired) == ["profit_target", "partial_exit_target"]


def test_evaluator_when_medium_and_low_fire_then_medium_wins() -> None:
    ctx = make_context(0.60, position=make_position(1.00), features={"edge": -0.01})

    decision = ExitEvaluator.with_defaults().evaluate(ctx)

    assert decision.rule == "profit_target"
    assert decision.priority is Priority.MEDIUM
    assert _names(decision.also_fired) == ["partial_exit_target", "early_exit", "edge_disappeared"]


def test_evaluator_when_two_critical_rules_fire_then_the_first_in_default_order_wins() -> None:
    ctx = make_context(2.50, position=make_vertical(1.00), portfolio=BREAKER_TRIPPED)

    decision = make_evaluator(["circuit_breaker", "stop_loss"]).evaluate(ctx)

    # SPEC table order (stop_loss before circuit_breaker) whatever order the settings came in.
    assert decision.rule == "stop_loss"
    assert _names(decision.also_fired) == ["circuit_breaker"]


def test_evaluator_when_order_lists_circuit_breaker_first_then_it_wins_the_critical_tie() -> None:
    ctx = make_context(2.50, position=make_vertical(1.00), portfolio=BREAKER_TRIPPED)

    decision = make_evaluator(["stop_loss", "circuit_breaker"], order=["circuit_breaker"]).evaluate(ctx)

    assert decision.rule == "circuit_breaker"
    assert _names(decision.also_fired) == ["stop_loss"]


def test_evaluator_when_profit_target_and_partial_stage_fire_together_then_full_close_wins_by_default() -> None:
    ctx = make_context(0.60, position=make_position(1.00, quantity=10))

    decision = make_evaluator(["partial_exit_target", "profit_target"]).evaluate(ctx)

    assert (decision.rule, decision.action, decision.quantity) == ("profit_target", ExitAction.CLOSE, 10)
    assert decision.also_fired[0].rule == "partial_exit_target"
    assert decision.also_fired[0].quantity == 5


def test_evaluator_when_order_puts_partial_first_then_the_partial_stage_wins() -> None:
    ctx = make_context(0.60, position=make_position(1.00, quantity=10))

    decision = make_evaluator(["profit_target", "partial_exit_target"], order=["partial_exit_target"]).evaluate(ctx)

    assert (decision.rule, decision.action, decision.quantity) == ("partial_exit_target", ExitAction.PARTIAL_CLOSE, 5)


def test_evaluator_when_priority_is_overridden_then_the_lifted_rule_wins_with_its_new_priority() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.02, volume=10), features={"edge": -0.05})

    decision = make_evaluator(
        ["liquidity_dried_up", "early_exit"], priorities={"early_exit": Priority.CRITICAL}
    ).evaluate(ctx)

    assert decision.rule == "early_exit"
    assert decision.priority is Priority.CRITICAL
    assert [(f.rule, f.priority) for f in decision.also_fired] == [("liquidity_dried_up", Priority.HIGH)]


def test_evaluator_when_config_exit_priorities_reorder_and_lift_rules_then_the_risk_manager_honours_them() -> None:
    # Arrange: the configuration moves circuit_breaker ahead of stop_loss and makes
    # edge_disappeared HIGH, ahead of liquidity_dried_up.
    cfg = parse_config(
        """
exit_priorities:
  CRITICAL: [circuit_breaker, stop_loss]
  HIGH: [edge_disappeared, trailing_stop, liquidity_dried_up]
  MEDIUM: [profit_target, partial_exit_target]
  LOW: [early_exit, rebalance]
"""
    )
    ev = RiskManager(cfg, equity=100_000.0).evaluator("default")
    breaker = make_context(2.50, position=make_vertical(1.00), portfolio=BREAKER_TRIPPED)
    edge = make_context(mark=make_mark(1.00, spread=0.02, volume=10), features={"edge": -0.05})

    # Act
    first = ev.evaluate(breaker)
    second = ev.evaluate(edge)

    # Assert
    assert first.rule == "circuit_breaker"
    assert second.rule == "edge_disappeared"
    assert second.priority is Priority.HIGH
    assert _names(second.also_fired) == ["liquidity_dried_up", "early_exit"]


@pytest.mark.parametrize("problem", ["missing", "crossed", "stale"])
def test_evaluator_when_the_mark_has_a_problem_then_holds_without_evaluating_any_rule(problem: str) -> None:
    # Arrange: a rule that records every call and always fires CRITICAL.
    calls: list[str] = []
    registry = _registry_with_spy(calls)
    ev = make_evaluator(["spy", "stop_loss"], registry=registry)
    ctx = make_context(mark=make_mark(9.99, problem=problem), position=make_vertical(1.00))

    # Act
    decision = ev.evaluate(ctx)

    # Assert
    assert decision.is_hold
    assert decision.rule is None and decision.priority is None
    assert f"quote {problem}" in decision.reason and "no rule evaluated" in decision.reason
    assert decision.inputs["quote_problem"] == problem
    assert calls == []


def test_evaluator_when_the_mark_is_good_then_every_enabled_rule_is_evaluated() -> None:
    calls: list[str] = []
    ev = make_evaluator(["spy", "stop_loss"], registry=_registry_with_spy(calls))

    decision = ev.evaluate(make_context(1.00, position=make_vertical(1.00)))

    assert calls == ["pcs-1"]
    assert decision.rule == "spy"


def test_evaluator_when_a_rule_reports_the_wrong_priority_then_the_bound_priority_is_used() -> None:
    calls: list[str] = []
    ev = make_evaluator(["spy"], registry=_registry_with_spy(calls, reported=Priority.LOW))

    decision = ev.evaluate(make_context(1.00))

    assert decision.priority is Priority.CRITICAL


def test_evaluator_when_nothing_fires_then_holds_with_profit_dte_and_premium_as_inputs() -> None:
    ctx = make_context(0.90, position=make_vertical(1.00, dte=30))

    decision = ExitEvaluator.with_defaults().evaluate(ctx)

    assert decision.is_hold
    assert decision.rule is None and decision.also_fired == ()
    assert decision.reason
    assert decision.inputs["profit_pct"] == pytest.approx(0.10)
    assert decision.inputs["dte"] == 30
    assert decision.inputs["premium"] == pytest.approx(0.90)


def test_evaluator_when_nothing_is_open_then_holds() -> None:
    pos = make_position(1.00, quantity=0, original_quantity=2)

    decision = ExitEvaluator.with_defaults().evaluate(make_context(5.00, position=pos))

    assert decision.is_hold
    assert decision.reason == "nothing open"


def test_evaluator_when_rules_are_disabled_then_they_are_not_bound() -> None:
    ev = make_evaluator({"stop_loss": {"enabled": False}, "profit_target": {}})

    assert ev.rule_names() == ["profit_target"]
    assert ev.params("stop_loss") is None
    assert ev.evaluate(make_context(9.00, position=make_vertical(1.00))).is_hold


def test_evaluator_with_defaults_binds_every_builtin_rule_in_priority_then_spec_order() -> None:
    ev = ExitEvaluator.with_defaults()

    assert ev.rule_names() == [
        "stop_loss", "volatility_scaled_stop", "circuit_breaker",
        "trailing_stop", "time_based_urgent", "liquidity_dried_up",
        "profit_target", "partial_exit_target", "time_exit_dte", "gamma_protection",
        "early_exit", "edge_disappeared", "rebalance", "max_holding_period",
    ]


def test_evaluator_when_a_rule_is_bound_twice_then_refused() -> None:
    bound = make_evaluator(["stop_loss"]).rules[0]

    with pytest.raises(ValueError, match="bound twice"):
        ExitEvaluator([bound, bound])


def test_evaluator_when_settings_have_the_wrong_type_then_refused_naming_the_rule() -> None:
    with pytest.raises(TypeError, match=r"stop_loss.*StopLossParams"):
        ExitEvaluator.from_settings({"stop_loss": rule_params("profit_target")})


def test_evaluator_when_a_rule_name_is_misspelled_then_refused_with_a_suggestion() -> None:
    with pytest.raises(KeyError, match="did you mean 'stop_loss'"):
        make_evaluator(["stop_los"])


def test_registry_when_a_rule_name_is_registered_twice_then_refused() -> None:
    reg = BUILTIN_RULES.copy()

    with pytest.raises(ValueError, match="already registered"):
        reg.add(BUILTIN_RULES.get("stop_loss"))


def test_registry_copy_when_a_rule_is_added_then_the_builtin_registry_is_untouched() -> None:
    reg = _registry_with_spy([])

    assert "spy" in reg
    assert "spy" not in BUILTIN_RULES


@pytest.mark.parametrize(
    ("open_qty", "original", "done", "premium", "action", "qty"),
    [
        (1, 1, (), 0.85, ExitAction.CLOSE, 1),  # 50% of 1 closes 1: everything
        (3, 3, (), 0.85, ExitAction.PARTIAL_CLOSE, 1),  # 50% of 3 closes 1
        (10, 10, (), 0.85, ExitAction.PARTIAL_CLOSE, 5),
        (5, 10, ("first_target",), 0.75, ExitAction.PARTIAL_CLOSE, 2),  # 25% of 10 closes 2
        (1, 4, ("first_target",), 0.75, ExitAction.CLOSE, 1),
    ],
)
def test_evaluator_partial_exit_rounding_then_whole_contracts(
    open_qty: int, original: int, done: tuple[str, ...], premium: float, action: ExitAction, qty: int
) -> None:
    pos = make_position(1.00, quantity=open_qty, original_quantity=original, stages_done=done)

    decision = make_evaluator(["partial_exit_target"]).evaluate(make_context(premium, position=pos))

    assert (decision.action, decision.quantity) == (action, qty)


def test_evaluator_when_a_stage_is_done_then_it_does_not_refire_and_stages_go_in_order() -> None:
    ev = make_evaluator(["partial_exit_target"])
    pos = make_position(1.00, quantity=8)

    first = ev.evaluate(make_context(0.70, position=pos))
    pos = pos.reduced(first.quantity).with_stage_done(first.stage or "")
    second = ev.evaluate(make_context(0.70, position=pos))
    pos = pos.reduced(second.quantity).with_stage_done(second.stage or "")
    third = ev.evaluate(make_context(0.70, position=pos))

    assert (first.stage, first.quantity) == ("first_target", 4)
    assert (second.stage, second.quantity) == ("second_target", 2)
    assert third.is_hold
    assert pos.quantity == 2


# --- helpers ------------------------------------------------------------------------------
class _NoParams(RuleParams):
    pass


def _registry_with_spy(calls: list[str], reported: Priority = Priority.CRITICAL) -> RuleRegistry:
    """The built-in rules plus ``spy``: CRITICAL, always fires, records the position it saw."""

    def spy(ctx: RuleContext, p: _NoParams) -> RuleFiring:
        calls.append(ctx.position.id)
        return RuleFiring("spy", reported, ExitAction.CLOSE, "spy always fires", ctx.position.quantity)

    reg = BUILTIN_RULES.copy()
    reg.add(RuleSpec("spy", Priority.CRITICAL, _NoParams, spy))
    return reg


def test_rule_context_when_now_is_naive_then_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        RuleContext.build(make_vertical(1.00), make_mark(1.00), datetime(2024, 3, 1, 10, 0), portfolio=EMPTY_PORTFOLIO)


# --- from leg quotes to a decision ----------------------------------------------------------
def _vertical_quotes(short_age: float = 0.0, short_bid: float | None = 3.40) -> dict[OptionContract, Quote]:
    pos = make_vertical(1.00)
    short, long = pos.legs
    return {
        short.contract: make_quote(short_bid, 3.50, age_seconds=short_age, volume=500),
        long.contract: make_quote(1.20, 1.25, volume=500),
    }


def test_evaluator_when_leg_quotes_put_the_spread_through_its_stop_then_stop_loss_fires() -> None:
    # Short 400P 3.40/3.50, long 395P 1.20/1.25: buying the spread back is 2.15/2.30, mid 2.225,
    # a 122.5% loss on the 1.00 credit (short of 125%). With the short leg at 3.60/3.70 the mid is
    # 2.425, a 142.5% loss.
    pos = make_vertical(1.00)
    near = mark_position(pos, _vertical_quotes(), NOW)
    far_quotes = _vertical_quotes()
    far_quotes[pos.legs[0].contract] = make_quote(3.60, 3.70, volume=500)
    far = mark_position(pos, far_quotes, NOW)
    ev = ExitEvaluator.with_defaults()

    assert near.premium == pytest.approx(2.225)
    assert ev.evaluate(make_context(mark=near, position=pos)).rule != "stop_loss"
    assert far.premium == pytest.approx(2.425)
    assert ev.evaluate(make_context(mark=far, position=pos)).rule == "stop_loss"


@pytest.mark.parametrize(
    ("quotes", "problem"),
    [
        (lambda: _vertical_quotes(short_age=120), "stale"),
        (lambda: _vertical_quotes(short_bid=None), "missing"),
        (lambda: _vertical_quotes(short_bid=3.60), "crossed"),
    ],
)
def test_evaluator_when_one_leg_quote_is_bad_then_the_position_holds_whatever_the_price(
    quotes: Callable[[], dict[OptionContract, Quote]], problem: str
) -> None:
    pos = make_vertical(1.00)
    mark = mark_position(pos, quotes(), NOW)

    decision = ExitEvaluator.with_defaults().evaluate(make_context(mark=mark, position=pos))

    assert decision.is_hold
    assert decision.inputs["quote_problem"] == problem
