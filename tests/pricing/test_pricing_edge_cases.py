"""Scenarios at the edges: expiry, zero vol, holes in a chain, arbitrage prices, bad input,
and the units of each greek checked by finite differences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from riskpilot.pricing import (
    Greeks,
    bsm_delta,
    bsm_gamma,
    bsm_greeks,
    bsm_price,
    bsm_rho,
    bsm_theta,
    bsm_vega,
    implied_vol,
)

ONE_DAY = 1.0 / 365.0


def test_hull_textbook_example_prices_match_published_values() -> None:
    # Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%,
    # vol=20%, T=0.5, no dividends: call 4.76, put 0.81 (published to the cent).
    call = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True)
    put = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False)
    assert round(float(call), 2) == 4.76
    assert round(float(put), 2) == 0.81


def test_scalar_inputs_return_zero_dim_float_array() -> None:
    out = bsm_price(100.0, 100.0, 0.5, 0.05, 0.0, 0.2, True)
    assert isinstance(out, np.ndarray)
    assert out.shape == ()
    assert out.dtype == np.float64


def test_chain_of_strikes_by_expiries_broadcasts_to_a_grid() -> None:
    strikes = np.array([90.0, 100.0, 110.0])
    expiries = np.array([[7 / 365], [30 / 365]])
    prices = bsm_price(100.0, strikes, expiries, 0.04, 0.01, 0.25, True)
    assert prices.shape == (2, 3)
    assert np.all(np.diff(prices, axis=1) < 0)  # calls cheapen as the strike rises
    assert np.all(prices[1] > prices[0])  # and richen with time
    assert bsm_greeks(100.0, strikes, expiries, 0.04, 0.01, 0.25, True).theta.shape == (2, 3)


def test_at_expiry_price_is_intrinsic_value() -> None:
    strikes = np.array([80.0, 100.0, 120.0])
    calls = bsm_price(100.0, strikes, 0.0, 0.05, 0.02, 0.3, True)
    puts = bsm_price(100.0, strikes, 0.0, 0.05, 0.02, 0.3, False)
    np.testing.assert_array_equal(calls, [20.0, 0.0, 0.0])
    np.testing.assert_array_equal(puts, [0.0, 0.0, 20.0])


def test_at_expiry_greeks_are_the_step_limits_and_finite() -> None:
    strikes = np.array([80.0, 100.0, 120.0])
    g = bsm_greeks(100.0, strikes, 0.0, 0.05, 0.02, 0.3, True)
    np.testing.assert_array_equal(g.delta, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(g.gamma, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g.vega, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g.rho, [0.0, 0.0, 0.0])
    assert np.all(np.isfinite(g.theta))
    put_delta = bsm_delta(100.0, strikes, 0.0, 0.05, 0.02, 0.3, False)
    np.testing.assert_array_equal(put_delta, [0.0, -0.5, -1.0])


def test_zero_vol_price_is_discounted_forward_intrinsic() -> None:
    spot, t, r, q = 100.0, 0.5, 0.05, 0.01
    strikes = np.array([90.0, 101.0, 110.0])
    fwd_disc = spot * np.exp(-q * t)
    k_disc = strikes * np.exp(-r * t)
    calls = bsm_price(spot, strikes, t, r, q, 0.0, True)
    puts = bsm_price(spot, strikes, t, r, q, 0.0, False)
    np.testing.assert_allclose(calls, np.maximum(fwd_disc - k_disc, 0.0), rtol=1e-15)
    np.testing.assert_allclose(puts, np.maximum(k_disc - fwd_disc, 0.0), rtol=1e-15)
    # K=101 is below the forward 102.02, so the "OTM by spot" call is worth its forward value.
    assert calls[1] > 0.0


def test_nan_in_one_element_gives_nan_there_and_leaves_the_rest_alone() -> None:
    strikes = np.array([95.0, np.nan, 105.0])
    vols = np.array([0.2, 0.2, np.nan])
    prices = bsm_price(100.0, strikes, 0.25, 0.03, 0.0, vols, True)
    assert np.isfinite(prices[0])
    assert np.isnan(prices[1]) and np.isnan(prices[2])
    assert prices[0] == bsm_price(100.0, 95.0, 0.25, 0.03, 0.0, 0.2, True)
    g = bsm_greeks(100.0, strikes, 0.25, 0.03, 0.0, vols, True)
    for field in dataclasses.fields(Greeks):
        values = getattr(g, field.name)
        assert np.isfinite(values[0]) and np.isnan(values[1:]).all(), field.name
    iv = implied_vol(np.array([6.0, 6.0, np.nan]), 100.0, [95.0, np.nan, 105.0], 0.25, 0.03, 0.0, True)
    assert np.isfinite(iv[0]) and np.isnan(iv[1:]).all()


def test_nan_rate_or_time_propagates_to_greeks_at_degenerate_points() -> None:
    # NaN must win even where the t=0 / vol=0 branches would otherwise produce a number.
    g = bsm_greeks(100.0, 100.0, np.array([0.0, np.nan]), np.nan, 0.0, 0.0, True)
    assert np.isnan(g.delta).all() and np.isnan(g.gamma).all()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"spot": -1.0}, "spot"),
        ({"spot": 0.0}, "spot"),
        ({"strike": np.array([100.0, -5.0])}, "strike"),
        ({"t_years": -0.1}, "t_years"),
        ({"vol": -0.2}, "vol"),
        ({"rate": np.inf}, "rate"),
        ({"div_yield": -np.inf}, "div_yield"),
    ],
)
def test_nonsense_input_raises_value_error_naming_the_argument(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "spot": 100.0,
        "strike": 100.0,
        "t_years": 0.5,
        "rate": 0.05,
        "div_yield": 0.0,
        "vol": 0.2,
        "is_call": True,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        bsm_price(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=name):
        bsm_greeks(**args)  # type: ignore[arg-type]


def test_bad_element_error_points_at_its_index() -> None:
    with pytest.raises(ValueError, match=r"strike must be > 0, got -5\.0 at index \(1,\)"):
        bsm_price(100.0, [100.0, -5.0], 0.5, 0.05, 0.0, 0.2, True)


def test_integer_or_string_call_flag_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match="is_call must be bool"):
        bsm_price(100.0, 100.0, 0.5, 0.05, 0.0, 0.2, 1)
    with pytest.raises(TypeError, match="is_call must be bool"):
        bsm_price(100.0, 100.0, 0.5, 0.05, 0.0, 0.2, np.array(["C", "P"]))


def test_string_number_is_refused() -> None:
    with pytest.raises(TypeError, match="spot must be a number"):
        bsm_price("100", 100.0, 0.5, 0.05, 0.0, 0.2, True)


def test_shapes_that_do_not_broadcast_are_refused_naming_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"strike\(3,\).*vol\(2,\)"):
        bsm_price(100.0, [90.0, 100.0, 110.0], 0.5, 0.05, 0.0, [0.2, 0.3], True)


def test_greeks_object_is_frozen() -> None:
    g = bsm_greeks(100.0, 100.0, 0.5, 0.05, 0.0, 0.2, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.delta = np.array(0.0)  # type: ignore[misc]


def test_individual_greek_functions_equal_the_bundle() -> None:
    args = (
        100.0,
        np.array([70.0, 100.0, 150.0]),
        0.3,
        0.04,
        0.015,
        0.35,
        np.array([True, False, True]),
    )
    g = bsm_greeks(*args)
    np.testing.assert_array_equal(bsm_delta(*args), g.delta)
    np.testing.assert_array_equal(bsm_gamma(*args), g.gamma)
    np.testing.assert_array_equal(bsm_theta(*args), g.theta)
    np.testing.assert_array_equal(bsm_vega(*args), g.vega)
    np.testing.assert_array_equal(bsm_rho(*args), g.rho)


@pytest.mark.parametrize("is_call", [True, False])
def test_greek_units_agree_with_finite_differences(is_call: bool) -> None:
    s, k, t, r, q, v = 100.0, 105.0, 0.4, 0.045, 0.012, 0.27
    g = bsm_greeks(s, k, t, r, q, v, is_call)

    def p(**bump: float) -> float:
        a = {"spot": s, "strike": k, "t_years": t, "rate": r, "div_yield": q, "vol": v}
        a.update(bump)
        return float(bsm_price(is_call=is_call, **a))

    h = 1e-3
    assert float(g.delta) == pytest.approx((p(spot=s + h) - p(spot=s - h)) / (2 * h), rel=1e-6)
    assert float(g.gamma) == pytest.approx((p(spot=s + h) - 2 * p() + p(spot=s - h)) / h**2, rel=1e-4)
    # Theta per calendar day: the price change over one day less to expiry.
    assert float(g.theta) == pytest.approx(p(t_years=t - ONE_DAY) - p(), rel=1e-2)
    # Vega per vol point, rho per rate point: one-point central differences.
    assert float(g.vega) == pytest.approx((p(vol=v + 0.005) - p(vol=v - 0.005)), rel=1e-4)
    assert float(g.rho) == pytest.approx((p(rate=r + 0.005) - p(rate=r - 0.005)), rel=1e-4)


def test_implied_vol_below_intrinsic_is_nan() -> None:
    assert np.isnan(implied_vol(14.0, 100.0, 85.0, 0.25, 0.03, 0.0, True))
    assert np.isnan(implied_vol(-0.01, 100.0, 120.0, 0.25, 0.03, 0.0, True))


def test_implied_vol_above_upper_bound_is_nan() -> None:
    # A call is never worth more than the discounted spot, a put than the discounted strike.
    assert np.isnan(implied_vol(100.0, 100.0, 90.0, 0.25, 0.03, 0.0, True))
    put_cap = 90.0 * np.exp(-0.03 * 0.25)
    assert np.isnan(implied_vol(put_cap + 1e-6, 100.0, 90.0, 0.25, 0.03, 0.0, False))


def test_implied_vol_at_expiry_is_nan() -> None:
    assert np.isnan(implied_vol(5.0, 100.0, 95.0, 0.0, 0.03, 0.0, True))


def test_implied_vol_of_price_exactly_at_the_lower_bound_is_zero() -> None:
    price = bsm_price(100.0, 90.0, 0.5, 0.05, 0.0, 0.0, True)
    assert float(implied_vol(price, 100.0, 90.0, 0.5, 0.05, 0.0, True)) == 0.0


def test_european_deep_itm_put_below_spot_intrinsic_still_has_an_implied_vol() -> None:
    # With r=10% a 1-year European put struck at 200 is worth about 200 e^{-0.1} - 100 = 80.97
    # at low vol, below its spot intrinsic 100: no arbitrage for a European option.
    price = bsm_price(100.0, 200.0, 1.0, 0.10, 0.0, 0.15, False)
    assert float(price) < 100.0
    iv = implied_vol(price, 100.0, 200.0, 1.0, 0.10, 0.0, False)
    assert float(iv) == pytest.approx(0.15, abs=1e-6)


def test_implied_vol_one_day_deep_wings_recover_the_vol() -> None:
    strikes = np.array([90.0, 95.0, 105.0, 110.0])
    vols = np.array([0.9, 0.6, 0.6, 0.9])
    is_call = np.array([False, False, True, True])
    price = bsm_price(100.0, strikes, ONE_DAY, 0.05, 0.01, vols, is_call)
    iv = implied_vol(price, 100.0, strikes, ONE_DAY, 0.05, 0.01, is_call)
    np.testing.assert_allclose(iv, vols, atol=1e-7)


def test_implied_vol_rejects_a_non_positive_tolerance() -> None:
    with pytest.raises(ValueError, match="tol"):
        implied_vol(5.0, 100.0, 100.0, 0.5, 0.0, 0.0, True, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        implied_vol(5.0, 100.0, 100.0, 0.5, 0.0, 0.0, True, max_iter=0)
