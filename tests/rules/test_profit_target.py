"""profit_target (MEDIUM): profit >= profit_target_pct of the entry premium (SPEC sections 1-2)."""

from __future__ import annotations

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, make_vertical, run_rule


@pytest.mark.parametrize("target", [0.35, 0.50])
def test_profit_target_when_credit_falls_from_100_to_040_then_fires_at_35_and_50_pct(target: float) -> None:
    # Arrange: SPEC example, 60% profit.
    ctx = make_context(0.40, position=make_vertical(entry_premium=1.00))

    # Act
    firing = run_rule("profit_target", ctx, profit_target_pct=target)

    # Assert
    assert firing is not None
    assert firing.priority is Priority.MEDIUM
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["profit_pct"] == pytest.approx(0.60)


@pytest.mark.parametrize("target", [0.35, 0.50, 0.65])
def test_profit_target_when_credit_falls_from_100_to_080_then_holds(target: float) -> None:
    ctx = make_context(0.80, position=make_vertical(entry_premium=1.00))

    assert run_rule("profit_target", ctx, profit_target_pct=target) is None


@pytest.mark.parametrize(("target", "close"), [(0.35, 0.65), (0.50, 0.50), (0.65, 0.35), (0.25, 0.75)])
def test_profit_target_when_profit_is_exactly_the_target_then_fires(target: float, close: float) -> None:
    ctx = make_context(close, position=make_vertical(entry_premium=1.00))

    assert run_rule("profit_target", ctx, profit_target_pct=target) is not None


def test_profit_target_when_profit_is_one_cent_short_of_35_pct_then_holds() -> None:
    ctx = make_context(0.66, position=make_vertical(entry_premium=1.00))

    assert run_rule("profit_target", ctx) is None


def test_profit_target_default_is_35_pct() -> None:
    pos = make_vertical(entry_premium=1.00)

    assert run_rule("profit_target", make_context(0.65, position=pos)) is not None
    assert run_rule("profit_target", make_context(0.66, position=pos)) is None


def test_profit_target_when_debit_premium_rises_35_pct_then_fires() -> None:
    pos = make_position(2.00, credit=False)

    firing = run_rule("profit_target", make_context(2.70, position=pos))

    assert firing is not None
    assert firing.inputs["profit_pct"] == pytest.approx(0.35)


def test_profit_target_when_debit_premium_rises_30_pct_then_holds() -> None:
    pos = make_position(2.00, credit=False)

    assert run_rule("profit_target", make_context(2.60, position=pos)) is None


def test_profit_target_when_debit_premium_falls_then_holds() -> None:
    # A falling premium is a credit seller's profit but a debit buyer's loss.
    pos = make_position(2.00, credit=False)

    assert run_rule("profit_target", make_context(0.50, position=pos)) is None


def test_profit_target_when_credit_position_is_losing_then_holds() -> None:
    assert run_rule("profit_target", make_context(1.50, position=make_vertical(1.00))) is None


def test_profit_target_when_fires_then_closes_the_whole_open_quantity() -> None:
    pos = make_position(1.00, quantity=4, original_quantity=8)

    firing = run_rule("profit_target", make_context(0.40, position=pos))

    assert firing is not None
    assert firing.quantity == 4


def test_profit_target_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"profit_target": {"enabled": False}})

    decision = ev.evaluate(make_context(0.01, position=make_vertical(1.00)))

    assert decision.is_hold
    assert ev.params("profit_target") is None
