"""Black-Scholes-Merton prices and greeks for European options on an asset paying a continuous
dividend yield, vectorized over every input with numpy broadcasting.

Conventions (shared by every function here and by :func:`riskpilot.pricing.implied_vol`):

- ``spot``, ``strike``: price units (e.g. dollars per share); both must be > 0.
- ``t_years``: time to expiry in years, ACT/365 (calendar days / 365); must be >= 0.
- ``rate``, ``div_yield``: continuously compounded annual decimals (0.05 = 5%); may be negative.
- ``vol``: annualized volatility as a decimal (0.20 = 20%); must be >= 0.
- ``is_call``: bool or bool array, True for calls and False for puts.
- Results are per share (multiply by the contract multiplier, e.g. 100, for per contract) and
  are always ``np.ndarray`` of float64 with the broadcast shape of the inputs (0-d for all
  scalar inputs; ``float(result)`` gives a Python float).
- **NaN in, NaN out**: a NaN in any numeric input makes that element's result NaN, because
  option chains have holes; the other elements are computed as usual. Infinite values,
  spot/strike <= 0 and negative vol or time raise ``ValueError`` naming the argument.
- Degenerate cases: at ``t_years == 0`` the price is the intrinsic value max(S-K, 0) for calls,
  max(K-S, 0) for puts; at ``vol == 0`` it is the discounted forward intrinsic value
  max(+-(S e^{-qT} - K e^{-rT}), 0). There the greeks are the limits of the formulas: delta is
  the step e^{-qT} (or 0), exactly 0.5 e^{-qT} at the money forward; gamma is 0 (its limit at
  the money is a spike, reported as 0 so portfolio sums stay finite); at expiry vega and rho
  are 0 and theta keeps only its carry terms.

Numerics: the price is computed as the out-of-the-money option's value (by put-call parity)
plus the discounted forward intrinsic value, so it never falls below the no-arbitrage lower
bound through rounding and deep in-the-money prices keep their small time value accurately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from riskpilot.pricing._inputs import (
    BoolArray,
    FloatArray,
    MarketInputs,
    as_float,
    check_non_negative,
    market_inputs,
)

DAYS_PER_YEAR = 365.0
"""Theta is quoted per calendar day: annual theta / 365 (ACT/365, matching ``t_years``)."""
VOL_POINT = 0.01
"""Vega is quoted per vol point: the price change for +0.01 absolute volatility."""
RATE_POINT = 0.01
"""Rho is quoted per rate point: the price change for +0.01 (1%) in the risk-free rate."""

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def ncdf(x: FloatArray) -> FloatArray:
    """Standard normal CDF, accurate in the tails (scipy's ndtr).

    scipy is imported here, on first use, not with this module: importing scipy.special costs
    about 0.25 s of CPU, which a backtest reading its model chain from the disk cache never
    needs. (A numpy rational approximation of the same accuracy, W. J. Cody's, measured 29
    ns an element against ndtr's 18, so the hot path keeps scipy.)"""
    from scipy.special import ndtr

    return np.asarray(ndtr(x), dtype=np.float64)


def npdf(x: FloatArray) -> FloatArray:
    """Standard normal density."""
    out: FloatArray = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return out


@dataclass(frozen=True, slots=True)
class Greeks:
    """BSM sensitivities, per share, as float64 arrays of the inputs' broadcast shape.

    - ``delta``: price change per 1 point (1 price unit) move of the underlying.
    - ``gamma``: change of delta per 1 point move of the underlying.
    - ``theta``: price change per calendar day that passes (annual theta / 365); negative for
      a long option that loses time value.
    - ``vega``: price change per vol point (+0.01 absolute volatility).
    - ``rho``: price change per rate point (+0.01 = 1% in the continuously compounded rate).
    """

    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray


@dataclass(frozen=True, slots=True)
class _State:
    """Intermediate quantities shared by the price and every greek."""

    m: MarketInputs
    vol: FloatArray
    sqrt_t: FloatArray
    total_vol: FloatArray  # vol * sqrt(t): the standard deviation of log price at expiry
    disc_spot: FloatArray  # S e^{-qT}: the discounted forward
    disc_strike: FloatArray  # K e^{-rT}
    log_moneyness: FloatArray  # ln(F / K) with F = S e^{(r-q)T}
    d1: FloatArray
    d2: FloatArray
    sign: FloatArray  # +1 for calls, -1 for puts


def d1_d2(log_moneyness: FloatArray, total_vol: FloatArray) -> tuple[FloatArray, FloatArray]:
    """d1 = x/s + s/2 and d2 = d1 - s for x = ln(F/K), s = vol sqrt(T).

    Where s == 0 the limits are used: +inf in the money forward, -inf out of it, 0 at the money
    forward (so N(d) is the step function with 1/2 at the money).
    """
    with np.errstate(all="ignore"):
        d1 = np.where(
            total_vol > 0.0,
            log_moneyness / total_vol + 0.5 * total_vol,
            np.where(log_moneyness > 0.0, np.inf, np.where(log_moneyness < 0.0, -np.inf, 0.0)),
        )
    d2 = np.where(total_vol > 0.0, d1 - total_vol, d1)
    return d1, d2


def _state(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> _State:
    v = as_float("vol", vol)
    check_non_negative("vol", v, "annualized decimal, 0.20 = 20%")
    m, (v_b,) = market_inputs(spot, strike, t_years, rate, div_yield, is_call, ("vol", v))
    with np.errstate(invalid="ignore"):
        sqrt_t = np.sqrt(m.t_years)
        total_vol = v_b * sqrt_t
        disc_spot = m.spot * np.exp(-m.div_yield * m.t_years)
        disc_strike = m.strike * np.exp(-m.rate * m.t_years)
        log_moneyness = np.log(m.spot / m.strike) + (m.rate - m.div_yield) * m.t_years
    d1, d2 = d1_d2(log_moneyness, total_vol)
    sign = np.where(m.is_call, 1.0, -1.0)
    return _State(
        m=m,
        vol=v_b,
        sqrt_t=sqrt_t,
        total_vol=total_vol,
        disc_spot=disc_spot,
        disc_strike=disc_strike,
        log_moneyness=log_moneyness,
        d1=d1,
        d2=d2,
        sign=sign,
    )


def _masked(missing: BoolArray, values: FloatArray) -> FloatArray:
    out: FloatArray = np.where(missing, np.nan, values)
    return out


def otm_price(
    disc_spot: FloatArray,
    disc_strike: FloatArray,
    log_moneyness: FloatArray,
    d1: FloatArray,
    d2: FloatArray,
) -> FloatArray:
    """Value of the out-of-the-money-forward option of the pair (the call when F <= K, else the
    put), i.e. the time value, clipped at 0 against rounding. Price units per share."""
    omega = np.where(log_moneyness <= 0.0, 1.0, -1.0)
    value = omega * (disc_spot * ncdf(omega * d1) - disc_strike * ncdf(omega * d2))
    out: FloatArray = np.maximum(value, 0.0)
    return out


def forward_intrinsic(disc_spot: FloatArray, disc_strike: FloatArray, sign: FloatArray) -> FloatArray:
    """Discounted forward intrinsic value max(sign (S e^{-qT} - K e^{-rT}), 0): the European
    no-arbitrage lower bound. Price units per share."""
    out: FloatArray = np.maximum(sign * (disc_spot - disc_strike), 0.0)
    return out


def _price(st: _State) -> FloatArray:
    time_value = otm_price(st.disc_spot, st.disc_strike, st.log_moneyness, st.d1, st.d2)
    return time_value + forward_intrinsic(st.disc_spot, st.disc_strike, st.sign)


# The greeks take N(sign d1), N(sign d2) and n(d1) when the caller has them (bsm_price_greeks
# computes each once); computed here otherwise.


def _delta(st: _State, n_d1: FloatArray | None = None) -> FloatArray:
    if n_d1 is None:
        n_d1 = ncdf(st.sign * st.d1)
    out: FloatArray = st.sign * np.exp(-st.m.div_yield * st.m.t_years) * n_d1
    return out


def _gamma(st: _State, pdf_d1: FloatArray | None = None) -> FloatArray:
    if pdf_d1 is None:
        pdf_d1 = npdf(st.d1)
    with np.errstate(all="ignore"):
        raw = np.exp(-st.m.div_yield * st.m.t_years) * pdf_d1 / (st.m.spot * st.total_vol)
    out: FloatArray = np.where(st.total_vol > 0.0, raw, 0.0)
    return out


def _vega(st: _State, pdf_d1: FloatArray | None = None) -> FloatArray:
    if pdf_d1 is None:
        pdf_d1 = npdf(st.d1)
    out: FloatArray = st.disc_spot * pdf_d1 * st.sqrt_t * VOL_POINT
    return out


def _theta(st: _State, n_d1: FloatArray | None = None, n_d2: FloatArray | None = None,
           pdf_d1: FloatArray | None = None) -> FloatArray:
    if n_d1 is None:
        n_d1 = ncdf(st.sign * st.d1)
    if n_d2 is None:
        n_d2 = ncdf(st.sign * st.d2)
    if pdf_d1 is None:
        pdf_d1 = npdf(st.d1)
    with np.errstate(all="ignore"):
        diffusion = st.disc_spot * pdf_d1 * st.vol / (2.0 * st.sqrt_t)
    diffusion = np.where(st.sqrt_t > 0.0, diffusion, 0.0)
    carry = st.sign * (st.m.div_yield * st.disc_spot * n_d1 - st.m.rate * st.disc_strike * n_d2)
    out: FloatArray = (carry - diffusion) / DAYS_PER_YEAR
    return out


def _rho(st: _State, n_d2: FloatArray | None = None) -> FloatArray:
    if n_d2 is None:
        n_d2 = ncdf(st.sign * st.d2)
    out: FloatArray = st.sign * st.m.t_years * st.disc_strike * n_d2 * RATE_POINT
    return out


def bsm_price(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """BSM price per share (same units as ``spot``) for European calls/puts.

    See the module docstring for units, broadcasting, NaN handling and the t=0 / vol=0 cases.
    """
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _price(st))


def bsm_greeks(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> Greeks:
    """All five greeks at once (shares the d1/d2 work). Units as in :class:`Greeks`."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked_greeks(st.m.missing, _greeks(st))


def bsm_price_greeks(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> tuple[FloatArray, Greeks]:
    """:func:`bsm_price` and :func:`bsm_greeks` from one state: the same numbers, with every
    normal CDF and density computed once (a model chain prices and greeks millions of rows)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    price = _price(st)
    greeks = _greeks(st)
    miss = st.m.missing
    if not miss.any():
        return price, greeks
    return _masked(miss, price), _masked_greeks(miss, greeks)


def _greeks(st: _State) -> Greeks:
    """Every greek of ``st``, unmasked, with N(sign d1), N(sign d2) and n(d1) computed once."""
    n_d1 = ncdf(st.sign * st.d1)
    n_d2 = ncdf(st.sign * st.d2)
    pdf_d1 = npdf(st.d1)
    return Greeks(
        delta=_delta(st, n_d1),
        gamma=_gamma(st, pdf_d1),
        theta=_theta(st, n_d1, n_d2, pdf_d1),
        vega=_vega(st, pdf_d1),
        rho=_rho(st, n_d2),
    )


def _masked_greeks(missing: BoolArray, g: Greeks) -> Greeks:
    return Greeks(
        delta=_masked(missing, g.delta),
        gamma=_masked(missing, g.gamma),
        theta=_masked(missing, g.theta),
        vega=_masked(missing, g.vega),
        rho=_masked(missing, g.rho),
    )


def bsm_delta(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Delta per share per 1 point of the underlying (calls 0..e^{-qT}, puts -e^{-qT}..0)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _delta(st))


def bsm_gamma(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Gamma per share: change of delta per 1 point of the underlying (same for calls/puts)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _gamma(st))


def bsm_theta(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Theta per share per calendar day (annual theta / 365)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _theta(st))


def bsm_vega(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Vega per share per vol point (+0.01 absolute volatility; same for calls/puts)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _vega(st))


def bsm_rho(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Rho per share per rate point (+0.01 = 1% in the continuously compounded rate)."""
    st = _state(spot, strike, t_years, rate, div_yield, vol, is_call)
    return _masked(st.m.missing, _rho(st))
