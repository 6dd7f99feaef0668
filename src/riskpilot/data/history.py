"""Daily history shipped with the package: ETF prices, index levels, volatility indices, rates.

The files live in ``riskpilot/data/bundled`` (sources and terms in its ``SOURCES.md``) so that
backtests and model-priced chains work offline.

Conventions:

- Every frame is indexed by a ``DatetimeIndex`` named ``date`` (exchange date, no time zone,
  ascending, unique).
- ETF frames (:func:`load_underlying`): ``open, high, low, close`` in dollars per share, raw
  (split-adjusted, not dividend-adjusted, as Yahoo's Close), ``volume`` in shares, and
  ``adj_open, adj_high, adj_low, adj_close`` split- and dividend-adjusted dollars.
- Index frames (:func:`load_index`): ``open, high, low, close`` in index points; for VIX, VIX9D
  and VIX3M that is annualized volatility in vol points (20.0 = 20%).
- Rates (:func:`load_rates`): the 3-month T-bill rate (FRED DTB3) as a decimal (0.0524 = 5.24%),
  on the bank-discount basis FRED publishes.

Loaded frames are cached per process; each call returns a copy, so a caller that edits its
frame cannot change what the next caller sees.
"""

from __future__ import annotations

import io
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas is imported by the frame loaders only (~0.35 s): close_series needs none
    import pandas as pd

__all__ = [
    "UnknownSymbolError",
    "available_indices",
    "available_symbols",
    "close_series",
    "load_index",
    "load_rates",
    "load_underlying",
]

_UNDERLYING_FILES: dict[str, str] = {
    "IWM": "iwm_daily.parquet",
    "QQQ": "qqq_daily.parquet",
    "SPY": "spy_daily.parquet",
}
_INDEX_FILES: dict[str, str] = {
    "SPX": "spx_daily.parquet",
    "VIX": "vix_daily.parquet",
    "VIX9D": "vix9d_daily.parquet",
    "VIX3M": "vix3m_daily.parquet",
}
_RATES_FILE = "dtb3_daily.parquet"

UNDERLYING_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "adj_open",
    "adj_high",
    "adj_low",
    "adj_close",
)
INDEX_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


class UnknownSymbolError(KeyError):
    """A symbol or index name that has no bundled history; the message lists the known ones."""

    def __str__(self) -> str:
        # KeyError's str() shows the repr of its argument; print the message as written.
        return str(self.args[0]) if self.args else ""


def available_symbols() -> tuple[str, ...]:
    """The ETF symbols :func:`load_underlying` knows, sorted."""
    return tuple(sorted(_UNDERLYING_FILES))


def available_indices() -> tuple[str, ...]:
    """The index names :func:`load_index` knows, sorted."""
    return tuple(sorted(_INDEX_FILES))


def _normalize_name(name: str, known: dict[str, str], what: str, loader: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"{what} must be a non-empty string such as {sorted(known)[0]!r}, got {name!r}"
        )
    key = name.strip().upper()
    if key not in known:
        other = (
            f"; indices ({', '.join(available_indices())}) load with load_index()"
            if loader == "load_underlying"
            else f"; ETFs ({', '.join(available_symbols())}) load with load_underlying()"
        )
        raise UnknownSymbolError(
            f"no bundled {what} {name!r}: {loader}() knows {', '.join(sorted(known))}{other}"
        )
    return key


def _bundled_table(filename: str) -> pa.Table:
    resource = resources.files("riskpilot.data").joinpath("bundled", filename)
    if not resource.is_file():
        raise FileNotFoundError(
            f"bundled data file {filename!r} is missing from the riskpilot package; "
            "reinstall riskpilot (pip install -e .) so that package data is included"
        )
    # Read through bytes so that the package also works when installed as a zip.
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which loads pandas.
    return pq.ParquetFile(io.BytesIO(resource.read_bytes())).read()


@cache
def _close_arrays(filename: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    table = _bundled_table(filename).select(["date", "close"])
    # Arrays, not chunked arrays: ChunkedArray.to_numpy converts through pandas.
    day_col = pc.cast(table.column("date"), pa.date32()).combine_chunks().cast(pa.int32())
    days = np.asarray(day_col.to_numpy(zero_copy_only=False), dtype=np.int64)
    closes = np.asarray(table.column("close").combine_chunks().to_numpy(zero_copy_only=False), dtype=np.float64)
    if days.size > 1 and not bool(np.all(np.diff(days) > 0)):
        raise ValueError(f"bundled file {filename!r} has unsorted or duplicate dates")
    days.setflags(write=False)
    closes.setflags(write=False)
    return days, closes


def close_series(name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Daily closes of a bundled ETF or index (``SPY``, ``QQQ``, ``IWM``, ``SPX``, ``VIX``, ...)
    as two read-only arrays: days since 1970-01-01 (exchange dates, ascending) and closes.
    Read with pyarrow alone, so a backtest that needs only closes (VIX filters, regimes) does
    not load pandas. Raises :class:`UnknownSymbolError` naming the known ones."""
    files = {**_UNDERLYING_FILES, **_INDEX_FILES}
    key = _normalize_name(name, files, "symbol or index", "close_series")
    return _close_arrays(files[key])


def _read_bundled(filename: str) -> pd.DataFrame:
    import pandas as pd

    frame = _bundled_table(filename).to_pandas()
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="date")
    frame.index = index
    if not frame.index.is_monotonic_increasing or not frame.index.is_unique:
        raise ValueError(f"bundled file {filename!r} has unsorted or duplicate dates")
    return frame


@cache
def _cached_underlying(symbol: str) -> pd.DataFrame:
    frame = _read_bundled(_UNDERLYING_FILES[symbol])
    return frame.loc[:, list(UNDERLYING_COLUMNS)]


@cache
def _cached_index(name: str) -> pd.DataFrame:
    frame = _read_bundled(_INDEX_FILES[name])
    return frame.loc[:, list(INDEX_COLUMNS)]


@lru_cache(maxsize=1)
def _cached_rates() -> pd.Series:
    frame = _read_bundled(_RATES_FILE)
    # FRED leaves bond-market holidays blank; carrying the last published rate forward uses
    # only past data, so it never looks ahead.
    rates = frame["dtb3"].astype("float64").ffill() / 100.0
    rates.name = "dtb3"
    return rates.dropna()


def load_underlying(symbol: str) -> pd.DataFrame:
    """Daily OHLCV of a bundled ETF (``SPY``, ``QQQ``, ``IWM``; case-insensitive).

    Columns ``open, high, low, close`` (raw dollars), ``volume`` (shares) and ``adj_open,
    adj_high, adj_low, adj_close`` (split- and dividend-adjusted dollars), indexed by date.
    Raises :class:`UnknownSymbolError` (a ``KeyError``) naming the available symbols for an
    unknown one.
    """
    key = _normalize_name(symbol, _UNDERLYING_FILES, "underlying symbol", "load_underlying")
    return _cached_underlying(key).copy()


def load_index(name: str) -> pd.DataFrame:
    """Daily ``open, high, low, close`` of a bundled index: ``SPX`` (points), ``VIX``,
    ``VIX9D``, ``VIX3M`` (vol points, 20.0 = 20%). Case-insensitive.

    Raises :class:`UnknownSymbolError` (a ``KeyError``) naming the available indices for an
    unknown one.
    """
    key = _normalize_name(name, _INDEX_FILES, "index", "load_index")
    return _cached_index(key).copy()


def load_rates() -> pd.Series:
    """The 3-month T-bill rate (FRED DTB3) as a decimal per year, indexed by date.

    FRED publishes the rate on a bank-discount basis, in percent; this returns it divided by
    100 and otherwise unchanged. FRED leaves bond-market holidays blank; those days carry the
    previous business day's rate forward (so every day in the file has a value and none uses a
    later observation). The series starts 1954-01-04 and ends 2025-05-02: a caller that needs a
    rate after the last date must decide how to extend it (``riskpilot.data.model_chain``
    carries the last value forward and says so).
    """
    return _cached_rates().copy()
