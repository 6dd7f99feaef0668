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
ignored: about a 0.2% price effect at 30 days at 2% rates); its IV is the Black-Scholes vol of
the call mid on that forward (rates and dividends zero, as the forward already carries them;
the put gives the same vol by parity), with ``DTE / 365`` years. The
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
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskpilot.backtest.chain import DayChain, _day_number
from riskpilot.config.schema import EntryFilters, RegimeConfig, RegimeName
from riskpilot.data import history
from riskpilot.pricing.implied import implied_vol
from riskpilot.risk.regime import classify_regime

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

#: A daily series: a pandas Series indexed by date, or a ``{date: value}`` mapping.
SeriesLike: TypeAlias = "pd.Series[float] | Mapping[date, float]"


def _as_arrays(name: str, series: SeriesLike) -> tuple[IntArray, FloatArray]:
    """Day numbers and values of a daily series, sorted, refusing duplicates and bad values."""
    if isinstance(series, pd.Series):
        idx = pd.DatetimeIndex(pd.to_datetime(series.index))
        days = np.asarray(idx.values.astype("datetime64[D]").astype(np.int64), dtype=np.int64)
        values = series.to_numpy(dtype=np.float64)
    elif isinstance(series, Mapping):
        items = sorted(series.items())
        days = np.array([_day_number(d) for d, _ in items], dtype=np.int64)
        values = np.array([float(v) for _, v in items], dtype=np.float64)
    else:
        raise TypeError(f"{name} must be a pandas Series indexed by date or a {{date: value}} mapping, "
                        f"got {type(series).__name__}")
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
        if key in history.available_symbols():
            closes = history.load_underlying(key)["close"]
        elif key in history.available_indices():
            closes = history.load_index(key)["close"]
        else:
            raise history.UnknownSymbolError(
                f"no bundled history for {ticker!r}: MarketData.from_bundled knows the ETFs "
                f"{', '.join(history.available_symbols())} and the indices "
                f"{', '.join(history.available_indices())}; build MarketData(underlying, closes, vix) "
                f"from your own series otherwise"
            )
        return cls(key, closes, history.load_index("VIX")["close"])

    @staticmethod
    def _asof(days: IntArray, d: date) -> int | None:
        n = _day_number(d)
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


def atm_iv(day: DayChain, target_dte: int = ATM_TARGET_DTE, min_dte: int = ATM_MIN_DTE) -> float | None:
    """The day's ~``target_dte``-day at-the-money implied volatility (annualized, 0.20 =
    20%) from the chain's bid/ask mids, as the module docstring defines it; None when no
    expiration has a usable ATM put-call pair or the chain has no underlying price."""
    spot = day.underlying_price
    if not math.isfinite(spot) or spot <= 0:
        return None
    today = _day_number(day.quote_date)
    ok = np.flatnonzero((day.expiration - today >= min_dte) & (day.bid >= 0) & (day.ask > 0)
                        & (day.ask >= day.bid))
    if ok.size == 0:
        return None
    exp, k, call = day.expiration[ok], day.strike[ok], day.is_call[ok]
    mid = (day.bid[ok] + day.ask[ok]) / 2.0
    # Put-call pairs: after sorting by (expiration, strike, put first), a put directly
    # followed by the call of the same expiration and strike.
    o = np.lexsort((call, k, exp))
    exp, k, call, mid = exp[o], k[o], call[o], mid[o]
    pair = np.flatnonzero((exp[:-1] == exp[1:]) & (k[:-1] == k[1:]) & ~call[:-1] & call[1:])
    if pair.size == 0:
        return None
    p_exp, p_k, put_mid, call_mid = exp[pair], k[pair], mid[pair], mid[pair + 1]
    # Per expiration, the pair whose strike is nearest spot (ties to the lower strike).
    o = np.lexsort((p_k, np.abs(p_k - spot), p_exp))
    first = np.ones(o.size, dtype=np.bool_)
    first[1:] = p_exp[o][1:] != p_exp[o][:-1]
    sel = o[first]
    t_days = (p_exp[sel] - today).astype(np.float64)
    strike = p_k[sel]
    forward = strike + call_mid[sel] - put_mid[sel]  # put-call parity, discounting ignored
    good = forward > 0
    vols = np.full(sel.size, np.nan)
    if good.any():
        vols[good] = implied_vol(call_mid[sel][good], forward[good], strike[good], t_days[good] / 365.0,
                                 0.0, 0.0, np.ones(int(good.sum()), dtype=np.bool_))
    keep = np.isfinite(vols) & (vols > 0)
    t, vols = t_days[keep], vols[keep]
    if t.size == 0:
        return None
    if target_dte <= t[0]:
        return float(vols[0])
    if target_dte >= t[-1]:
        return float(vols[-1])
    j = int(np.searchsorted(t, target_dte))  # t[j-1] < target <= t[j]
    if t[j] == target_dte:
        return float(vols[j])
    w1, w2 = vols[j - 1] ** 2 * t[j - 1], vols[j] ** 2 * t[j]
    w = w1 + (w2 - w1) * (target_dte - t[j - 1]) / (t[j] - t[j - 1])
    return float(math.sqrt(w / target_dte))


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


__all__ = [
    "ATM_MIN_DTE",
    "ATM_TARGET_DTE",
    "IV_WINDOW",
    "MAX_STALE_DAYS",
    "IVReading",
    "IVTracker",
    "MarketData",
    "atm_iv",
    "iv_filters_set",
    "iv_refusal",
    "vix_filters_set",
    "vix_refusal",
]
