"""rebalance (LOW): a better opportunity's edge beats this one's by at least ``margin`` (5
points); silent unless both edges are supplied (features ``edge`` and ``alternative_edge``)."""

from __future__ import annotations

import math

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_rebalance_when_alternative_beats_edge_by_6_points_then_fires_low_close() -> None:
    ctx = make_context(0.90, features={"edge": 0.02, "alternative_edge": 0.08})

    firing = run_rule("rebalance", ctx)

    assert firing is not None
    assert firing.priority is Priority.LOW
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["alternative_edge"] == pytest.approx(0.08)


def test_rebalance_when_alternative_beats_edge_by_4_points_then_holds() -> None:
    assert run_rule("rebalance", make_context(0.90, features={"edge": 0.02, "alternative_edge": 0.06})) is None


def test_rebalance_when_alternative_beats_edge_by_exactly_the_margin_then_fires() -> None:
    assert run_rule("rebalance", make_context(0.90, features={"edge": 0.02, "alternative_edge": 0.07})) is not None


# Regression, fixed in bb130bd. Before the fix: rebalance compares alt - edge < margin with no float slack: 0.06 -
# 0.01 = 0.049999999999999996 < 0.05, so a 5-point advantage does not fire
def test_rebalance_when_margin_is_exactly_5_points_in_decimal_terms_then_fires_despite_rounding() -> None:
    assert run_rule("rebalance", make_context(0.90, features={"edge": 0.01, "alternative_edge": 0.06})) is not None


def test_rebalance_when_alternative_is_worse_then_holds() -> None:
    assert run_rule("rebalance", make_context(0.90, features={"edge": 0.10, "alternative_edge": 0.01})) is None


@pytest.mark.parametrize("features", [{}, {"edge": 0.01}, {"alternative_edge": 0.50}])
def test_rebalance_without_both_edges_then_stays_silent(features: dict[str, float]) -> None:
    assert run_rule("rebalance", make_context(0.90, features=features)) is None


def test_rebalance_with_custom_margin_then_uses_it() -> None:
    ctx = make_context(0.90, features={"edge": 0.02, "alternative_edge": 0.04})

    assert run_rule("rebalance", ctx, margin=0.01) is not None
    assert run_rule("rebalance", ctx, margin=0.03) is None


def test_rebalance_when_debit_position_is_outclassed_then_fires_too() -> None:
    ctx = make_context(2.0, position=make_position(2.00, credit=False), features={"edge": 0.0, "alternative_edge": 0.2})

    assert run_rule("rebalance", ctx) is not None


# Regression, fixed in bb130bd. Before the fix: rebalance treats a NaN edge as a present value (`alt - nan <
# margin` is False) and closes the position
def test_rebalance_when_edge_is_nan_then_stays_silent() -> None:
    assert run_rule("rebalance", make_context(0.90, features={"edge": math.nan, "alternative_edge": 0.5})) is None


def test_rebalance_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"rebalance": {"enabled": False}})

    assert ev.evaluate(make_context(0.90, features={"edge": 0.0, "alternative_edge": 0.9})).is_hold
