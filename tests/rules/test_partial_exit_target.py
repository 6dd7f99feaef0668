"""partial_exit_target (MEDIUM): staged partial exits, 50% of the original quantity at +15%,
then 25% at +25%; each stage fires once, in order; whole contracts, at least one while any
remain."""

from __future__ import annotations

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.rules.partial_exit_target import stage_quantity
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_partial_exit_target_when_3_contracts_reach_15_pct_then_closes_1_as_partial() -> None:
    # Arrange: 50% of 3 is 1.5 contracts -> rounds down to 1.
    pos = make_position(1.00, quantity=3)

    # Act
    firing = run_rule("partial_exit_target", make_context(0.85, position=pos))

    # Assert
    assert firing is not None
    assert firing.priority is Priority.MEDIUM
    assert firing.action is ExitAction.PARTIAL_CLOSE
    assert firing.quantity == 1
    assert firing.stage == "first_target"


def test_partial_exit_target_when_1_contract_reaches_15_pct_then_closes_it_as_a_full_close() -> None:
    # 50% of 1 is half a contract: at least one closes, and that is everything.
    pos = make_position(1.00, quantity=1)

    firing = run_rule("partial_exit_target", make_context(0.85, position=pos))

    assert firing is not None
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 1


def test_partial_exit_target_when_second_stage_on_10_contracts_then_closes_2() -> None:
    # 25% of the original 10 is 2.5 -> 2; 5 remain open after the first stage.
    pos = make_position(1.00, quantity=5, original_quantity=10, stages_done=["first_target"])

    firing = run_rule("partial_exit_target", make_context(0.75, position=pos))

    assert firing is not None
    assert firing.action is ExitAction.PARTIAL_CLOSE
    assert firing.quantity == 2
    assert firing.stage == "second_target"


def test_partial_exit_target_when_profit_is_14_pct_then_holds() -> None:
    assert run_rule("partial_exit_target", make_context(0.86, position=make_position(1.00, quantity=4))) is None


def test_partial_exit_target_when_profit_is_exactly_15_pct_then_fires() -> None:
    assert run_rule("partial_exit_target", make_context(0.85, position=make_position(1.00, quantity=4))) is not None


def test_partial_exit_target_when_first_stage_already_done_then_it_does_not_refire() -> None:
    pos = make_position(1.00, quantity=5, original_quantity=10, stages_done=["first_target"])

    # 20% profit: above the first stage, below the second.
    assert run_rule("partial_exit_target", make_context(0.80, position=pos)) is None


def test_partial_exit_target_when_all_stages_done_then_holds_and_the_rest_rides() -> None:
    pos = make_position(1.00, quantity=3, original_quantity=10, stages_done=["first_target", "second_target"])

    assert run_rule("partial_exit_target", make_context(0.10, position=pos)) is None


def test_partial_exit_target_when_profit_jumps_past_both_stages_then_fires_them_in_order_one_per_evaluation() -> None:
    # Arrange: 10 contracts, profit jumps straight to +30%.
    pos = make_position(1.00, quantity=10)

    # Act: first evaluation, then the position after the first stage's fill.
    first = run_rule("partial_exit_target", make_context(0.70, position=pos))
    assert first is not None
    after = pos.reduced(first.quantity).with_stage_done(first.stage or "")
    second = run_rule("partial_exit_target", make_context(0.70, position=after))

    # Assert
    assert (first.stage, first.quantity, first.action) == ("first_target", 5, ExitAction.PARTIAL_CLOSE)
    assert second is not None
    assert (second.stage, second.quantity, second.action) == ("second_target", 2, ExitAction.PARTIAL_CLOSE)


def test_partial_exit_target_when_debit_premium_rises_15_pct_then_fires() -> None:
    pos = make_position(2.00, credit=False, quantity=4)

    firing = run_rule("partial_exit_target", make_context(2.30, position=pos))

    assert firing is not None
    assert firing.quantity == 2


def test_partial_exit_target_when_debit_premium_falls_15_pct_then_holds() -> None:
    pos = make_position(2.00, credit=False, quantity=4)

    assert run_rule("partial_exit_target", make_context(1.70, position=pos)) is None


def test_partial_exit_target_when_stage_exceeds_what_remains_then_closes_only_what_remains() -> None:
    pos = make_position(1.00, quantity=1, original_quantity=10)

    firing = run_rule("partial_exit_target", make_context(0.85, position=pos))

    assert firing is not None
    assert firing.quantity == 1
    assert firing.action is ExitAction.CLOSE


def test_partial_exit_target_with_custom_stages_then_uses_their_thresholds_and_sizes() -> None:
    stages = [
        {"name": "a", "profit_threshold": 0.10, "exit_percentage": 30},
        {"name": "b", "profit_threshold": 0.40, "exit_percentage": 30},
    ]
    pos = make_position(1.00, quantity=10)

    firing = run_rule("partial_exit_target", make_context(0.90, position=pos), stages=stages)

    assert firing is not None
    assert (firing.stage, firing.quantity) == ("a", 3)


@pytest.mark.parametrize(
    ("original", "open_qty", "pct", "expected"),
    [
        (1, 1, 50, 1),
        (3, 3, 50, 1),
        (10, 10, 25, 2),
        (10, 5, 25, 2),
        (4, 4, 50, 2),
        (10, 1, 50, 1),
        (7, 0, 50, 0),
        (100, 100, 33.3, 33),
        (3, 3, 100, 3),
    ],
)
def test_stage_quantity_rounds_down_to_whole_contracts_at_least_one_at_most_open(
    original: int, open_qty: int, pct: float, expected: int
) -> None:
    assert stage_quantity(original, open_qty, pct) == expected


def test_partial_exit_target_when_evaluated_then_decision_carries_stage_and_quantity() -> None:
    ev = make_evaluator(["partial_exit_target"])

    decision = ev.evaluate(make_context(0.85, position=make_position(1.00, quantity=3)))

    assert decision.action is ExitAction.PARTIAL_CLOSE
    assert decision.quantity == 1
    assert decision.stage == "first_target"


def test_partial_exit_target_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"partial_exit_target": {"enabled": False}})

    assert ev.evaluate(make_context(0.70, position=make_position(1.00, quantity=10))).is_hold


def test_partial_exit_target_when_stage_thresholds_do_not_increase_then_refused() -> None:
    from pydantic import ValidationError

    stages = [
        {"name": "a", "profit_threshold": 0.30, "exit_percentage": 30},
        {"name": "b", "profit_threshold": 0.20, "exit_percentage": 30},
    ]
    with pytest.raises(ValidationError, match="strictly increase"):
        run_rule("partial_exit_target", make_context(0.5), stages=stages)
