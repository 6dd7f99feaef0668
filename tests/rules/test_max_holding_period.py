"""max_holding_period (LOW): held longer than max_days (60) calendar days."""

from __future__ import annotations

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_max_holding_period_when_held_61_days_then_fires_low_close() -> None:
    pos = make_position(1.00, opened_days_ago=61, dte=30)

    firing = run_rule("max_holding_period", make_context(0.90, position=pos))

    assert firing is not None
    assert firing.priority is Priority.LOW
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["days_held"] == 61


def test_max_holding_period_when_held_exactly_60_days_then_holds() -> None:
    # "held longer than N days": day 60 itself is within the limit.
    assert run_rule("max_holding_period", make_context(0.90, position=make_position(1.00, opened_days_ago=60))) is None


def test_max_holding_period_when_just_opened_then_holds() -> None:
    assert run_rule("max_holding_period", make_context(0.90, position=make_position(1.00))) is None


def test_max_holding_period_with_custom_max_days_then_uses_it() -> None:
    pos = make_position(1.00, opened_days_ago=6)

    assert run_rule("max_holding_period", make_context(0.9, position=pos), max_days=5) is not None
    assert run_rule("max_holding_period", make_context(0.9, position=pos), max_days=6) is None


def test_max_holding_period_when_debit_position_held_too_long_then_fires_too() -> None:
    pos = make_position(2.00, credit=False, opened_days_ago=90, dte=30)

    assert run_rule("max_holding_period", make_context(2.00, position=pos)) is not None


def test_max_holding_period_counts_days_from_the_marking_clock() -> None:
    # days_held is tracked by marking the position; the context builder marks at `now`.
    from datetime import timedelta

    from riskpilot.testing import NOW

    pos = make_position(1.00, dte=120)

    firing = run_rule("max_holding_period", make_context(0.9, position=pos, now=NOW + timedelta(days=61)))

    assert firing is not None


def test_max_holding_period_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"max_holding_period": {"enabled": False}})

    assert ev.evaluate(make_context(0.90, position=make_position(1.00, opened_days_ago=400, dte=30))).is_hold
