"""edge_disappeared (LOW): the model's edge turned negative; silent without an edge."""

from __future__ import annotations

import math

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_edge_disappeared_when_edge_is_minus_0_1_pct_then_fires_low_close() -> None:
    firing = run_rule("edge_disappeared", make_context(0.90, features={"edge": -0.001}))

    assert firing is not None
    assert firing.priority is Priority.LOW
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["edge"] == pytest.approx(-0.001)


def test_edge_disappeared_when_edge_is_exactly_zero_then_holds() -> None:
    assert run_rule("edge_disappeared", make_context(0.90, features={"edge": 0.0})) is None


def test_edge_disappeared_when_edge_is_small_but_positive_then_holds() -> None:
    # Below early_exit's 2% but not negative: only early_exit's business.
    assert run_rule("edge_disappeared", make_context(0.90, features={"edge": 0.01})) is None


def test_edge_disappeared_without_an_edge_feature_then_stays_silent() -> None:
    assert run_rule("edge_disappeared", make_context(0.90)) is None


def test_edge_disappeared_when_debit_position_edge_turns_negative_then_fires() -> None:
    ctx = make_context(2.10, position=make_position(2.00, credit=False), features={"edge": -0.02})

    assert run_rule("edge_disappeared", ctx) is not None


# Regression, fixed in bb130bd. Before the fix: edge_disappeared treats a NaN edge as a present value (`edge >= 0`
# is False for NaN) and closes the position
def test_edge_disappeared_when_edge_is_nan_then_stays_silent() -> None:
    assert run_rule("edge_disappeared", make_context(0.90, features={"edge": math.nan})) is None


def test_edge_disappeared_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"edge_disappeared": {"enabled": False}})

    assert ev.evaluate(make_context(0.90, features={"edge": -0.5})).is_hold
