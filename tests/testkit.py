"""Test kit: the shipped scenario builders of :mod:`riskpilot.testing` plus hypothesis strategies
for property tests (hypothesis is a test-only dependency, so its strategies live here, not in the
package).

Importable as ``testkit`` from any test package directly under ``tests/`` (pytest puts ``tests/``
on ``sys.path`` for packages that have an ``__init__.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from riskpilot.model import Mark, Position, QuoteProblem
from riskpilot.rules import TrailingStopConfig
from riskpilot.rules.base import PortfolioView
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


@dataclass
class RecordingAlerts:
    """An alert sink (the executor's and the monitor's ``AlertSink`` shape) that records
    every alert, for tests that assert which alerts were raised."""

    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, kind: str, message: str, **fields: Any) -> None:
        self.seen.append((kind, message, fields))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.seen]


__all__ = [
    "NOW",
    "RecordingAlerts",
    "bad_marks",
    "feature_maps",
    "good_marks",
    "make_context",
    "make_contract",
    "make_evaluator",
    "make_mark",
    "make_position",
    "make_quote",
    "make_vertical",
    "portfolios",
    "positions",
    "premium_paths",
    "premiums",
    "rule_params",
    "run_rule",
    "trailing_configs",
]

#: A tradeable premium per share: one cent to fifty dollars, on the cent grid.
premiums = st.integers(min_value=1, max_value=5000).map(lambda c: c / 100.0)

#: One observation of a trailing stop's input: usually a price, sometimes nothing or NaN.
observations = st.one_of(
    premiums, premiums, premiums, premiums, st.none(), st.just(math.nan)
)


def premium_paths(max_size: int = 60) -> st.SearchStrategy[list[float | None]]:
    """A path of premium observations (cent grid, with occasional None and NaN gaps)."""
    return st.lists(observations, min_size=1, max_size=max_size)


@st.composite
def trailing_configs(draw: st.DrawFn) -> TrailingStopConfig:
    """Trailing-stop settings across the useful range, including zero activation and zero
    minimum move (the most eager stop)."""
    return TrailingStopConfig(
        activation_pct=draw(st.sampled_from([0.0, 1.0, 2.0, 5.0, 20.0, 50.0])),
        trailing_pct=draw(st.sampled_from([0.5, 1.5, 5.0, 10.0, 25.0, 50.0])),
        min_move_pct=draw(st.sampled_from([0.0, 0.5, 1.0, 5.0])),
        tick_size=draw(st.sampled_from([0.01, 0.05])),
    )


@st.composite
def positions(draw: st.DrawFn) -> Position:
    """An open credit or debit position: any entry premium, 1-20 contracts open of up to 20
    opened, 0-90 DTE, held 0-120 days, some partial stages possibly done."""
    credit = draw(st.booleans())
    entry = draw(st.integers(min_value=5, max_value=500)) / 100.0
    original = draw(st.integers(min_value=1, max_value=20))
    open_qty = draw(st.integers(min_value=1, max_value=original))
    dte = draw(st.integers(min_value=0, max_value=90))
    held = draw(st.integers(min_value=0, max_value=120))
    done = draw(st.sets(st.sampled_from(["first_target", "second_target"])))
    if credit:
        # The default credit position is a 5-wide vertical: keep the credit below the width.
        entry = min(entry, 4.95)
    return make_position(
        entry, credit=credit, quantity=open_qty, original_quantity=original, dte=dte,
        opened_days_ago=held, stages_done=sorted(done),
    )


def good_marks() -> st.SearchStrategy[Mark]:
    """A usable mark: premium on the cent grid, a spread of 0-50 cents, volume unknown or 0-500."""
    return st.builds(
        lambda p, s, v: make_mark(p, spread=s, volume=v),
        st.integers(min_value=0, max_value=1000).map(lambda c: c / 100.0),
        st.integers(min_value=0, max_value=50).map(lambda c: c / 100.0),
        st.one_of(st.none(), st.integers(min_value=0, max_value=500)),
    )


def bad_marks() -> st.SearchStrategy[Mark]:
    """A mark no rule may act on: missing, crossed or stale, at any premium."""
    return st.builds(
        lambda p, prob: make_mark(p, problem=prob),
        st.integers(min_value=0, max_value=1000).map(lambda c: c / 100.0),
        st.sampled_from(list(QuoteProblem)),
    )


def feature_maps() -> st.SearchStrategy[dict[str, float]]:
    """Caller features, each present or absent: edge, alternative edge, ATR, implied move."""
    edge = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)
    scale = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)
    return st.fixed_dictionaries(
        {},
        optional={"edge": edge, "alternative_edge": edge, "atr": scale, "implied_move": scale},
    )


def portfolios() -> st.SearchStrategy[PortfolioView]:
    """A portfolio with or without a daily loss limit, and a day P&L either side of zero."""
    return st.builds(
        lambda pnl, limit: PortfolioView(equity=100_000.0, day_pnl=pnl, daily_loss_limit=limit),
        st.floats(min_value=-10_000, max_value=10_000, allow_nan=False),
        st.one_of(st.none(), st.floats(min_value=100, max_value=5_000, allow_nan=False)),
    )

