"""Implied volatility under Black-Scholes-Merton, vectorized (no Python loop over options).

Method: a safeguarded Newton iteration (Newton-Raphson kept inside a shrinking bracket, with a
bisection step whenever Newton leaves the bracket or stops halving its step, after the
``rtsafe`` scheme of Numerical Recipes, 3rd ed., section 9.4) run on all options at once, with
converged options dropped from the working set each iteration.

It is solved for the total volatility s = vol * sqrt(T) on the out-of-the-money option of the
put-call pair: its price is the quoted price minus the discounted forward intrinsic value
(put-call parity), which removes the cancellation that makes deep in-the-money inversions
inaccurate. That price is increasing in s, convex below s_c = sqrt(2 |ln(F/K)|) and concave
above it (s_c is where vega peaks). Newton starts at s_c (the Manaster-Koehler starting point,
from which it cannot diverge). When the root lies above s_c it is run on the price itself
(concave, so Newton approaches from the left monotonically); when it lies below it is run on
the log of the price, which removes the exponential flatness of deep out-of-the-money and
near-expiry prices that makes plain Newton crawl.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from riskpilot.pricing._inputs import FloatArray, as_float, market_inputs
from riskpilot.pricing.bsm import d1_d2, forward_intrinsic, npdf, otm_price

_REL_TOL = 1e-10
"""Besides the absolute price tolerance, iterate until the time value is matched to this
relative precision (one or two extra Newton steps), so tiny out-of-the-money prices still get
an accurate vol. Stops earlier when floating point cannot resolve further."""
_BRACKET_GROWTH = 4.0
_MAX_BRACKET_STEPS = 16


def _otm_and_vega(
    disc_spot: FloatArray, disc_strike: FloatArray, x: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Out-of-the-money option value and its derivative in total vol s (price units)."""
    d1, d2 = d1_d2(x, s)
    value = otm_price(disc_spot, disc_strike, x, d1, d2)
    vega_s: FloatArray = disc_spot * npdf(d1)
    return value, vega_s


def implied_vol(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> FloatArray:
    """Annualized implied volatility (decimal, 0.20 = 20%) of European option prices.

    Arguments broadcast like :func:`riskpilot.pricing.bsm_price` and share its units (price per
    share in the units of ``spot``; ``t_years`` ACT/365; continuously compounded decimals).

    The returned vol reprices the option to within ``tol`` (absolute, price units per share).
    The result is NaN, element by element, where:

    - any input is NaN (a hole in the chain);
    - ``t_years == 0`` (an expired option has no volatility);
    - the price is below the European no-arbitrage lower bound, the discounted forward
      intrinsic value max(+-(S e^{-qT} - K e^{-rT}), 0). Note this bound, not the spot
      intrinsic max(S-K, 0): a deep in-the-money European put may legitimately trade below
      K - S when rates are positive (and a call below S - K with dividends);
    - the price is at or above the upper bound (S e^{-qT} for calls, K e^{-rT} for puts),
      where the implied vol is infinite;
    - the iteration did not reach ``tol`` within ``max_iter`` steps (not seen in the tested
      domain; it would mean ``tol`` is finer than float64 can resolve for that price).

    A price exactly at the lower bound gives 0.0 (vol 0 reproduces it exactly).

    Raises ValueError (naming the argument) for spot/strike <= 0, negative t_years, infinite
    values, tol <= 0 or max_iter < 1; TypeError when ``is_call`` is not bool.
    """
    if not (isinstance(tol, float | int) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite price tolerance > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    p = as_float("price", price)
    m, (p_b,) = market_inputs(spot, strike, t_years, rate, div_yield, is_call, ("price", p))
    shape = p_b.shape

    spot_f = m.spot.ravel()
    strike_f = m.strike.ravel()
    t_f = m.t_years.ravel()
    r_f = m.rate.ravel()
    q_f = m.div_yield.ravel()
    sign_f = np.where(m.is_call.ravel(), 1.0, -1.0)
    price_f = p_b.ravel()
    result = np.full(price_f.shape, np.nan)

    with np.errstate(invalid="ignore"):
        disc_spot = spot_f * np.exp(-q_f * t_f)
        disc_strike = strike_f * np.exp(-r_f * t_f)
        x = np.log(spot_f / strike_f) + (r_f - q_f) * t_f
        time_value = price_f - forward_intrinsic(disc_spot, disc_strike, sign_f)
        upper = np.minimum(disc_spot, disc_strike)
        usable = ~m.missing.ravel() & (t_f > 0.0)
        result[usable & (time_value == 0.0)] = 0.0
        idx = np.flatnonzero(usable & (time_value > 0.0) & (time_value < upper))

    if idx.size:
        s = _solve_total_vol(disc_spot[idx], disc_strike[idx], x[idx], time_value[idx], tol, max_iter)
        result[idx] = s / np.sqrt(t_f[idx])
    out: FloatArray = result.reshape(shape)
    return out


def _solve_total_vol(
    disc_spot: FloatArray,
    disc_strike: FloatArray,
    x: FloatArray,
    target: FloatArray,
    tol: float,
    max_iter: int,
) -> FloatArray:
    """Total vol s >= 0 with otm_price(s) == target, for 0 < target < min(S e^{-qT}, K e^{-rT}).

    NaN where it cannot be matched to ``tol``.
    """
    n = target.size
    out = np.full(n, np.nan)
    s_c = np.sqrt(2.0 * np.abs(x))

    # Bracket: lo has value < target (0 always does), hi has value >= target.
    lo = np.zeros(n)
    hi = np.maximum(2.0 * s_c, 1.0)
    need = np.arange(n)
    for _ in range(_MAX_BRACKET_STEPS):
        val_hi, _v = _otm_and_vega(disc_spot[need], disc_strike[need], x[need], hi[need])
        short = val_hi < target[need]
        need = need[short]
        if need.size == 0:
            break
        lo[need] = hi[need]
        hi[need] *= _BRACKET_GROWTH
    # Whatever still has no upper bracket sits within rounding of the upper price bound.
    active = np.ones(n, dtype=np.bool_)
    active[need] = False

    val_c, _v = _otm_and_vega(disc_spot, disc_strike, x, s_c)
    upper_region = target >= val_c
    s = np.clip(s_c, lo, hi)
    dx = hi - lo
    dx_old = dx.copy()

    work = np.flatnonzero(active)
    for _ in range(max_iter):
        if work.size == 0:
            break
        sw, low, high = s[work], lo[work], hi[work]
        tgt = target[work]
        val, vega_s = _otm_and_vega(disc_spot[work], disc_strike[work], x[work], sw)
        g = val - tgt
        low = np.where(g < 0.0, sw, low)
        high = np.where(g > 0.0, sw, high)
        err = np.abs(g)
        collapsed = (high - low) <= 4.0 * np.finfo(np.float64).eps * np.maximum(sw, 1e-300)
        tiny_step = np.abs(dx[work]) <= 1e-14 * np.maximum(sw, 1e-300)
        done = (err == 0.0) | ((err <= tol) & ((err <= _REL_TOL * tgt) | collapsed | tiny_step))
        stuck = collapsed & (err > tol)
        fin = done | stuck
        out[work[done]] = sw[done]
        lo[work], hi[work] = low, high

        keep = ~fin
        work = work[keep]
        sw, low, high, val, vega_s, g, tgt = (
            sw[keep],
            low[keep],
            high[keep],
            val[keep],
            vega_s[keep],
            g[keep],
            tgt[keep],
        )
        with np.errstate(all="ignore"):
            step_upper = -g / vega_s
            step_lower = -(np.log(val) - np.log(tgt)) * val / vega_s
        step = np.where(upper_region[work], step_upper, step_lower)
        newton = sw + step
        prev = dx[work]
        bisect = ~np.isfinite(newton) | (newton <= low) | (newton >= high) | (np.abs(step) > 0.5 * np.abs(dx_old[work]))
        half = 0.5 * (high - low)
        dx_old[work] = prev
        dx[work] = np.where(bisect, half, step)
        s[work] = np.where(bisect, low + half, newton)
    return out
