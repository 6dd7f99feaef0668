"""The bad-quote corpus (``tests/risk/bad_quotes.yaml``) replayed through
``RiskManager.check_position_exits`` on the small-book and the column path: every case holds for
its expected problem, no stop moves, no tracked state is recorded, and the healthy position in
the same book exits. (``tests/live/test_bad_quote_corpus_monitor.py`` replays it through the live
monitor's cycle.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import pytest

from bad_quote_corpus import CONFIG, STEP, T0, Case, control, direct_mark, load_cases, quotes_of
from riskpilot.model import ExitAction, Mark, Position, mark_position
from riskpilot.risk import RiskManager
from riskpilot.risk.checks import ExitChecks
from riskpilot.rules.trailing_stop import TrailingStopAction

CASES = load_cases()
CHECKS = CONFIG.monitoring.mark_checks()
PATHS = {"small_book": 1_000, "columns": 0}


def test_the_corpus_when_loaded_then_it_holds_at_least_30_cases_of_every_kind() -> None:
    kinds = Counter(c.expect for c in CASES)
    assert len(CASES) >= 30 and sum(c.from_quotes for c in CASES) >= 30
    assert set(kinds) == {"future-stamped", "naive timestamp", "stale", "missing", "crossed", "one-sided",
                          "out of bounds", "unconfirmed jump"}
    assert len({c.name for c in CASES}) == len(CASES)


def _marks(cases: Sequence[Case], positions: dict[str, Position], now: datetime, step: int | None) -> dict[str, Mark]:
    """Step ``step`` of the previous checks, or (None) the check under test."""
    out = {}
    for c in cases:
        pos = positions[c.name]
        if step is not None:
            out[c.name] = mark_position(pos, quotes_of(c.contracts, c.previous[step], now), now, checks=CHECKS)
        elif c.quotes is not None:
            out[c.name] = mark_position(pos, quotes_of(c.contracts, c.quotes, now), now, checks=CHECKS,
                                        underlying_price=c.underlying_price)
        else:
            assert c.mark is not None
            out[c.name] = direct_mark(c.mark, now)
    return out


def _replay(cases: Sequence[Case], small_book: int) -> tuple[RiskManager, list[ExitChecks]]:
    """Three good checks 30 s apart, then the check under test, of ``cases`` plus the control."""
    rm = RiskManager(CONFIG, equity=1_000_000, small_book=small_book, confirm_jumps=True)
    ctl, ctl_contracts, ctl_previous, ctl_now = control()
    book = [c.position for c in cases] + [ctl]
    positions = {p.id: p for p in book}
    results = []
    for step in range(3):
        now = T0 + step * STEP
        marks = _marks(cases, positions, now, step)
        marks["control"] = mark_position(ctl, quotes_of(ctl_contracts, ctl_previous[step], now), now, checks=CHECKS)
        checks = rm.check_position_exits(book, marks, now)
        assert checks.exits() == [] and all(m.is_valid for m in checks.marks.values())
        book = [c.position for c in checks]
        positions = {p.id: p for p in book}
        results.append(checks)
    now = T0 + 3 * STEP
    marks = _marks(cases, positions, now, None)
    marks["control"] = mark_position(ctl, quotes_of(ctl_contracts, ctl_now, now), now, checks=CHECKS)
    results.append(rm.check_position_exits(book, marks, now))
    return rm, results


@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_whole_corpus_in_one_book_when_checked_then_only_the_healthy_position_exits(path: str) -> None:
    rm, results = _replay(CASES, PATHS[path])
    before, after = results[-2], results[-1]
    trails_before = {c.position.id: c.trail for c in before}
    assert [c.position.id for c in after.exits()] == ["control"]
    assert after[-1].decision.rule == "profit_target"
    for case, was, check in zip(CASES, before, after, strict=False):
        d = check.decision
        assert d.action is ExitAction.HOLD, f"{case.name}: {d}"
        assert d.inputs["quote_problem"] == case.expect, f"{case.name}: {d.reason}"
        assert d.reason.startswith(f"quote {case.expect}"), d.reason
        assert check.position.state == was.position.state, case.name  # no peak, trough, MFE or MAE
        assert check.trail == trails_before[case.name] == rm.trails[case.name], case.name  # no stop moved
        assert check.trail_action is TrailingStopAction.HOLD
        assert not check.mark.is_valid and after.marks[case.name] is check.mark
    # The healthy position's P&L is in the day's P&L; no held one's mark is.
    assert rm._book.last_unrealized["control"] == pytest.approx(0.40 * 100 * 4)


def test_the_two_paths_when_replaying_the_corpus_then_they_agree_check_for_check() -> None:
    (_, a), (_, b) = _replay(CASES, PATHS["small_book"]), _replay(CASES, PATHS["columns"])
    for x_checks, y_checks in zip(a, b, strict=True):
        for x, y in zip(x_checks, y_checks, strict=True):
            assert (x.position, x.position.state, x.trail, x.trail_action) == (
                y.position, y.position.state, y.trail, y.trail_action)
            assert (x.decision.action, x.decision.reason, dict(x.decision.inputs)) == (
                y.decision.action, y.decision.reason, dict(y.decision.inputs))
            assert x.mark == y.mark or not (x.mark.is_valid or y.mark.is_valid)


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_quote_case_when_checked_alone_then_held_for_its_problem(case: Case, path: str) -> None:
    rm, results = _replay([case], PATHS[path])
    was, check = results[-2][0], results[-1][0]
    assert check.decision.action is ExitAction.HOLD and results[-1].exits() == [results[-1][-1]]
    assert check.decision.inputs["quote_problem"] == case.expect, check.decision.reason
    assert check.position.state == was.position.state and check.trail == was.trail == rm.trails[case.name]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_held_jump_when_the_next_tick_is_ordinary_then_nothing_acts_on_the_spike(path: str) -> None:
    jumps = [c for c in CASES if c.after is not None]
    assert len(jumps) >= 8
    rm, results = _replay(jumps, PATHS[path])
    positions = [c.position for c in results[-1]][:-1]  # the control exited: leave it out
    now = T0 + 4 * STEP
    marks = {c.name: mark_position(p, quotes_of(c.contracts, c.after, now), now, checks=CHECKS)
             for c, p in zip(jumps, positions, strict=True) if c.after is not None}
    checks = rm.check_position_exits(positions, marks, now)
    assert checks.exits() == []
    for c, check in zip(jumps, checks, strict=True):
        assert check.mark.is_valid, f"{c.name}: {check.mark.problem} {check.mark.detail}"
        assert check.trail_action is not TrailingStopAction.TRIGGER, c.name
        assert check.decision.reason.startswith("no rule fired"), f"{c.name}: {check.decision.reason}"
