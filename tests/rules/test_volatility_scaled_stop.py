"""volatility_scaled_stop (CRITICAL): loss beyond k x ATR (or k x implied move); silent
without the feature."""

from __future__ import annotations

import math

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, make_vertical, run_rule


def test_volatility_scaled_stop_when_loss_exceeds_3_atr_then_fires_critical_close() -> None:
    # Arrange: credit 1.00, ATR of the premium 0.10, k = 3 -> stop at a 0.30 loss.
    ctx = make_context(1.31, position=make_vertical(1.00), features={"atr": 0.10})

    # Act
    firing = run_rule("volatility_scaled_stop", ctx)

    # Assert
    assert firing is not None
    assert firing.priority is Priority.CRITICAL
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["loss"] == pytest.approx(0.31)
    assert firing.inputs["atr"] == pytest.approx(0.10)


def test_volatility_scaled_stop_when_loss_is_below_3_atr_then_holds() -> None:
    ctx = make_context(1.29, position=make_vertical(1.00), features={"atr": 0.10})

    assert run_rule("volatility_scaled_stop", ctx) is None


def test_volatility_scaled_stop_when_loss_is_exactly_3_atr_then_fires() -> None:
    ctx = make_context(1.30, position=make_vertical(1.00), features={"atr": 0.10})

    assert run_rule("volatility_scaled_stop", ctx) is not None


# Regression, fixed in bb130bd. Before the fix: volatility_scaled_stop compares loss < k*scale with no float slack,
# so a loss of exactly 3 x ATR (1.40 - 1.10 = 0.2999999999999998 < 3 * 0.10) does not fire;
# stop_loss and profit_target use EPS for this
def test_volatility_scaled_stop_when_loss_is_exactly_3_atr_in_decimal_terms_then_fires_despite_rounding() -> None:
    ctx = make_context(1.40, position=make_vertical(1.10), features={"atr": 0.10})

    assert run_rule("volatility_scaled_stop", ctx) is not None


def test_volatility_scaled_stop_without_atr_then_stays_silent_even_in_a_deep_loss() -> None:
    ctx = make_context(4.50, position=make_vertical(1.00))

    assert run_rule("volatility_scaled_stop", ctx) is None


def test_volatility_scaled_stop_when_measure_is_implied_move_and_only_atr_supplied_then_stays_silent() -> None:
    ctx = make_context(4.50, position=make_vertical(1.00), features={"atr": 0.01})

    assert run_rule("volatility_scaled_stop", ctx, measure="implied_move") is None


def test_volatility_scaled_stop_when_measure_is_implied_move_then_scales_by_it() -> None:
    ctx = make_context(1.50, position=make_vertical(1.00), features={"implied_move": 0.20, "atr": 0.01})

    fired = run_rule("volatility_scaled_stop", ctx, measure="implied_move", k=2.0)
    silent = run_rule("volatility_scaled_stop", ctx, measure="implied_move", k=3.0)

    assert fired is not None and fired.inputs["implied_move"] == pytest.approx(0.20)
    assert silent is None


@pytest.mark.parametrize("atr", [0.0, -0.1, math.nan])
def test_volatility_scaled_stop_when_atr_is_zero_negative_or_nan_then_stays_silent(atr: float) -> None:
    ctx = make_context(4.50, position=make_vertical(1.00), features={"atr": atr})

    assert run_rule("volatility_scaled_stop", ctx) is None


def test_volatility_scaled_stop_when_debit_premium_falls_beyond_3_atr_then_fires() -> None:
    pos = make_position(2.00, credit=False)
    ctx = make_context(1.60, position=pos, features={"atr": 0.10})

    firing = run_rule("volatility_scaled_stop", ctx)

    assert firing is not None
    assert firing.inputs["loss"] == pytest.approx(0.40)


def test_volatility_scaled_stop_when_debit_premium_rises_then_holds() -> None:
    pos = make_position(2.00, credit=False)

    assert run_rule("volatility_scaled_stop", make_context(3.00, position=pos, features={"atr": 0.01})) is None


def test_volatility_scaled_stop_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"volatility_scaled_stop": {"enabled": False}})

    decision = ev.evaluate(make_context(4.50, position=make_vertical(1.00), features={"atr": 0.01}))

    assert decision.is_hold
