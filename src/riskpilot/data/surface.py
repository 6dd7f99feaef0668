"""A parametric implied-volatility surface driven by the VIX family, and a bid-ask spread model.

Both are pure numpy functions of arrays, used by :mod:`riskpilot.data.model_chain` to price a
whole chain at once and by ``scripts/validate_model_chain.py`` to fit their parameters.

Units: times in years (ACT/365), volatilities as decimals (0.20 = 20%), VIX-family levels in
vol points (20.0 = 20%), prices in the underlying's price units per share.

The surface
-----------
1. **ATM term structure.** The VIX family quotes 30-day (VIX), 9-day (VIX9D) and 93-day (VIX3M)
   model-free implied volatilities of the S&P 500. Each node is turned into an at-the-money
   volatility by a constant ratio (``atm_vix_ratio``: VIX is a variance-swap level that the put
   skew lifts above ATM vol). Between nodes the total variance sigma^2 T is linear in T; it is
   made non-decreasing in T (no calendar arbitrage); outside the nodes the volatility is flat.
   When VIX9D or VIX3M is missing (VIX9D starts 2011-01-04, VIX3M 2009-09-18) the missing node
   comes from a mean-reverting variance curve anchored on VIX:
   ``V(T) = theta + (v0 - theta) (1 - exp(-kappa T)) / (kappa T)`` with kappa = 1.3753 per year
   and theta = 0.08803 (29.7% vol): least-squares fit of VIX9D and VIX3M from VIX on the
   2011-2024 closes (median absolute error 0.88 vol points, against 1.68 for a flat curve).
   These two constants are the only ones here fitted on data later than some of the days they
   are applied to; they describe the shape of the curve, not any day's level.
2. **Smile.** With log-moneyness ``k = ln(K / F)`` against the forward and the standardized
   moneyness ``z = k / (sigma_atm(T) sqrt(T))`` (log-moneyness over sqrt(T), in ATM standard
   deviations), ``sigma = sigma_atm(T) * (1 + skew(T) z + c z^2)`` where ``c`` is
   ``curvature_put`` for ``z < 0`` and ``curvature_call`` for ``z >= 0`` and
   ``skew(T) = skew * (T / 30d) ** skew_term_exponent``; ``z`` is clamped to
   ``[z_min, z_max]`` (flat wings) and the factor floored at ``0.2``. Measuring moneyness in
   ATM standard deviations keeps the slope d sigma / d ln K equal to ``skew / sqrt(T)`` whatever
   the vol level: a slope proportional to the vol level (as in ``k / sqrt(T)`` alone) made put
   prices fall with the strike (a vertical-spread arbitrage) once VIX passed about 50 in 2008
   and 2020.
3. **Per-underlying scale.** ``sigma`` is multiplied by the underlying's ``vol_scale``.

The spread model
----------------
``spread / S = exp(b0 + b1 ln(mid / S) + b2 ln(DTE / 30) + b3 ln(sigma_atm30 / 0.2) + b4 |z|)``
times ``spread_scale``, then bounded to ``[min_spread, max_spread_frac * mid + min_spread]``;
``S`` is the underlying price, so the model is scale-free and the SPX fit carries to ETFs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DAYS_PER_YEAR = 365.0
T_9D = 9.0 / DAYS_PER_YEAR
T_30D = 30.0 / DAYS_PER_YEAR
T_93D = 93.0 / DAYS_PER_YEAR

TERM_KAPPA = 1.3753
"""Mean-reversion speed of the default variance term structure, per year (see module doc)."""
TERM_THETA = 0.08803
"""Long-run variance of the default term structure (annualized, decimal squared)."""

SMILE_FACTOR_FLOOR = 0.2
"""The smile factor never takes a volatility below 20% of the ATM level."""


@dataclass(frozen=True, slots=True)
class SmileShape:
    """Smile parameters (dimensionless; ``z = ln(K/F) / (sigma_atm sqrt(T in years))``)."""

    skew: float
    skew_term_exponent: float
    curvature_put: float
    curvature_call: float
    z_min: float
    z_max: float


@dataclass(frozen=True, slots=True)
class SpreadShape:
    """Spread-model coefficients (see module doc); ``min_spread`` in price units per share."""

    b0: float
    b_log_mid: float
    b_log_dte: float
    b_log_vol: float
    b_abs_z: float
    spread_scale: float
    min_spread: float
    max_spread_frac: float


def mean_reverting_variance(v30: FloatArray, t_years: float) -> FloatArray:
    """Average variance to ``t_years`` implied by a 30-day variance ``v30`` (decimal^2) under
    the default mean-reverting curve (``TERM_KAPPA``, ``TERM_THETA``)."""

    def weight(t: float) -> float:
        return float((1.0 - np.exp(-TERM_KAPPA * t)) / (TERM_KAPPA * t))

    v0 = TERM_THETA + (v30 - TERM_THETA) / weight(T_30D)
    out: FloatArray = np.maximum(TERM_THETA + (v0 - TERM_THETA) * weight(t_years), 1e-6)
    return out


def term_nodes(
    vix: FloatArray, vix9d: FloatArray, vix3m: FloatArray, atm_vix_ratio: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ATM volatilities (decimals) at 9, 30 and 93 days for each day.

    ``vix`` must be finite; ``vix9d`` and ``vix3m`` may hold NaN where the index did not exist,
    and those nodes are filled from the default mean-reverting curve.
    """
    v30 = (vix / 100.0) ** 2
    s9 = np.where(np.isfinite(vix9d), vix9d / 100.0, np.sqrt(mean_reverting_variance(v30, T_9D)))
    s93 = np.where(
        np.isfinite(vix3m), vix3m / 100.0, np.sqrt(mean_reverting_variance(v30, T_93D))
    )
    return s9 * atm_vix_ratio, vix / 100.0 * atm_vix_ratio, s93 * atm_vix_ratio


def atm_vol(
    t_years: FloatArray, s9: FloatArray, s30: FloatArray, s93: FloatArray
) -> FloatArray:
    """ATM volatility at ``t_years`` from the three nodes (all arrays broadcast per row):
    total variance linear in T between nodes, non-decreasing, flat volatility outside."""
    w9 = s9**2 * T_9D
    w30 = np.maximum(s30**2 * T_30D, w9)
    w93 = np.maximum(s93**2 * T_93D, w30)
    t = np.asarray(t_years, dtype=np.float64)
    w = np.where(
        t <= T_9D,
        s9**2 * t,
        np.where(
            t <= T_30D,
            w9 + (w30 - w9) * (t - T_9D) / (T_30D - T_9D),
            np.where(t <= T_93D, w30 + (w93 - w30) * (t - T_30D) / (T_93D - T_30D), w93 / T_93D * t),
        ),
    )
    out: FloatArray = np.sqrt(np.maximum(w, 0.0) / np.maximum(t, 1e-12))
    return out


def smile_z(log_moneyness: FloatArray, t_years: FloatArray, sigma_atm: FloatArray) -> FloatArray:
    """``z = ln(K/F) / (sigma_atm sqrt(T))``, the smile's coordinate (unclamped), in ATM
    standard deviations."""
    out: FloatArray = log_moneyness / (np.maximum(sigma_atm, 1e-6) * np.sqrt(np.maximum(t_years, 1e-12)))
    return out


def smile_vol(
    sigma_atm: FloatArray, log_moneyness: FloatArray, t_years: FloatArray, shape: SmileShape,
    z: FloatArray | None = None,
) -> FloatArray:
    """Implied volatility (decimal) at log-moneyness ``ln(K/F)`` for ATM level ``sigma_atm``.
    ``z``: :func:`smile_z` of the same arguments, when the caller has it."""
    if z is None:
        z = smile_z(log_moneyness, t_years, sigma_atm)
    z = np.clip(z, shape.z_min, shape.z_max)
    skew = shape.skew * (np.maximum(t_years, 1e-12) / T_30D) ** shape.skew_term_exponent
    curvature = np.where(z < 0.0, shape.curvature_put, shape.curvature_call)
    factor = np.maximum(1.0 + skew * z + curvature * z * z, SMILE_FACTOR_FLOOR)
    out: FloatArray = sigma_atm * factor
    return out


def model_spread(
    mid: FloatArray,
    spot: FloatArray,
    dte_days: FloatArray,
    sigma_atm30: FloatArray,
    abs_z: FloatArray,
    shape: SpreadShape,
) -> FloatArray:
    """Bid-ask spread (price units per share) before tick rounding; see the module doc."""
    rel_mid = np.maximum(mid, 1e-4) / spot
    log_rel = (
        shape.b0
        + shape.b_log_mid * np.log(rel_mid)
        + shape.b_log_dte * np.log(np.maximum(dte_days, 1.0) / 30.0)
        + shape.b_log_vol * np.log(np.maximum(sigma_atm30, 1e-3) / 0.2)
        + shape.b_abs_z * abs_z
    )
    raw = spot * np.exp(log_rel) * shape.spread_scale
    out: FloatArray = np.clip(
        raw, shape.min_spread, shape.max_spread_frac * np.maximum(mid, 0.0) + shape.min_spread
    )
    return out
