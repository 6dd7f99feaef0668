"""Market history aligned per trading day: the per-day inputs of a model chain (spot, VIX-family
vols, rates, dividend yields, realized-vol ratios). Every column is causal: day t uses data up
to t."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskpilot.data import history
from riskpilot.data.model_chain.expirations import trading_sessions
from riskpilot.data.model_chain.params import ModelChainParams, check_underlying
from riskpilot.data.surface import term_nodes

FloatArray = npt.NDArray[np.float64]

_DEFAULT_DIVIDEND_YIELD = {"SPY": 0.018, "QQQ": 0.006, "IWM": 0.013}
_SPY_EXPENSE_RATIO = 0.000945
_DEFAULT_VOL_SCALE = {"SPX": 1.0, "SPY": 1.0, "QQQ": 1.25, "IWM": 1.35}
_REALIZED_WINDOW = 252
_REALIZED_MIN_PERIODS = 126
_VOL_SCALE_BOUNDS = (0.8, 2.5)


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
    symbol = check_underlying(underlying)
    frame = history.load_index("SPX") if symbol == "SPX" else history.load_underlying(symbol)
    vix = history.load_index("VIX")["close"]
    frame = frame.loc[frame.index >= vix.index[0]]
    # Only exchange sessions: a stray non-session row would get an expiration calendar of its own.
    sessions = pd.DatetimeIndex(trading_sessions())
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


def day_slice(mh: MarketHistory, start: date, end: date) -> slice:
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


def vol_scale_of(mh: MarketHistory, p: ModelChainParams, sl: slice) -> FloatArray:
    n = sl.stop - sl.start
    if p.vol_scale is not None:
        return np.full(n, float(p.vol_scale))
    ratio = mh.realized_vol_ratio[sl]
    out: FloatArray = np.where(np.isfinite(ratio), ratio, _DEFAULT_VOL_SCALE[mh.underlying])
    return out


def div_yield_of(mh: MarketHistory, p: ModelChainParams, sl: slice) -> FloatArray:
    if p.dividend_yield is not None:
        return np.full(sl.stop - sl.start, float(p.dividend_yield))
    return mh.div_yield[sl]


def day_vols(
    mh: MarketHistory, p: ModelChainParams, sl: slice
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if np.isnan(mh.vix[sl]).any():
        bad = pd.Timestamp(mh.dates[sl][np.isnan(mh.vix[sl])][0]).date()
        raise ValueError(f"no VIX close within 5 days of {bad}: the model chain cannot price it")
    s9, s30, s93 = term_nodes(mh.vix[sl], mh.vix9d[sl], mh.vix3m[sl], p.atm_vix_ratio)
    scale = vol_scale_of(mh, p, sl)
    return s9 * scale, s30 * scale, s93 * scale
