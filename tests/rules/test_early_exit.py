"""early_exit (LOW): the model's edge fell below min_edge (2%); silent without an edge."""

from __future__ import annotations

import math

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_early_exit_when_edge_is_1_9_pct_then_fires_low_close() -> None:
    ctx = make_context(0.90, position=make_position(1.00, quantity=2), features={"edge": 0.019})

    firing = run_rule("early_exit", ctx)

    assert firing is not None
    assert firing.priority is Priority.LOW
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 2
    assert firing.inputs["edge"] == pytest.approx(0.019)


def test_early_exit_when_edge_is_exactly_2_pct_then_holds() -> None:
    # "edge below 2%": 2% itself is still enough edge.
    assert run_rule("early_exit", make_context(0.90, features={"edge": 0.02})) is None


def test_early_exit_when_edge_is_5_pct_then_holds() -> None:
    assert run_rule("early_exit", make_context(0.90, features={"edge": 0.05})) is None


def test_early_exit_when_edge_is_negative_then_fires() -> None:
    assert run_rule("early_exit", make_context(0.90, features={"edge": -0.03})) is not None


def test_early_exit_without_an_edge_feature_then_stays_silent() -> None:
    assert run_rule("early_exit", make_context(0.90, features={"atr": 0.1})) is None
    assert run_rule("early_exit", make_context(0.90)) is None


def test_early_exit_with_custom_min_edge_then_uses_it() -> None:
    ctx = make_context(0.90, features={"edge": 0.04})

    assert run_rule("early_exit", ctx, min_edge=0.05) is not None
    assert run_rule("early_exit", ctx, min_edge=0.03) is None


def test_early_exit_when_debit_position_loses_its_edge_then_fires_too() -> None:
    ctx = make_context(2.10, position=make_position(2.00, credit=False), features={"edge": 0.0})

    assert run_rule("early_exit", ctx) is not None


# Regression, fixed in bb130bd. Before the fix: early_exit treats a NaN edge as a present value: `edge >= min_edge`
# is False for NaN, so a model that produced no number closes the position (volatility_scaled_stop
# treats a NaN feature as absent)
def test_early_exit_when_edge_is_nan_then_stays_silent() -> None:
    assert run_rule("early_exit", make_context(0.90, features={"edge": math.nan})) is None


def test_early_exit_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"early_exit": {"enabled": False}})

    assert ev.evaluate(make_context(0.90, features={"edge": -0.5})).is_hold
