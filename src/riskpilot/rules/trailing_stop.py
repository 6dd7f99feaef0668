"""Trailing stop on the option premium, with whipsaw protection (SPEC section 2).

The state machine is a pure function, :func:`trail_step`, of an immutable :class:`TrailState`
and the current close-out premium. :class:`riskpilot.risk.trailing.TrailingStop` wraps it in the
mutable object the live loop holds; the ``trailing_stop`` exit rule fires when the step of the
current evaluation returned TRIGGER.

Long premium (debit) positions profit when the premium rises:

1. peak = max(peak, current)
2. inactive: activate once (peak - entry) / entry * 100 >= activation_pct, stop = peak * (1 -
   trailing_pct / 100)  -> ACTIVATE
3. active: candidate = peak * (1 - trailing_pct / 100); when it moved at least min_move_pct
   percent of the current stop, move the stop -> UPDATE
4. current <= stop -> TRIGGER
5. otherwise HOLD

Credit positions mirror it: trough instead of peak, stop above the trough, TRIGGER when
current >= stop.

Whipsaw protection beyond the textbook rule: a stop is never placed closer than one price tick
to the current premium (on a 0.20 premium a 1.5% trail would sit 0.003 away and fire on one
tick of noise); a stop never moves against the position; and an invalid premium (None, NaN,
negative) changes nothing and never triggers: callers pass None for a stale, crossed or
missing quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Float slack so that 0.97 - 0.96 >= 0.01 holds with binary floating point.
_EPS = 1e-9


class TrailingStopAction(str, Enum):
    HOLD = "HOLD"
    ACTIVATE = "ACTIVATE"
    UPDATE = "UPDATE"
    TRIGGER = "TRIGGER"


@dataclass(frozen=True, slots=True)
class TrailingStopConfig:
    """Percentages are in percent (2.0 = 2%). ``tick_size`` is the minimum price increment of
    the premium (0.01 for most options; 0.05 for SPX above $3). ``trail_credit``: whether a
    risk manager trails credit positions with it too (debit positions always); a stop built
    by hand trails whatever it is given."""

    activation_pct: float = 2.0
    trailing_pct: float = 1.5
    min_move_pct: float = 0.5
    tick_size: float = 0.01
    trail_credit: bool = True

    def __post_init__(self) -> None:
        for name in ("activation_pct", "trailing_pct", "min_move_pct", "tick_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or v < 0:
                raise ValueError(f"TrailingStopConfig.{name} must be a number >= 0, got {v!r}")
        if not self.trailing_pct < 100:
            raise ValueError(
                f"TrailingStopConfig.trailing_pct must be below 100 (a stop at or below zero "
                f"premium never fires), got {self.trailing_pct}"
            )
        if self.tick_size <= 0:
            raise ValueError(f"TrailingStopConfig.tick_size must be > 0, got {self.tick_size}")


@dataclass(frozen=True, slots=True)
class TrailState:
    """Immutable trailing-stop state for one position. ``best`` is the favourable extreme (the
    peak for long premium, the trough for credit); ``highest``/``lowest`` are the raw extremes
    of the premium seen."""

    entry_premium: float
    credit: bool = False
    active: bool = False
    stop: float | None = None
    best: float | None = None
    highest: float | None = None
    lowest: float | None = None
    last_action: TrailingStopAction = TrailingStopAction.HOLD

    @classmethod
    def new(cls, entry_premium: float, *, credit: bool = False) -> TrailState:
        if (
            isinstance(entry_premium, bool)
            or not isinstance(entry_premium, int | float)
            or math.isnan(entry_premium)
            or entry_premium <= 0
        ):
            raise ValueError(f"entry_premium must be a positive number, got {entry_premium!r}")
        e = float(entry_premium)
        return cls(entry_premium=e, credit=credit, best=e, highest=e, lowest=e)

    def to_dict(self) -> dict[str, object]:
        return {
            "entry_premium": self.entry_premium,
            "credit": self.credit,
            "active": self.active,
            "stop": self.stop,
            "best": self.best,
            "highest": self.highest,
            "lowest": self.lowest,
            "last_action": self.last_action.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrailState:
        def opt(key: str) -> float | None:
            v = data.get(key)
            return None if v is None else float(v)  # type: ignore[arg-type]

        entry = opt("entry_premium")
        if entry is None:
            raise ValueError("trailing-stop state has no entry_premium")
        return cls(
            entry_premium=entry,
            credit=bool(data.get("credit", False)),
            active=bool(data.get("active", False)),
            stop=opt("stop"),
            best=opt("best"),
            highest=opt("highest"),
            lowest=opt("lowest"),
            last_action=TrailingStopAction(str(data.get("last_action", "HOLD"))),
        )


def _usable(premium: float | None) -> bool:
    return premium is not None and not math.isnan(premium) and not math.isinf(premium) and premium >= 0


def trail_step(
    state: TrailState, premium: float | None, config: TrailingStopConfig
) -> tuple[TrailState, TrailingStopAction]:
    """Advance the trailing stop by one observation. Pure."""
    if premium is None or not _usable(premium):
        return state, TrailingStopAction.HOLD
    p = float(premium)
    if (
        not state.active
        and state.best is not None
        and state.highest is not None
        and state.lowest is not None
        and state.lowest <= p <= state.highest
        and (state.best - state.entry_premium if not state.credit else state.entry_premium - state.best)
        / state.entry_premium * 100.0 + _EPS < config.activation_pct
    ):
        # Fast path: inactive, no new extreme and the best premium short of activation, so
        # nothing can change. The state object is returned as it is.
        return state, TrailingStopAction.HOLD
    highest = p if state.highest is None else max(state.highest, p)
    lowest = p if state.lowest is None else min(state.lowest, p)
    tick = config.tick_size
    if not state.credit:
        best = p if state.best is None else max(state.best, p)
        gain_pct = (best - state.entry_premium) / state.entry_premium * 100.0
        candidate = min(best * (1.0 - config.trailing_pct / 100.0), p - tick)
    else:
        best = p if state.best is None else min(state.best, p)
        gain_pct = (state.entry_premium - best) / state.entry_premium * 100.0
        candidate = max(best * (1.0 + config.trailing_pct / 100.0), p + tick)
    action = TrailingStopAction.HOLD
    stop = state.stop
    active = state.active
    last_action = state.last_action
    if not active:
        if gain_pct + _EPS >= config.activation_pct and (state.credit or candidate > 0):
            active = True
            stop = candidate
            action = TrailingStopAction.ACTIVATE
    else:
        if stop is None:
            raise ValueError("trailing-stop state is active but has no stop price (corrupt state)")
        moved = (candidate - stop) if not state.credit else (stop - candidate)
        # Moves only in the position's favour, and only by at least min_move_pct of the stop.
        if moved > 0 and moved + _EPS >= stop * config.min_move_pct / 100.0:
            stop = candidate
            action = TrailingStopAction.UPDATE
        elif (not state.credit and p <= stop + _EPS) or (state.credit and p >= stop - _EPS):
            action = TrailingStopAction.TRIGGER
    if action is not TrailingStopAction.HOLD:
        last_action = action
    elif (active is state.active and stop == state.stop and best == state.best and highest == state.highest
          and lowest == state.lowest):
        # Nothing moved: the state object is returned as it is (equal to a new one).
        return state, action
    new_state = TrailState(
        entry_premium=state.entry_premium,
        credit=state.credit,
        active=active,
        stop=stop,
        best=best,
        highest=highest,
        lowest=lowest,
        last_action=last_action,
    )
    return new_state, action


#: Action codes of :func:`trail_step_batch`, indexes into this tuple.
TRAIL_ACTIONS: tuple[TrailingStopAction, ...] = (
    TrailingStopAction.HOLD,
    TrailingStopAction.ACTIVATE,
    TrailingStopAction.UPDATE,
    TrailingStopAction.TRIGGER,
)


@dataclass(frozen=True, slots=True)
class TrailBatch:
    """Trailing-stop states of many positions as aligned arrays (NaN for None). ``changed``
    (results only) is True where :func:`trail_step` would return a new state object, and
    ``action`` holds codes into :data:`TRAIL_ACTIONS`."""

    entry: FloatArray
    credit: BoolArray
    active: BoolArray
    stop: FloatArray
    best: FloatArray
    highest: FloatArray
    lowest: FloatArray

    @classmethod
    def of(cls, states: Sequence[TrailState]) -> TrailBatch:
        n = len(states)

        def floats(col: list[float | None]) -> FloatArray:
            if None not in col:
                return np.fromiter(col, np.float64, n)
            return np.fromiter([math.nan if v is None else v for v in col], np.float64, n)

        return cls(
            entry=np.fromiter([s.entry_premium for s in states], np.float64, n),
            credit=np.fromiter([s.credit for s in states], np.bool_, n),
            active=np.fromiter([s.active for s in states], np.bool_, n),
            stop=floats([s.stop for s in states]),
            best=floats([s.best for s in states]),
            highest=floats([s.highest for s in states]),
            lowest=floats([s.lowest for s in states]),
        )


def trail_step_batch(
    states: TrailBatch, premium: FloatArray, config: TrailingStopConfig
) -> tuple[TrailBatch, BoolArray, npt.NDArray[np.int8]]:
    """:func:`trail_step` for many positions at once, with one config: the same arithmetic
    in the same order, element-wise (``tests/rules/test_trailing_stop_batch.py`` checks the
    two agree on every state and premium hypothesis draws). ``premium`` must be usable
    (finite, >= 0): callers screen bad quotes first. Returns the new states, where a state
    changed in value (elsewhere the caller keeps the object it has) and the action codes."""
    p = premium
    if not bool(np.all(np.isfinite(p) & (p >= 0))):
        raise ValueError("trail_step_batch needs usable premiums (finite, >= 0); screen bad quotes first")
    s = states
    credit = s.credit
    entry = s.entry
    old_gain = np.where(credit, entry - s.best, s.best - entry) / entry * 100.0
    with np.errstate(invalid="ignore"):
        fast = ~s.active & (s.lowest <= p) & (p <= s.highest) & (old_gain + _EPS < config.activation_pct)
    corrupt = s.active & np.isnan(s.stop)
    if bool(corrupt.any()):
        raise ValueError("trailing-stop state is active but has no stop price (corrupt state)")
    highest = np.fmax(s.highest, p)
    lowest = np.fmin(s.lowest, p)
    best = np.where(credit, np.fmin(s.best, p), np.fmax(s.best, p))
    gain = np.where(credit, entry - best, best - entry) / entry * 100.0
    tick = config.tick_size
    candidate = np.where(
        credit,
        np.maximum(best * (1.0 + config.trailing_pct / 100.0), p + tick),
        np.minimum(best * (1.0 - config.trailing_pct / 100.0), p - tick),
    )
    activate = ~s.active & (gain + _EPS >= config.activation_pct) & (credit | (candidate > 0))
    with np.errstate(invalid="ignore"):
        moved = np.where(credit, s.stop - candidate, candidate - s.stop)
        update = s.active & (moved > 0) & (moved + _EPS >= s.stop * config.min_move_pct / 100.0)
        trigger = s.active & ~update & np.where(credit, p >= s.stop - _EPS, p <= s.stop + _EPS)
    action = np.zeros(p.shape, dtype=np.int8)
    action[activate] = 1
    action[update] = 2
    action[trigger] = 3
    action[fast] = 0
    slow = ~fast
    new = TrailBatch(
        entry=entry,
        credit=credit,
        active=np.where(slow, s.active | activate, s.active),
        stop=np.where(slow & (activate | update), candidate, s.stop),
        best=np.where(slow, best, s.best),
        highest=np.where(slow, highest, s.highest),
        lowest=np.where(slow, lowest, s.lowest),
    )
    # A state whose every value is unchanged is kept as it is (equal by value to the new
    # object trail_step would build), so a quiet book allocates nothing.
    changed = (action != 0) | (new.active != s.active) | ~_same(new.stop, s.stop) | ~_same(new.best, s.best) \
        | ~_same(new.highest, s.highest) | ~_same(new.lowest, s.lowest)
    return new, changed, action


def _same(a: FloatArray, b: FloatArray) -> BoolArray:
    same: BoolArray = (a == b) | (np.isnan(a) & np.isnan(b))
    return same


def trail_state_at(
    batch: TrailBatch, i: int, last_action: TrailingStopAction
) -> TrailState:
    """Row ``i`` of ``batch`` as a :class:`TrailState` (NaN back to None)."""

    def opt(v: float) -> float | None:
        return None if v != v else float(v)

    return TrailState(
        entry_premium=float(batch.entry[i]),
        credit=bool(batch.credit[i]),
        active=bool(batch.active[i]),
        stop=opt(batch.stop[i]),
        best=opt(batch.best[i]),
        highest=opt(batch.highest[i]),
        lowest=opt(batch.lowest[i]),
        last_action=last_action,
    )
