"""Quotes and marks that pass a quote's checks but cannot be true (issue #14, item 5;
docs/marks.md): future-stamped and naive quotes, one-sided short legs, markets outside the
structure's bounds, legs under their intrinsic value."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.model import Leg, Mark, Position, PremiumType, QuoteProblem, mark_position
from riskpilot.model.mark import MarkChecks, mark_problem
from riskpilot.model.structure import ValueBounds, value_bounds
from riskpilot.testing import NOW, make_contract, make_position, make_quote, make_vertical

INF = math.inf


def _legs(*spec: tuple[float, str, int]) -> tuple[Leg, ...]:
    return tuple(Leg(make_contract(k, r, dte=45), q) for k, r, q in spec)


# -- quotes --------------------------------------------------------------------------------------


def test_quote_stamped_beyond_the_clock_skew_when_checked_then_future_stamped() -> None:
    ahead = make_quote(1.0, 1.1, age_seconds=-6)
    within = make_quote(1.0, 1.1, age_seconds=-5)

    assert ahead.problem(NOW) is QuoteProblem.FUTURE and ahead.is_future(NOW)
    assert within.problem(NOW) is None
    assert make_quote(1.0, 1.1, age_seconds=-3600).problem(NOW, max_skew_seconds=7200) is None


def test_quote_with_a_naive_timestamp_when_built_then_kept_and_reported_not_raised() -> None:
    q = make_quote(1.0, 1.1)
    naive = type(q)(1.0, 1.1, NOW.replace(tzinfo=None))

    assert naive.is_naive and naive.problem(NOW) is QuoteProblem.NAIVE_TIMESTAMP and naive.is_stale(NOW)
    assert not naive.is_future(NOW)
    with pytest.raises(ValueError, match="quote timestamp must be a datetime"):
        type(q)(1.0, 1.1, "2024-03-01T10:30")  # type: ignore[arg-type]


# -- bounds per structure ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "legs", "kind", "bounds"), [
    ("put credit spread", _legs((480, "P", -1), (475, "P", 1)), PremiumType.CREDIT, ValueBounds(0, 5)),
    ("call credit spread", _legs((520, "C", -1), (530, "C", 1)), PremiumType.CREDIT, ValueBounds(0, 10)),
    ("iron condor, unequal wings", _legs((480, "P", -1), (475, "P", 1), (520, "C", -1), (530, "C", 1)),
     PremiumType.CREDIT, ValueBounds(0, 10)),
    ("short put", _legs((480, "P", -1)), PremiumType.CREDIT, ValueBounds(0, 480)),
    ("short call", _legs((520, "C", -1)), PremiumType.CREDIT, ValueBounds(0, INF)),
    ("short strangle", _legs((480, "P", -1), (520, "C", -1)), PremiumType.CREDIT, ValueBounds(0, INF)),
    ("long call", _legs((500, "C", 1)), PremiumType.DEBIT, ValueBounds(0, INF)),
    ("long put", _legs((500, "P", 1)), PremiumType.DEBIT, ValueBounds(0, 500)),
    ("debit put spread", _legs((500, "P", 1), (490, "P", -1)), PremiumType.DEBIT, ValueBounds(0, 10)),
])
def test_value_bounds_when_computed_per_structure_then_as_documented(
    name: str, legs: tuple[Leg, ...], kind: PremiumType, bounds: ValueBounds
) -> None:
    assert value_bounds(legs, kind) == bounds, name


def test_value_bounds_when_legs_expire_on_different_days_then_none() -> None:
    calendar = (Leg(make_contract(500, "C", dte=30), -1), Leg(make_contract(500, "C", dte=60), 1))

    assert value_bounds(calendar, PremiumType.DEBIT) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=50, max_value=600), st.sampled_from([1, 2.5, 5, 10, 25]),
       st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0),
       st.floats(min_value=0.01, max_value=0.5))
def test_a_vertical_quoted_without_arbitrage_when_marked_then_never_out_of_bounds(
    short: int, width: float, share: float, long_mid: float, half: float
) -> None:
    """Any pair of put quotes whose mids are a spread worth 0..width (each leg quoted around
    its mid, however wide) marks inside the bounds."""
    pos = make_vertical(0.5 * width, short_strike=float(short), width=float(width))
    long_q = make_quote(long_mid * 10 + half, long_mid * 10 + 3 * half)
    value = share * width
    short_mid = (long_q.bid + long_q.ask) / 2 + value  # type: ignore[operator]
    short_q = make_quote(short_mid - half, short_mid + half)
    m = mark_position(pos, {pos.legs[0].contract: short_q, pos.legs[1].contract: long_q}, NOW)

    assert m.problem is None, m.detail
    assert m.premium == pytest.approx(value, abs=1e-9)


def test_a_deep_in_the_money_spread_quoted_wide_when_its_mid_passes_the_width_then_it_stays_good() -> None:
    """The stop of a deep in-the-money spread must still fire: its whole market is not past
    the width, only its mid."""
    pos = make_vertical(1.00, short_strike=480, width=5)
    quotes = {pos.legs[0].contract: make_quote(29.50, 30.50), pos.legs[1].contract: make_quote(24.50, 25.30)}
    m = mark_position(pos, quotes, NOW)

    assert m.is_valid and m.premium == pytest.approx(5.10)


def test_market_wholly_above_the_width_when_marked_then_out_of_bounds_naming_it() -> None:
    pos = make_vertical(1.00, short_strike=480, width=5)
    quotes = {pos.legs[0].contract: make_quote(198.0, 202.0), pos.legs[1].contract: make_quote(1.00, 1.04)}
    m = mark_position(pos, quotes, NOW)

    assert m.problem is QuoteProblem.OUT_OF_BOUNDS
    assert m.detail == "the whole market 196.96..201.00 is above the structure's greatest value 5.00"


# -- one-sided short legs --------------------------------------------------------------------------


def test_zero_bid_short_leg_when_its_ask_is_wide_then_one_sided_not_a_spread_worth_zero() -> None:
    pos = make_vertical(1.00, short_strike=480, width=5)
    quotes = {pos.legs[0].contract: make_quote(0.0, 2.00), pos.legs[1].contract: make_quote(1.00, 1.10)}
    m = mark_position(pos, quotes, NOW)

    assert m.problem is QuoteProblem.ONE_SIDED and m.premium == 0.0
    assert m.detail is not None and "bid 0.00 against an ask of 2.00" in m.detail


@pytest.mark.parametrize(("ask", "entry", "one_sided"), [
    (0.05, 0.10, False),   # a tick: a worthless option's ask, whatever the credit
    (0.10, 1.00, False),   # half of it (0.05) is 5% of the credit: under 10%
    (0.22, 1.00, True),    # 0.11 is 11%
    (0.30, 4.00, False),   # 0.15 of a 4.00 credit
])
def test_one_sided_threshold_when_the_ask_varies_then_only_a_wide_ask_holds(
    ask: float, entry: float, one_sided: bool
) -> None:
    pos = make_position(entry, legs=_legs((480, "P", -1)))
    m = mark_position(pos, {pos.legs[0].contract: make_quote(0.0, ask)}, NOW)

    assert (m.problem is QuoteProblem.ONE_SIDED) is one_sided


def test_zero_bid_long_leg_when_marked_then_not_one_sided() -> None:
    """A long wing bid at 0 errs toward the stop; liquidity_dried_up answers it (docs/marks.md)."""
    pos = make_vertical(1.00, short_strike=480, width=5)
    quotes = {pos.legs[0].contract: make_quote(2.00, 2.10), pos.legs[1].contract: make_quote(0.0, 1.00)}

    assert mark_position(pos, quotes, NOW).problem is None


# -- intrinsic value, when the underlying's price is known ------------------------------------------


def test_put_under_intrinsic_when_the_underlying_is_known_then_out_of_bounds() -> None:
    pos = make_position(2.00, legs=_legs((480, "P", -1)))
    quotes = {pos.legs[0].contract: make_quote(0.28, 0.32)}

    held = mark_position(pos, quotes, NOW, underlying_price=450.0)
    assert held.problem is QuoteProblem.OUT_OF_BOUNDS
    assert held.detail is not None and "under its intrinsic value" in held.detail
    assert mark_position(pos, quotes, NOW).problem is None  # unknown underlying: unbounded below


def test_european_put_under_plain_intrinsic_within_the_carry_when_marked_then_good() -> None:
    """A deep in-the-money European put trades under K - S by the interest on K."""
    pos = make_position(20.0, legs=(Leg(make_contract(2800, "P", dte=45), -1),))
    carry = 2800 * (1 - math.exp(-0.024 * 45 / 365))  # about 8.3 points at 2.4%
    mid = 2800 - 2700 - carry
    m = mark_position(pos, {pos.legs[0].contract: make_quote(mid - 0.5, mid + 0.5)}, NOW, underlying_price=2700.0)

    assert m.problem is None
    strict = mark_position(pos, {pos.legs[0].contract: make_quote(mid - 0.5, mid + 0.5)}, NOW,
                           underlying_price=2700.0, checks=MarkChecks(carry_rate=0.0))
    assert strict.problem is QuoteProblem.OUT_OF_BOUNDS


# -- marks handed over directly ------------------------------------------------------------------------


@pytest.mark.parametrize(("mark", "problem"), [
    (Mark(-0.5, -0.6, -0.4, NOW), QuoteProblem.OUT_OF_BOUNDS),
    (Mark(1.0, 0.9, 1.1, NOW.replace(tzinfo=None)), QuoteProblem.NAIVE_TIMESTAMP),
    (Mark(1.0, 0.9, 1.1, NOW + timedelta(seconds=6)), QuoteProblem.FUTURE),
    (Mark(1.0, 0.9, 1.1, NOW - timedelta(days=3)), QuoteProblem.STALE),
    (Mark(1.0, 1.1, 0.9, NOW), QuoteProblem.CROSSED),
    (Mark(0.05, 0.95, 1.00, NOW), QuoteProblem.OUT_OF_BOUNDS),
    (Mark(7.0, 6.9, 7.1, NOW), QuoteProblem.OUT_OF_BOUNDS),
    (Mark(None, None, None, NOW), QuoteProblem.MISSING),
])
def test_mark_problem_when_a_mark_cannot_be_true_then_named(mark: Mark, problem: QuoteProblem) -> None:
    found = mark_problem(mark, NOW, ValueBounds(0, 5))

    assert found is not None and found[0] is problem


def test_mark_with_a_value_set_past_its_constructor_when_vetted_then_held_not_raised() -> None:
    m = Mark(1.0, 0.9, 1.1, NOW)
    object.__setattr__(m, "premium", math.nan)

    found = mark_problem(m, NOW, None)
    assert found is not None and found[0] is QuoteProblem.OUT_OF_BOUNDS
    held = m.with_problem(*found)
    assert held.premium is None and held.bid == 0.9 and not held.is_valid


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(4)), st.lists(st.floats(min_value=0.05, max_value=3.0), min_size=4, max_size=4),
       st.sampled_from([PremiumType.CREDIT, PremiumType.DEBIT]))
def test_a_mark_when_its_legs_are_reordered_then_it_is_the_same_mark(
    order: list[int], mids: list[float], kind: PremiumType
) -> None:
    legs = _legs((480, "P", -1), (475, "P", 1), (520, "C", -1), (525, "C", 1))
    quotes = {leg.contract: make_quote(round(m * 0.98, 2), round(m * 1.02, 2))
              for leg, m in zip(legs, mids, strict=True)}
    a = Position("a", legs, kind, 1.0, 1, NOW - timedelta(days=1), "default")
    b = Position("b", tuple(legs[i] for i in order), kind, 1.0, 1, NOW - timedelta(days=1), "default")
    ma, mb = mark_position(a, quotes, NOW), mark_position(b, quotes, NOW)

    assert ma.problem is mb.problem
    assert (ma.premium, ma.bid, ma.ask) == pytest.approx((mb.premium, mb.bid, mb.ask))
    assert value_bounds(a.legs, kind) == value_bounds(b.legs, kind)
