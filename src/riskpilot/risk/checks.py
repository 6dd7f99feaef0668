"""The result of :meth:`riskpilot.risk.RiskManager.check_position_exits`, and what its two ways
of checking a book share.

A check of a book does three things per position: observe the mark (peak, trough, MFE, MAE,
days held, the trailing stop's step), screen every rule, and decide. Two paths do it, with the
same decisions:

- a small book, the common case of a backtest (a handful of positions open), is checked one
  position at a time (:mod:`riskpilot.risk.small_book`): numpy's fixed cost per call would be
  most of the work;
- a large book is checked by column (:mod:`riskpilot.risk.column_check`): each position's numbers
  are gathered once into numpy arrays, the tracked state and the trailing stops advance
  element-wise, every rule is screened per column, and Python objects are built only where
  they are read.

:class:`ExitChecks` is that result: a sequence of :class:`PositionCheck`, one per position in
the order given, whose items may be built on first access; :meth:`ExitChecks.exits` lists the
checks whose decision is not HOLD. Reading every item gives exactly what the object-at-a-time
check gives (``tests/risk/test_check_columns.py``, ``tests/risk/test_check_paths.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, overload

import numpy as np
import numpy.typing as npt

from riskpilot.config.schema import RegimeName
from riskpilot.model.decision import ExitDecision
from riskpilot.model.enums import ExitAction
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position, PositionState
from riskpilot.rules.base import PortfolioView
from riskpilot.rules.evaluator import ExitEvaluator
from riskpilot.rules.trailing_stop import TrailBatch, TrailingStopAction, TrailingStopConfig, TrailState

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_HOLD = ExitAction.HOLD


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """One position's result of :meth:`RiskManager.check_position_exits`: the position with
    its tracked state updated by this mark, the decision, and the trailing stop."""

    position: Position
    decision: ExitDecision
    mark: Mark
    trail: TrailState | None
    trail_action: TrailingStopAction


class CheckHost(Protocol):
    """What a check path needs of the :class:`~riskpilot.risk.RiskManager` running it."""

    trails: dict[str, TrailState]

    def _rules_for(
        self, method: str, regime: RegimeName | None
    ) -> tuple[ExitEvaluator, TrailingStopConfig | None]:
        """The evaluator of ``method`` under ``regime``, and its trailing-stop settings (None:
        the method's trailing stop is off)."""
        ...

    def _trail_columns(self, method: str, regime: RegimeName | None) -> TrailColumnsLike:
        """Where the column path keeps ``method``'s trailing stops as arrays between checks."""
        ...

    def _day_view(self, ids: Sequence[str], pnl_dollars: Sequence[float], today: date) -> PortfolioView:
        """Record the unrealized P&L (dollars) of the positions marked well, trip the circuit
        breaker when the day's loss reaches the limit, and return what the rules see of it."""
        ...


class TrailColumnsLike(Protocol):
    """:class:`riskpilot.risk.column_check.TrailColumns`, as the host holds it."""

    def gather(self, states: list[TrailState]) -> TrailBatch: ...

    def keep(self, states: list[TrailState], batch: TrailBatch) -> None: ...


class CheckRows(Protocol):
    """How an :class:`ExitChecks` gets its items."""

    def build(self, i: int) -> PositionCheck:
        """The check of position ``i`` (called at most once per position)."""
        ...

    def candidates(self) -> Sequence[int]:
        """Ascending indexes of the positions whose decision may be other than HOLD: every
        other position holds."""
        ...


class ExitChecks(Sequence[PositionCheck]):
    """The checks of one call, one per position given and in that order, built on access.
    ``marks``: the marks by position id as the call judged them (a bad one with its problem
    set, :mod:`riskpilot.risk.marks`); what a caller stores or acts on."""

    __slots__ = ("_built", "_rows", "marks")

    def __init__(self, rows: CheckRows, n: int, built: list[PositionCheck | None] | None = None,
                 marks: Mapping[str, Mark] | None = None) -> None:
        self._rows = rows
        self._built: list[PositionCheck | None] = built if built is not None else [None] * n
        self.marks: Mapping[str, Mark] = marks if marks is not None else {}

    def __len__(self) -> int:
        return len(self._built)

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
        built = self._built
        for i, c in enumerate(built):
            yield c if c is not None else self._check(i)

    def exits(self) -> list[PositionCheck]:
        """The checks whose decision is not HOLD, in the order given."""
        out = []
        for i in self._rows.candidates():
            c = self._check(i)
            if c.decision.action is not _HOLD:
                out.append(c)
        return out

    def _check(self, i: int) -> PositionCheck:
        c = self._built[i]
        if c is None:
            c = self._built[i] = self._rows.build(i)
        return c


class ReadyRows:
    """The rows of a check whose items were all built during the call."""

    __slots__ = ("_candidates",)

    def __init__(self, candidates: list[int]) -> None:
        self._candidates = candidates

    def build(self, i: int) -> PositionCheck:
        raise IndexError(f"check {i} was not built")  # every item is built up front

    def candidates(self) -> Sequence[int]:
        return self._candidates


def ready_checks(checks: list[PositionCheck | None], candidates: list[int]) -> ExitChecks:
    """An :class:`ExitChecks` of items already built (``candidates``: those that may exit)."""
    return ExitChecks(ReadyRows(candidates), len(checks), checks)


def no_quote_check(pos: Position, trail: TrailState | None, now: datetime) -> PositionCheck:
    """The check of a position without a mark: it holds."""
    return PositionCheck(pos, ExitDecision.hold(pos.id, "no quote"), Mark(None, None, None, now), trail,
                         TrailingStopAction.HOLD)


def observed_position(pos: Position, peak: float, trough: float, mfe: float, mae: float, days_held: int,
                      premium: float, now: datetime) -> Position:
    """``pos`` with the tracked state computed by column: what :meth:`Position.marked`
    returns for ``premium`` at ``now``."""
    return pos._with_state(PositionState(peak, trough, mfe, mae, days_held, premium, now, pos.state.stages_done))


__all__ = [
    "CheckHost",
    "CheckRows",
    "ExitChecks",
    "PositionCheck",
    "no_quote_check",
    "observed_position",
    "ready_checks",
]
