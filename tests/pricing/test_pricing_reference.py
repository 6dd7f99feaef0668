"""riskpilot.pricing against an independent implementation: vollib (the maintained name of
py_vollib; ``py_vollib.black_scholes_merton`` is now a deprecated shim that re-exports it).

vollib's conventions, read from its source and docstrings (vollib 1.0.x,
``vollib.black_scholes_merton.greeks.analytical``), compared with ours:

- argument order: ``(flag, S, K, t, r, sigma, q)`` with flag 'c'/'p'; ours is
  ``(spot, strike, t_years, rate, div_yield, vol, is_call)``;
- delta: per 1 point of the underlying (same as ours);
- gamma: per point (same);
- theta: annual theta divided by 365, i.e. per calendar day (same as ours, no conversion);
- vega: multiplied by 0.01, i.e. per vol point (same as ours, no conversion);
- rho: multiplied by 0.01, i.e. per 1% rate (same as ours, no conversion);
- implied_volatility(price, S, K, t, r, q, flag): raises (PriceIsBelowIntrinsic or
  py_lets_be_rational's BelowIntrinsicException, PriceIsAboveMaximum) where we return NaN.

vollib prices through Jaeckel's "Let's Be Rational" Black formula, so the price comparison is
against a different algorithm, not a copy of ours.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import warnings

import numpy as np
import numpy.typing as npt
import pytest

from riskpilot.pricing import bsm_greeks, bsm_price, implied_vol


def _reference_package() -> str:
    """vollib, or the older py_vollib distribution (same modules) when only that is installed."""
    for name in ("vollib", "py_vollib"):
        if importlib.util.find_spec(name) is not None:
            return name
    pytest.skip("vollib / py_vollib is a test dependency: pip install -e '.[test]'")


_REF = _reference_package()
with warnings.catch_warnings():
    # py_vollib 1.0.12 is a shim that warns it is deprecated in favour of vollib.
    warnings.simplefilter("ignore", DeprecationWarning)
    vollib_bsm = importlib.import_module(f"{_REF}.black_scholes_merton")
    vollib_greeks = importlib.import_module(f"{_REF}.black_scholes_merton.greeks.analytical")
    vollib_iv = importlib.import_module(f"{_REF}.black_scholes_merton.implied_volatility")

SPOT = 100.0
MONEYNESS = (0.5, 0.7, 0.9, 0.97, 1.0, 1.03, 1.1, 1.3, 2.0)  # strike / spot
ONE_HOUR = 1.0 / (365.0 * 24.0)
ONE_DAY = 1.0 / 365.0
EXPIRIES = (ONE_HOUR, ONE_DAY, 7 / 365, 0.25, 1.0, 2.0)
VOLS = (0.05, 0.2, 0.5, 1.0, 1.5)
RATES_DIVS = ((0.05, 0.02), (0.0, 0.0), (-0.005, 0.03), (0.08, 0.0))


def _grid() -> dict[str, np.ndarray]:
    rows = list(itertools.product(MONEYNESS, EXPIRIES, VOLS, RATES_DIVS, (True, False)))
    return {
        "strike": np.array([SPOT * m for m, *_ in rows]),
        "t": np.array([t for _, t, *_ in rows]),
        "vol": np.array([v for _, _, v, _, _ in rows]),
        "rate": np.array([rq[0] for *_, rq, _ in rows]),
        "div": np.array([rq[1] for *_, rq, _ in rows]),
        "is_call": np.array([c for *_, c in rows]),
    }


GRID = _grid()


def _reference(fn_name: str, module: object) -> np.ndarray:
    fn = getattr(module, fn_name)
    return np.array(
        [
            fn("c" if c else "p", SPOT, k, t, r, v, q)
            for k, t, v, r, q, c in zip(
                GRID["strike"],
                GRID["t"],
                GRID["vol"],
                GRID["rate"],
                GRID["div"],
                GRID["is_call"],
                strict=True,
            )
        ],
        dtype=np.float64,
    )


def _ours_args() -> tuple[npt.ArrayLike, ...]:
    g = GRID
    return (SPOT, g["strike"], g["t"], g["rate"], g["div"], g["vol"], g["is_call"])


def test_price_on_grid_with_deep_itm_otm_short_and_long_expiry_matches_vollib() -> None:
    ours = bsm_price(*_ours_args())
    ref = _reference("black_scholes_merton", vollib_bsm)
    # Absolute tolerance in price units on a 100 spot; prices span 0 to 100.
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    ("field", "atol"),
    [("delta", 1e-10), ("gamma", 1e-9), ("theta", 1e-9), ("vega", 1e-10), ("rho", 1e-10)],
)
def test_greeks_on_grid_match_vollib_analytical_in_the_same_units(field: str, atol: float) -> None:
    ours = getattr(bsm_greeks(*_ours_args()), field)
    ref = _reference(field, vollib_greeks)
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=atol)


def test_implied_vol_on_grid_matches_vollib_where_the_price_determines_the_vol() -> None:
    args = _ours_args()
    price = bsm_price(*args)
    g = GRID
    ours = implied_vol(price, SPOT, g["strike"], g["t"], g["rate"], g["div"], g["is_call"])
    vega_per_unit_vol = bsm_greeks(*args).vega / 0.01
    checked = 0
    for i in range(price.size):
        flag = "c" if g["is_call"][i] else "p"
        # Where a whole vol point moves the price by less than 1e-6 (far wings, 1 hour left),
        # the price cannot pin the vol down; the round-trip test below covers those in price.
        if vega_per_unit_vol[i] * 0.01 < 1e-6:
            continue
        ref = vollib_iv.implied_volatility(
            float(price[i]), SPOT, g["strike"][i], g["t"][i], g["rate"][i], g["div"][i], flag
        )
        # Error in vol is at most the price error over vega; both solvers are far tighter.
        assert math.isclose(ours[i], ref, rel_tol=0.0, abs_tol=1e-6), (i, ours[i], ref)
        assert math.isclose(ours[i], g["vol"][i], rel_tol=0.0, abs_tol=1e-6), (i, ours[i])
        checked += 1
    assert checked > price.size // 2


def test_implied_vol_on_grid_reprices_every_option_within_1e_8() -> None:
    args = _ours_args()
    price = bsm_price(*args)
    g = GRID
    iv = implied_vol(price, SPOT, g["strike"], g["t"], g["rate"], g["div"], g["is_call"])
    assert not np.isnan(iv).any()
    repriced = bsm_price(SPOT, g["strike"], g["t"], g["rate"], g["div"], iv, g["is_call"])
    assert np.max(np.abs(repriced - price)) <= 1e-8


def test_price_below_lower_bound_is_refused_by_vollib_and_nan_here() -> None:
    # Deep ITM call, intrinsic on the forward about 49.99: a price of 40 is an arbitrage.
    # vollib lets its solver's exception escape rather than its own PriceIsBelowIntrinsic.
    lbr_exceptions = pytest.importorskip("py_lets_be_rational.exceptions")
    refused = (vollib_iv.PriceIsBelowIntrinsic, lbr_exceptions.BelowIntrinsicException)
    with pytest.raises(refused):
        vollib_iv.implied_volatility(40.0, SPOT, 50.0, 0.1, 0.01, 0.0, "c")
    assert np.isnan(implied_vol(40.0, SPOT, 50.0, 0.1, 0.01, 0.0, True))
