"""Option contracts and legs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from riskpilot.model._checks import positive, whole
from riskpilot.model.enums import Right

EXCHANGE_TZ = ZoneInfo("America/New_York")
#: PM settlement: US equity and index options stop trading at 16:00 New York time.
DEFAULT_EXPIRY_TIME = time(16, 0)


def exchange_date(at: datetime) -> date:
    """The exchange's (New York) calendar date at the instant ``at``."""
    return at.astimezone(EXCHANGE_TZ).date()


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed option. ``strike`` in underlying price units; ``multiplier`` is the number
    of shares (or index units) one contract controls (100 for US equity and index options,
    1 for binary event contracts priced in dollars)."""

    underlying: str
    expiration: date
    strike: float
    right: Right
    multiplier: int = 100
    expiry_time: time = DEFAULT_EXPIRY_TIME

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying.strip():
            raise ValueError(f"underlying must be a non-empty symbol, got {self.underlying!r}")
        if isinstance(self.expiration, datetime) or not isinstance(self.expiration, date):
            raise TypeError(
                f"expiration must be a datetime.date (not a datetime or string), "
                f"got {self.expiration!r}"
            )
        object.__setattr__(self, "strike", positive("strike", self.strike))
        if not isinstance(self.right, Right):
            object.__setattr__(self, "right", Right.parse(self.right))
        whole("multiplier", self.multiplier, minimum=1)

    @property
    def expires_at(self) -> datetime:
        """Settlement instant as an aware datetime in the exchange's time zone."""
        return datetime.combine(self.expiration, self.expiry_time, tzinfo=EXCHANGE_TZ)

    def dte(self, today: date) -> int:
        """Calendar days to expiration (0 on expiration day, negative once expired)."""
        return (self.expiration - today).days

    def minutes_to_expiry(self, now: datetime) -> float:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware; naive datetimes are ambiguous")
        return (self.expires_at - now).total_seconds() / 60.0

    def __str__(self) -> str:
        return (
            f"{self.underlying} {self.expiration.isoformat()} {self.strike:g}{self.right.value}"
        )


@dataclass(frozen=True, slots=True)
class Leg:
    """A contract with a signed quantity per one unit of the position: -1 short, +1 long."""

    contract: OptionContract
    quantity: int

    def __post_init__(self) -> None:
        whole("leg quantity", self.quantity)
        if self.quantity == 0:
            raise ValueError(f"leg quantity must be non-zero (negative = short), leg {self.contract}")

    @property
    def is_short(self) -> bool:
        return self.quantity < 0
