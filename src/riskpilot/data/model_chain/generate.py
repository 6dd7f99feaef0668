"""Generating model-priced chains: a span of days (:func:`generate_model_chain`), given contracts
(:func:`price_contracts`), year by year, or into a chain store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from riskpilot.data.model_chain.disk_cache import ModelChainCache, default_chain_cache
from riskpilot.data.model_chain.expirations import expiration_pairs
from riskpilot.data.model_chain.grid import listed_rows, strike_grid
from riskpilot.data.model_chain.inputs import MarketHistory, day_slice, day_vols, div_yield_of, market_history
from riskpilot.data.model_chain.params import ModelChainParams, check_underlying
from riskpilot.data.model_chain.pricing import labels, price_rows
from riskpilot.data.surface import atm_vol


def listed_expirations(
    underlying: str, quote_date: date, params: ModelChainParams | None = None
) -> list[date]:
    """Expirations the model lists on ``quote_date`` (``min_dte``..``max_dte`` days ahead),
    ascending; see the module doc for the rules and eras."""
    symbol = check_underlying(underlying)
    p = params if params is not None else ModelChainParams.for_underlying(symbol)
    day = np.array([np.datetime64(quote_date, "D")])
    exp, _kind, _pair_day = expiration_pairs(day, p.min_dte, p.max_dte, p.expirations)
    return [pd.Timestamp(x).date() for x in exp]


def generate_model_chain(
    underlying: str,
    start: date,
    end: date,
    params: ModelChainParams | None = None,
    *,
    cache: ModelChainCache | Literal["environment"] | None = "environment",
) -> pa.Table:
    """A model-priced end-of-day chain for ``underlying`` (SPY, QQQ, IWM, SPX) on every trading
    day from ``start`` to ``end`` (inclusive) of the bundled history, in ``CHAIN_SCHEMA`` with
    ``source='model'`` and ``model_priced=True``, sorted by quote date, expiration, right
    (calls first), strike. Deterministic; day t's rows depend only on data up to day t. A
    contract quoted on day t is quoted on every later day of the span until its expiration
    (strikes are never delisted early; see the module doc); rows do not depend on ``start``
    (generating a longer span and slicing it gives identical rows).

    ``cache``: where generated years are kept on disk (:mod:`~riskpilot.data.model_chain.disk_cache`):
    by default the one ``$RISKPILOT_CHAIN_CACHE`` names (the user's cache directory when unset;
    ``off`` for none), or a :class:`ModelChainCache`, or None to generate without one. With a
    cache, each calendar year of the span is generated whole once and sliced.

    ``params`` defaults to ``ModelChainParams.for_underlying(underlying)``. Raises
    ``UnknownSymbolError`` for another underlying and ``ValueError`` for a span outside the
    history (naming the span that exists).
    """
    symbol = check_underlying(underlying)
    p = params if params is not None else ModelChainParams.for_underlying(symbol)
    if not isinstance(p, ModelChainParams):
        raise TypeError(f"params must be a ModelChainParams, got {type(p).__name__}")
    mh = market_history(symbol)
    out = day_slice(mh, start, end)
    disk = default_chain_cache() if cache == "environment" else cache
    if disk is None:
        return _generate(symbol, p, mh, start, out)
    if not isinstance(disk, ModelChainCache):
        raise TypeError(f"cache must be a ModelChainCache, 'environment' or None, got {disk!r}")
    first = pd.Timestamp(mh.dates[0]).date()
    last = pd.Timestamp(mh.dates[-1]).date()
    parts = []
    for year in range(max(start, first).year, min(end, last).year + 1):
        y_lo, y_hi = max(date(year, 1, 1), first), min(date(year, 12, 31), last)
        whole = disk.year(symbol, year, p, partial(_generate_span, symbol, p, y_lo, y_hi))
        parts.append(_days_between(whole, max(start, y_lo), min(end, y_hi)))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _generate_span(symbol: str, p: ModelChainParams, start: date, end: date) -> pa.Table:
    mh = market_history(symbol)
    return _generate(symbol, p, mh, start, day_slice(mh, start, end))


def _days_between(table: pa.Table, lo: date, hi: date) -> pa.Table:
    """The rows of ``table`` (sorted by quote date) quoted from ``lo`` to ``hi``, zero-copy."""
    days = table.column("quote_date").to_numpy()
    a = int(np.searchsorted(days, np.datetime64(lo, "D"), side="left"))
    b = int(np.searchsorted(days, np.datetime64(hi, "D"), side="right"))
    return table.slice(a, b - a)


def _generate(symbol: str, p: ModelChainParams, mh: MarketHistory, start: date, out: slice) -> pa.Table:
    """The chain of the days ``out`` of ``mh`` (``start``: the span's first date asked for)."""
    # Strikes listed before ``start`` stay listed: warm up from the earliest day on which an
    # expiration quoted on ``start`` can have been listed (at most max_dte calendar days before).
    warm_start = np.datetime64(start, "D") - np.timedelta64(p.max_dte, "D")
    sl = slice(int(np.searchsorted(mh.dates, warm_start, side="left")), out.stop)
    first_out = out.start - sl.start
    days = mh.dates[sl]
    exp, is_monthly, pair_day = expiration_pairs(days, p.min_dte, p.max_dte, p.expirations)
    # Warm-up pairs matter only for expirations still listed on the first generated day.
    if first_out > 0 and days.size > first_out:
        wanted = exp >= days[first_out]
        exp, is_monthly, pair_day = exp[wanted], is_monthly[wanted], pair_day[wanted]
    s9_d, s30_d, s93_d = day_vols(mh, p, sl)
    spot_d, rate_d, div_d = mh.spot[sl], mh.rate[sl], div_yield_of(mh, p, sl)

    t_pair = (exp - days[pair_day]).astype(np.int64) / 365.0
    sigma_pair = atm_vol(t_pair, s9_d[pair_day], s30_d[pair_day], s93_d[pair_day])
    sd_pair = sigma_pair * np.sqrt(t_pair)
    group, strike = strike_grid(spot_d[pair_day], sd_pair, p)
    row_pair, row_strike, row_call = listed_rows(exp, pair_day, group, strike, first_out)
    row_day = pair_day[row_pair]

    weekly_root = "SPXW" if symbol == "SPX" else symbol
    roots = labels(np.where(is_monthly[row_pair], 0, 1), [symbol, weekly_root])
    return price_rows(
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
        sigma_pair[row_pair],
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
    symbol = check_underlying(underlying)
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
    s9_all, s30_all, s93_all = day_vols(mh, p, sl)
    div_all = div_yield_of(mh, p, sl)
    root_arr = (
        labels(np.zeros(k.size, dtype=np.int64), [symbol])
        if roots is None
        else pa.array(np.asarray(roots).astype(str).astype(object), type=pa.string())
    )
    return price_rows(
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
