"""check_position_exits by column gives, check for check, what the object-at-a-time path gives.

The reference below observes and evaluates one position at a time with the public scalar
pieces (``prepare_context``, ``ExitEvaluator.evaluate``, ``trail_step`` through it), keeping
its own trailing stops; hypothesis draws books of credit and debit positions, good and bad
marks, several methods and several cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskpilot.config import config_from_dict
from riskpilot.model import ExitAction, Mark, Position
from riskpilot.model.decision import ExitDecision
from riskpilot.risk import RiskManager
from riskpilot.risk.checks import ExitChecks
from riskpilot.rules.base import PortfolioView
from riskpilot.rules.evaluator import hold_on_bad_mark, prepare_context
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.testing import NOW, make_mark, make_position

CONFIG = config_from_dict({
    "methods": {
        "default": {},
        "tight": {
            "exit_rules": {
                # Credit positions trailed here; the default method trails debit ones only.
                "trailing_stop": {"enabled": True, "activation_pct": 10, "trailing_pct": 20, "trail_credit": True},
                "profit_target": {"profit_target_pct": 0.3},
            }
        },
    },
})


def reference(
    rm_trails: dict[str, TrailState],
    rm: RiskManager,
    positions: Sequence[Position],
    marks: Mapping[str, Mark],
    view: PortfolioView,
) -> list[tuple[Position, ExitDecision, TrailState | None]]:
    out = []
    for pos in positions:
        m = marks.get(pos.id)
        if m is None:
            out.append((pos, ExitDecision.hold(pos.id, "no quote"), rm_trails.get(pos.id)))
            continue
        if not m.is_valid:
            out.append((pos, hold_on_bad_mark(pos, m), rm_trails.get(pos.id)))
            continue
        ev = rm.evaluator(pos.method)
        cfg = rm._trail_configs[(pos.method, None)]
        trail = rm_trails.get(pos.id)
        if cfg is not None and pos.is_credit and not cfg.trail_credit:
            cfg = None  # credit positions are not trailed by this method
        if trail is None and cfg is not None:
            trail = TrailState.new(pos.entry_premium, credit=pos.is_credit)
        ctx, new_pos, trail = prepare_context(pos, m, NOW, trail=trail, trail_config=cfg, portfolio=view)
        if trail is not None:
            rm_trails[pos.id] = trail
        out.append((new_pos, ev.evaluate(ctx), trail))
    return out


@st.composite
def books(draw: st.DrawFn) -> list[Position]:
    n = draw(st.integers(min_value=1, max_value=12))
    out = []
    for i in range(n):
        credit = draw(st.booleans())
        qty = draw(st.integers(min_value=1, max_value=8))
        out.append(make_position(
            draw(st.sampled_from([0.20, 0.85, 1.00, 2.50])),
            credit=credit,
            quantity=qty,
            original_quantity=qty + draw(st.integers(min_value=0, max_value=4)),
            dte=draw(st.integers(min_value=0, max_value=60)),
            opened_days_ago=draw(st.integers(min_value=0, max_value=40)),
            id=f"p{i}",
            method=draw(st.sampled_from(["default", "tight"])),
            stages_done=draw(st.sampled_from([(), ("first_target",)])),
        ))
    return out


def draw_marks(draw: st.DrawFn, positions: Sequence[Position]) -> dict[str, Mark]:
    marks = {}
    for p in positions:
        kind = draw(st.sampled_from(["good", "good", "good", "none", "stale", "crossed"]))
        if kind == "none":
            continue
        prem = round(p.entry_premium * draw(st.floats(min_value=0.0, max_value=3.0)), 2)
        marks[p.id] = make_mark(
            prem,
            spread=draw(st.sampled_from([0.0, 0.02, 0.10, 0.60])),
            volume=draw(st.sampled_from([None, 0, 20, 500])),
            problem=None if kind == "good" else kind,
        )
    return marks


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.data())
def test_column_check_equals_object_at_a_time(positions: list[Position], data: st.DataObject) -> None:
    rm = RiskManager(CONFIG, equity=1_000_000)  # a daily limit of 30,000: rarely breached here
    ref_trails: dict[str, TrailState] = {}
    ref_positions = list(positions)
    for _cycle in range(3):
        marks = draw_marks(data.draw, positions)
        limit = 0.03 * rm.equity
        checks = rm.check_position_exits(positions, marks, NOW)
        assert isinstance(checks, ExitChecks) and len(checks) == len(positions)
        # The reference judges the marks as the manager vetted them (tests/risk/test_marks.py
        # checks the vetting itself): a jump waiting for confirmation holds in both.
        marks = dict(checks.marks)
        known = rm._book.last_unrealized
        for p in ref_positions:
            if p.id in marks and marks[p.id].is_valid:
                assert known[p.id] == pytest.approx(p.pnl_dollars(marks[p.id].premium))  # type: ignore[arg-type]
        # Day P&L (one day, no realized): the unrealized of every position ever marked well.
        day_pnl = sum(known.values())
        view = PortfolioView(equity=rm.equity, day_pnl=day_pnl, daily_loss_limit=limit)
        want = reference(ref_trails, rm, ref_positions, marks, view)
        exits = {c.position.id for c in checks.exits()}
        for check, (w_pos, w_dec, w_trail) in zip(checks, want, strict=True):
            assert check.position == w_pos
            assert check.position.state == w_pos.state
            d = check.decision
            assert (d.action, d.rule, d.priority, d.quantity, d.reason) == (
                w_dec.action, w_dec.rule, w_dec.priority, w_dec.quantity, w_dec.reason)
            assert [f.rule for f in d.also_fired] == [f.rule for f in w_dec.also_fired]
            assert d.stage == w_dec.stage
            assert dict(d.inputs) == dict(w_dec.inputs)
            assert check.trail == w_trail
            assert (check.position.id in exits) == (d.action is not ExitAction.HOLD)
        positions = [c.position for c in checks]
        ref_positions = [w[0] for w in want]


def test_checks_are_built_on_access_and_index_like_a_list() -> None:
    rm = RiskManager(CONFIG, equity=1_000_000)
    book = [make_position(1.0, id=f"p{i}") for i in range(5)]
    marks = {p.id: make_mark(0.95, spread=0.02) for p in book}
    marks["p3"] = make_mark(0.10, spread=0.02)  # 90% of the credit: the profit target fires
    checks = rm.check_position_exits(book, marks, NOW + timedelta(minutes=1))
    assert [c.position.id for c in checks] == ["p0", "p1", "p2", "p3", "p4"]
    assert checks[-1].position.id == "p4" and [c.position.id for c in checks[1:3]] == ["p1", "p2"]
    assert checks[0] is checks[0]  # built once
    with pytest.raises(IndexError):
        checks[5]
    assert [c.position.id for c in checks.exits()] == ["p3"]
    assert checks.exits()[0].decision.rule == "profit_target"
    assert checks[0].decision.action is ExitAction.HOLD
    assert checks[0].position.state.last_premium == 0.95
