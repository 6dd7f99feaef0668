"""Data quality of normalized option chains: the per-row :class:`Quality` bitmask and
dataset-level counts, including gaps in trading days.

Nothing is dropped: a flagged row stays in the table with its flags, and consumers decide with
:data:`riskpilot.data.schema.UNUSABLE_FOR_PRICING`. Trading days come from the NYSE calendar
(``exchange_calendars`` 'XNYS'), the calendar of the US equity and index options sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.schema import UNUSABLE_FOR_PRICING, Quality

if TYPE_CHECKING:
    import exchange_calendars as xcals

KEY_COLUMNS: tuple[str, ...] = ("quote_date", "root", "expiration", "strike", "right")
"""A contract's quote on one day is unique on these columns."""

_CALENDAR_FIRST_YEAR = 1990


@lru_cache(maxsize=4)
def _xnys(first_year: int) -> xcals.ExchangeCalendar:
    # Building the calendar costs most of a second: build it once per process. Imported here:
    # a backtest imports this module (through the chain store) but never builds the calendar.
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start=f"{first_year}-01-01")


def _calendar_for(start: date) -> xcals.ExchangeCalendar:
    first = min(_CALENDAR_FIRST_YEAR, start.year)
    return _xnys(first)


def trading_days(start: date, end: date) -> list[date]:
    """NYSE sessions from ``start`` to ``end`` inclusive (empty when end < start).

    Raises ValueError when ``end`` lies beyond the calendar's known sessions (about a year
    ahead of today), since holidays that far out are not published.
    """
    if end < start:
        return []
    cal = _calendar_for(start)
    last = cal.last_session.date()
    if end > last:
        raise ValueError(
            f"{end} is past the last session the NYSE calendar knows ({last}); "
            "quality checks need published holidays"
        )
    sessions = cal.sessions_in_range(start.isoformat(), end.isoformat())
    return [ts.date() for ts in sessions]


def is_trading_day(days: Iterable[date]) -> dict[date, bool]:
    """Map each given date to whether NYSE had a session that day."""
    unique = sorted(set(days))
    if not unique:
        return {}
    sessions = set(trading_days(unique[0], unique[-1]))
    return {d: d in sessions for d in unique}


def flag_rows(table: pa.Table) -> pa.Table:
    """Return ``table`` with its ``quality`` column set to the computed flags OR the flags it
    already carried (a producer may set flags of its own; they are never cleared).

    - CROSSED: bid > ask, both present.
    - NO_MARKET: bid or ask missing, or both zero.
    - BAD_IV: iv missing, NaN or <= 0.
    - DUPLICATE: every row after the first (in table order) with the same
      (quote_date, root, expiration, strike, right).
    - HOLIDAY_RESCRAPE: quote_date is not an NYSE session.
    """
    n = table.num_rows
    if n == 0:
        return table
    bid = table.column("bid")
    ask = table.column("ask")
    iv = table.column("iv")

    crossed = pc.fill_null(pc.greater(bid, ask), False)
    no_market = pc.or_(
        pc.or_(pc.is_null(bid), pc.is_null(ask)),
        pc.fill_null(pc.and_(pc.equal(bid, 0.0), pc.equal(ask, 0.0)), False),
    )
    bad_iv = pc.fill_null(pc.invert(pc.greater(iv, 0.0)), True)  # null and NaN compare false

    flags = np.zeros(n, dtype=np.int32)
    flags |= _np_bool(crossed) * np.int32(Quality.CROSSED)
    flags |= _np_bool(no_market) * np.int32(Quality.NO_MARKET)
    flags |= _np_bool(bad_iv) * np.int32(Quality.BAD_IV)
    flags |= duplicate_mask(table) * np.int32(Quality.DUPLICATE)
    flags |= _holiday_mask(table) * np.int32(Quality.HOLIDAY_RESCRAPE)

    existing = table.column("quality").to_numpy(zero_copy_only=False).astype(np.int32)
    combined = pa.array(flags | existing, pa.int32())
    idx = table.schema.get_field_index("quality")
    return table.set_column(idx, table.schema.field("quality"), combined)


def duplicate_mask(table: pa.Table) -> np.ndarray:
    """Boolean array: True for each row that repeats an earlier row's key."""
    n = table.num_rows
    keyed = table.select(list(KEY_COLUMNS)).append_column(
        "__row", pa.array(np.arange(n, dtype=np.int64))
    )
    firsts = keyed.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([("__row", "min")])
    if firsts.num_rows == n:
        return np.zeros(n, dtype=bool)
    first_rows = firsts.column("__row_min").to_numpy()
    mask = np.ones(n, dtype=bool)
    mask[first_rows] = False
    return mask


def _holiday_mask(table: pa.Table) -> np.ndarray:
    dates = table.column("quote_date")
    unique = pc.unique(dates).to_pylist()
    session = is_trading_day(d for d in unique if d is not None)
    non_sessions = [d for d, ok in session.items() if not ok]
    if not non_sessions:
        return np.zeros(table.num_rows, dtype=bool)
    return _np_bool(pc.is_in(dates, pa.array(non_sessions, pa.date32())))


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class QualityReport:
    """Dataset-level quality of one underlying's chain.

    ``flag_counts``: rows carrying each flag (a row may count under several). ``gap_days``:
    NYSE sessions between the first and last quote date with no rows. ``non_session_days``:
    quote dates that are not NYSE sessions (holiday re-scrapes).
    """

    rows: int
    flag_counts: dict[str, int]
    unusable_rows: int
    first_day: date | None
    last_day: date | None
    days_present: int
    trading_days_expected: int
    gap_days: tuple[date, ...] = field(default_factory=tuple)
    non_session_days: tuple[date, ...] = field(default_factory=tuple)

    @property
    def clean_rows(self) -> int:
        """Rows with no flag at all."""
        return self.rows - self.flag_counts["any"]


def quality_report(quote_dates: pa.Array | pa.ChunkedArray,
                   quality: pa.Array | pa.ChunkedArray) -> QualityReport:
    """Summarize the quality of a chain from its ``quote_date`` and ``quality`` columns."""
    rows = len(quality)
    q = np.asarray(quality.to_numpy(), dtype=np.int32)
    counts = {flag.name or str(int(flag)): int(np.count_nonzero(q & int(flag)))
              for flag in Quality if flag != Quality.OK}
    counts["any"] = int(np.count_nonzero(q))
    unusable = int(np.count_nonzero(q & int(UNUSABLE_FOR_PRICING)))
    present = sorted(d for d in pc.unique(quote_dates).to_pylist() if d is not None)
    if not present:
        return QualityReport(rows, counts, unusable, None, None, 0, 0)
    expected = trading_days(present[0], present[-1])
    present_set = set(present)
    expected_set = set(expected)
    gaps = tuple(d for d in expected if d not in present_set)
    non_sessions = tuple(d for d in present if d not in expected_set)
    return QualityReport(
        rows=rows,
        flag_counts=counts,
        unusable_rows=unusable,
        first_day=present[0],
        last_day=present[-1],
        days_present=len(present),
        trading_days_expected=len(expected),
        gap_days=gaps,
        non_session_days=non_sessions,
    )
