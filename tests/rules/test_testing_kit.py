"""The shipped scenario builders (riskpilot.testing) build what they say, and refuse nonsense."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riskpilot import ExitEvaluator, PremiumType, Right
from riskpilot.model import QuoteProblem
from riskpilot.testing import (
    NOW,
    make_context,
    make_contract,
    make_evaluator,
    make_mark,
    make_position,
    make_quote,
    make_vertical,
    rule_params,
    run_rule,
)


def test_make_vertical_builds_a_put_credit_spread_short_the_upper_strike() -> None:
    pos = make_vertical(1.20, short_strike=450, width=10, quantity=3, dte=45)

    short, long = pos.legs
    assert pos.premium_type is PremiumType.CREDIT
    assert (short.contract.strike, short.quantity, short.contract.right) == (450, -1, Right.PUT)
    assert (long.contract.strike, long.quantity, long.contract.right) == (440, 1, Right.PUT)
    assert pos.dte(NOW.date()) == 45
    assert (pos.quantity, pos.original_quantity, pos.entry_premium) == (3, 3, 1.20)


@pytest.mark.parametrize(("entry", "width"), [(5.0, 5.0), (0.0, 5.0), (-1.0, 5.0)])
def test_make_vertical_when_credit_is_not_inside_the_width_then_refused(entry: float, width: float) -> None:
    with pytest.raises(ValueError, match="entry_premium must be between 0 and its width"):
        make_vertical(entry, width=width)


def test_make_position_when_debit_then_one_long_call() -> None:
    pos = make_position(2.50, credit=False)

    assert pos.premium_type is PremiumType.DEBIT
    assert len(pos.legs) == 1
    assert (pos.legs[0].quantity, pos.legs[0].contract.right) == (1, Right.CALL)


def test_make_position_when_opened_days_ago_then_opened_at_is_in_the_past() -> None:
    pos = make_position(opened_days_ago=10, stages_done=["first_target"], quantity=2, original_quantity=4)

    assert pos.opened_at == NOW - timedelta(days=10)
    assert pos.state.stages_done == frozenset({"first_target"})
    assert (pos.quantity, pos.original_quantity) == (2, 4)


def test_make_contract_when_multiplier_is_one_then_it_is_an_event_contract() -> None:
    contract = make_contract(50.0, "call", underlying="EVT", dte=0, multiplier=1)

    assert contract.multiplier == 1
    assert contract.right is Right.CALL
    assert contract.expiration == NOW.date()


def test_make_quote_when_aged_then_it_is_stale_by_the_default_limit() -> None:
    assert make_quote(1.0, 1.1, age_seconds=120).problem(NOW) is QuoteProblem.STALE
    assert make_quote(1.0, 1.1).problem(NOW) is None


@pytest.mark.parametrize("problem", list(QuoteProblem))
def test_make_mark_with_a_problem_then_the_mark_is_invalid(problem: QuoteProblem) -> None:
    mark = make_mark(1.00, problem=problem)

    assert not mark.is_valid
    assert mark.problem is problem


def test_make_mark_without_premium_or_problem_then_refused() -> None:
    with pytest.raises(ValueError, match="problem='missing'"):
        make_mark(None)


def test_make_context_observes_the_mark_like_the_risk_manager() -> None:
    ctx = make_context(0.40, position=make_vertical(1.00), now=NOW + timedelta(days=3))

    assert ctx.profit_pct == pytest.approx(0.60)
    assert ctx.position.state.trough_premium == pytest.approx(0.40)
    assert ctx.position.state.mfe == pytest.approx(0.60)
    assert ctx.position.state.days_held == 3
    assert ctx.dte == 27


def test_make_context_when_given_both_or_neither_premium_and_mark_then_refused() -> None:
    with pytest.raises(ValueError, match="premium or a mark"):
        make_context()
    with pytest.raises(ValueError, match="not both"):
        make_context(1.0, mark=make_mark(1.0))


def test_rule_params_when_a_setting_is_misspelled_then_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="stop_loss_pc"):
        rule_params("stop_loss", stop_loss_pc=1.0)


def test_run_rule_when_rule_is_unknown_then_suggests_the_name() -> None:
    with pytest.raises(KeyError, match="did you mean 'profit_target'"):
        run_rule("profit_targt", make_context(1.0))


def test_make_evaluator_without_rules_then_binds_every_builtin_rule() -> None:
    assert make_evaluator().rule_names() == ExitEvaluator.with_defaults().rule_names()
