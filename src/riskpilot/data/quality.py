"""Data quality of normalized option chains: the per-row :class:`Quality` bitmask and
dataset-level counts, including gaps in trading days.

Nothing is dropped: a flagged row stays in the table with its flags, and consumers decide with
:data:`riskpilot.data.schema.UNUSABLE_FOR_PRICING`. Trading days come from the NYSE calendar
(``exchange_calendars`` 'XNYS'), the calendar of the US equity and index options sessions.

Values that cannot be true (negative or infinite prices, absurd strikes, expirations before the
quote date, negative counts) are flagged with the bounds below; the readers refuse outright only
what cannot be read at all (and quote dates outside :func:`quote_date_bounds`).
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

#: A strike above this, in underlying price units, is absurd whatever the underlying: the highest
#: strikes listed on US exchanges are in the tens of thousands of points (NDX).
MAX_STRIKE = 1_000_000.0
#: A strike more than this many times the underlying's price, or below the underlying's price
#: divided by it, is absurd. Real chains stay far inside (the shipped SPX chains span strike /
#: spot 0.03 to 2.4); the one real case beyond is a stock that lost 99.9% while its old strikes
#: were still listed, and those rows are kept, flagged.
ABSURD_STRIKE_RATIO = 1_000.0
#: The longest listed term: Cboe FLEX options may expire up to 15 years out (standard LEAPS about
#: 3); a later expiration is a bad date.
MAX_TERM_DAYS = 15 * 366
#: Cboe, the first exchange to list options, opened on 1973-04-26: no end-of-day option quote is
#: older.
FIRST_LISTED_OPTIONS_DAY = date(1973, 4, 26)


@lru_cache(maxsize=4)
def _xnys(first_year: int) -> xcals.ExchangeCalendar:
    # Building the calendar costs most of a second: build it once per process. Imported here:
    # a backtest imports this module (through the chain store) but never builds the calendar.
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start=f"{first_year}-01-01")


def _calendar_for(start: date) -> xcals.ExchangeCalendar:
    first = min(_CALENDAR_FIRST_YEAR, start.year)
    return _xnys(first)


def quote_date_bounds() -> tuple[date, date]:
    """The span an end-of-day quote date can have: from the first day of listed options to the
    last session the NYSE calendar knows (about a year ahead of today; a quote cannot be dated
    later, and quality checks need published holidays)."""
    return FIRST_LISTED_OPTIONS_DAY, _xnys(_CALENDAR_FIRST_YEAR).last_session.date()


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
    - BAD_IV: iv missing, NaN, infinite or <= 0.
    - DUPLICATE: every row after the first (in table order) with the same
      (quote_date, root, expiration, strike, right).
    - HOLIDAY_RESCRAPE: quote_date is not an NYSE session.
    - BAD_PRICE: bid, ask, last or underlying_price negative or infinite (missing is not bad).
    - BAD_STRIKE: strike not finite, <= 0, above :data:`MAX_STRIKE`, or, when the underlying's
      price is known and positive, more than :data:`ABSURD_STRIKE_RATIO` times it or below it
      divided by that ratio.
    - BAD_EXPIRATION: expiration before quote_date or more than :data:`MAX_TERM_DAYS` after it.
    - BAD_VOLUME: volume or open_interest negative.
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
    iv_np = _np_float(iv)
    bad_iv = ~(iv_np > 0.0) | np.isinf(iv_np)  # null (NaN here) compares false

    flags = np.zeros(n, dtype=np.int32)
    flags |= _np_bool(crossed) * np.int32(Quality.CROSSED)
    flags |= _np_bool(no_market) * np.int32(Quality.NO_MARKET)
    flags |= bad_iv * np.int32(Quality.BAD_IV)
    flags |= duplicate_mask(table) * np.int32(Quality.DUPLICATE)
    flags |= _holiday_mask(table) * np.int32(Quality.HOLIDAY_RESCRAPE)
    for flag, mask in impossible_masks(table).items():
        flags |= mask * np.int32(flag)

    existing = table.column("quality").to_numpy(zero_copy_only=False).astype(np.int32)
    combined = pa.array(flags | existing, pa.int32())
    idx = table.schema.get_field_index("quality")
    return table.set_column(idx, table.schema.field("quality"), combined)


def impossible_masks(table: pa.Table) -> dict[Quality, np.ndarray]:
    """Boolean arrays of the rows whose values cannot be true, by flag (see :func:`flag_rows`)."""
    with np.errstate(invalid="ignore", over="ignore"):
        bad_price = np.zeros(table.num_rows, dtype=bool)
        for name in ("bid", "ask", "last", "underlying_price"):
            v = _np_float(table.column(name))
            bad_price |= (v < 0.0) | np.isinf(v)
        strike = _np_float(table.column("strike"))
        spot = _np_float(table.column("underlying_price"))
        bad_strike = ~np.isfinite(strike) | (strike <= 0.0) | (strike > MAX_STRIKE)
        known = np.isfinite(spot) & (spot > 0.0)
        bad_strike |= known & ((strike > spot * ABSURD_STRIKE_RATIO)
                               | (strike * ABSURD_STRIKE_RATIO < spot))
        days = (_np_days(table.column("expiration")) - _np_days(table.column("quote_date")))
        bad_expiration = (days < 0) | (days > MAX_TERM_DAYS)
        bad_volume = ((_np_float(table.column("volume")) < 0.0)
                      | (_np_float(table.column("open_interest")) < 0.0))
    return {
        Quality.BAD_PRICE: bad_price,
        Quality.BAD_STRIKE: bad_strike,
        Quality.BAD_EXPIRATION: bad_expiration,
        Quality.BAD_VOLUME: bad_volume,
    }


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


def _np_float(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Values as float64 with null as NaN."""
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _np_days(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """date32 values as days since the epoch (float64, null as NaN)."""
    return _np_float(pc.cast(arr, pa.int32()))


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
