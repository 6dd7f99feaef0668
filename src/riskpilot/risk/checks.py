"""The result of :meth:`riskpilot.risk.RiskManager.check_position_exits`, computed by column.

A check of a whole book does three things per position: observe the mark (peak, trough, MFE,
MAE, days held, the trailing stop's step), screen every rule, and decide. Done one Python
object at a time this costs tens of microseconds a position; a live book of thousands, or a
backtest's every day, wants it by column. So the manager gathers each position's numbers once
into numpy arrays, advances the tracked state and the trailing stops element-wise
(:func:`riskpilot.rules.trailing_stop.trail_step_batch`, checked against the scalar
:func:`~riskpilot.rules.trailing_stop.trail_step`), screens per rule, and evaluates rules only
for the positions and rules a screen flagged. Python objects are built only where they are
needed: for a position that may exit, and, lazily, for any check a caller reads.

:class:`ExitChecks` is that result: a sequence of :class:`PositionCheck`, one per position in
the order given, whose items are built on first access; :meth:`ExitChecks.exits` lists the
checks whose decision is not HOLD (already built). Reading every item gives exactly what the
object-at-a-time check gives (``tests/risk/test_check_columns.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import overload

import numpy as np
import numpy.typing as npt

from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import ExitAction
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position, PositionState
from riskpilot.rules.evaluator import hold_on_bad_mark, no_rule_fired
from riskpilot.rules.trailing_stop import TRAIL_ACTIONS, TrailingStopAction, TrailState

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_HOLD = ExitAction.HOLD
_NO_MARK_KIND = -1  # no mark at all
_BAD_MARK_KIND = -2  # a mark with a problem (missing, crossed or stale leg)


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """One position's result of :meth:`RiskManager.check_position_exits`: the position with
    its tracked state updated by this mark, the decision, and the trailing stop."""

    position: Position
    decision: ExitDecision
    mark: Mark
    trail: TrailState | None
    trail_action: TrailingStopAction


@dataclass(slots=True)
class ObservedColumns:
    """Tracked state after the observation, for the positions with a good mark (row ``r``
    of each array is the ``r``-th such position)."""

    premium: FloatArray
    profit_pct: FloatArray
    dte: IntArray
    peak: FloatArray
    trough: FloatArray
    mfe: FloatArray
    mae: FloatArray
    days_held: IntArray
    trail_action: npt.NDArray[np.int8]


class ExitChecks(Sequence[PositionCheck]):
    """The checks of one call, one per position given and in that order, built on access."""

    __slots__ = ("_built", "_cols", "_decisions", "_marks", "_now", "_positions", "_row", "_trails")

    def __init__(
        self,
        positions: Sequence[Position],
        marks: Sequence[Mark | None],
        now: datetime,
        row: Sequence[int],
        cols: ObservedColumns,
        trails: Sequence[TrailState | None],
        decisions: dict[int, tuple[Position, ExitDecision]],
    ) -> None:
        self._positions = positions
        self._marks = marks
        self._now = now
        self._row = row  # per position: row in cols, or _NO_MARK_KIND / _BAD_MARK_KIND
        self._cols = cols
        self._trails = trails
        self._decisions = decisions
        self._built: list[PositionCheck | None] = [None] * len(positions)

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, i: int) -> PositionCheck: ...

    @overload
    def __getitem__(self, i: slice) -> list[PositionCheck]: ...

    def __getitem__(self, i: int | slice) -> PositionCheck | list[PositionCheck]:
        if isinstance(i, slice):
            return [self._check(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"check index {i} out of range for {n} positions")
        return self._check(i)

    def __iter__(self) -> Iterator[PositionCheck]:
        for i in range(len(self)):
            yield self._check(i)

    def exits(self) -> list[PositionCheck]:
        """The checks whose decision is not HOLD, in the order given."""
        return [self._check(i) for i in sorted(self._decisions)
                if self._decisions[i][1].action is not _HOLD]

    def _check(self, i: int) -> PositionCheck:
        c = self._built[i]
        if c is None:
            c = self._built[i] = self._build(i)
        return c

    def _build(self, i: int) -> PositionCheck:
        pos = self._positions[i]
        m = self._marks[i]
        r = self._row[i]
        trail = self._trails[i]
        hold = TrailingStopAction.HOLD
        if r == _NO_MARK_KIND or m is None:
            return PositionCheck(pos, ExitDecision.hold(pos.id, "no quote"), Mark(None, None, None, self._now),
                                 trail, hold)
        if r == _BAD_MARK_KIND:
            return PositionCheck(pos, hold_on_bad_mark(pos, m), m, trail, hold)
        action = TRAIL_ACTIONS[int(self._cols.trail_action[r])]
        done = self._decisions.get(i)
        if done is not None:
            return PositionCheck(done[0], done[1], m, trail, action)
        c = self._cols
        new_pos = observed_position(pos, float(c.peak[r]), float(c.trough[r]), float(c.mfe[r]), float(c.mae[r]),
                                    int(c.days_held[r]), float(c.premium[r]), self._now)
        decision = no_rule_fired(pos.id, float(c.profit_pct[r]), int(c.dte[r]), float(c.premium[r]))
        return PositionCheck(new_pos, decision, m, trail, action)


def observed_position(pos: Position, peak: float, trough: float, mfe: float, mae: float, days_held: int,
                      premium: float, now: datetime) -> Position:
    """``pos`` with the tracked state computed by column: what :meth:`Position.marked`
    returns for ``premium`` at ``now``."""
    return pos._with_state(PositionState(peak, trough, mfe, mae, days_held, premium, now, pos.state.stages_done))


__all__ = ["ExitChecks", "ObservedColumns", "PositionCheck", "observed_position"]
