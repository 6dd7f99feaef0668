"""One closed trade and one engine event of a backtest: the rows of its trade and event logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from riskpilot.model.contract import Leg


@dataclass(frozen=True, slots=True)
class Trade:
    """One closing of ``quantity`` units of a position (a partial exit is its own trade).

    ``legs`` are per one unit of the position (-1 short, +1 long for a vertical); ``strategy``
    is the method's strategy kind. Premiums are net per share of one unit, positive (what the fill model achieved).
    ``pnl`` is in dollars for this quantity, net of the closing commission and of the
    pro-rata share of the opening commission. ``mfe``/``mae`` are the best and worst
    unrealized P&L seen at the daily marks, in dollars for this quantity. ``exit_reason`` is
    the winning rule's name, or ``expiration_settlement`` (cash-settled, or OTM at expiry) or
    ``assignment`` (an ITM physically settled option at expiry), or ``event_settlement`` (an
    event market settled at its result). ``entry_short_delta`` is the delta per share, at
    entry, of the leg the delta range picked (None when unknown). ``opened_at``/``closed_at``
    are the instants of the opening and closing steps (an event backtest steps many times a day).
    """

    position_id: str
    method: str
    strategy: str
    underlying: str
    legs: tuple[Leg, ...]
    opened: date
    closed: date
    quantity: int
    entry_premium: float
    exit_premium: float
    pnl: float
    commission: float
    exit_reason: str
    priority: str | None
    days_held: int
    mfe: float
    mae: float
    entry_short_delta: float | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def entry_dte(self) -> int:
        """Calendar days from the entry to the expiration."""
        return (self.legs[0].contract.expiration - self.opened).days

    @property
    def legs_text(self) -> str:
        return " / ".join(f"{leg.quantity:+d} {leg.contract}" for leg in self.legs)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the engine did on a day: OPEN, CLOSE, PARTIAL_CLOSE or SETTLE."""

    day: date
    kind: str
    position_id: str
    quantity: int
    price: float
    reason: str


__all__ = ["Event", "Trade"]
