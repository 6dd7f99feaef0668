"""The column form of the trailing stop agrees with the scalar state machine, state by state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.rules.trailing_stop import (
    TRAIL_ACTIONS,
    TrailBatch,
    TrailingStopAction,
    TrailingStopConfig,
    TrailState,
    trail_state_at,
    trail_step,
    trail_step_batch,
)

premiums = st.floats(min_value=0.0, max_value=10.0, allow_nan=False).map(lambda x: round(x, 3))
configs = st.builds(
    TrailingStopConfig,
    activation_pct=st.sampled_from([0.0, 1.0, 2.0, 10.0, 25.0]),
    trailing_pct=st.sampled_from([0.5, 1.5, 10.0, 50.0]),
    min_move_pct=st.sampled_from([0.0, 0.5, 5.0]),
    tick_size=st.sampled_from([0.01, 0.05]),
)


@st.composite
def walked_states(draw: st.DrawFn) -> TrailState:
    """A state reached by a real walk of the scalar machine (inactive, active, triggered...)."""
    credit = draw(st.booleans())
    entry = draw(st.floats(min_value=0.05, max_value=5.0).map(lambda x: round(x, 2)))
    cfg = draw(configs)
    state = TrailState.new(entry, credit=credit)
    for p in draw(st.lists(premiums, max_size=6)):
        state, _ = trail_step(state, p, cfg)
    return state


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(walked_states(), premiums), min_size=1, max_size=12), configs)
def test_batch_step_equals_scalar_step(cases: list[tuple[TrailState, float]], cfg: TrailingStopConfig) -> None:
    states = [s for s, _ in cases]
    prem = np.array([p for _, p in cases], dtype=np.float64)
    new, changed, action = trail_step_batch(TrailBatch.of(states), prem, cfg)
    for j, (state, p) in enumerate(cases):
        want_state, want_action = trail_step(state, p, cfg)
        assert TRAIL_ACTIONS[int(action[j])] is want_action
        code = int(action[j])
        got = trail_state_at(new, j, TRAIL_ACTIONS[code] if code else state.last_action) if changed[j] else state
        assert got == want_state
        # "unchanged" is only ever claimed where the scalar machine's state is equal.
        if not changed[j]:
            assert want_state == state


def test_batch_refuses_unusable_premiums() -> None:
    batch = TrailBatch.of([TrailState.new(1.0)])
    for bad in (math.nan, -0.01, math.inf):
        with pytest.raises(ValueError, match="usable premiums"):
            trail_step_batch(batch, np.array([bad]), TrailingStopConfig())


def test_batch_refuses_a_corrupt_active_state_like_the_scalar_step() -> None:
    corrupt = TrailState(entry_premium=1.0, active=True, stop=None, best=1.2, highest=1.2, lowest=1.0)
    with pytest.raises(ValueError, match="corrupt"):
        trail_step(corrupt, 1.1, TrailingStopConfig())
    with pytest.raises(ValueError, match="corrupt"):
        trail_step_batch(TrailBatch.of([corrupt]), np.array([1.1]), TrailingStopConfig())


def test_credit_lifecycle_in_columns() -> None:
    cfg = TrailingStopConfig(activation_pct=20.0, trailing_pct=25.0, min_move_pct=0.5)
    batch = TrailBatch.of([TrailState.new(1.00, credit=True)])
    seen = []
    for p in (0.95, 0.75, 0.60, 0.70, 0.76):
        batch, _, action = trail_step_batch(batch, np.array([p]), cfg)
        seen.append(TRAIL_ACTIONS[int(action[0])])
    assert seen == [TrailingStopAction.HOLD, TrailingStopAction.ACTIVATE, TrailingStopAction.UPDATE,
                    TrailingStopAction.HOLD, TrailingStopAction.TRIGGER]
    assert batch.stop[0] == pytest.approx(0.75)
