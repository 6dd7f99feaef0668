"""Black-Scholes-Merton prices, greeks and implied volatility, vectorized with numpy.

All functions take scalars or arrays (broadcast together) and return float64 arrays; NaN in
any input gives NaN for that element. Units: see :mod:`riskpilot.pricing.bsm`.
"""

from riskpilot.pricing.bsm import (
    DAYS_PER_YEAR,
    RATE_POINT,
    VOL_POINT,
    Greeks,
    bsm_delta,
    bsm_gamma,
    bsm_greeks,
    bsm_price,
    bsm_price_greeks,
    bsm_rho,
    bsm_theta,
    bsm_vega,
)
from riskpilot.pricing.implied import implied_vol

__all__ = [
    "DAYS_PER_YEAR",
    "RATE_POINT",
    "VOL_POINT",
    "Greeks",
    "bsm_delta",
    "bsm_gamma",
    "bsm_greeks",
    "bsm_price",
    "bsm_price_greeks",
    "bsm_rho",
    "bsm_theta",
    "bsm_vega",
    "implied_vol",
]
