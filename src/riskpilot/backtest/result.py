"""What a backtest returns: the daily equity curve, the trade log, the event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from riskpilot.backtest.metrics import Metrics, compute_metrics
from riskpilot.backtest.trade import Event, Trade
from riskpilot.model.position import Position


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
        return compute_metrics(self.dates, self.equity, self.trades)


__all__ = ["BacktestResult", "Event", "Trade"]
