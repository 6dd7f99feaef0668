"""Contracts (listed options and binary event contracts) and legs.

A leg's contract is either an :class:`OptionContract` or an :class:`EventContract`
(:data:`Contract`). Code that needs an option's strike or right narrows with
:func:`require_option`, which refuses an event contract with a message naming the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from riskpilot.model._checks import finite, positive, whole
from riskpilot.model.enums import ContractSide, Right

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


#: A binary event contract trades between these prices (dollars per contract) on a 1-cent
#: grid, and a winning contract pays EVENT_PAYOUT at settlement.
EVENT_MIN_PRICE = 0.01
EVENT_MAX_PRICE = 0.99
EVENT_PAYOUT = 1.00
EVENT_TICK = 0.01


def check_event_price(name: str, price: float) -> float:
    """``price`` as a float when it is a tradable binary price (0.01-0.99 dollars), else a
    ValueError naming ``name``."""
    v = finite(name, price)
    if not EVENT_MIN_PRICE - 1e-9 <= v <= EVENT_MAX_PRICE + 1e-9:
        raise ValueError(
            f"{name} {price!r} is not a binary contract price: event contracts trade between "
            f"{EVENT_MIN_PRICE:.2f} and {EVENT_MAX_PRICE:.2f} dollars (a payout of {EVENT_PAYOUT:.2f})"
        )
    return v


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _symbol(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip() or " " in value:
        raise ValueError(f"{name} must be a non-empty ticker without spaces, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class EventContract:
    """One side (YES or NO) of a binary event market, as listed on Kalshi: ``series``
    (``KXHIGHNY``), ``event`` (``KXHIGHNY-24DEC02``) and market ``ticker``
    (``KXHIGHNY-24DEC02-T45``).

    Priced in dollars per contract between 0.01 and 0.99 on a 1-cent grid; one contract pays
    1.00 when its side wins and 0.00 otherwise, so ``multiplier`` is 1 (a premium of 0.42 is
    $0.42). ``close_time`` is when trading stops (the last instant an exit can trade: it is
    what :attr:`expires_at`, :meth:`minutes_to_expiry` and :attr:`expiration` measure, the
    way an option's expiry is its last trading instant); ``settlement_time`` is when the
    result is expected to be paid. The YES and NO sides of one market are two contracts with
    two quotes: the NO side of a market is :meth:`opposite`.

    ``underlying`` is the event: the markets of one event settle on one outcome, so the
    per-underlying risk limits and correlation classes group them by event.
    """

    series: str
    event: str
    ticker: str
    side: ContractSide
    close_time: datetime
    settlement_time: datetime
    multiplier: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        _symbol("series", self.series)
        _symbol("event", self.event)
        _symbol("market ticker", self.ticker)
        if not isinstance(self.side, ContractSide):
            object.__setattr__(self, "side", ContractSide.parse(self.side))
        _aware(f"{self.ticker}: close_time", self.close_time)
        _aware(f"{self.ticker}: settlement_time", self.settlement_time)
        if self.settlement_time < self.close_time:
            raise ValueError(
                f"{self.ticker}: settlement_time {self.settlement_time.isoformat()} is before "
                f"close_time {self.close_time.isoformat()}; a market settles after it stops trading"
            )

    @property
    def underlying(self) -> str:
        return self.event

    @property
    def expiration(self) -> date:
        """The exchange (New York) date on which trading stops."""
        return exchange_date(self.close_time)

    @property
    def expires_at(self) -> datetime:
        """When trading stops (``close_time``)."""
        return self.close_time

    def dte(self, today: date) -> int:
        """Calendar days to the close date (0 on the closing day)."""
        return (self.expiration - today).days

    def minutes_to_expiry(self, now: datetime) -> float:
        """Minutes until trading stops: after that no exit can trade."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware; naive datetimes are ambiguous")
        return (self.close_time - now).total_seconds() / 60.0

    def minutes_to_settlement(self, now: datetime) -> float:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware; naive datetimes are ambiguous")
        return (self.settlement_time - now).total_seconds() / 60.0

    def opposite(self) -> EventContract:
        """The other side of the same market (YES <-> NO)."""
        return EventContract(
            self.series, self.event, self.ticker, self.side.opposite, self.close_time, self.settlement_time
        )

    def __str__(self) -> str:
        return f"{self.ticker} {self.side.value.upper()}"


#: What a leg holds: a listed option or one side of a binary event market.
Contract = OptionContract | EventContract


def require_option(contract: Contract, what: str) -> OptionContract:
    """``contract`` as an option, or a ValueError saying that ``what`` (strike, right, greeks,
    Black-Scholes, ...) has no meaning for a binary event contract."""
    if isinstance(contract, OptionContract):
        return contract
    raise ValueError(
        f"{what} needs an option contract, but {contract} is a binary event contract "
        "(it has no strike, right or greeks: it pays 1.00 or 0.00 at settlement; see "
        "riskpilot.model.event)"
    )


@dataclass(frozen=True, slots=True)
class Leg:
    """A contract with a signed quantity per one unit of the position: -1 short, +1 long."""

    contract: Contract
    quantity: int

    def __post_init__(self) -> None:
        if not isinstance(self.contract, OptionContract | EventContract):
            raise TypeError(
                f"leg contract must be an OptionContract or an EventContract, got {self.contract!r}"
            )
        whole("leg quantity", self.quantity)
        if self.quantity == 0:
            raise ValueError(f"leg quantity must be non-zero (negative = short), leg {self.contract}")

    @property
    def is_short(self) -> bool:
        return self.quantity < 0
