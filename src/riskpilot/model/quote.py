"""Quotes and their detectable bad states (missing, crossed, naive or future timestamp, stale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from riskpilot.model._checks import optional_non_negative
from riskpilot.model.enums import QuoteProblem

#: A quote older than this (seconds) is stale unless the caller says otherwise.
DEFAULT_MAX_QUOTE_AGE_SECONDS = 60.0
#: A quote stamped later than now by more than this (seconds) is future-stamped: clocks of a
#: broker and of this machine differ by milliseconds when synchronised, by seconds at worst.
DEFAULT_MAX_CLOCK_SKEW_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Quote:
    """A top-of-book quote. Prices per share; ``None`` means the venue sent no value.

    NaN is refused: the caller must say "missing" with ``None`` so that a bad number can never
    pass for a price. A crossed quote (bid > ask) and a quote whose timestamp has no time zone
    are representable, because feeds send them, and are reported by :meth:`problem`: one bad
    quote holds the positions that need it, never the whole book.
    """

    bid: float | None
    ask: float | None
    timestamp: datetime
    last: float | None = None
    volume: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bid", optional_non_negative("bid", self.bid))
        object.__setattr__(self, "ask", optional_non_negative("ask", self.ask))
        object.__setattr__(self, "last", optional_non_negative("last", self.last))
        if self.volume is not None and (isinstance(self.volume, bool) or self.volume < 0):
            raise ValueError(f"volume must be a non-negative integer or None, got {self.volume!r}")
        if not isinstance(self.timestamp, datetime):
            raise ValueError(f"quote timestamp must be a datetime, got {self.timestamp!r}")

    @property
    def is_missing(self) -> bool:
        """No usable two-sided market: a side absent, or both sides zero."""
        return self.bid is None or self.ask is None or (self.bid == 0 and self.ask == 0)

    @property
    def is_crossed(self) -> bool:
        return self.bid is not None and self.ask is not None and self.bid > self.ask

    @property
    def is_naive(self) -> bool:
        """The timestamp has no time zone: when it was quoted cannot be known."""
        return self.timestamp.tzinfo is None

    def is_stale(self, now: datetime, max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS) -> bool:
        """Older than ``max_age_seconds`` at ``now`` (a naive timestamp counts as stale)."""
        return self.is_naive or (now - self.timestamp).total_seconds() > max_age_seconds

    def is_future(self, now: datetime, max_skew_seconds: float = DEFAULT_MAX_CLOCK_SKEW_SECONDS) -> bool:
        """Stamped later than ``now`` by more than ``max_skew_seconds`` (a clock that is wrong,
        or a quote that is not what it says)."""
        return not self.is_naive and (self.timestamp - now).total_seconds() > max_skew_seconds

    def problem(
        self,
        now: datetime,
        max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
        max_skew_seconds: float = DEFAULT_MAX_CLOCK_SKEW_SECONDS,
    ) -> QuoteProblem | None:
        """The first reason this quote may not be used at ``now`` (aware), or None when it is
        good: missing, crossed, naive timestamp, future-stamped, stale, in that order."""
        if self.is_missing:
            return QuoteProblem.MISSING
        if self.is_crossed:
            return QuoteProblem.CROSSED
        ts = self.timestamp
        if ts.tzinfo is None:
            return QuoteProblem.NAIVE_TIMESTAMP
        age = (now - ts).total_seconds()
        if -age > max_skew_seconds:
            return QuoteProblem.FUTURE
        if age > max_age_seconds:
            return QuoteProblem.STALE
        return None

    @property
    def mid(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid
