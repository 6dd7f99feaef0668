"""Entry signals for the backtest, each answered as of a day *t* from data on or before *t* only.

- :class:`MarketData`: the underlying's daily closes and VIX closes (bundled history, or any
  series handed in). It answers the VIX on day *t* and the market regime on day *t*.
- :class:`IVTracker`: a ~30-day at-the-money implied volatility read from each day's chain
  (:func:`atm_iv`), fed day by day, and its IV rank and IV percentile over a trailing window.
- :func:`vix_refusal` and :func:`iv_refusal`: the entry filters of
  :class:`~riskpilot.config.schema.EntryFilters` as reasons to refuse, or None to pass.

Conventions
-----------
*As of day t.* A value "on day t" is the last close dated on or before *t*, provided it is at
most :data:`MAX_STALE_DAYS` calendar days old; otherwise it is unknown (None). The backtest
decides at *t*'s close, so *t*'s own close is known (see :mod:`riskpilot.backtest.engine`).

*Regime* (SPEC section 6; :func:`riskpilot.risk.regime.classify_regime`): trend is the
underlying's close on *t* against the simple average of its last ``trend_sma_days`` closes
up to and including *t* (raw closes, as the chain's ``underlying_price``); volatility is the
VIX close on *t* against ``vix_high_threshold``. Unknown (None) while fewer than
``trend_sma_days`` closes exist or when the close or VIX is unknown.

*ATM IV* (:func:`atm_iv`), from bid/ask mids only (no vendor IV is needed): for each
expiration at least :data:`ATM_MIN_DTE` calendar days out, take the strike nearest the
underlying price (ties to the lower) among those with both a put and a call quoted (ask
above zero); its forward is ``F = K + call_mid - put_mid`` (put-call parity, discounting
ignored: about a 0.2% price effect at 30 days at 2% rates); its IV is the Black-76 vol of
the call mid on that forward (:func:`black_call_vol`; undiscounted, as the forward already
carries rates and dividends; the put gives the same vol by parity), with ``DTE / 365``
years. The
:data:`ATM_TARGET_DTE`-day value is interpolated linearly in total variance (sigma^2 x DTE)
between the two expirations that bracket it, or is the nearest expiration's IV when all lie
on one side. A day with no such pair gives no IV.

*IV rank and IV percentile* over the last ``window`` observations (default
:data:`IV_WINDOW` = 252, about a trading year), today's included; a day without an ATM IV is
not an observation:

- IV rank = 100 x (IV_t - min) / (max - min) over the window (undefined when max = min);
- IV percentile = 100 x (number of the window's earlier observations below IV_t) / (their
  count).

*Warm-up.* Until the window holds ``window`` observations the IV filters refuse every entry
with the counted reason ``iv_warmup``: there is no silent pass. To trade from a given day with
the filter armed, feed earlier days as warm-up: ``run_backtest(..., trade_from=day)`` takes
the days before ``trade_from`` into the signals only (no trading, no equity points).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from riskpilot.config.schema import EntryFilters, RegimeConfig, RegimeName
from riskpilot.data import history
from riskpilot.data.daychain import DayChain, day_number
from riskpilot.risk.regime import classify_regime

if TYPE_CHECKING:
    import pandas as pd

#: Trailing IV observations for rank and percentile (about one trading year).
IV_WINDOW = 252
#: The constant maturity of the ATM IV, in calendar days.
ATM_TARGET_DTE = 30
#: Expirations closer than this (calendar days) are left out of the ATM IV.
ATM_MIN_DTE = 7
#: A close older than this many calendar days is not "the value on day t".
MAX_STALE_DAYS = 5

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: A daily series: a pandas Series indexed by date, a ``{date: value}`` mapping, or a pair of
#: arrays (days since 1970-01-01, values) as :func:`riskpilot.data.history.close_series` gives.
SeriesLike: TypeAlias = "pd.Series[float] | Mapping[date, float] | tuple[IntArray, FloatArray]"


def _as_arrays(name: str, series: SeriesLike) -> tuple[IntArray, FloatArray]:
    """Day numbers and values of a daily series, sorted, refusing duplicates and bad values."""
    if isinstance(series, tuple):
        days = np.asarray(series[0], dtype=np.int64)
        values = np.asarray(series[1], dtype=np.float64)
        if days.shape != values.shape:
            raise ValueError(f"{name}: days and values must be arrays of one length")
    elif isinstance(series, Mapping):
        items = sorted(series.items())
        days = np.array([day_number(d) for d, _ in items], dtype=np.int64)
        values = np.array([float(v) for _, v in items], dtype=np.float64)
    else:
        import pandas as pd  # only when a caller hands a pandas Series (~0.35 s to import)

        if not isinstance(series, pd.Series):
            raise TypeError(f"{name} must be a pandas Series indexed by date, a {{date: value}} mapping or "
                            f"(days, values) arrays, got {type(series).__name__}")
        idx = pd.DatetimeIndex(pd.to_datetime(series.index))
        days = np.asarray(idx.values.astype("datetime64[D]").astype(np.int64), dtype=np.int64)
        values = series.to_numpy(dtype=np.float64)
    keep = np.isfinite(values)  # vendor gaps (NaN) are days without a value, not zeros
    days, values = days[keep], values[keep]
    order = np.argsort(days, kind="stable")
    days, values = days[order], values[order]
    if days.size and np.any(np.diff(days) == 0):
        dup = int(days[1:][np.diff(days) == 0][0])
        raise ValueError(f"{name} has two values for {date.fromordinal(date(1970, 1, 1).toordinal() + dup)}: "
                         f"pass one close per day")
    if np.any(values <= 0):
        raise ValueError(f"{name} holds non-positive values: closes and VIX levels must be > 0")
    return days, values


class MarketData:
    """Daily closes of an underlying and of VIX, queried as of a day (never past it).

    Build it with :meth:`from_bundled` (the package's daily history) or directly from two
    series (pandas Series indexed by date, or ``{date: close}`` mappings; NaN = no value)."""

    def __init__(self, underlying: str, closes: SeriesLike, vix: SeriesLike) -> None:
        self.underlying = underlying
        self._close_days, self._closes = _as_arrays(f"{underlying} closes", closes)
        self._vix_days, self._vix = _as_arrays("VIX closes", vix)
        # Cumulative sums make any trailing simple average O(1) and use only earlier closes.
        self._close_cumsum = np.concatenate([[0.0], np.cumsum(self._closes)])

    @classmethod
    def from_bundled(cls, ticker: str) -> MarketData:
        """Closes of a bundled ETF (``load_underlying``) or index (``load_index``, e.g. SPX)
        and VIX closes. Raises :class:`riskpilot.data.history.UnknownSymbolError` naming the
        known symbols for a ticker without bundled history."""
        key = ticker.strip().upper() if isinstance(ticker, str) else ticker
        if key in history.available_symbols() or key in history.available_indices():
            closes = history.close_series(key)
        else:
            raise history.UnknownSymbolError(
                f"no bundled history for {ticker!r}: MarketData.from_bundled knows the ETFs "
                f"{', '.join(history.available_symbols())} and the indices "
                f"{', '.join(history.available_indices())}; build MarketData(underlying, closes, vix) "
                f"from your own series otherwise"
            )
        return cls(key, closes, history.close_series("VIX"))

    @staticmethod
    def _asof(days: IntArray, d: date) -> int | None:
        n = day_number(d)
        i = int(np.searchsorted(days, n, side="right")) - 1
        if i < 0 or n - int(days[i]) > MAX_STALE_DAYS:
            return None
        return i

    def vix_on(self, d: date) -> float | None:
        """VIX close on ``d`` (the last one on or before ``d``, at most MAX_STALE_DAYS old)."""
        i = self._asof(self._vix_days, d)
        return None if i is None else float(self._vix[i])

    def close_on(self, d: date) -> float | None:
        """The underlying's close on ``d`` (as :meth:`vix_on`)."""
        i = self._asof(self._close_days, d)
        return None if i is None else float(self._closes[i])

    def trend_average(self, d: date, days: int) -> float | None:
        """Simple average of the last ``days`` closes on or before ``d``; None when fewer exist
        or the latest is stale."""
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        i = self._asof(self._close_days, d)
        if i is None or i + 1 < days:
            return None
        return float((self._close_cumsum[i + 1] - self._close_cumsum[i + 1 - days]) / days)

    def regime(self, d: date, config: RegimeConfig) -> RegimeName | None:
        """The regime on ``d`` per ``config`` (module docstring), or None when unknown."""
        close = self.close_on(d)
        sma = self.trend_average(d, config.trend_sma_days)
        vix = self.vix_on(d)
        if close is None or sma is None or vix is None:
            return None
        return classify_regime(close, sma, vix, config)

    def __repr__(self) -> str:
        return (f"MarketData({self.underlying!r}, {self._closes.size} closes, "
                f"{self._vix.size} VIX closes)")


def _atm_vols(day: DayChain, usable: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
    """DTE (days) and ATM IV of each expiration among the ``usable`` rows that has one,
    ascending by DTE (module docstring: nearest put-call pair, parity forward)."""
    spot = day.underlying_price
    today = day_number(day.quote_date)
    ok = np.flatnonzero(usable)
    exp, k, call = day.expiration[ok], day.strike[ok], day.is_call[ok]
    mid = (day.bid[ok] + day.ask[ok]) / 2.0
    # Put-call pairs: after sorting by (expiration, strike, put first), a put directly
    # followed by the call of the same expiration and strike.
    o = np.lexsort((call, k, exp))
    exp, k, call, mid = exp[o], k[o], call[o], mid[o]
    pair = np.flatnonzero((exp[:-1] == exp[1:]) & (k[:-1] == k[1:]) & ~call[:-1] & call[1:])
    p_exp, p_k, put_mid, call_mid = exp[pair], k[pair], mid[pair], mid[pair + 1]
    # Per expiration, the pair whose strike is nearest spot (ties to the lower strike).
    o = np.lexsort((p_k, np.abs(p_k - spot), p_exp))
    first = np.ones(o.size, dtype=np.bool_)
    first[1:] = p_exp[o][1:] != p_exp[o][:-1]
    sel = o[first]
    t_days = (p_exp[sel] - today).astype(np.float64)
    strike, c_mid = p_k[sel], call_mid[sel]
    forward = strike + c_mid - put_mid[sel]  # put-call parity, discounting ignored
    vols = np.array([black_call_vol(float(c), float(f), float(kk), float(t) / 365.0)
                     for c, f, kk, t in zip(c_mid, forward, strike, t_days, strict=True)])
    keep = np.isfinite(vols) & (vols > 0)
    return t_days[keep], vols[keep]


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black_call_vol(price: float, forward: float, strike: float, t_years: float) -> float:
    """Black-76 implied vol (undiscounted) of a call at ``price`` on ``forward``; NaN when the
    price is outside (max(F - K, 0), F), an input is not positive, or the time value is below
    1e-8 x F (no quote is that fine; double precision cannot resolve it). A scalar safeguarded
    Newton: the ATM IV solves at most a few options a day, where the vectorized
    :func:`riskpilot.pricing.implied.implied_vol` costs its fixed overhead (~0.7 ms) per call;
    tests check the two agree."""
    if not (forward > 0 and strike > 0 and t_years > 0 and math.isfinite(price)):
        return math.nan
    intrinsic = max(forward - strike, 0.0)
    if not intrinsic < price < forward:
        return math.nan
    time_value = price - intrinsic
    if time_value < 1e-8 * forward:
        return math.nan
    tol = 1e-10 * time_value  # relative to the time value, so far OTM prices resolve too
    itm = strike < forward  # solve on the OTM side (the put, by parity) to avoid cancellation
    sqrt_t = math.sqrt(t_years)
    log_fk = math.log(forward / strike)
    lo, hi = 1e-9, 20.0
    vol = min(max(price / forward * math.sqrt(2.0 * math.pi) / sqrt_t, 1e-4), hi)  # ATM approximation
    for _ in range(200):
        total = vol * sqrt_t
        d1 = log_fk / total + total / 2.0
        if itm:
            otm = strike * _norm_cdf(total - d1) - forward * _norm_cdf(-d1)
        else:
            otm = forward * _norm_cdf(d1) - strike * _norm_cdf(d1 - total)
        diff = otm - time_value
        if abs(diff) <= tol:
            return vol
        if diff > 0:
            hi = vol
        else:
            lo = vol
        vega = forward * math.exp(-d1 * d1 / 2.0) / math.sqrt(2.0 * math.pi) * sqrt_t
        step = vol - diff / vega if vega > 0 else math.nan
        vol = step if lo < step < hi else (lo + hi) / 2.0
        if hi - lo < 1e-14:
            return vol
    return vol


def _interpolate(t: FloatArray, vols: FloatArray, target: int) -> float:
    if target <= t[0]:
        return float(vols[0])
    if target >= t[-1]:
        return float(vols[-1])
    j = int(np.searchsorted(t, target))  # t[j-1] < target <= t[j]
    if t[j] == target:
        return float(vols[j])
    w1, w2 = vols[j - 1] ** 2 * t[j - 1], vols[j] ** 2 * t[j]
    w = w1 + (w2 - w1) * (target - t[j - 1]) / (t[j] - t[j - 1])
    return float(math.sqrt(w / target))


def atm_iv(day: DayChain, target_dte: int = ATM_TARGET_DTE, min_dte: int = ATM_MIN_DTE) -> float | None:
    """The day's ~``target_dte``-day at-the-money implied volatility (annualized, 0.20 =
    20%) from the chain's bid/ask mids, as the module docstring defines it; None when no
    expiration has a usable ATM put-call pair or the chain has no underlying price."""
    spot = day.underlying_price
    if not math.isfinite(spot) or spot <= 0:
        return None
    today = day_number(day.quote_date)
    usable = (day.expiration >= today + min_dte) & (day.bid >= 0) & (day.ask > 0) & (day.ask >= day.bid)
    exps = np.unique(day.expiration[usable])
    if exps.size == 0:
        return None
    # Fast path: only the listed expirations that bracket the target. When each gives an ATM
    # IV they are the bracketing ones of the full computation too; otherwise fall back to it.
    j = int(np.searchsorted(exps, today + target_dte))
    bracket = exps[max(j - 1, 0):j + 1]
    if j < exps.size and exps[j] == today + target_dte:
        bracket = exps[j:j + 1]
    rows = usable & ((day.expiration == bracket[0]) | (day.expiration == bracket[-1]))
    t, vols = _atm_vols(day, rows)
    if t.size != bracket.size:
        t, vols = _atm_vols(day, usable)
    return _interpolate(t, vols, target_dte) if t.size else None


@dataclass(frozen=True, slots=True)
class IVReading:
    """The IV signal on one day. ``iv`` is None when the day's chain gave none;
    ``observations`` counts the window's observations (today's included); ``rank`` and
    ``percentile`` (0-100) are None during warm-up, without today's IV, and (rank only) when
    the window's IVs are all equal."""

    day: date
    iv: float | None
    observations: int
    window: int
    rank: float | None
    percentile: float | None

    @property
    def warmed_up(self) -> bool:
        return self.observations >= self.window


class IVTracker:
    """Trailing ATM IV observations; feed each trading day in order with :meth:`observe`
    (from the chain) or :meth:`update` (a value), then read today's :class:`IVReading`."""

    def __init__(self, window: int = IV_WINDOW) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"IV window must be a whole number of observations >= 2, got {window!r}")
        self.window = window
        self._values: deque[float] = deque(maxlen=window)
        self._last_day: date | None = None
        self._reading: IVReading | None = None

    def observe(self, day: DayChain) -> IVReading:
        """Feed ``day``'s chain (its :func:`atm_iv`) and return the day's reading."""
        return self.update(day.quote_date, atm_iv(day))

    def update(self, d: date, iv: float | None) -> IVReading:
        """Feed day ``d``'s ATM IV (None or NaN: none that day) and return the day's reading.
        Days must come in strictly increasing order."""
        if self._last_day is not None and d <= self._last_day:
            raise ValueError(f"IV observations must come in date order: {d} after {self._last_day}")
        self._last_day = d
        if iv is not None and not math.isfinite(iv):
            iv = None
        if iv is not None and iv <= 0:
            raise ValueError(f"{d}: implied volatility must be > 0, got {iv}")
        if iv is None:
            self._reading = IVReading(d, None, len(self._values), self.window, None, None)
            return self._reading
        self._values.append(iv)
        n = len(self._values)
        rank = pct = None
        if n >= self.window:
            w = np.fromiter(self._values, dtype=np.float64, count=n)
            lo, hi = float(w.min()), float(w.max())
            rank = 100.0 * (iv - lo) / (hi - lo) if hi > lo else None
            pct = 100.0 * float(np.count_nonzero(w[:-1] < iv)) / (n - 1)
        self._reading = IVReading(d, iv, n, self.window, rank, pct)
        return self._reading

    @property
    def reading(self) -> IVReading | None:
        """The last day's reading (None before the first day)."""
        return self._reading


def iv_filters_set(entry: EntryFilters) -> bool:
    """Whether any IV rank or IV percentile bound is configured."""
    return any(v is not None for v in (entry.min_iv_rank, entry.max_iv_rank,
                                       entry.min_iv_percentile, entry.max_iv_percentile))


def vix_filters_set(entry: EntryFilters) -> bool:
    return entry.vix_min is not None or entry.vix_max is not None


def vix_refusal(entry: EntryFilters, vix: float | None) -> str | None:
    """``no_vix_value`` (unknown VIX with a VIX bound set), ``vix_filter`` (outside
    ``[vix_min, vix_max]``), or None to pass."""
    if not vix_filters_set(entry):
        return None
    if vix is None or not math.isfinite(vix):
        return "no_vix_value"
    if (entry.vix_min is not None and vix < entry.vix_min) or (entry.vix_max is not None and vix > entry.vix_max):
        return "vix_filter"
    return None


def _outside(x: float, lo: float | None, hi: float | None) -> bool:
    return (lo is not None and x < lo) or (hi is not None and x > hi)


def iv_refusal(entry: EntryFilters, reading: IVReading | None) -> str | None:
    """With an IV bound set: ``no_iv`` (no ATM IV today), ``iv_warmup`` (window not full),
    ``iv_rank_undefined`` (flat window), ``iv_rank_filter`` or ``iv_percentile_filter``
    (outside the bounds); None to pass."""
    if not iv_filters_set(entry):
        return None
    if reading is None or reading.iv is None:
        return "no_iv"
    if not reading.warmed_up:
        return "iv_warmup"
    if entry.min_iv_rank is not None or entry.max_iv_rank is not None:
        if reading.rank is None:
            return "iv_rank_undefined"
        if _outside(reading.rank, entry.min_iv_rank, entry.max_iv_rank):
            return "iv_rank_filter"
    if entry.min_iv_percentile is not None or entry.max_iv_percentile is not None:
        if reading.percentile is None:  # pragma: no cover - set whenever warmed up with an IV
            return "iv_warmup"
        if _outside(reading.percentile, entry.min_iv_percentile, entry.max_iv_percentile):
            return "iv_percentile_filter"
    return None


def entry_refusal(
    entry: EntryFilters, market: MarketData | None, d: date, iv_reading: IVReading | None,
    regime: RegimeName | None,
) -> str | None:
    """Why no entry is tried on ``d``, in the order the backtest and the monitor check it:
    :func:`vix_refusal` (VIX of ``d`` from ``market``; skipped without market data), then
    :func:`iv_refusal` on ``iv_reading``, then ``no_regime`` when ``market`` is given but
    ``regime`` (the regime of ``d``) is unknown; None to pass."""
    why = vix_refusal(entry, market.vix_on(d)) if market is not None else None
    why = why or iv_refusal(entry, iv_reading)
    if why is None and market is not None and regime is None:
        why = "no_regime"
    return why


__all__ = [
    "ATM_MIN_DTE",
    "ATM_TARGET_DTE",
    "IV_WINDOW",
    "MAX_STALE_DAYS",
    "IVReading",
    "IVTracker",
    "MarketData",
    "atm_iv",
    "black_call_vol",
    "entry_refusal",
    "iv_filters_set",
    "iv_refusal",
    "vix_filters_set",
    "vix_refusal",
]
