"""The risk manager vets every mark it is handed (riskpilot.risk.marks; docs/marks.md): marks that
cannot be true hold their position only, and a jump beyond the recent range waits for the next
quote before any rule acts on it or any stop moves on it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskpilot.config import config_from_dict
from riskpilot.model import ExitAction, Fill, Mark, Position, Priority, QuoteProblem, Side, TradingState
from riskpilot.model.mark import DEFAULT_MARK_CHECKS, mark_problem
from riskpilot.model.structure import value_bounds
from riskpilot.risk import OrderRequest, RiskManager
from riskpilot.risk.checks import PositionCheck
from riskpilot.risk.marks import MarkGuard
from riskpilot.rules.trailing_stop import TrailingStopAction
from riskpilot.testing import NOW, make_position, make_vertical

TRAIL_ON = config_from_dict({"trailing_stop": {"enabled": True, "activation_pct": 2, "trailing_pct": 10,
                                               "min_move_pct": 1}})


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def check(rm: RiskManager, pos: Position, premium: float, seconds: float, *, spread: float = 0.02,
          stamp: float | None = None) -> tuple[Position, PositionCheck]:
    """Check ``pos`` at ``NOW + seconds`` on a mark of ``premium`` (stamped then, or at ``stamp``)."""
    mark = Mark.from_premium(premium, at(seconds if stamp is None else stamp), spread=spread)
    [c] = rm.check_position_exits([pos], {pos.id: mark}, at(seconds))
    return c.position, c


def test_a_jump_when_the_next_quote_confirms_it_then_the_stop_fires_on_the_confirming_mark() -> None:
    rm = RiskManager(equity=100_000)
    pos = make_vertical(1.00)
    for i, p in enumerate([0.98, 0.97, 0.99]):
        pos, _ = check(rm, pos, p, 30 * i)
    pos, c = check(rm, pos, 3.80, 90)  # 284% loss: a CRITICAL stop, were it true
    assert c.decision.action is ExitAction.HOLD
    assert c.mark.problem is QuoteProblem.UNCONFIRMED_JUMP
    assert "held until the next quote confirms it" in c.decision.reason
    assert pos.state.trough_premium == 0.97 and pos.state.peak_premium == 1.00 and pos.state.mae == 0.0
    pos, c = check(rm, pos, 3.70, 95)  # the next quote, 5 s later (the monitor's urgent interval)
    d = c.decision
    assert d.rule == "stop_loss" and d.priority is Priority.CRITICAL and "now 3.70" in d.reason
    assert pos.state.peak_premium == 3.70  # the confirming mark is recorded; the first jump never was


def test_the_issues_hundredfold_tick_when_the_next_tick_is_normal_then_no_stop_was_ratcheted() -> None:
    """Issue #14: one valid 100x tick fired a CRITICAL stop and ratcheted a trailing stop to the
    spike, so the next normal tick triggered it."""
    rm = RiskManager(TRAIL_ON, equity=100_000)
    pos = make_position(5.00, credit=False, id="lc")
    for i, p in enumerate([5.10, 5.12, 5.14]):
        pos, c = check(rm, pos, p, 30 * i)
    trail = rm.trails["lc"]
    assert trail.active
    pos, c = check(rm, pos, 514.0, 90, spread=4.0)
    assert c.decision.action is ExitAction.HOLD and c.trail_action is TrailingStopAction.HOLD
    assert rm.trails["lc"] == trail and pos.state.peak_premium == 5.14 and pos.state.mfe == pytest.approx(0.14)
    pos, c = check(rm, pos, 5.15, 120)
    assert c.decision.action is ExitAction.HOLD and c.trail_action is not TrailingStopAction.TRIGGER
    assert c.mark.is_valid


def test_a_repeated_quote_when_it_carries_the_jumps_timestamp_then_it_does_not_confirm() -> None:
    rm = RiskManager(equity=100_000)
    pos = make_vertical(1.00)
    pos, _ = check(rm, pos, 0.98, 0)
    pos, _ = check(rm, pos, 3.80, 30)
    pos, c = check(rm, pos, 3.80, 35, stamp=30)  # a cache hit: the same quote again
    assert c.mark.problem is QuoteProblem.UNCONFIRMED_JUMP
    pos, c = check(rm, pos, 3.85, 40)
    assert c.decision.rule == "stop_loss"


def test_a_jump_when_the_next_quote_jumps_the_other_way_then_neither_is_acted_on() -> None:
    rm = RiskManager(equity=100_000)
    pos = make_vertical(1.00)
    pos, _ = check(rm, pos, 0.98, 0)
    pos, a = check(rm, pos, 3.80, 30)
    pos, b = check(rm, pos, 0.01, 35)  # a 99% "profit" right after a 280% "loss"
    assert a.mark.problem is b.mark.problem is QuoteProblem.UNCONFIRMED_JUMP
    pos, c = check(rm, pos, 0.97, 40)
    assert c.mark.is_valid and c.decision.action is ExitAction.HOLD


def test_the_first_mark_of_a_run_when_far_from_the_entry_then_it_is_acted_on() -> None:
    """Nothing to compare it with: a position opened days ago may well have moved."""
    rm = RiskManager(equity=100_000)
    _, c = check(rm, make_vertical(1.00), 2.40, 0)

    assert c.decision.rule == "stop_loss"


def test_jump_confirmation_off_when_a_jump_comes_then_the_rules_act_at_once() -> None:
    rm = RiskManager(equity=100_000, confirm_jumps=False)  # an end-of-day backtest's default
    pos = make_vertical(1.00)
    pos, _ = check(rm, pos, 0.98, 0)
    _, c = check(rm, pos, 3.80, 86_400)

    assert c.decision.rule == "stop_loss"


@pytest.mark.parametrize(("mode", "live", "eod"), [("live", True, False), ("always", True, True),
                                                    ("never", False, False)])
def test_confirm_jumps_setting_when_wired_then_it_chooses_by_the_data(mode: str, live: bool, eod: bool) -> None:
    cfg = config_from_dict({"monitoring": {"marks": {"confirm_jumps": mode}}})

    assert cfg.monitoring.confirms_jumps(end_of_day=False) is live
    assert cfg.monitoring.confirms_jumps(end_of_day=True) is eod
    assert (RiskManager(cfg, equity=1.0).marks.jumps is not None) is live  # built directly: as live


def test_an_unconfirmed_jump_when_it_would_trip_the_circuit_breaker_then_the_book_trades_on() -> None:
    cfg = config_from_dict({"risk": {"daily_loss_limit_pct": 0.01}})  # $1,000
    rm = RiskManager(cfg, equity=100_000)
    book = [make_vertical(1.00, id=f"p{i}", quantity=5, underlying=u) for i, u in enumerate(["SPY", "QQQ"])]
    marks = {p.id: Mark.from_premium(0.98, at(0), spread=0.02) for p in book}
    book = [c.position for c in rm.check_position_exits(book, marks, at(0))]
    marks = {"p0": Mark.from_premium(4.80, at(30), spread=0.1), "p1": Mark.from_premium(0.97, at(30), spread=0.02)}
    checks = rm.check_position_exits(book, marks, at(30))  # p0: -1,900 were it true

    assert rm.trading_state is TradingState.ACTIVE and checks.exits() == []
    assert rm._book.last_unrealized["p0"] == pytest.approx(0.02 * 500) and checks.marks["p1"].is_valid


@pytest.mark.parametrize("small_book", [1_000, 0])
@pytest.mark.parametrize("value", [-0.50, math.nan, math.inf])
def test_a_negative_or_nan_mark_when_in_a_book_then_its_position_holds_and_the_rest_exit(
    value: float, small_book: int
) -> None:
    """Issue #14: a negative mark raised out of check_position_exits for the whole book."""
    rm = RiskManager(equity=100_000, small_book=small_book)
    book = [make_vertical(1.00, id="bad"), make_vertical(1.00, id="good", underlying="QQQ")]
    bad = Mark(0.5, 0.4, 0.6, at(0))
    object.__setattr__(bad, "premium", value)  # past the constructor, as a faulty adapter could
    checks = rm.check_position_exits(book, {"bad": bad, "good": Mark.from_premium(0.30, at(0))}, at(0))

    assert [c.position.id for c in checks.exits()] == ["good"]
    assert checks[0].decision.action is ExitAction.HOLD and checks[0].mark.problem is QuoteProblem.OUT_OF_BOUNDS
    assert "bad" not in rm._book.last_unrealized


def test_a_closed_position_when_its_last_fill_books_then_its_mark_history_goes() -> None:
    rm = RiskManager(equity=100_000)
    pos = make_vertical(1.00, id="p1")
    rm.validate_order(OrderRequest("SPY", 1, 400.0, position_id="p1"))
    rm.record_fill(Fill("o", "o", 1, 1.00, NOW, Side.BUY, position_id="p1"))
    check(rm, pos, 0.98, 0)
    assert rm.marks.history("p1") == ([0.98], None)
    rm.record_fill(Fill("c", "c", 1, 0.98, NOW, Side.SELL, position_id="p1"))
    assert rm.marks.history("p1") == ([], None) and "p1" not in rm.marks._kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(min_value=0.5, max_value=1.6), min_size=2, max_size=8),
       st.floats(min_value=5.01, max_value=86_400), st.sampled_from([1_000, 0]), st.booleans())
def test_any_mark_stamped_ahead_beyond_the_skew_when_checked_then_it_holds(
    path: list[float], ahead: float, small_book: int, credit: bool
) -> None:
    rm = RiskManager(TRAIL_ON, equity=1_000_000, small_book=small_book)
    pos = make_vertical(1.00) if credit else make_position(1.00, credit=False)
    for i, p in enumerate(path[:-1]):
        pos, _ = check(rm, pos, round(p, 2), 30 * i)
    trail = rm.trails.get(pos.id)
    t = 30 * len(path)
    after, c = check(rm, pos, round(path[-1], 2), t, stamp=t + ahead)

    assert c.decision.action is ExitAction.HOLD and c.mark.problem is QuoteProblem.FUTURE
    assert after.state == pos.state and rm.trails.get(pos.id) == trail


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(min_value=0.92, max_value=1.08), min_size=3, max_size=10), st.data(),
       st.sampled_from([1_000, 0]))
def test_one_spike_when_followed_by_ordinary_ticks_then_the_run_is_as_if_it_never_came(
    path: list[float], data: st.DataObject, small_book: int
) -> None:
    """A held spike changes nothing: tracked state, trailing stop and decisions after it are
    those of the same run without it."""
    spike_at = data.draw(st.integers(min_value=1, max_value=len(path) - 1))
    # Beyond 5 x the widest recent range such a path can have (0.16), from any of its marks.
    spike = data.draw(st.sampled_from([0.01, 0.0, 4.5, 1.95]))
    with_spike = RiskManager(TRAIL_ON, equity=1_000_000, small_book=small_book)
    without = RiskManager(TRAIL_ON, equity=1_000_000, small_book=small_book)
    a = b = make_vertical(1.00)
    decisions_a, decisions_b = [], []
    for i, p in enumerate(path):
        t = 30 * i
        if i == spike_at:
            a, held = check(with_spike, a, spike, t - 10, spread=0.05)
            assert held.mark.problem is QuoteProblem.UNCONFIRMED_JUMP
        a, ca = check(with_spike, a, round(p, 2), t)
        b, cb = check(without, b, round(p, 2), t)
        decisions_a.append((ca.decision.action, ca.decision.rule))
        decisions_b.append((cb.decision.action, cb.decision.rule))
        if ca.decision.action is not ExitAction.HOLD:
            break
    assert decisions_a == decisions_b
    assert a.state == b.state and with_spike.trails == without.trails


_PRICES = st.one_of(st.none(), st.sampled_from([-0.5, 0.0, 0.3, 1.0, 4.99, 5.02, 7.0, math.nan, math.inf]),
                    st.floats(min_value=-1, max_value=8, allow_nan=False), st.integers(min_value=0, max_value=6))


@settings(max_examples=300, deadline=None)
@given(_PRICES, _PRICES, _PRICES, st.sampled_from([-120.0, -60.0, -59.9, 0.0, 4.9, 5.0, 5.1, 3600.0]),
       st.booleans())
def test_the_guards_fast_path_when_vetting_any_mark_then_it_agrees_with_mark_problem(
    premium: float | None, bid: float | None, ask: float | None, ahead: float, naive: bool
) -> None:
    """MarkGuard.vet accepts a well-formed mark inline; whatever it accepts or refuses is what
    mark_problem, which describes every refusal, decides."""
    stamp = NOW + timedelta(seconds=ahead)
    m = Mark(0.0, None, None, stamp.replace(tzinfo=None) if naive else stamp)
    for name, v in (("premium", premium), ("bid", bid), ("ask", ask)):
        object.__setattr__(m, name, v)  # any value, as a faulty source could hand over
    pos = make_vertical(1.00, id="p")
    vetted = MarkGuard(jumps=None).vet([pos], {"p": m}, NOW)["p"]
    want = mark_problem(m, NOW, value_bounds(pos.legs, pos.premium_type), DEFAULT_MARK_CHECKS)

    assert vetted.problem is (None if want is None else want[0])
