"""What a backtest returns: the daily equity curve, the trade log, the event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from riskpilot.model.contract import Leg
from riskpilot.model.position import Position

if TYPE_CHECKING:
    from riskpilot.backtest.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Trade:
    """One closing of ``quantity`` units of a position (a partial exit is its own trade).

    ``legs`` are per one unit of the position (-1 short, +1 long for a vertical); ``strategy``
    is the method's strategy kind. Premiums are net per share of one unit, positive (what the fill model achieved).
    ``pnl`` is in dollars for this quantity, net of the closing commission and of the
    pro-rata share of the opening commission. ``mfe``/``mae`` are the best and worst
    unrealized P&L seen at the daily marks, in dollars for this quantity. ``exit_reason`` is
    the winning rule's name, or ``expiration_settlement`` (cash-settled, or OTM at expiry) or
    ``assignment`` (an ITM physically settled option at expiry).
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


@dataclass(slots=True)
class BacktestResult:
    """``equity`` holds one value per trading day processed, in dollars, marked at the mid
    of each open position's legs after the day's exits, entries and settlements (a position
    without a usable quote that day is carried at its last good mark). ``model_priced`` is
    True when any input row was model priced: results must say so wherever shown."""

    underlying: str
    method: str
    start_equity: float
    dates: list[date] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    open_positions: list[Position] = field(default_factory=list)
    model_priced: bool = False
    warnings: list[str] = field(default_factory=list)
    entries_refused: dict[str, int] = field(default_factory=dict)

    def metrics(self) -> Metrics:
        from riskpilot.backtest.metrics import compute_metrics

        return compute_metrics(self.dates, self.equity, self.trades)


__all__ = ["BacktestResult", "Event", "Trade"]
