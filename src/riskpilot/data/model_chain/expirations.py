"""The listed-expiration calendar of the model chain: monthlies, weeklies by era, holiday moves.

See :mod:`riskpilot.data.model_chain` for the rules and their sources.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskpilot.data.model_chain.cache_dir import cache_root, write_atomically

IntArray = npt.NDArray[np.int64]

_CALENDAR_START = "1990-01-01"
_CALENDAR_END = "2030-12-31"


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
def trading_sessions() -> npt.NDArray[np.datetime64]:
    """NYSE trading days 1990..2030 as datetime64[D] (exchange_calendars XNYS).

    Building the calendar costs about 0.1 s of CPU, so with the model-chain cache on
    (:mod:`~riskpilot.data.model_chain.cache_dir`) the days are kept there, keyed by the
    versions of exchange_calendars and pandas that computed them."""
    root = cache_root()
    if root is None:
        return _xnys_sessions()
    key = f"XNYS-{_CALENDAR_START}-{_CALENDAR_END}-xcals{version('exchange_calendars')}-pandas{pd.__version__}"
    path = root / "calendar" / f"{key}.npy"
    if path.exists():
        try:
            days = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"the cached trading calendar {path} cannot be read ({exc}); delete it") from exc
        return np.asarray(days, dtype="datetime64[D]")
    days = _xnys_sessions()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, days, allow_pickle=False)

    write_atomically(path, write)
    return days


def _xnys_sessions() -> npt.NDArray[np.datetime64]:
    # Imported here: with the calendar cached, a run never needs exchange_calendars.
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars itself trips a pandas deprecation notice on construction.
        warnings.filterwarnings("ignore", message=r"Series\.values returning")
        calendar = xcals.get_calendar("XNYS", start=_CALENDAR_START, end=_CALENDAR_END)
    return np.asarray(calendar.sessions.values.astype("datetime64[D]"))


def check_calendar_range(day: np.datetime64, what: str) -> None:
    sessions = trading_sessions()
    if day < sessions[0] or day > sessions[-1]:
        raise ValueError(
            f"{what} {day} is outside the exchange calendar this module loads "
            f"({_CALENDAR_START} .. {_CALENDAR_END})"
        )


def _previous_session(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The session on or before each day."""
    sessions = trading_sessions()
    idx = np.searchsorted(sessions, days, side="right") - 1
    return sessions[idx]


def _next_session(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """The session on or after each day."""
    sessions = trading_sessions()
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
    check_calendar_range(day[0], "expiration")
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

def expiration_pairs(
    days: npt.NDArray[np.datetime64], min_dte: int, max_dte: int, eras: ExpirationEras
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
    last = pd.Timestamp(days[-1]).date() + timedelta(days=max_dte + 7)
    check_calendar_range(np.datetime64(last, "D"), "last expiration")
    monthly = _monthly_dates(first, last)
    kinds: list[tuple[npt.NDArray[np.datetime64], int, date | None, bool]] = [
        (monthly, max_dte, date(1900, 1, 1), True)
    ]
    for weekday, era in eras.by_weekday().items():
        if era is None:
            continue
        horizon = (
            eras.weekly_horizon_days if weekday == 4 else eras.midweek_horizon_days
        )
        kinds.append(
            (_weekday_dates(weekday, max(first, era), last, monthly), min(horizon, max_dte), era, False)
        )
    out_exp: list[npt.NDArray[np.datetime64]] = []
    out_monthly: list[npt.NDArray[np.bool_]] = []
    out_day: list[IntArray] = []
    day_index = np.arange(days.size, dtype=np.int64)
    for exps, horizon, era, is_monthly in kinds:
        if exps.size == 0 or horizon < min_dte:
            continue
        listed = days >= np.datetime64(era, "D")
        lo = np.searchsorted(exps, days + np.timedelta64(min_dte, "D"), side="left")
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
        return expiration_pairs(days[:0], min_dte, max_dte, eras)
    exp = np.concatenate(out_exp)
    is_monthly_arr = np.concatenate(out_monthly)
    pair_day = np.concatenate(out_day)
    order = np.lexsort((~is_monthly_arr, exp, pair_day))
    exp, is_monthly_arr, pair_day = exp[order], is_monthly_arr[order], pair_day[order]
    # A holiday shift can land a weekly on another kind's date: keep one (the monthly first).
    keep = np.ones(exp.size, dtype=np.bool_)
    keep[1:] = (exp[1:] != exp[:-1]) | (pair_day[1:] != pair_day[:-1])
    return exp[keep], is_monthly_arr[keep], pair_day[keep]
