"""time_based_urgent (HIGH): fewer than 5 minutes to settlement/expiry."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.model import Leg
from riskpilot.testing import NOW, make_context, make_contract, make_evaluator, make_position, run_rule

# Expiration day: the default position expires at 16:00 New York on NOW's date.
CLOSE = NOW.replace(hour=16, minute=0)



def test_time_based_urgent_when_4_minutes_to_expiry_then_fires_high_close() -> None:
    pos = make_position(1.00, dte=0, quantity=2)

    firing = run_rule("time_based_urgent", make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=4)))

    assert firing is not None
    assert firing.priority is Priority.HIGH
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 2
    assert firing.inputs["minutes_to_expiry"] == pytest.approx(4.0)


def test_time_based_urgent_when_exactly_5_minutes_to_expiry_then_holds() -> None:
    # "fewer than 5 minutes": 5:00 left is not yet urgent, 4:59 is.
    pos = make_position(1.00, dte=0)

    at_five = run_rule("time_based_urgent", make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=5)))
    just_under = run_rule(
        "time_based_urgent", make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=4, seconds=59))
    )

    assert at_five is None
    assert just_under is not None


def test_time_based_urgent_when_an_hour_to_expiry_then_holds() -> None:
    pos = make_position(1.00, dte=0)

    assert run_rule("time_based_urgent", make_context(1.00, position=pos, now=CLOSE - timedelta(hours=1))) is None


def test_time_based_urgent_when_position_expires_tomorrow_then_holds() -> None:
    pos = make_position(1.00, dte=1)

    assert run_rule("time_based_urgent", make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=1))) is None


def test_time_based_urgent_when_past_settlement_then_fires() -> None:
    pos = make_position(1.00, dte=0)

    assert run_rule("time_based_urgent", make_context(1.00, position=pos, now=CLOSE + timedelta(minutes=1))) is not None


def test_time_based_urgent_when_configured_at_30_minutes_then_fires_at_29() -> None:
    pos = make_position(1.00, dte=0)
    ctx = make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=29))

    assert run_rule("time_based_urgent", ctx, minutes=30) is not None
    assert run_rule("time_based_urgent", ctx) is None


def test_time_based_urgent_when_debit_position_near_expiry_then_fires_too() -> None:
    pos = make_position(0.50, credit=False, dte=0)

    assert run_rule("time_based_urgent", make_context(0.50, position=pos, now=CLOSE - timedelta(minutes=2))) is not None


def test_time_based_urgent_when_event_contract_settles_at_its_own_time_then_uses_that_time() -> None:
    # A binary event contract settling at 11:00 New York on NOW's date.
    contract = make_contract(50.0, "C", underlying="EVT", dte=0, multiplier=1, expiry_time=time(11, 0))
    pos = make_position(0.40, credit=False, legs=[Leg(contract, 1)])
    settle = NOW.replace(hour=11, minute=0)

    three_left = make_context(0.40, position=pos, now=settle - timedelta(minutes=3))
    six_left = make_context(0.40, position=pos, now=settle - timedelta(minutes=6))

    assert run_rule("time_based_urgent", three_left) is not None
    assert run_rule("time_based_urgent", six_left) is None


# Regression, fixed in bb130bd. Before the fix: time_based_urgent screens out every position with dte > 0 before
# computing the minutes left, so a contract settling just after midnight (00:02 tomorrow, 3 minutes
# away) is never urgent
def test_time_based_urgent_when_contract_settles_3_minutes_after_midnight_then_fires() -> None:
    contract = make_contract(50.0, "C", underlying="EVT", dte=1, multiplier=1, expiry_time=time(0, 2))
    pos = make_position(0.40, credit=False, legs=[Leg(contract, 1)])
    late = NOW.replace(hour=23, minute=59)

    assert run_rule("time_based_urgent", make_context(0.40, position=pos, now=late)) is not None


def test_time_based_urgent_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"time_based_urgent": {"enabled": False}})
    pos = make_position(1.00, dte=0)

    assert ev.evaluate(make_context(1.00, position=pos, now=CLOSE - timedelta(minutes=1))).is_hold
