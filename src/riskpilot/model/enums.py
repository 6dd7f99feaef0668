"""Enumerations shared by every layer. Enums, never bare strings, for sides and actions."""

from __future__ import annotations

from enum import Enum, IntEnum


class Right(str, Enum):
    """Option right."""

    CALL = "C"
    PUT = "P"

    @classmethod
    def parse(cls, value: str | Right) -> Right:
        """Accept 'C'/'P', 'call'/'put' in any case."""
        if isinstance(value, Right):
            return value
        text = str(value).strip().upper()
        if text in ("C", "CALL"):
            return cls.CALL
        if text in ("P", "PUT"):
            return cls.PUT
        raise ValueError(f"option right {value!r} is not understood: use 'C'/'call' or 'P'/'put'")


class ContractSide(str, Enum):
    """The side of a binary event contract: YES pays 1.00 if the event happens, NO pays 1.00
    if it does not. Values are the venue's spelling (Kalshi's ``side``)."""

    YES = "yes"
    NO = "no"

    @property
    def opposite(self) -> ContractSide:
        return ContractSide.NO if self is ContractSide.YES else ContractSide.YES

    @classmethod
    def parse(cls, value: str | ContractSide) -> ContractSide:
        """Accept 'yes'/'no' in any case."""
        if isinstance(value, ContractSide):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "no"):
            return cls(text)
        raise ValueError(f"event contract side {value!r} is not understood: use 'yes' or 'no'")


class MarketResult(str, Enum):
    """How a binary market settled: YES (the YES side pays 1.00), NO (the NO side pays 1.00),
    or VOID (the market was cancelled and positions are returned at their cost)."""

    YES = "yes"
    NO = "no"
    VOID = "void"

    @classmethod
    def parse(cls, value: str | MarketResult) -> MarketResult:
        if isinstance(value, MarketResult):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "no", "void"):
            return cls(text)
        raise ValueError(
            f"market result {value!r} is not a binary settlement: use 'yes', 'no' or 'void' "
            "(scalar markets are not binary event contracts)"
        )


class PremiumType(str, Enum):
    """Whether a position was opened for a net credit (premium sold) or a net debit."""

    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class Priority(IntEnum):
    """Exit urgency. Larger is more urgent, so ``max()`` picks the winner."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class ExitAction(str, Enum):
    HOLD = "HOLD"
    CLOSE = "CLOSE"
    PARTIAL_CLOSE = "PARTIAL_CLOSE"
    ROLL = "ROLL"


class TradingState(str, Enum):
    """Trading-state gate: ACTIVE trades freely, REDUCING only lets risk-reducing orders
    through, HALTED refuses every new entry (exits always pass)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class PositionStatus(str, Enum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class QuoteProblem(str, Enum):
    """Why a quote, or a mark built from quotes, may not be used to decide or to fill
    (``docs/marks.md`` lists every check and its tolerance).

    A quote: MISSING (a side absent, or both zero), CROSSED (bid above ask), NAIVE_TIMESTAMP
    (no time zone: its age cannot be known), FUTURE (stamped later than now by more than the
    clock skew allowed), STALE (older than the maximum age). A mark, from its legs or as
    given: ONE_SIDED (a short leg bid at zero against an ask too wide for its mid to stand
    for the buy-back), OUT_OF_BOUNDS (a market the structure's value can never reach, a leg
    under its intrinsic value, or a premium that is negative, not finite or outside its own
    market), UNCONFIRMED_JUMP (a move far beyond the recent range, held until the next
    quote confirms it)."""

    MISSING = "missing"
    CROSSED = "crossed"
    STALE = "stale"
    NAIVE_TIMESTAMP = "naive timestamp"
    FUTURE = "future-stamped"
    ONE_SIDED = "one-sided"
    OUT_OF_BOUNDS = "out of bounds"
    UNCONFIRMED_JUMP = "unconfirmed jump"
