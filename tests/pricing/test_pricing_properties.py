"""Invariants of the pricing layer checked with hypothesis: put-call parity, the implied vol
round trip, and the vectorized path against a plain scalar loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.pricing import bsm_greeks, bsm_price, implied_vol

ONE_HOUR = 1.0 / (365.0 * 24.0)

spots = st.floats(min_value=1.0, max_value=2000.0)
moneyness = st.floats(min_value=0.5, max_value=2.0)
expiries = st.one_of(
    st.sampled_from([ONE_HOUR, 1.0 / 365.0, 2.0]),
    st.floats(min_value=ONE_HOUR, max_value=3.0),
)
rates = st.floats(min_value=-0.02, max_value=0.10)
divs = st.floats(min_value=0.0, max_value=0.08)
vols = st.floats(min_value=0.01, max_value=2.0)


@settings(max_examples=300, deadline=None)
@given(spots, moneyness, expiries, rates, divs, vols)
def test_call_minus_put_equals_discounted_forward_minus_strike(
    spot: float, m: float, t: float, r: float, q: float, vol: float
) -> None:
    strike = spot * m
    call = bsm_price(spot, strike, t, r, q, vol, True)
    put = bsm_price(spot, strike, t, r, q, vol, False)
    parity = spot * np.exp(-q * t) - strike * np.exp(-r * t)
    assert abs(float(call - put) - parity) <= 1e-12 * max(spot, strike) * 10


@settings(max_examples=300, deadline=None)
@given(spots, moneyness, expiries, rates, divs, vols, st.booleans())
def test_price_to_implied_vol_to_price_round_trips_within_1e_8(
    spot: float, m: float, t: float, r: float, q: float, vol: float, is_call: bool
) -> None:
    strike = spot * m
    price = bsm_price(spot, strike, t, r, q, vol, is_call)
    iv = implied_vol(price, spot, strike, t, r, q, is_call)
    assert np.isfinite(iv), (price, iv)
    repriced = bsm_price(spot, strike, t, r, q, iv, is_call)
    assert abs(float(repriced - price)) <= 1e-8
    # Where the price is sensitive to vol, the vol itself comes back.
    vega_per_unit = float(bsm_greeks(spot, strike, t, r, q, vol, is_call).vega) / 0.01
    if vega_per_unit > 1e-2:
        assert abs(float(iv) - vol) <= 1e-8 / vega_per_unit * 10 + 1e-10


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_vectorized_results_equal_a_plain_scalar_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 64
    spot = rng.uniform(10.0, 500.0, n)
    strike = spot * rng.uniform(0.5, 2.0, n)
    t = rng.choice([0.0, ONE_HOUR, 1.0 / 365.0, 0.3, 2.0], n)
    r = rng.uniform(-0.01, 0.08, n)
    q = rng.uniform(0.0, 0.05, n)
    vol = rng.choice([0.0, 0.05, 0.3, 1.5], n)
    is_call = rng.random(n) < 0.5
    price = bsm_price(spot, strike, t, r, q, vol, is_call)
    greeks = bsm_greeks(spot, strike, t, r, q, vol, is_call)
    iv = implied_vol(price, spot, strike, t, r, q, is_call)
    for i in range(n):
        args = (spot[i], strike[i], t[i], r[i], q[i], vol[i], bool(is_call[i]))
        assert np.isclose(price[i], bsm_price(*args), rtol=1e-13, atol=1e-15)
        one = bsm_greeks(*args)
        for field in ("delta", "gamma", "theta", "vega", "rho"):
            assert np.isclose(getattr(greeks, field)[i], getattr(one, field), rtol=1e-12, atol=1e-15)
        iv_one = implied_vol(price[i], *args[:5], args[6])
        assert np.array_equal(iv[i], iv_one, equal_nan=True) or np.isclose(iv[i], iv_one, rtol=1e-9)
