"""Greek unit handling: conversion to the schema's units and, for layouts whose files differ,
detection of the units a file uses by comparing its greeks with Black-Scholes values.

Schema units: theta per calendar day per share, vega per vol point (0.01) per share, gamma per
point. The detection uses zero rates and dividends; it only has to tell units apart that
differ by a factor of 100 (vega) or 365 (theta), so that approximation is ample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.formats import GreekUnits
from riskpilot.data.readers._common import ChainFormatError

DAYS_PER_YEAR = 365.0
_MIN_SAMPLE = 5


@dataclass(frozen=True)
class GreekColumns:
    gamma: pa.Array | None
    theta: pa.Array | None
    vega: pa.Array | None


def convert(greeks: GreekColumns, units: GreekUnits) -> GreekColumns:
    """Apply stated units (``per_day``, ``per_year`` or ``drop``) to the schema's units."""
    if units == "drop":
        return GreekColumns(None, None, None)
    if units == "per_year":
        theta = None if greeks.theta is None else pc.divide(greeks.theta, DAYS_PER_YEAR)
        vega = None if greeks.vega is None else pc.divide(greeks.vega, 100.0)
        return GreekColumns(greeks.gamma, theta, vega)
    return greeks


@dataclass(frozen=True)
class UnitEvidence:
    """Median ratios of a file's greeks to Black-Scholes greeks in schema units, over
    near-the-money rows with 7 days to 1 year to expiry."""

    sample: int
    theta_ratio: float
    vega_ratio: float
    gamma_ratio: float


def evidence(*, spot: pa.Array, strike: pa.Array, quote_date: pa.Array, expiration: pa.Array,
             iv: pa.Array, delta: pa.Array, greeks: GreekColumns) -> UnitEvidence | None:
    """Compare the file's greeks with Black-Scholes; None when theta and vega are absent."""
    if greeks.theta is None or greeks.vega is None or greeks.gamma is None:
        return None
    s = _np(spot)
    k = _np(strike)
    days = (_np(pc.cast(expiration, pa.int32())) - _np(pc.cast(quote_date, pa.int32())))
    t = days / DAYS_PER_YEAR
    sigma = _np(iv)
    d = np.abs(_np(delta))
    theta = _np(greeks.theta)
    vega = _np(greeks.vega)
    gamma = _np(greeks.gamma)
    ok = (
        np.isfinite(s) & np.isfinite(k) & np.isfinite(sigma) & np.isfinite(d)
        & np.isfinite(theta) & np.isfinite(vega) & np.isfinite(gamma)
        & (sigma > 0.01) & (sigma < 3.0) & (d >= 0.3) & (d <= 0.7)
        & (days >= 7) & (days <= 365) & (s > 0) & (k > 0)
        & (theta != 0) & (vega != 0) & (gamma != 0)
    )
    n = int(np.count_nonzero(ok))
    if n < _MIN_SAMPLE:
        return UnitEvidence(n, float("nan"), float("nan"), float("nan"))
    s, k, t, sigma = s[ok], k[ok], t[ok], sigma[ok]
    sqrt_t = np.sqrt(t)
    d1 = (np.log(s / k) + 0.5 * sigma**2 * t) / (sigma * sqrt_t)
    pdf = np.exp(-0.5 * d1**2) / np.sqrt(2.0 * np.pi)
    bs_vega = s * pdf * sqrt_t / 100.0
    bs_theta = -s * pdf * sigma / (2.0 * sqrt_t) / DAYS_PER_YEAR
    bs_gamma = pdf / (s * sigma * sqrt_t)
    # An absurd strike or spot (flagged later) can underflow a Black-Scholes greek to 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        return UnitEvidence(
            sample=n,
            theta_ratio=float(np.median(theta[ok] / bs_theta)),
            vega_ratio=float(np.median(vega[ok] / bs_vega)),
            gamma_ratio=float(np.median(gamma[ok] / bs_gamma)),
        )


def detect(ev: UnitEvidence, *, path: object) -> GreekUnits:
    """``per_day`` or ``per_year`` from the evidence, or a ChainFormatError saying what to do."""
    from pathlib import Path

    gamma_ok = 0.5 <= ev.gamma_ratio <= 2.0
    if gamma_ok and 0.5 <= ev.theta_ratio <= 2.0 and 0.5 <= ev.vega_ratio <= 2.0:
        return "per_day"
    if gamma_ok and 182 <= ev.theta_ratio <= 730 and 50 <= ev.vega_ratio <= 200:
        return "per_year"
    if ev.sample < _MIN_SAMPLE:
        detail = (f"only {ev.sample} near-the-money rows with 7-365 days to expiry, too few to "
                  "tell the units of theta and vega apart")
    else:
        detail = (f"its greeks match no known units: median ratio to Black-Scholes over "
                  f"{ev.sample} near-the-money rows is theta x{ev.theta_ratio:.4g}, "
                  f"vega x{ev.vega_ratio:.4g}, gamma x{ev.gamma_ratio:.4g} "
                  "(1 = per day / per vol point; 365 and 100 = per year / per 1.00 vol)")
    raise ChainFormatError(
        Path(str(path)),
        f"{detail}. State them with greek_units='per_day' or 'per_year' "
        "(CLI: --greek-units), or import without gamma/theta/vega with greek_units='drop'.",
        column="theta",
    )


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False),
                      dtype=np.float64)
