"""The backtest over recorded event-market snapshots (:mod:`riskpilot.data.events`): the same
cycle step, rules engine and simulated venue as the option backtest, stepped at every
recording instant instead of every day's close.

Timing of one instant *t* (no look-ahead: only rows at or before *t*, fair values at or before
*t*):

1. **Settlement** of every held market whose result is known at *t* (the first row carrying
   it): 1.00 a contract when the side held won, 0.00 when it lost, the cost back when voided;
   no fee (:class:`riskpilot.trading.events.EventResults`).
2. **Mark** each open position from its side's quote at *t* (the market's last row at or before
   *t*, stamped with that row's time; none at or after the market's close).
3. **Decide** with the rules engine, the edge rules reading ``edge`` (fair value of the side
   held minus its bid) and ``alternative_edge`` (the best fair value minus ask among the other
   markets trading at *t*) from the fair-value source (:class:`~riskpilot.trading.fair_value.EdgeFeatures`).
4. **Exits** run the urgency ladder against the quotes of *t*
   (:func:`riskpilot.execution.tactics.simulate_exit`): a limit fills once the fill model's
   price reaches it, and the fill model takes the touch (sell at the bid) and pays Kalshi's
   taker fee (:func:`riskpilot.execution.fees.event_fill_model`).
5. **Entries** after the exits: :class:`~riskpilot.trading.events.EventEntryPlanner` (edge
   threshold, sized by ``validate_order`` with the binary max loss), bought at the ask with the
   fee.
6. **Settlement** again, for a result that arrived with *t*.

The equity curve keeps one point per exchange date: the equity after the date's last instant.
"""

from __future__ import annotations

import math
from datetime import date

from riskpilot.backtest.result import BacktestResult
from riskpilot.backtest.venue import SimulatedVenue
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.events import EventSnapshots
from riskpilot.execution.fees import event_fill_model
from riskpilot.execution.fills import FillModel
from riskpilot.execution.tactics import TacticBook
from riskpilot.risk.manager import RiskManager
from riskpilot.trading.events import EVENTS, EventEntryPlanner, EventResults, snapshot_edges
from riskpilot.trading.fair_value import FairValueSource
from riskpilot.trading.step import StepInputs, TradingStep, run_sync

#: The strategy label of event trades in the trade log.
EVENT_STRATEGY = "event_edge"


def run_event_backtest(
    snapshots: EventSnapshots,
    config: RiskPilotConfig,
    *,
    method: str,
    equity: float,
    fair_values: FairValueSource,
    fill_model: FillModel | None = None,
    start: date | None = None,
    end: date | None = None,
) -> BacktestResult:
    """Run ``method`` of ``config`` over ``snapshots`` from ``equity`` dollars (module docstring
    for the timing), instants whose exchange date lies within ``[start, end]``. Entries follow
    ``config.event_entries``; ``fill_model`` defaults to the touch with Kalshi's taker fee.
    Refusals are counted by reason in ``result.entries_refused``: ``no_candidate`` (no market
    cleared the edge threshold), ``trading_state``, and ``validate_order``'s binding limit."""
    if math.isnan(equity) or equity <= 0:
        raise ValueError(f"equity must be a positive dollar amount, got {equity!r}")
    model = fill_model or event_fill_model()
    rm = RiskManager(config, equity=equity)
    result = BacktestResult(underlying=EVENTS, method=method, start_equity=float(equity))
    planner = EventEntryPlanner(config, method, fair_values, fill_model=model)
    step = TradingStep(config, rm, planner=planner, settler=EventResults(snapshots.result),
                       max_new_positions_per_day=config.event_entries.max_new_positions)
    venue = SimulatedVenue(result, rm, model, TacticBook.from_config(config), strategy=EVENT_STRATEGY, equity=equity)
    features = snapshot_edges(snapshots, fair_values, config)
    times = snapshots.between(start, end)
    if not times:
        raise ValueError(
            f"{snapshots.source} holds no snapshot between {start or 'its start'} and {end or 'its end'} "
            f"(it covers {snapshots.first.isoformat()} to {snapshots.last.isoformat()})"
        )
    for t in times:
        snap = snapshots.at(t)
        venue.start_day(snap)
        report = run_sync(step.run(venue, StepInputs(t, snap.quote_date, chain=snap, settle=True, features=features)))
        for why, n in report.refused.items():
            result.entries_refused[why] = result.entries_refused.get(why, 0) + n
        if result.dates and result.dates[-1] == snap.quote_date:
            result.equity[-1] = venue.equity()
        else:
            result.dates.append(snap.quote_date)
            result.equity.append(venue.equity())
    result.open_positions = list(venue.positions.values())
    return result


__all__ = ["EVENT_STRATEGY", "run_event_backtest"]
