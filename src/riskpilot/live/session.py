"""Trading sessions for the live loop, from the exchange calendar (exchange-calendars, XNYS by
default: regular sessions 09:30-16:00 New York, early closes at 13:00 on the days the
exchange publishes, holidays closed).

The live loop checks positions only while a session is open; outside one it holds and waits
for the next open (:meth:`ExchangeSessions.seconds_to_open`). :class:`AlwaysOpen` is for paper
practice runs outside market hours (the paper broker's random walk trades at any time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import exchange_calendars


class Sessions(Protocol):
    def is_open(self, now: datetime) -> bool: ...

    def seconds_to_open(self, now: datetime) -> float:
        """0 while a session is open, else the seconds until the next one opens."""
        ...

    def describe(self, now: datetime) -> str: ...


@dataclass(frozen=True, slots=True)
class AlwaysOpen:
    """Every instant is in session (paper practice outside market hours)."""

    def is_open(self, now: datetime) -> bool:
        return True

    def seconds_to_open(self, now: datetime) -> float:
        return 0.0

    def describe(self, now: datetime) -> str:
        return "always open (paper practice, no exchange calendar)"


class ExchangeSessions:
    """Sessions of the exchange ``code`` (an exchange-calendars code such as XNYS)."""

    def __init__(self, code: str = "XNYS") -> None:
        import exchange_calendars as xcals  # ~0.6 s to import: only live runs pay it

        try:
            self.calendar: exchange_calendars.ExchangeCalendar = xcals.get_calendar(code)
        except xcals.errors.InvalidCalendarName:
            raise ValueError(f"unknown exchange calendar {code!r}: use an exchange-calendars code such as XNYS") \
                from None
        self.code = code

    def _ts(self, now: datetime):  # type: ignore[no-untyped-def]
        import pandas as pd

        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return pd.Timestamp(now.astimezone(UTC)).floor("min")

    def is_open(self, now: datetime) -> bool:
        return bool(self.calendar.is_open_on_minute(self._ts(now)))

    def seconds_to_open(self, now: datetime) -> float:
        if self.is_open(now):
            return 0.0
        nxt = self.calendar.next_open(self._ts(now)).to_pydatetime()
        return float(max((nxt - now).total_seconds(), 0.0))

    def describe(self, now: datetime) -> str:
        ts = self._ts(now)
        if self.calendar.is_open_on_minute(ts):
            close = self.calendar.next_close(ts).to_pydatetime()
            return f"{self.code} open until {close.isoformat()}"
        return f"{self.code} closed until {self.calendar.next_open(ts).to_pydatetime().isoformat()}"


__all__ = ["AlwaysOpen", "ExchangeSessions", "Sessions"]
