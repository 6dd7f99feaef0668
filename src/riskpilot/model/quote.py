"""Quotes and their detectable bad states (missing, crossed, stale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from riskpilot.model._checks import optional_non_negative
from riskpilot.model.enums import QuoteProblem

#: A quote older than this (seconds) is stale unless the caller says otherwise.
DEFAULT_MAX_QUOTE_AGE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Quote:
    """A top-of-book quote. Prices per share; ``None`` means the venue sent no value.

    NaN is refused: the caller must say "missing" with ``None`` so that a bad number can never
    pass for a price. A crossed quote (bid > ask) is representable, because it happens, and is
    reported by :meth:`problem`.
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
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise ValueError(
                f"quote timestamp must be a timezone-aware datetime, got {self.timestamp!r}"
            )

    @property
    def is_missing(self) -> bool:
        """No usable two-sided market: a side absent, or both sides zero."""
        return self.bid is None or self.ask is None or (self.bid == 0 and self.ask == 0)

    @property
    def is_crossed(self) -> bool:
        return self.bid is not None and self.ask is not None and self.bid > self.ask

    def is_stale(self, now: datetime, max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS) -> bool:
        return (now - self.timestamp).total_seconds() > max_age_seconds

    def problem(
        self, now: datetime, max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS
    ) -> QuoteProblem | None:
        """The first reason this quote may not be used, or None when it is good."""
        if self.is_missing:
            return QuoteProblem.MISSING
        if self.is_crossed:
            return QuoteProblem.CROSSED
        if self.is_stale(now, max_age_seconds):
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
