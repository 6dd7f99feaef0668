"""Limit prices on the tick grid: rounding never makes an order more aggressive."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.execution.ticks import (
    NICKEL_DIME,
    PENNY_ALL,
    PENNY_PILOT,
    TickRule,
    combined_rule,
    round_to_tick,
    rule_from_ib,
)
from riskpilot.model import Side


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (2.98, Side.BUY, 2.95),  # pays at most 2.98: 2.95, never 3.00
        (2.98, Side.SELL, 3.00),  # receives at least 2.98: 3.00, never 2.95
        (3.07, Side.BUY, 3.00),  # the 0.10 band from 3.00
        (3.01, Side.SELL, 3.10),
        (1.15, Side.BUY, 1.15),  # on the grid: unchanged (decimal, not 1.1499999)
        (1.15, Side.SELL, 1.15),
        (0.03, Side.BUY, 0.00),
        (0.03, Side.SELL, 0.05),
    ],
)
def test_spx_limit_rounds_away_from_aggression(price: float, side: Side, expected: float) -> None:
    assert round_to_tick(price, NICKEL_DIME, side) == expected


def test_penny_pilot_class_rounds_to_pennies_under_three_and_nickels_above() -> None:
    assert round_to_tick(2.987, PENNY_PILOT, Side.BUY) == 2.98
    assert round_to_tick(2.987, PENNY_PILOT, Side.SELL) == 2.99
    assert round_to_tick(3.02, PENNY_PILOT, Side.BUY) == 3.00
    assert round_to_tick(3.02, PENNY_PILOT, Side.SELL) == 3.05
    assert round_to_tick(7.777, PENNY_ALL, Side.SELL) == 7.78


def test_combo_of_penny_and_nickel_legs_is_priced_on_the_coarser_grid() -> None:
    rule = combined_rule([PENNY_PILOT, NICKEL_DIME])
    assert rule.increment_at(1.0) == Decimal("0.05") and rule.increment_at(3.5) == Decimal("0.1")
    assert round_to_tick(1.23, rule, Side.BUY) == 1.20


def test_ib_market_rule_becomes_a_tick_rule_with_its_bands() -> None:
    rule = rule_from_ib(110, [(3.0, 0.10), (0.0, 0.05)])  # IB may list bands in any order
    assert rule.name == "ib:110" and rule.describe() == "0.05 under 3, 0.1 from 3"


def test_tick_rule_refuses_a_table_not_starting_at_zero() -> None:
    with pytest.raises(ValueError, match="must start at 0"):
        TickRule.of([(1.0, 0.05)])


def test_rounding_refuses_a_negative_or_nan_price() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        round_to_tick(-0.05, PENNY_ALL, Side.BUY)
    with pytest.raises(ValueError, match="finite"):
        round_to_tick(float("nan"), PENNY_ALL, Side.BUY)


# --- invariants ------------------------------------------------------------------------------

_INCREMENTS = [Decimal(x) for x in ("0.01", "0.05", "0.10", "0.25", "0.5", "1")]


@st.composite
def ib_like_rules(draw: st.DrawFn) -> TickRule:
    """Tables like listed classes': increments growing with price, each edge a multiple of the
    increments on both of its sides."""
    n = draw(st.integers(1, 4))
    incs = sorted(draw(st.lists(st.sampled_from(_INCREMENTS), min_size=n, max_size=n)))
    bands = [(Decimal(0), incs[0])]
    edge = Decimal(0)
    for inc in incs[1:]:
        # The next edge is a multiple of inc (hence of every smaller one): round the last edge
        # up to inc's grid first (0.5 + 26 x 1 = 26.5 is no edge of a 1.00 band).
        edge = (edge / inc).to_integral_value(rounding="ROUND_CEILING") * inc + inc * draw(st.integers(1, 40))
        bands.append((edge, inc))
    return TickRule.of([(float(lo), float(i)) for lo, i in bands])


prices = st.floats(min_value=0.0, max_value=60.0, allow_nan=False, allow_infinity=False)


@given(ib_like_rules(), prices, st.sampled_from([Side.BUY, Side.SELL]))
def test_rounded_limit_is_on_grid_never_more_aggressive_and_within_one_tick(
    rule: TickRule, price: float, side: Side
) -> None:
    rounded = round_to_tick(price, rule, side)
    assert rule.on_grid(rounded)
    tick = float(rule.increment_at(price))
    if side is Side.BUY:  # pays: never more than asked
        assert rounded <= price + 1e-9
    else:  # receives: never less than asked
        assert rounded >= price - 1e-9
    assert abs(rounded - price) < tick + 1e-9
    assert round_to_tick(rounded, rule, side) == rounded  # idempotent


@given(ib_like_rules(), prices)
def test_a_price_on_the_grid_is_left_alone_by_both_sides(rule: TickRule, price: float) -> None:
    down = round_to_tick(price, rule, Side.BUY)
    assert round_to_tick(down, rule, Side.SELL) == down
