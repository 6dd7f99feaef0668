"""The marks :meth:`RiskManager.check_position_exits` accepts: every mark is vetted before any
rule, stop or tracked state sees it (``docs/marks.md``).

:class:`MarkGuard` does it once per call, before the book is checked one position at a time or
by column, so both paths see the same marks:

1. **What a mark is** (:func:`riskpilot.model.mark.mark_problem`): whoever built it, a mark
   whose timestamp is naive, later than now by more than the clock skew or older than the
   maximum age, whose premium is negative, not finite or outside its own market, whose market
   is crossed or outside the bounds of the position's structure, is bad.
2. **Whether it jumped** (live by default; :class:`JumpRule`): a good mark further from the
   position's previous good mark than ``multiple`` times the recent range is held until the
   next quote (a later timestamp) confirms it, by lying beyond the same threshold on the same
   side. The recent range is the high minus the low of the position's last ``lookback`` good
   marks of this run, and at least the mark's own bid-ask spread and ``min_range_pct`` of the
   entry premium. A mark that does not confirm is judged afresh against the same history (a
   spike followed by a normal quote leaves the history as it was); a confirmed move starts a
   new history at the confirming mark. A position's first mark of a run has nothing to be
   compared with and is accepted.

A bad mark comes back with its problem set and a detail saying what was seen: the position
holds (no rule acts, no stop moves, no peak, trough, MFE or MAE is recorded), and the rest of
the book is checked.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from riskpilot.model.enums import QuoteProblem
from riskpilot.model.mark import DEFAULT_MARK_CHECKS, Mark, MarkChecks, mark_problem
from riskpilot.model.position import Position
from riskpilot.model.structure import BOUND_TOLERANCE, value_bounds

_INF = math.inf


@dataclass(frozen=True, slots=True)
class JumpRule:
    """A mark further from the previous good mark than ``multiple`` x the recent range needs
    confirmation by the next quote (module docstring). ``lookback``: good marks the recent range
    spans; ``min_range_pct``: the least recent range, as a share of the entry premium."""

    multiple: float = 5.0
    lookback: int = 10
    min_range_pct: float = 0.10

    @property
    def floor(self) -> float:
        """No move within this share of the entry premium can be a jump (the least threshold)."""
        return self.multiple * self.min_range_pct

    def __post_init__(self) -> None:
        if isinstance(self.multiple, bool) or not (math.isfinite(self.multiple) and self.multiple >= 1):
            raise ValueError(f"JumpRule.multiple must be a finite number >= 1, got {self.multiple!r}")
        if isinstance(self.lookback, bool) or not isinstance(self.lookback, int) or self.lookback < 1:
            raise ValueError(f"JumpRule.lookback must be a whole number of marks >= 1, got {self.lookback!r}")
        if not (math.isfinite(self.min_range_pct) and self.min_range_pct > 0):
            raise ValueError(f"JumpRule.min_range_pct must be a finite number > 0, got {self.min_range_pct!r}")


class _Kept:
    """What the guard keeps of one position: its structure's bounds (for the legs, premium type
    and entry premium they were computed from), its last good premiums (None before its first)
    and the jump waiting for confirmation (premium, its timestamp, its direction), if any."""

    __slots__ = ("bounds", "entry", "high", "legs", "low", "pending", "premium_type", "premiums", "quiet")

    def __init__(self, pos: Position, floor: float) -> None:
        self.legs = pos.legs
        self.premium_type = pos.premium_type
        self.entry = pos.entry_premium
        self.bounds = value_bounds(pos.legs, pos.premium_type)
        # A market is outside when its bid is above high or its ask below low (tolerance included).
        self.high = self.bounds.high + BOUND_TOLERANCE if self.bounds is not None else _INF
        self.low = self.bounds.low - BOUND_TOLERANCE if self.bounds is not None else -_INF
        #: No move within this can be a jump, whatever the recent range.
        self.quiet = floor * pos.entry_premium
        self.premiums: deque[float] | None = None
        self.pending: tuple[float, datetime, int] | None = None


@dataclass(slots=True)
class MarkGuard:
    """Vets the marks of one risk manager (module docstring). ``jumps``: None turns the jump
    confirmation off (an end-of-day backtest by default)."""

    checks: MarkChecks = DEFAULT_MARK_CHECKS
    jumps: JumpRule | None = field(default_factory=JumpRule)
    _kept: dict[str, _Kept] = field(default_factory=dict)
    _skew: timedelta = field(init=False)
    _age: timedelta = field(init=False)

    def __post_init__(self) -> None:
        # Built once: a backtest vets a few marks a day, thousands of times.
        self._skew = timedelta(seconds=self.checks.max_skew_seconds)
        self._age = timedelta(seconds=self.checks.max_age_seconds)

    def vet(self, positions: Sequence[Position], marks: Mapping[str, Mark], now: datetime) -> Mapping[str, Mark]:
        """``marks`` as the rules may see them: a bad one with its problem set. Returns
        ``marks`` itself when every mark is good (the common case costs no new mapping)."""
        out: dict[str, Mark] | None = None
        checks = self.checks
        jumps = self.jumps
        kept = self._kept
        kept_get = kept.get
        newest, oldest = now + self._skew, now - self._age  # as model.mark.freshness_window
        floor = jumps.floor if jumps is not None else 0.0
        get = marks.get
        # Marks of one batch of quotes share their timestamp object: judge its freshness once.
        seen_ts: object = None
        seen_fresh = False
        for pos in positions:
            pid = pos.id
            m = get(pid)
            if m is None or m.problem is not None:
                continue
            k = kept_get(pid)
            if k is None or k.legs is not pos.legs or k.premium_type is not pos.premium_type \
                    or k.entry != pos.entry_premium:
                k = kept[pid] = self._keep(pos, k, floor)
            # The common case, a well-formed good mark, tested inline (a strict subset of what
            # mark_problem accepts); anything else is judged, and described, by mark_problem.
            p, b, a, ts = m.premium, m.bid, m.ask, m.timestamp
            if ts is not seen_ts:
                seen_ts = ts
                seen_fresh = type(ts) is datetime and ts.tzinfo is not None and oldest <= ts <= newest
            found: tuple[QuoteProblem, str | None] | None = None
            if not (
                seen_fresh and type(p) is float and type(b) is float and type(a) is float
                and 0.0 <= p < _INF and -_INF < b <= a < _INF
                and b - BOUND_TOLERANCE <= p <= (a if a > 0.0 else 0.0) + BOUND_TOLERANCE
                and b <= k.high and a >= k.low
            ):
                found = mark_problem(m, now, k.bounds, checks)
            if found is None and jumps is not None:
                premium = cast(float, p)  # a good mark's premium is a finite price >= 0
                seen = k.premiums
                if seen is None:
                    k.premiums = deque([premium], maxlen=jumps.lookback)
                elif k.pending is None and -k.quiet <= premium - seen[-1] <= k.quiet:
                    seen.append(premium)
                else:
                    found = self._jump(pos, m, jumps, k, seen)
            if found is not None:
                if out is None:
                    out = dict(marks)
                out[pid] = m.with_problem(*found)
        return marks if out is None else out

    def forget(self, position_id: str) -> None:
        """Drop what is kept of a closed position."""
        self._kept.pop(position_id, None)

    def history(self, position_id: str) -> tuple[list[float], tuple[float, datetime, int] | None]:
        """A position's recent good premiums (oldest first) and its jump waiting for
        confirmation (premium, timestamp, direction), for reports and tests."""
        k = self._kept.get(position_id)
        if k is None:
            return [], None
        return list(k.premiums or ()), k.pending

    @staticmethod
    def _keep(pos: Position, old: _Kept | None, floor: float) -> _Kept:
        """A position's record afresh (a new position, or one reloaded or changed); the history
        carries over when the structure and entry are the same."""
        k = _Kept(pos, floor)
        if old is not None and old.legs == pos.legs and old.premium_type is pos.premium_type \
                and old.entry == pos.entry_premium:
            k.premiums, k.pending = old.premiums, old.pending
        return k

    @staticmethod
    def _jump(pos: Position, m: Mark, rule: JumpRule, k: _Kept,
              seen: deque[float]) -> tuple[QuoteProblem, str] | None:
        """Record a good mark, or hold it as an unconfirmed jump (module docstring)."""
        premium = cast(float, m.premium)
        previous = seen[-1]
        spread = m.spread if m.spread is not None and m.spread > 0 else 0.0
        scale = max(max(seen) - min(seen), spread, rule.min_range_pct * pos.entry_premium)
        move = premium - previous
        threshold = rule.multiple * scale
        if abs(move) <= threshold:
            seen.append(premium)
            k.pending = None
            return None
        side = 1 if move > 0 else -1
        pending = k.pending
        if pending is not None and pending[2] == side and m.timestamp > pending[1]:
            # The next quote lies beyond the threshold on the same side: the move is real.
            k.premiums = deque([premium], maxlen=rule.lookback)
            k.pending = None
            return None
        if pending is None or m.timestamp > pending[1] or pending[2] != side:
            k.pending = (premium, m.timestamp, side)
        return QuoteProblem.UNCONFIRMED_JUMP, (
            f"premium {premium:.2f} moved {move:+.2f} from the last good mark {previous:.2f}, more than "
            f"{rule.multiple:g} x the recent range {scale:.2f}: held until the next quote confirms it"
        )


__all__ = ["JumpRule", "MarkGuard"]
