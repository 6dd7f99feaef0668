"""Model-priced end-of-day option chains from the bundled underlying, VIX-family and rate history.

Where no vendor chain is at hand, :func:`generate_model_chain` builds one in
:data:`~riskpilot.data.schema.CHAIN_SCHEMA` with ``source='model'`` and ``model_priced=True``,
for SPY, QQQ, IWM and SPX over any span of the bundled history. The rows are clearly labelled
so that results computed on them can say so.

What a day's chain is made of (every input is known at that day's close; nothing looks ahead):

- **Underlying price**: the day's raw close (ETFs: split-adjusted, not dividend-adjusted, as the
  strikes are listed; SPX: the index close).
- **Rate**: FRED DTB3 as of the day (holidays carry the last value; after the file ends on
  2025-05-02 its last value is carried forward), converted from the bank-discount basis of a
  91-day bill to a continuously compounded rate: ``r = -ln(1 - d * 91/360) * 365/91``.
- **Dividend yield** (continuous, per year): by default the trailing one-year dividend yield from
  the ETF's adjusted/raw close ratio, ``ln(ratio_t / ratio_{t-1y})`` (each dividend raises the
  ratio by 1/(1 - D/P)); before one year of history exists, a constant (SPY 1.8%, QQQ 0.6%,
  IWM 1.3%, rough long-run averages). SPX uses SPY's yield plus SPY's 0.0945% expense ratio
  (SPY pays the index dividends net of its fee). ``ModelChainParams.dividend_yield`` overrides.
- **Implied volatility**: the parametric surface of :mod:`riskpilot.data.surface` (ATM term
  structure from VIX9D/VIX/VIX3M closes of the day, put skew in ``ln(K/F)/sqrt(T)`` measured
  in ATM standard deviations), times a
  per-underlying ``vol_scale``: 1.0 for SPX and SPY (SPY tracks SPX); for QQQ and IWM by default
  the trailing 252-day realized-volatility ratio to SPY (adjusted closes, bounded to 0.8..2.5),
  or 1.25 / 1.35 before 126 days of history (typical VXN/VIX and RVX/VIX ratios).
- **Prices and greeks**: Black-Scholes-Merton (:mod:`riskpilot.pricing`) on the mid; time is
  calendar days / 365 to the expiration date.
- **Bid and ask**: a spread from :func:`riskpilot.data.surface.model_spread` (wider in relative
  terms for cheap, short-dated, far-from-the-money options and when volatility is high) placed
  around the model price; the bid is rounded down and the ask up to ``tick`` (0.01), bid >= 0 and
  ask >= one tick.
- ``volume``, ``open_interest`` and ``last`` are null (not modelled); ``quality`` is 0.

Listed expirations (a simplified calendar; dates are the last trading day):

- Monthly: the third Friday of each month, or the trading day before it when that Friday is an
  exchange holiday (Good Friday -> Thursday). Before 2015 standard monthly options formally
  expired on the Saturday after; the model uses the Friday, their last trading day.
- Weeklies (root ``SPXW`` for SPX, else the ETF symbol), not listed where a monthly falls:
  Friday weeklies listed up to ``weekly_horizon_days`` (35) ahead; Monday to Thursday up to
  ``midweek_horizon_days`` (14) ahead, a size-saving simplification of the real 5-6 weeks. A
  Friday (or Tuesday to Thursday) expiration on a holiday moves to the trading day before; a
  Monday expiration moves to the next trading day (as Cboe specifies for Monday Weeklys).
- Eras (first quote date on which each kind is listed), see :data:`DEFAULT_EXPIRATION_ERAS`:

  ======  ==========  ==========  ==========  ==========  ==========
  symbol  Friday      Monday      Tuesday     Wednesday   Thursday
  ======  ==========  ==========  ==========  ==========  ==========
  SPX     2005-10-28  2016-08-15  2022-04-18  2016-02-23  2022-05-11
  SPY     2010-01-08  2018-02-16  2022-11-14  2016-09-07  2022-11-14
  QQQ     2010-01-08  -           -           -           -
  IWM     2010-01-08  -           -           -           -
  ======  ==========  ==========  ==========  ==========  ==========

  Sources: Cboe introduced Weeklys (SPXW Fridays) in October 2005 and extended Weeklys to other
  underlyings in 2010 (the ETF date is the first Friday of 2010, approximate); SPX Wednesday
  Weeklys from 2016-02-23 and Monday Weeklys from 2016-08-15 (Cboe notices); SPX Tuesday from
  2022-04-18 and Thursday from 2022-05-11 (Cboe press release); SPY Wednesday from 2016-09-07
  (MIAX listing alert) and Monday from 2018-02-16 (Cboe press release);
  SPY Tuesday/Thursday (daily expirations) from November 2022 is from memory and not verified.
  QQQ and IWM also gained Monday/Wednesday and later daily expirations, on dates not verified
  here, so they are not listed by default; pass ``ExpirationEras`` to add them. Quarterly and
  end-of-month expirations are not modelled.

Strikes: multiples of a step chosen by the underlying's price (ETFs: 0.5 below $25, else 1;
SPX: 5), within ``near_sd`` ATM standard deviations (sigma_atm sqrt(T)) of the spot; further
out, to ``band_sd`` standard deviations but never beyond ``max_moneyness`` (25%) in log terms,
multiples of ``far_step_multiplier`` (5) steps. That band is each day's *grid*; as on an exchange,
a strike once listed stays listed until its expiration and strikes are added as the spot moves:
the strikes of an expiration on day t are the union of its grids on every day from its listing
to t (so after a large move an expiration also carries strikes beyond today's band; this makes
the chain about 1.8 times as many rows as the day's grids alone). Generating a span starts from
the listing of each expiration quoted in it (up to ``max_dte`` days before its start), so a span
gives the same rows as a longer one sliced. Expirations from ``min_dte`` (1: an expiring
contract has no end-of-day row on its expiration day; settle it at intrinsic value) to
``max_dte`` (120) calendar days.

Surface and spread defaults for SPX were fitted by ``scripts/validate_model_chain.py`` on the
first half of the days of the real 2019 SPX chain (see ``docs/model_chain_validation.md``); the
ETFs use the same shape, scaled by ``vol_scale``; spreads are scale-free (relative to the
underlying price) with ``spread_scale`` 0.5 for the ETFs (penny-wide SPY markets are tighter in
relative terms than SPX's; a rough choice, not fitted).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from riskpilot.data import history
from riskpilot.data.history import UnknownSymbolError
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.data.surface import (
    SmileShape,
    SpreadShape,
    atm_vol,
    model_spread,
    smile_vol,
    smile_z,
    term_nodes,
)
from riskpilot.pricing import bsm_greeks, bsm_price

__all__ = [
    "DEFAULT_EXPIRATION_ERAS",
    "MODEL_UNDERLYINGS",
    "ExpirationEras",
    "MarketHistory",
    "ModelChainParams",
    "cache_model_chain",
    "generate_model_chain",
    "iter_model_chain_by_year",
    "listed_expirations",
    "market_history",
    "monthly_expiration",
    "price_contracts",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MODEL_UNDERLYINGS: tuple[str, ...] = ("IWM", "QQQ", "SPX", "SPY")
SOURCE = "model"

_CALENDAR_START = "1990-01-01"
_CALENDAR_END = "2030-12-31"

_DEFAULT_DIVIDEND_YIELD = {"SPY": 0.018, "QQQ": 0.006, "IWM": 0.013}
_SPY_EXPENSE_RATIO = 0.000945
_DEFAULT_VOL_SCALE = {"SPX": 1.0, "SPY": 1.0, "QQQ": 1.25, "IWM": 1.35}
_REALIZED_WINDOW = 252
_REALIZED_MIN_PERIODS = 126
_VOL_SCALE_BOUNDS = (0.8, 2.5)


# ----------------------------------------------------------------------------------------------
# Expiration calendar
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpirationEras:
    """First quote date on which each weekly kind is listed (``None``: never), and horizons.

    ``weekly_horizon_days``: Friday weeklies are listed up to this many calendar days ahead;
    ``midweek_horizon_days``: the same for Monday to Thursday expirations.
    """

    friday: date | None
    monday: date | None = None
    tuesday: date | None = None
    wednesday: date | None = None
    thursday: date | None = None
    weekly_horizon_days: int = 35
    midweek_horizon_days: int = 14

    def __post_init__(self) -> None:
        for name in ("weekly_horizon_days", "midweek_horizon_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0 or value > 400:
                raise ValueError(f"ExpirationEras.{name} must be an int in 0..400 days, got {value!r}")

    def by_weekday(self) -> dict[int, date | None]:
        """Era start by ``date.weekday()`` (Monday = 0)."""
        return {
            0: self.monday,
            1: self.tuesday,
            2: self.wednesday,
            3: self.thursday,
            4: self.friday,
        }


DEFAULT_EXPIRATION_ERAS: dict[str, ExpirationEras] = {
    "SPX": ExpirationEras(
        friday=date(2005, 10, 28),
        monday=date(2016, 8, 15),
        tuesday=date(2022, 4, 18),
        wednesday=date(2016, 2, 23),
        thursday=date(2022, 5, 11),
    ),
    "SPY": ExpirationEras(
        friday=date(2010, 1, 8),
        monday=date(2018, 2, 16),
        tuesday=date(2022, 11, 14),
        wednesday=date(2016, 9, 7),
        thursday=date(2022, 11, 14),
    ),
    "QQQ": ExpirationEras(friday=date(2010, 1, 8)),
    "IWM": ExpirationEras(friday=date(2010, 1, 8)),
}


@cache
def _sessions() -> npt.NDArray[np.datetime64]:
    """NYSE trading days 1990..2030 as datetime64[D] (exchange_calendars XNYS)."""
    with warnings.catch_warnings():
        # exchange_calendars itself trips a pandas deprecation notice on construction.
        warnings.filterwarnings("ignore", message=r"Series\.values returning")
        calendar = xcals.get_calendar("XNYS", start=_CALENDAR_START, end=_CALENDAR_END)
    return np.asarray(calendar.sessions.values.astype("datetime64[D]"))


def _check_calendar_range(day: np.datetime64, what: str) -> None:
    sessions = _sessions()
    if day < sessions[0] or day > sessions[-1]:
        raise ValueError(
            f"{what} {day} is outside the exchange calendar this module loads "
            f"({_CALENDAR_START} .. {_CALENDAR_END})"
        )


def _previous_session(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The session on or before each day."""
    sessions = _sessions()
    idx = np.searchsorted(sessions, days, side="right") - 1
    return sessions[idx]


def _next_session(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The session on or after each day."""
    sessions = _sessions()
    idx = np.searchsorted(sessions, days, side="left")
    return sessions[idx]


def monthly_expiration(year: int, month: int) -> date:
    """The standard monthly expiration: the third Friday of the month, or the trading day
    before it when that Friday is an exchange holiday (e.g. Good Friday 2019-04-19 -> Thursday
    2019-04-18)."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    first = date(year, month, 1)
    third_friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
    day = np.array([np.datetime64(third_friday, "D")])
    _check_calendar_range(day[0], "expiration")
    result: date = pd.Timestamp(_previous_session(day)[0]).date()
    return result


def _monthly_dates(first: date, last: date) -> npt.NDArray[np.datetime64]:
    months = pd.period_range(pd.Timestamp(first), pd.Timestamp(last), freq="M")
    return np.array(
        [np.datetime64(monthly_expiration(p.year, p.month), "D") for p in months],
        dtype="datetime64[D]",
    )


def _weekday_dates(
    weekday: int, first: date, last: date, monthly: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.datetime64]:
    """Weekly expirations on ``weekday`` between ``first`` and ``last``, moved off holidays and
    without the dates a monthly already takes."""
    start = first + timedelta(days=(weekday - first.weekday()) % 7)
    raw = np.arange(np.datetime64(start, "D"), np.datetime64(last, "D") + 1, 7)
    if raw.size == 0:
        return raw
    # Monday expirations on a holiday move to the next trading day; the others to the one before.
    moved = _next_session(raw) if weekday == 0 else _previous_session(raw)
    # Third Fridays are monthly expirations (so is a holiday-shifted one).
    if weekday == 4:
        third = np.array([monthly_expiration(d.year, d.month) for d in pd.to_datetime(moved)])
        moved = moved[np.array([np.datetime64(x, "D") for x in third]) != moved]
    return np.setdiff1d(np.unique(moved), monthly)


def listed_expirations(
    underlying: str, quote_date: date, params: ModelChainParams | None = None
) -> list[date]:
    """Expirations the model lists on ``quote_date`` (``min_dte``..``max_dte`` days ahead),
    ascending; see the module doc for the rules and eras."""
    symbol = _check_underlying(underlying)
    p = params if params is not None else ModelChainParams.for_underlying(symbol)
    day = np.array([np.datetime64(quote_date, "D")])
    exp, _kind, _pair_day = _expiration_pairs(day, p)
    return [pd.Timestamp(x).date() for x in exp]


def _expiration_pairs(
    days: npt.NDArray[np.datetime64], p: ModelChainParams
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.bool_], IntArray]:
    """All listed (day, expiration) pairs for the quote ``days``.

    Returns (expiration, is_monthly, day index), sorted by day then expiration.
    """
    if days.size == 0:
        return (
            np.array([], dtype="datetime64[D]"),
            np.array([], dtype=np.bool_),
            np.array([], dtype=np.int64),
        )
    first = pd.Timestamp(days[0]).date()
    last = pd.Timestamp(days[-1]).date() + timedelta(days=p.max_dte + 7)
    _check_calendar_range(np.datetime64(last, "D"), "last expiration")
    monthly = _monthly_dates(first, last)
    kinds: list[tuple[npt.NDArray[np.datetime64], int, date | None, bool]] = [
        (monthly, p.max_dte, date(1900, 1, 1), True)
    ]
    for weekday, era in p.expirations.by_weekday().items():
        if era is None:
            continue
        horizon = (
            p.expirations.weekly_horizon_days if weekday == 4 else p.expirations.midweek_horizon_days
        )
        kinds.append(
            (_weekday_dates(weekday, max(first, era), last, monthly), min(horizon, p.max_dte), era, False)
        )
    out_exp: list[npt.NDArray[np.datetime64]] = []
    out_monthly: list[npt.NDArray[np.bool_]] = []
    out_day: list[IntArray] = []
    day_index = np.arange(days.size, dtype=np.int64)
    for exps, horizon, era, is_monthly in kinds:
        if exps.size == 0 or horizon < p.min_dte:
            continue
        listed = days >= np.datetime64(era, "D")
        lo = np.searchsorted(exps, days + np.timedelta64(p.min_dte, "D"), side="left")
        hi = np.searchsorted(exps, days + np.timedelta64(horizon, "D"), side="right")
        counts = np.where(listed, np.maximum(hi - lo, 0), 0)
        total = int(counts.sum())
        if total == 0:
            continue
        starts = np.repeat(lo, counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        out_exp.append(exps[starts + offsets])
        out_monthly.append(np.full(total, is_monthly))
        out_day.append(np.repeat(day_index, counts))
    if not out_exp:
        return _expiration_pairs(days[:0], p)
    exp = np.concatenate(out_exp)
    is_monthly_arr = np.concatenate(out_monthly)
    pair_day = np.concatenate(out_day)
    order = np.lexsort((~is_monthly_arr, exp, pair_day))
    exp, is_monthly_arr, pair_day = exp[order], is_monthly_arr[order], pair_day[order]
    # A holiday shift can land a weekly on another kind's date: keep one (the monthly first).
    keep = np.ones(exp.size, dtype=np.bool_)
    keep[1:] = (exp[1:] != exp[:-1]) | (pair_day[1:] != pair_day[:-1])
    return exp[keep], is_monthly_arr[keep], pair_day[keep]


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelChainParams:
    """Parameters of a model-priced chain. Defaults are the SPX fit (see the module doc);
    use :meth:`for_underlying` for an ETF's defaults.

    Surface (dimensionless unless stated): ``atm_vix_ratio`` ATM vol / VIX-family level;
    ``vol_scale`` multiplies every vol (``None``: the trailing realized-vol ratio to SPY, for
    QQQ/IWM); ``skew``, ``skew_term_exponent``, ``curvature_put``, ``curvature_call``, ``z_min``,
    ``z_max``: the smile in ``z = ln(K/F)/(sigma_atm sqrt(T years))``. ``dividend_yield``: continuous decimal
    per year, ``None`` for the trailing yield. Spread: ``spread_b*`` coefficients,
    ``spread_scale``, ``min_spread`` and ``tick`` in price units per share, ``max_spread_frac``
    of the mid. Grid: ``min_dte``/``max_dte`` calendar days, ``near_sd``/``band_sd`` in ATM
    standard deviations, ``max_moneyness`` as |ln(K/S)|, ``strike_steps`` as (price below,
    step) pairs, ``far_step_multiplier``. ``expirations``: the weekly eras and horizons.
    """

    atm_vix_ratio: float = 0.8625
    vol_scale: float | None = 1.0
    skew: float = -0.2519
    skew_term_exponent: float = 0.0827
    curvature_put: float = 0.0
    curvature_call: float = 0.0337
    z_min: float = -3.0
    z_max: float = 3.0
    dividend_yield: float | None = None
    spread_b0: float = -6.9634
    spread_b_log_mid: float = 0.3295
    spread_b_log_dte: float = 0.0818
    spread_b_log_vol: float = 0.7143
    spread_b_abs_z: float = -0.0214
    spread_scale: float = 1.0
    min_spread: float = 0.05
    max_spread_frac: float = 1.0
    tick: float = 0.01
    min_dte: int = 1
    max_dte: int = 120
    near_sd: float = 1.0
    band_sd: float = 2.5
    max_moneyness: float = 0.25
    strike_steps: tuple[tuple[float, float], ...] = ((math.inf, 5.0),)
    far_step_multiplier: int = 5
    expirations: ExpirationEras = field(default_factory=lambda: DEFAULT_EXPIRATION_ERAS["SPX"])

    def __post_init__(self) -> None:
        def bounded(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"ModelChainParams.{name} must be a number, got {value!r}")
            if not (low <= float(value) <= high):
                raise ValueError(
                    f"ModelChainParams.{name} must be within [{low}, {high}], got {value!r}"
                )

        bounded("atm_vix_ratio", 0.3, 2.0)
        if self.vol_scale is not None:
            bounded("vol_scale", 0.2, 5.0)
        if self.dividend_yield is not None:
            bounded("dividend_yield", -0.05, 0.2)
        for name in ("skew", "curvature_put", "curvature_call"):
            bounded(name, -20.0, 20.0)
        bounded("skew_term_exponent", -2.0, 2.0)
        bounded("z_min", -10.0, 0.0)
        bounded("z_max", 0.0, 10.0)
        for name in ("spread_b0", "spread_b_log_mid", "spread_b_log_dte", "spread_b_log_vol"):
            bounded(name, -50.0, 50.0)
        bounded("spread_b_abs_z", -50.0, 50.0)
        bounded("spread_scale", 0.0, 100.0)
        bounded("tick", 1e-4, 10.0)
        bounded("min_spread", self.tick, 100.0)
        bounded("max_spread_frac", 0.0, 10.0)
        bounded("min_dte", 0, 3650)
        bounded("max_dte", self.min_dte, 3650)
        if not isinstance(self.min_dte, int) or not isinstance(self.max_dte, int):
            raise TypeError("ModelChainParams.min_dte and max_dte must be whole calendar days")
        bounded("near_sd", 0.0, 20.0)
        bounded("band_sd", self.near_sd, 20.0)
        bounded("max_moneyness", 0.001, 3.0)
        if not isinstance(self.far_step_multiplier, int) or self.far_step_multiplier < 1:
            raise ValueError(
                f"ModelChainParams.far_step_multiplier must be an int >= 1, "
                f"got {self.far_step_multiplier!r}"
            )
        steps = self.strike_steps
        if not steps or any(len(s) != 2 or s[1] <= 0 for s in steps):
            raise ValueError(
                "ModelChainParams.strike_steps must be non-empty (price_below, step) pairs with "
                f"step > 0, e.g. ((25.0, 0.5), (inf, 1.0)); got {steps!r}"
            )
        if list(s[0] for s in steps) != sorted(s[0] for s in steps) or steps[-1][0] != math.inf:
            raise ValueError(
                "ModelChainParams.strike_steps thresholds must ascend and end with inf, "
                f"got {steps!r}"
            )
        if not isinstance(self.expirations, ExpirationEras):
            raise TypeError("ModelChainParams.expirations must be an ExpirationEras")

    @classmethod
    def for_underlying(cls, underlying: str, **overrides: object) -> ModelChainParams:
        """Defaults for ``underlying`` (SPX, SPY, QQQ, IWM), with keyword overrides."""
        symbol = _check_underlying(underlying)
        base: dict[str, object] = {"expirations": DEFAULT_EXPIRATION_ERAS[symbol]}
        if symbol != "SPX":
            base.update(
                strike_steps=((25.0, 0.5), (math.inf, 1.0)),
                spread_scale=0.5,
                min_spread=0.01,
                vol_scale=1.0 if symbol == "SPY" else None,
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"unknown ModelChainParams field(s) {unknown}; known fields: {sorted(known)}"
            )
        base.update(overrides)
        return replace(cls(), **base)  # type: ignore[arg-type]

    def smile(self) -> SmileShape:
        return SmileShape(
            skew=self.skew,
            skew_term_exponent=self.skew_term_exponent,
            curvature_put=self.curvature_put,
            curvature_call=self.curvature_call,
            z_min=self.z_min,
            z_max=self.z_max,
        )

    def spread(self) -> SpreadShape:
        return SpreadShape(
            b0=self.spread_b0,
            b_log_mid=self.spread_b_log_mid,
            b_log_dte=self.spread_b_log_dte,
            b_log_vol=self.spread_b_log_vol,
            b_abs_z=self.spread_b_abs_z,
            spread_scale=self.spread_scale,
            min_spread=self.min_spread,
            max_spread_frac=self.max_spread_frac,
        )


def _check_underlying(underlying: str) -> str:
    if not isinstance(underlying, str) or underlying.strip().upper() not in MODEL_UNDERLYINGS:
        raise UnknownSymbolError(
            f"no model chain for underlying {underlying!r}: model chains are built for "
            f"{', '.join(MODEL_UNDERLYINGS)} (the bundled history)"
        )
    return underlying.strip().upper()


# ----------------------------------------------------------------------------------------------
# Market history aligned per trading day (every column causal: day t uses data up to t)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketHistory:
    """Per-day inputs of an underlying's model chain, aligned on its trading days.

    ``dates`` datetime64[D]; ``spot`` price units; ``vix``, ``vix9d``, ``vix3m`` vol points
    (NaN where an index did not exist yet); ``rate`` and ``div_yield`` continuous decimals per
    year; ``vol_scale`` dimensionless (NaN: not computable yet, use the default).
    """

    underlying: str
    dates: npt.NDArray[np.datetime64]
    spot: FloatArray
    vix: FloatArray
    vix9d: FloatArray
    vix3m: FloatArray
    rate: FloatArray
    div_yield: FloatArray
    realized_vol_ratio: FloatArray


def _asof(series: pd.Series, index: pd.DatetimeIndex, limit_days: int | None = None) -> FloatArray:
    """Values of ``series`` as of each date of ``index`` (last observation on or before it),
    NaN when there is none or it is more than ``limit_days`` calendar days old."""
    s = series.dropna()
    pos = np.searchsorted(s.index.values, index.values, side="right") - 1
    values = np.where(pos >= 0, s.to_numpy(dtype=np.float64)[np.maximum(pos, 0)], np.nan)
    if limit_days is not None:
        age = (index.values - s.index.values[np.maximum(pos, 0)]).astype("timedelta64[D]")
        values = np.where(age.astype(np.int64) <= limit_days, values, np.nan)
    out: FloatArray = np.asarray(values, dtype=np.float64)
    return out


def _trailing_dividend_yield(symbol: str, index: pd.DatetimeIndex) -> FloatArray:
    etf = history.load_underlying(symbol)
    ratio = np.log(etf["adj_close"] / etf["close"])
    # ratio one year earlier, as of that date: uses only data up to each day.
    year_ago = index - pd.DateOffset(years=1)
    now = _asof(ratio, index)
    then = _asof(ratio, pd.DatetimeIndex(year_ago))
    have_year = np.asarray(year_ago >= etf.index[0])
    out: FloatArray = np.where(have_year, now - then, _DEFAULT_DIVIDEND_YIELD[symbol])
    return out


def _realized_vol_ratio(symbol: str, index: pd.DatetimeIndex) -> FloatArray:
    def realized(sym: str) -> pd.Series:
        closes = history.load_underlying(sym)["adj_close"]
        returns = np.log(closes).diff()
        return returns.rolling(_REALIZED_WINDOW, min_periods=_REALIZED_MIN_PERIODS).std()

    ratio = (realized(symbol) / realized("SPY")).dropna()
    values = _asof(ratio, index, limit_days=10)
    out: FloatArray = np.clip(values, *_VOL_SCALE_BOUNDS)
    return out


@cache
def market_history(underlying: str) -> MarketHistory:
    """The per-day inputs of ``underlying``'s model chain over its whole bundled history,
    starting on the first day VIX exists too (cached; the arrays must not be modified)."""
    symbol = _check_underlying(underlying)
    frame = history.load_index("SPX") if symbol == "SPX" else history.load_underlying(symbol)
    vix = history.load_index("VIX")["close"]
    frame = frame.loc[frame.index >= vix.index[0]]
    # Only exchange sessions: a stray non-session row would get an expiration calendar of its own.
    sessions = pd.DatetimeIndex(_sessions())
    frame = frame.loc[frame.index.isin(sessions)]
    index = pd.DatetimeIndex(frame.index)
    rates_discount = history.load_rates()
    d = _asof(rates_discount, index)
    rate = -np.log(1.0 - d * 91.0 / 360.0) * 365.0 / 91.0
    if symbol == "SPX":
        div = _trailing_dividend_yield("SPY", index) + _SPY_EXPENSE_RATIO
        rv_ratio = np.full(len(index), np.nan)
    else:
        div = _trailing_dividend_yield(symbol, index)
        rv_ratio = (
            _realized_vol_ratio(symbol, index) if symbol != "SPY" else np.ones(len(index))
        )
    spot = frame["close"].to_numpy(dtype=np.float64)
    return MarketHistory(
        underlying=symbol,
        dates=index.values.astype("datetime64[D]"),
        spot=spot,
        vix=_asof(vix, index, limit_days=5),
        vix9d=_asof(history.load_index("VIX9D")["close"], index, limit_days=5),
        vix3m=_asof(history.load_index("VIX3M")["close"], index, limit_days=5),
        rate=np.asarray(rate, dtype=np.float64),
        div_yield=np.asarray(div, dtype=np.float64),
        realized_vol_ratio=np.asarray(rv_ratio, dtype=np.float64),
    )


def _day_slice(mh: MarketHistory, start: date, end: date) -> slice:
    if not isinstance(start, date) or not isinstance(end, date):
        raise TypeError(f"start and end must be datetime.date values, got {start!r}, {end!r}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}: pass start <= end")
    first = pd.Timestamp(mh.dates[0]).date()
    last = pd.Timestamp(mh.dates[-1]).date()
    if end < first or start > last:
        raise ValueError(
            f"no bundled history for {mh.underlying} between {start} and {end}: model chains "
            f"for {mh.underlying} cover {first} .. {last}"
        )
    lo = int(np.searchsorted(mh.dates, np.datetime64(start, "D"), side="left"))
    hi = int(np.searchsorted(mh.dates, np.datetime64(end, "D"), side="right"))
    return slice(lo, hi)


def _vol_scale(mh: MarketHistory, p: ModelChainParams, sl: slice) -> FloatArray:
    n = sl.stop - sl.start
    if p.vol_scale is not None:
        return np.full(n, float(p.vol_scale))
    ratio = mh.realized_vol_ratio[sl]
    out: FloatArray = np.where(np.isfinite(ratio), ratio, _DEFAULT_VOL_SCALE[mh.underlying])
    return out


def _div_yield(mh: MarketHistory, p: ModelChainParams, sl: slice) -> FloatArray:
    if p.dividend_yield is not None:
        return np.full(sl.stop - sl.start, float(p.dividend_yield))
    return mh.div_yield[sl]


# ----------------------------------------------------------------------------------------------
# Strike grid and pricing
# ----------------------------------------------------------------------------------------------


def _step_for(spot: FloatArray, p: ModelChainParams) -> FloatArray:
    thresholds = np.array([s[0] for s in p.strike_steps])
    steps = np.array([s[1] for s in p.strike_steps])
    out: FloatArray = steps[np.searchsorted(thresholds, spot, side="right").clip(0, len(steps) - 1)]
    return out


def _multiples(lo: FloatArray, hi: FloatArray, step: FloatArray) -> tuple[IntArray, FloatArray]:
    """All multiples of ``step`` in [lo, hi] per group: (group index, value)."""
    first = np.ceil(lo / step - 1e-9).astype(np.int64)
    last = np.floor(hi / step + 1e-9).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    total = int(counts.sum())
    group = np.repeat(np.arange(lo.size, dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    values = (np.repeat(first, counts) + offsets) * np.repeat(step, counts)
    return group, np.round(values, 8)


def _strike_grid(
    spot: FloatArray, sd: FloatArray, p: ModelChainParams
) -> tuple[IntArray, FloatArray]:
    """Strikes per (day, expiration) pair: (pair index, strike), sorted by pair then strike."""
    step = _step_for(spot, p)
    far_step = step * p.far_step_multiplier
    near_w = np.minimum(p.near_sd * sd, p.max_moneyness)
    band_w = np.minimum(p.band_sd * sd, p.max_moneyness)
    near_lo, near_hi = spot * np.exp(-near_w), spot * np.exp(near_w)
    # At least one strike each side of the spot, however short the expiration.
    near_lo = np.minimum(near_lo, np.floor(spot / step) * step)
    near_hi = np.maximum(near_hi, np.ceil(spot / step) * step)
    g_near, k_near = _multiples(near_lo, near_hi, step)
    g_far, k_far = _multiples(spot * np.exp(-band_w), spot * np.exp(band_w), far_step)
    outside = (k_far < near_lo[g_far] - 1e-9) | (k_far > near_hi[g_far] + 1e-9)
    group = np.concatenate([g_near, g_far[outside]])
    strike = np.concatenate([k_near, k_far[outside]])
    order = np.lexsort((strike, group))
    group, strike = group[order], strike[order]
    positive = strike > 0
    return group[positive], strike[positive]


def _listed_rows(
    exp: npt.NDArray[np.datetime64],
    pair_day: IntArray,
    group: IntArray,
    strike: FloatArray,
    first_out: int,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.bool_]]:
    """The listed contracts of every (day, expiration) pair on or after day ``first_out``.

    ``exp``/``pair_day`` are the pairs, sorted by day then expiration; ``group``/``strike`` the
    day's own strike grid per pair (pair index, strike). A strike of an expiration is listed on
    day t when it was on the grid of that expiration on some day <= t (as on an exchange, strikes
    are added as the spot moves and never removed before the expiration), so day t depends only
    on days up to t. Returns (pair index, strike, is_call) per row, sorted by pair, calls before
    puts, then strike.
    """
    _codes, exp_code = np.unique(exp, return_inverse=True)
    exp_code = exp_code.astype(np.int64)
    g_code = exp_code[group]
    g_day = pair_day[group]
    # Stable sort by (expiration, strike): each key's first entry is its earliest day, since the
    # grid comes in pair order and pairs in day order.
    order = np.lexsort((strike, g_code))
    s_code, s_strike, s_day = g_code[order], strike[order], g_day[order]
    new = np.ones(s_code.size, dtype=np.bool_)
    new[1:] = (s_code[1:] != s_code[:-1]) | (s_strike[1:] != s_strike[:-1])
    u_code, u_strike, u_first = s_code[new], s_strike[new], s_day[new]
    # Every strike ever listed for an expiration forms one block of the unique keys, by strike.
    n_codes = int(_codes.size)
    block_lo = np.searchsorted(u_code, np.arange(n_codes), side="left")
    block_len = np.searchsorted(u_code, np.arange(n_codes), side="right") - block_lo
    # Each output pair walks its expiration's block twice (calls, then puts) and keeps the
    # strikes first listed on or before its day.
    pairs = np.flatnonzero(pair_day >= first_out)
    b_lo = block_lo[exp_code[pairs]]
    b_len = block_len[exp_code[pairs]]
    counts = 2 * b_len
    total = int(counts.sum())
    row_pair = np.repeat(pairs, counts)
    j = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rep_len = np.repeat(b_len, counts)
    is_call = j < rep_len
    idx = np.repeat(b_lo, counts) + np.where(is_call, j, j - rep_len)
    keep = u_first[idx] <= pair_day[row_pair]
    return row_pair[keep], u_strike[idx[keep]], is_call[keep]


def _labels(codes: npt.NDArray[np.integer], labels: list[str]) -> pa.Array:
    """A plain string array of ``labels[code]`` per row (built via a dictionary: no Python
    objects per row)."""
    indices = pa.array(np.asarray(codes, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def _price_rows(
    underlying: str,
    root: pa.Array,
    quote_day: npt.NDArray[np.datetime64],
    expiration: npt.NDArray[np.datetime64],
    strike: FloatArray,
    is_call: npt.NDArray[np.bool_],
    spot: FloatArray,
    rate: FloatArray,
    div: FloatArray,
    s9: FloatArray,
    s30: FloatArray,
    s93: FloatArray,
    p: ModelChainParams,
) -> pa.Table:
    """Price rows whose per-row inputs are given; vols s9/s30/s93 already include vol_scale;
    ``root`` is a string array of the rows' roots."""
    dte = (expiration - quote_day).astype(np.int64).astype(np.float64)
    t = dte / 365.0
    sigma_atm = atm_vol(t, s9, s30, s93)
    log_m = np.log(strike / spot) - (rate - div) * t
    iv = smile_vol(sigma_atm, log_m, t, p.smile())
    mid = bsm_price(spot, strike, t, rate, div, iv, is_call)
    greeks = bsm_greeks(spot, strike, t, rate, div, iv, is_call)
    abs_z = np.abs(smile_z(log_m, t, sigma_atm))
    spread = model_spread(mid, spot, dte, s30, abs_z, p.spread())
    tick = p.tick
    bid = np.maximum(np.floor((mid - spread / 2.0) / tick + 1e-9) * tick, 0.0)
    ask = np.maximum(np.ceil((mid + spread / 2.0) / tick - 1e-9) * tick, tick)
    bid = np.round(bid, 6)
    ask = np.round(ask, 6)
    n = strike.size
    null_float = pa.nulls(n, pa.float64())
    null_int = pa.nulls(n, pa.int64())
    columns = {
        "quote_date": pa.array(quote_day, type=pa.date32()),
        "underlying": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int32)), pa.array([underlying])
        ).cast(pa.string()),
        "underlying_price": pa.array(spot, type=pa.float64()),
        "root": root,
        "expiration": pa.array(expiration, type=pa.date32()),
        "strike": pa.array(strike, type=pa.float64()),
        "right": _labels(np.where(is_call, 0, 1), ["C", "P"]),
        "bid": pa.array(bid, type=pa.float64()),
        "ask": pa.array(ask, type=pa.float64()),
        "last": null_float,
        "volume": null_int,
        "open_interest": null_int,
        "iv": pa.array(iv, type=pa.float64()),
        "delta": pa.array(greeks.delta, type=pa.float64()),
        "gamma": pa.array(greeks.gamma, type=pa.float64()),
        "theta": pa.array(greeks.theta, type=pa.float64()),
        "vega": pa.array(greeks.vega, type=pa.float64()),
        "quality": pa.array(np.zeros(n, dtype=np.int32), type=pa.int32()),
        "source": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int32)), pa.array([SOURCE])
        ).cast(pa.string()),
        "model_priced": pa.array(np.ones(n, dtype=np.bool_), type=pa.bool_()),
    }
    return pa.Table.from_pydict(columns, schema=CHAIN_SCHEMA)


def _day_vols(
    mh: MarketHistory, p: ModelChainParams, sl: slice
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if np.isnan(mh.vix[sl]).any():
        bad = pd.Timestamp(mh.dates[sl][np.isnan(mh.vix[sl])][0]).date()
        raise ValueError(f"no VIX close within 5 days of {bad}: the model chain cannot price it")
    s9, s30, s93 = term_nodes(mh.vix[sl], mh.vix9d[sl], mh.vix3m[sl], p.atm_vix_ratio)
    scale = _vol_scale(mh, p, sl)
    return s9 * scale, s30 * scale, s93 * scale


def generate_model_chain(
    underlying: str, start: date, end: date, params: ModelChainParams | None = None
) -> pa.Table:
    """A model-priced end-of-day chain for ``underlying`` (SPY, QQQ, IWM, SPX) on every trading
    day from ``start`` to ``end`` (inclusive) of the bundled history, in ``CHAIN_SCHEMA`` with
    ``source='model'`` and ``model_priced=True``, sorted by quote date, expiration, right
    (calls first), strike. Deterministic; day t's rows depend only on data up to day t. A
    contract quoted on day t is quoted on every later day of the span until its expiration
    (strikes are never delisted early; see the module doc); rows do not depend on ``start``
    (generating a longer span and slicing it gives identical rows).

    ``params`` defaults to ``ModelChainParams.for_underlying(underlying)``. Raises
    ``UnknownSymbolError`` for another underlying and ``ValueError`` for a span outside the
    history (naming the span that exists).
    """
    symbol = _check_underlying(underlying)
    p = params if params is not None else ModelChainParams.for_underlying(symbol)
    if not isinstance(p, ModelChainParams):
        raise TypeError(f"params must be a ModelChainParams, got {type(p).__name__}")
    mh = market_history(symbol)
    out = _day_slice(mh, start, end)
    # Strikes listed before ``start`` stay listed: warm up from the earliest day on which an
    # expiration quoted on ``start`` can have been listed (at most max_dte calendar days before).
    warm_start = np.datetime64(start, "D") - np.timedelta64(p.max_dte, "D")
    sl = slice(int(np.searchsorted(mh.dates, warm_start, side="left")), out.stop)
    first_out = out.start - sl.start
    days = mh.dates[sl]
    exp, is_monthly, pair_day = _expiration_pairs(days, p)
    # Warm-up pairs matter only for expirations still listed on the first generated day.
    if first_out > 0 and days.size > first_out:
        wanted = exp >= days[first_out]
        exp, is_monthly, pair_day = exp[wanted], is_monthly[wanted], pair_day[wanted]
    s9_d, s30_d, s93_d = _day_vols(mh, p, sl)
    spot_d, rate_d, div_d = mh.spot[sl], mh.rate[sl], _div_yield(mh, p, sl)

    t_pair = (exp - days[pair_day]).astype(np.int64) / 365.0
    sd_pair = atm_vol(t_pair, s9_d[pair_day], s30_d[pair_day], s93_d[pair_day]) * np.sqrt(t_pair)
    group, strike = _strike_grid(spot_d[pair_day], sd_pair, p)
    row_pair, row_strike, row_call = _listed_rows(exp, pair_day, group, strike, first_out)
    row_day = pair_day[row_pair]

    weekly_root = "SPXW" if symbol == "SPX" else symbol
    roots = _labels(np.where(is_monthly[row_pair], 0, 1), [symbol, weekly_root])
    return _price_rows(
        symbol,
        roots,
        days[row_day],
        exp[row_pair],
        row_strike,
        row_call,
        spot_d[row_day],
        rate_d[row_day],
        div_d[row_day],
        s9_d[row_day],
        s30_d[row_day],
        s93_d[row_day],
        p,
    )


def price_contracts(
    underlying: str,
    quote_dates: npt.ArrayLike,
    expirations: npt.ArrayLike,
    strikes: npt.ArrayLike,
    rights: npt.ArrayLike,
    roots: npt.ArrayLike | None = None,
    params: ModelChainParams | None = None,
) -> pa.Table:
    """Model quotes for given contracts (e.g. a real chain's), one row per input, in input
    order, priced exactly as :func:`generate_model_chain` prices its grid.

    ``quote_dates`` must be trading days of the bundled history; ``expirations`` after them;
    ``rights`` 'C'/'P'; ``roots`` default to the underlying symbol.
    """
    symbol = _check_underlying(underlying)
    p = params if params is not None else ModelChainParams.for_underlying(symbol)
    mh = market_history(symbol)
    qd = np.asarray(quote_dates, dtype="datetime64[D]")
    ex = np.asarray(expirations, dtype="datetime64[D]")
    k = np.asarray(strikes, dtype=np.float64)
    r = np.asarray(rights).astype(str)
    if not (qd.shape == ex.shape == k.shape == r.shape) or qd.ndim != 1:
        raise ValueError("quote_dates, expirations, strikes and rights must be 1-d and equally long")
    if not np.isin(r, ["C", "P"]).all():
        raise ValueError("rights must be 'C' or 'P'")
    if (ex <= qd).any():
        raise ValueError("every expiration must be after its quote date (min 1 day to expiry)")
    if not (np.isfinite(k) & (k > 0)).all():
        raise ValueError("strikes must be finite and > 0")
    pos = np.searchsorted(mh.dates, qd)
    known = (pos < mh.dates.size) & (mh.dates[np.minimum(pos, mh.dates.size - 1)] == qd)
    if not known.all():
        bad = qd[~known][0]
        raise ValueError(f"quote date {bad} is not a trading day of the bundled {symbol} history")
    sl = slice(0, mh.dates.size)
    s9_all, s30_all, s93_all = _day_vols(mh, p, sl)
    div_all = _div_yield(mh, p, sl)
    root_arr = (
        _labels(np.zeros(k.size, dtype=np.int64), [symbol])
        if roots is None
        else pa.array(np.asarray(roots).astype(str).astype(object), type=pa.string())
    )
    return _price_rows(
        symbol,
        root_arr,
        qd,
        ex,
        k,
        r == "C",
        mh.spot[pos],
        mh.rate[pos],
        div_all[pos],
        s9_all[pos],
        s30_all[pos],
        s93_all[pos],
        p,
    )


def iter_model_chain_by_year(
    underlying: str, start: date, end: date, params: ModelChainParams | None = None
) -> Iterator[tuple[int, pa.Table]]:
    """Generate the chain one calendar year at a time (bounded memory): yields (year, table).
    Identical rows to :func:`generate_model_chain` over the same span: each year warms up
    from the listing of its expirations, so strikes listed the previous year carry over."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}: pass start <= end")
    for year in range(start.year, end.year + 1):
        lo = max(start, date(year, 1, 1))
        hi = min(end, date(year, 12, 31))
        mh = market_history(underlying)
        first = pd.Timestamp(mh.dates[0]).date()
        last = pd.Timestamp(mh.dates[-1]).date()
        if hi < first or lo > last:
            continue
        yield year, generate_model_chain(underlying, max(lo, first), min(hi, last), params)


def cache_model_chain(
    store_root: str | Path,
    underlying: str,
    start: date,
    end: date,
    params: ModelChainParams | None = None,
) -> int:
    """Generate the model chain year by year and import it into the Parquet chain store at
    ``store_root`` (``riskpilot.data.store.ChainStore``). Returns the number of rows written."""
    from riskpilot.data.store import ChainStore  # the store is optional for pure generation

    store = ChainStore(Path(store_root))
    written = 0
    for _year, table in iter_model_chain_by_year(underlying, start, end, params):
        store.import_table(table)
        written += table.num_rows
    return written
