"""The two ways of checking a book agree: one position at a time (small books) and by column.

Two managers with the same configuration check the same books, cycle after cycle, one forced to
the small-book path (``small_book`` above any book drawn) and one to the column path
(``small_book=0``); every check, the exits, the trailing stops, the day's P&L and the trading
state must be equal. Books mix credit and debit positions, several methods, closed-out
quantities, stages already done, features, and good, missing, stale and crossed marks, and marks
the manager vets (stamped ahead, naive, negative or not a number, outside the structure's
bounds, jumps waiting for confirmation); a small equity makes the circuit breaker fire now and
then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskpilot.config import config_from_dict
from riskpilot.model import Mark, Position
from riskpilot.risk import RiskManager
from riskpilot.risk.checks import ExitChecks
from riskpilot.testing import NOW, make_mark, make_position

CONFIG = config_from_dict({
    "methods": {
        "default": {},
        "tight": {
            "exit_rules": {
                "trailing_stop": {"enabled": True, "activation_pct": 10, "trailing_pct": 20},
                "profit_target": {"profit_target_pct": 0.3},
                "max_holding_period": {"max_days": 20},
            }
        },
        "loose": {
            "exit_rules": {
                "trailing_stop": {"enabled": False},
                "stop_loss": {"stop_loss_pct": 3.0},
            }
        },
    },
})


@st.composite
def books(draw: st.DrawFn) -> list[Position]:
    n = draw(st.integers(min_value=1, max_value=30))
    out = []
    for i in range(n):
        qty = draw(st.integers(min_value=0, max_value=8))
        out.append(make_position(
            draw(st.sampled_from([0.20, 0.85, 1.00, 2.50])),
            credit=draw(st.booleans()),
            quantity=qty,
            original_quantity=max(qty, 1) + draw(st.integers(min_value=0, max_value=4)),
            dte=draw(st.integers(min_value=0, max_value=60)),
            opened_days_ago=draw(st.integers(min_value=0, max_value=30)),
            id=f"p{i}",
            method=draw(st.sampled_from(["default", "default", "tight", "loose"])),
            stages_done=draw(st.sampled_from([(), ("first_target",)])),
        ))
    return out


def draw_marks(draw: st.DrawFn, positions: Sequence[Position], now: datetime) -> dict[str, Mark]:
    marks = {}
    for p in positions:
        kind = draw(st.sampled_from(["good", "good", "good", "good", "none", "stale", "crossed", "ahead", "naive",
                                     "negative", "nan", "spike"]))
        if kind == "none":
            continue
        prem = round(p.entry_premium * draw(st.floats(min_value=0.0, max_value=3.0)), 2)
        spread = draw(st.sampled_from([0.0, 0.02, 0.10, 0.60]))
        volume = draw(st.sampled_from([None, 0, 20, 500]))
        if kind in ("stale", "crossed"):
            marks[p.id] = make_mark(prem, spread=spread, volume=volume, problem=kind, now=now)
            continue
        m = make_mark(30.0 * prem if kind == "spike" else prem, spread=spread, volume=volume, now=now)
        if kind == "ahead":
            m = replace(m, timestamp=now + timedelta(minutes=5))
        elif kind == "naive":
            m = replace(m, timestamp=now.replace(tzinfo=None))
        elif kind in ("negative", "nan"):
            object.__setattr__(m, "premium", -prem - 0.01 if kind == "negative" else math.nan)
        marks[p.id] = m
    return marks


def draw_features(draw: st.DrawFn, positions: Sequence[Position]) -> dict[str, dict[str, float]] | None:
    if draw(st.booleans()):
        return None
    out: dict[str, dict[str, float]] = {}
    for p in positions:
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            out[p.id] = {"edge": draw(st.sampled_from([-0.05, 0.01, 0.10])),
                         "alternative_edge": 0.2, "atr": draw(st.sampled_from([0.01, 0.5]))}
    return out


def same_checks(a: ExitChecks, b: ExitChecks) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.position == y.position and x.position.state == y.position.state
        dx, dy = x.decision, y.decision
        assert (dx.position_id, dx.action, dx.rule, dx.priority, dx.quantity, dx.reason, dx.stage) == (
            dy.position_id, dy.action, dy.rule, dy.priority, dy.quantity, dy.reason, dy.stage)
        assert dict(dx.inputs) == dict(dy.inputs)
        assert dx.also_fired == dy.also_fired
        assert x.mark == y.mark and x.trail == y.trail and x.trail_action is y.trail_action
    assert [c.position.id for c in a.exits()] == [c.position.id for c in b.exits()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from([20_000.0, 1_000_000.0]), st.data())
def test_small_book_path_decides_exactly_as_the_column_path(
    positions: list[Position], equity: float, data: st.DataObject
) -> None:
    small = RiskManager(CONFIG, equity=equity, small_book=1_000)
    columns = RiskManager(CONFIG, equity=equity, small_book=0)
    by_small, by_columns = list(positions), list(positions)
    for cycle in range(3):
        now = NOW + timedelta(seconds=20 * cycle)
        marks = draw_marks(data.draw, positions, now)
        features = draw_features(data.draw, positions)
        a = small.check_position_exits(by_small, marks, now, features=features)
        b = columns.check_position_exits(by_columns, marks, now, features=features)
        same_checks(a, b)
        assert small.trails == columns.trails
        assert small._book.last_unrealized == columns._book.last_unrealized
        assert small.trading_state is columns.trading_state and small.state_reason == columns.state_reason
        # The jump histories advance alike.
        assert [small.marks.history(p.id) for p in positions] == [columns.marks.history(p.id) for p in positions]
        by_small = [c.position for c in a]
        by_columns = [c.position for c in b]

