"""stop_loss (CRITICAL): loss >= stop_loss_pct of the entry premium (SPEC sections 1-2)."""

from __future__ import annotations

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, make_vertical, run_rule


def test_stop_loss_when_credit_close_costs_250_on_a_100_credit_then_fires_critical_close() -> None:
    # Arrange: SPEC example, 125% stop, a 1.00 credit now costs 2.50 to close (150% loss).
    pos = make_vertical(entry_premium=1.00, quantity=2)
    ctx = make_context(2.50, position=pos)

    # Act
    firing = run_rule("stop_loss", ctx)

    # Assert
    assert firing is not None
    assert firing.rule == "stop_loss"
    assert firing.priority is Priority.CRITICAL
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 2
    assert firing.inputs["loss_pct"] == pytest.approx(1.50)
    assert firing.inputs["stop_loss_pct"] == pytest.approx(1.25)


def test_stop_loss_when_credit_close_costs_200_on_a_100_credit_then_holds() -> None:
    ctx = make_context(2.00, position=make_vertical(entry_premium=1.00))

    assert run_rule("stop_loss", ctx) is None


def test_stop_loss_when_credit_loss_is_exactly_125_pct_then_fires() -> None:
    ctx = make_context(2.25, position=make_vertical(entry_premium=1.00))

    firing = run_rule("stop_loss", ctx)

    assert firing is not None
    assert firing.inputs["loss_pct"] == pytest.approx(1.25)


def test_stop_loss_when_credit_loss_is_a_hair_below_125_pct_then_holds() -> None:
    ctx = make_context(2.2499, position=make_vertical(entry_premium=1.00))

    assert run_rule("stop_loss", ctx) is None


@pytest.mark.parametrize(
    ("entry", "close"),
    [(0.40, 0.90), (1.10, 2.475), (2.00, 4.50), (0.20, 0.45), (0.35, 0.7875)],
)
def test_stop_loss_when_loss_is_exactly_the_stop_in_decimal_terms_then_fires_despite_float_rounding(
    entry: float, close: float
) -> None:
    # (0.90 - 0.40) / 0.40 is 1.2499999999999998 in binary floating point.
    ctx = make_context(close, position=make_vertical(entry_premium=entry))

    assert run_rule("stop_loss", ctx) is not None


def test_stop_loss_when_configured_at_200_pct_then_fires_at_300_and_not_at_299() -> None:
    pos = make_vertical(entry_premium=1.00)

    assert run_rule("stop_loss", make_context(3.00, position=pos), stop_loss_pct=2.0) is not None
    assert run_rule("stop_loss", make_context(2.99, position=pos), stop_loss_pct=2.0) is None


def test_stop_loss_when_credit_position_is_in_profit_then_holds() -> None:
    ctx = make_context(0.10, position=make_vertical(entry_premium=1.00))

    assert run_rule("stop_loss", ctx) is None


def test_stop_loss_when_debit_premium_halves_then_fires_on_the_debit_setting() -> None:
    # Debit: loss = entry - current; default debit_stop_loss_pct is 0.50 of the premium paid.
    pos = make_position(2.00, credit=False)

    firing = run_rule("stop_loss", make_context(1.00, position=pos))

    assert firing is not None
    assert firing.inputs["stop_loss_pct"] == pytest.approx(0.50)
    assert firing.inputs["loss_pct"] == pytest.approx(0.50)


def test_stop_loss_when_debit_premium_falls_49_pct_then_holds() -> None:
    pos = make_position(2.00, credit=False)

    assert run_rule("stop_loss", make_context(1.02, position=pos)) is None


def test_stop_loss_when_debit_premium_rises_then_holds_even_with_a_tiny_credit_stop() -> None:
    # The credit setting must not leak into debit positions: a rising premium is a profit.
    pos = make_position(2.00, credit=False)

    assert run_rule("stop_loss", make_context(3.00, position=pos), stop_loss_pct=0.01) is None


def test_stop_loss_when_debit_loses_5_pct_and_credit_stop_is_1_pct_then_uses_debit_stop_and_holds() -> None:
    pos = make_position(2.00, credit=False)

    assert run_rule("stop_loss", make_context(1.90, position=pos), stop_loss_pct=0.01) is None


def test_stop_loss_when_some_contracts_already_closed_then_closes_what_is_open() -> None:
    pos = make_position(1.00, quantity=3, original_quantity=5)

    firing = run_rule("stop_loss", make_context(2.50, position=pos))

    assert firing is not None
    assert firing.quantity == 3


def test_stop_loss_when_evaluated_then_decision_names_rule_reason_and_priority() -> None:
    ev = make_evaluator(["stop_loss"])

    decision = ev.evaluate(make_context(2.50, position=make_vertical(1.00)))

    assert decision.action is ExitAction.CLOSE
    assert decision.rule == "stop_loss"
    assert decision.priority is Priority.CRITICAL
    assert "150.0%" in decision.reason and "125%" in decision.reason


def test_stop_loss_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"stop_loss": {"enabled": False}})

    decision = ev.evaluate(make_context(5.00, position=make_vertical(1.00)))

    assert decision.is_hold
    assert "stop_loss" not in ev.rule_names()
    assert run_rule("stop_loss", make_context(5.00), enabled=False) is None


def test_stop_loss_when_setting_is_out_of_range_then_refused_by_name() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="stop_loss_pct"):
        run_rule("stop_loss", make_context(1.0), stop_loss_pct=0)
    with pytest.raises(ValidationError, match="debit_stop_loss_pct"):
        run_rule("stop_loss", make_context(1.0), debit_stop_loss_pct=1.5)
