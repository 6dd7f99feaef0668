"""Kalshi's trading fee, checked against figures worked by hand from the published formula
fee = round up to the cent (rate x C x P x (1 - P)), rate 0.07 taker, 0.0175 maker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.execution.fees import KalshiFeeType, kalshi_fee

MAKER_SERIES = KalshiFeeType.QUADRATIC_WITH_MAKER_FEES


@pytest.mark.parametrize(
    ("price", "contracts", "fee", "worked"),
    [
        (0.50, 1, 0.02, "0.07 x 1 x 0.25 = 0.0175 -> 0.02"),
        (0.50, 10, 0.18, "0.07 x 10 x 0.25 = 0.175 -> 0.18"),
        (0.50, 100, 1.75, "0.07 x 100 x 0.25 = 1.75 exactly: no extra cent"),
        (0.05, 100, 0.34, "0.07 x 100 x 0.05 x 0.95 = 0.3325 -> 0.34"),
        (0.99, 100, 0.07, "0.07 x 100 x 0.99 x 0.01 = 0.0693 -> 0.07"),
        (0.43, 30, 0.52, "0.07 x 30 x 0.43 x 0.57 = 0.51471 -> 0.52"),
        (0.25, 4, 0.06, "0.07 x 4 x 0.25 x 0.75 = 0.0525 -> 0.06"),
    ],
)
def test_kalshi_fee_when_taker_then_matches_the_hand_computed_figure(
    price: float, contracts: int, fee: float, worked: str
) -> None:
    assert kalshi_fee(price, contracts) == pytest.approx(fee), worked


def test_kalshi_fee_when_maker_on_a_maker_fee_series_then_quarter_rate_rounded_up() -> None:
    # 0.0175 x 10 x 0.25 = 0.04375 -> 0.05 (rounded up, not to the nearest cent)
    assert kalshi_fee(0.50, 10, maker=True, fee_type=MAKER_SERIES) == pytest.approx(0.05)
    # 0.0175 x 100 x 0.25 = 0.4375 -> 0.44
    assert kalshi_fee(0.50, 100, maker=True, fee_type=MAKER_SERIES) == pytest.approx(0.44)


def test_kalshi_fee_when_maker_on_a_plain_quadratic_series_then_free() -> None:
    assert kalshi_fee(0.50, 100, maker=True, fee_type="quadratic") == 0.0


def test_kalshi_fee_when_series_multiplier_is_half_then_the_rate_halves() -> None:
    # 0.5 x 0.07 x 100 x 0.25 = 0.875 -> 0.88
    assert kalshi_fee(0.50, 100, fee_multiplier=0.5) == pytest.approx(0.88)


def test_kalshi_fee_when_flat_series_then_refused_naming_the_table() -> None:
    with pytest.raises(ValueError, match="Specific Trading Fees Table"):
        kalshi_fee(0.50, 1, fee_type="flat")


def test_kalshi_fee_when_price_or_count_is_not_tradable_then_refused() -> None:
    with pytest.raises(ValueError, match=r"between 0\.01 and 0\.99"):
        kalshi_fee(1.0, 1)
    with pytest.raises(ValueError, match="whole number >= 1"):
        kalshi_fee(0.5, 0)


@given(cents=st.integers(1, 99), contracts=st.integers(1, 5_000))
def test_kalshi_fee_property_symmetric_in_the_side_and_never_below_the_exact_fee(cents: int, contracts: int) -> None:
    p = cents / 100
    fee = kalshi_fee(p, contracts)
    assert fee == kalshi_fee((100 - cents) / 100, contracts)  # YES at p costs what NO at 1 - p costs
    exact = 0.07 * contracts * p * (1 - p)
    assert exact - 1e-9 <= fee < exact + 0.01 + 1e-9
    assert abs(fee * 100 - round(fee * 100)) < 1e-9  # whole cents
