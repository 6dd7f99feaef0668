"""time_exit_dte (MEDIUM): DTE <= time_exit_dte (14); closes or ROLLs per the method."""

from __future__ import annotations

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_time_exit_dte_when_10_dte_then_fires_medium_close() -> None:
    pos = make_position(1.00, dte=10, quantity=2)

    firing = run_rule("time_exit_dte", make_context(0.90, position=pos))

    assert firing is not None
    assert firing.priority is Priority.MEDIUM
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 2
    assert firing.inputs["dte"] == 10


def test_time_exit_dte_when_exactly_14_dte_then_fires() -> None:
    assert run_rule("time_exit_dte", make_context(0.90, position=make_position(1.00, dte=14))) is not None


def test_time_exit_dte_when_15_dte_then_holds() -> None:
    assert run_rule("time_exit_dte", make_context(0.90, position=make_position(1.00, dte=15))) is None


def test_time_exit_dte_when_expiration_day_then_fires() -> None:
    assert run_rule("time_exit_dte", make_context(0.90, position=make_position(1.00, dte=0))) is not None


def test_time_exit_dte_when_method_rolls_then_action_is_roll() -> None:
    firing = run_rule("time_exit_dte", make_context(0.90, position=make_position(1.00, dte=7)), action="roll")

    assert firing is not None
    assert firing.action is ExitAction.ROLL


def test_time_exit_dte_when_configured_at_7_then_fires_at_7_not_8() -> None:
    seven = make_context(0.9, position=make_position(1.00, dte=7))
    eight = make_context(0.9, position=make_position(1.00, dte=8))

    assert run_rule("time_exit_dte", seven, time_exit_dte=7) is not None
    assert run_rule("time_exit_dte", eight, time_exit_dte=7) is None


def test_time_exit_dte_when_debit_position_near_expiry_then_fires_too() -> None:
    pos = make_position(2.00, credit=False, dte=5)

    assert run_rule("time_exit_dte", make_context(2.50, position=pos)) is not None


def test_time_exit_dte_counts_calendar_days_from_the_evaluation_time_not_the_entry() -> None:
    # Opened with 30 DTE; evaluated 20 days later it has 10 left.
    from datetime import timedelta

    from riskpilot.testing import NOW

    pos = make_position(1.00, dte=30)
    later = NOW + timedelta(days=20)

    firing = run_rule("time_exit_dte", make_context(0.90, position=pos, now=later))

    assert firing is not None
    assert firing.inputs["dte"] == 10


def test_time_exit_dte_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"time_exit_dte": {"enabled": False}})

    assert ev.evaluate(make_context(0.90, position=make_position(1.00, dte=0))).is_hold
