"""What a backtest returns: the daily equity curve, the trade log, the event log."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from riskpilot.backtest.attribution import SETTLEMENT_REASONS, RuleAttribution, TradeAttribution, summarize
from riskpilot.backtest.explain import Hole
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
    attribution: list[TradeAttribution] = field(default_factory=list)
    #: Per day, aligned with ``dates``: the book's capital at risk (the sum of the open
    #: positions' worst losses, dollars, as the risk manager counts its heat) and the
    #: underlying's close in the chain (NaN when the chain carries none).
    at_risk: list[float] = field(default_factory=list)
    underlying_closes: list[float] = field(default_factory=list)
    #: Stretches of the data without a chain, left out of the CAGR (set by the runner).
    holes: list[Hole] = field(default_factory=list)

    def exit_attribution(self) -> dict[str, RuleAttribution]:
        """Per exit reason: the trades' P&L against holding on (:mod:`riskpilot.backtest.attribution`)."""
        return summarize(self.trades, self.attribution)

    def metrics(self) -> Metrics:
        m = compute_metrics(self.dates, self.equity, self.trades,
                            excluded_days=sum(h.calendar_days for h in self.holes))
        by_rule = [a for reason, a in self.exit_attribution().items() if reason not in SETTLEMENT_REASONS]
        if not by_rule:
            return m
        return replace(m, exit_edge_vs_expiration=sum(a.edge_vs_expiration for a in by_rule),
                       exit_edge_vs_next_rule=sum(a.edge_vs_next_rule for a in by_rule))


__all__ = ["BacktestResult", "Event", "Trade"]
