"""Vectorized pre-screens: which positions of a batch *may* fire a rule.

Evaluating fourteen rules one Python call at a time costs more than the rest of a check, and
on a typical cycle almost every position holds. Each rule may therefore offer a screen: a
numpy expression over a :class:`ScreenBatch` that is True wherever the rule could fire. A
screen may over-include (the rule is then evaluated and stays silent) but must never exclude a
position the rule would fire on; ``tests/rules/test_screens.py`` checks that property. A rule
without a screen is evaluated for every position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ScreenBatch:
    """Per-position numbers of one check, as arrays of equal length. Unknown values are NaN
    (every comparison with NaN is False, matching the rules' "unknown stays silent")."""

    profit_pct: FloatArray
    credit: BoolArray
    dte: FloatArray
    spread: FloatArray
    relative_spread: FloatArray
    leg_relative_spread: FloatArray
    min_volume: FloatArray
    event_contract: BoolArray
    days_held: FloatArray
    trail_trigger: BoolArray
    has_features: BoolArray
    day_loss: float
    daily_loss_limit: float | None

    def __len__(self) -> int:
        return len(self.profit_pct)

    def everywhere(self, value: bool) -> BoolArray:
        return np.full(len(self.profit_pct), value, dtype=np.bool_)
