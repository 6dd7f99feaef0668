"""trailing_stop (HIGH): the rule fires when this evaluation's step of the trailing stop
returned TRIGGER. The stop steps in prepare_context, on good marks only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riskpilot import ExitAction, Position, Priority, TrailingStopAction, TrailingStopConfig
from riskpilot.model import Mark
from riskpilot.rules import TrailState, prepare_context, trail_step
from riskpilot.testing import NOW, make_context, make_evaluator, make_mark, make_position, make_vertical, run_rule

CONFIG = TrailingStopConfig()


def _walk(position: Position, marks: list[Mark]) -> list[tuple[TrailingStopAction, str | None]]:
    """Mark ``position`` along ``marks`` one minute apart, carrying the trailing stop, and return
    each step's trail action and the trailing_stop rule's verdict (its rule name or None)."""
    ev = make_evaluator(["trailing_stop"])
    trail: TrailState | None = TrailState.new(position.entry_premium, credit=position.is_credit)
    out = []
    for i, mark in enumerate(marks):
        now = NOW + timedelta(minutes=i)
        ctx, position, trail = prepare_context(position, mark, now, trail=trail, trail_config=CONFIG)
        out.append((ctx.trail_action, ev.evaluate(ctx).rule))
    return out


def test_trailing_stop_when_credit_premium_falls_then_rises_past_stop_then_fires_high_close() -> None:
    # Arrange: credit 1.00; trough 0.80 puts the stop at 0.812.
    pos = make_vertical(1.00, quantity=3)
    trail = TrailState.new(1.00, credit=True)
    trail, _ = trail_step(trail, 0.90, CONFIG)  # ACTIVATE
    trail, _ = trail_step(trail, 0.80, CONFIG)  # UPDATE to 0.812

    # Act
    ctx = make_context(0.85, position=pos, trail=trail, trail_config=CONFIG)
    firing = run_rule("trailing_stop", ctx)

    # Assert
    assert ctx.trail_action is TrailingStopAction.TRIGGER
    assert firing is not None
    assert firing.priority is Priority.HIGH
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 3
    assert firing.inputs["stop_premium"] == pytest.approx(0.812)
    assert firing.inputs["best_premium"] == pytest.approx(0.80)
    assert ">=" in firing.reason


def test_trailing_stop_when_credit_lifecycle_runs_then_only_the_trigger_step_fires_the_rule() -> None:
    steps = _walk(make_vertical(1.00), [make_mark(p) for p in (0.99, 0.90, 0.80, 0.81, 0.85)])

    assert steps == [
        (TrailingStopAction.HOLD, None),
        (TrailingStopAction.ACTIVATE, None),
        (TrailingStopAction.UPDATE, None),
        (TrailingStopAction.HOLD, None),
        (TrailingStopAction.TRIGGER, "trailing_stop"),
    ]


def test_trailing_stop_when_long_lifecycle_runs_then_fires_when_premium_falls_through_the_stop() -> None:
    pos = make_position(2.00, credit=False)

    steps = _walk(pos, [make_mark(p) for p in (2.04, 2.20, 2.18, 2.10)])

    assert [a for a, _ in steps] == [
        TrailingStopAction.ACTIVATE,
        TrailingStopAction.UPDATE,
        TrailingStopAction.HOLD,
        TrailingStopAction.TRIGGER,
    ]
    assert steps[-1][1] == "trailing_stop"


def test_trailing_stop_when_the_mark_is_bad_then_the_stop_does_not_step_and_nothing_fires() -> None:
    # A stale mark at 0.95 is through the 0.812 stop; it must neither trigger nor move anything.
    steps = _walk(make_vertical(1.00), [make_mark(0.90), make_mark(0.80), make_mark(0.95, problem="stale")])

    assert steps[-1] == (TrailingStopAction.HOLD, None)


def test_prepare_context_when_the_mark_is_bad_then_position_and_trail_are_returned_unchanged() -> None:
    pos = make_vertical(1.00)
    trail, _ = trail_step(TrailState.new(1.00, credit=True), 0.80, CONFIG)

    ctx, new_pos, new_trail = prepare_context(pos, make_mark(3.00, problem="crossed"), NOW, trail=trail,
                                              trail_config=CONFIG)

    assert new_pos == pos
    assert new_trail == trail
    assert ctx.trail_action is TrailingStopAction.HOLD


def test_trailing_stop_without_a_trail_state_then_stays_silent() -> None:
    assert run_rule("trailing_stop", make_context(5.00, position=make_vertical(1.00))) is None


def test_trailing_stop_when_step_is_hold_activate_or_update_then_rule_is_silent() -> None:
    trail = TrailState.new(1.00, credit=True)
    for premium in (0.95, 0.90, 0.85):
        ctx = make_context(premium, position=make_vertical(1.00), trail=trail, trail_config=CONFIG)
        assert ctx.trail_action is not TrailingStopAction.TRIGGER
        assert run_rule("trailing_stop", ctx) is None
        assert ctx.trail is not None
        trail = ctx.trail


def test_trailing_stop_params_when_converted_then_match_the_state_machine_config() -> None:
    from riskpilot.rules.trailing_stop_rule import TrailingStopParams

    params = TrailingStopParams(activation_pct=5, trailing_pct=2, min_move_pct=1, tick_size=0.05)

    assert params.to_config() == TrailingStopConfig(5, 2, 1, 0.05, trail_credit=False)


def test_trailing_stop_when_disabled_then_never_fires_even_on_a_trigger() -> None:
    trail, _ = trail_step(TrailState.new(1.00, credit=True), 0.80, CONFIG)
    ctx = make_context(0.95, position=make_vertical(1.00), trail=trail, trail_config=CONFIG)
    assert ctx.trail_action is TrailingStopAction.TRIGGER

    ev = make_evaluator({"trailing_stop": {"enabled": False}})

    assert ev.evaluate(ctx).is_hold
