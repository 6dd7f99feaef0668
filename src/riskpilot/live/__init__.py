"""Live and paper monitoring: the position monitor loop, the entry / monitoring / exit
workflows, restart reconciliation, and replays of stored chains through all of it."""

from riskpilot.live.monitor import CycleReport, PositionMonitor, near_trigger
from riskpilot.live.quotes import FetchStats, QuoteFetcher
from riskpilot.live.reconcile import (
    ReconcileReport,
    entry_order_id,
    reconcile,
    record_new_fills,
    restore_risk,
    working_exit_positions,
)
from riskpilot.live.replay import ReplayMarket, ReplayReport, replay_days
from riskpilot.live.workflows import EntryResult, EntryWorkflow, ExitWorkflow, PositionMonitoringWorkflow

__all__ = [
    "CycleReport",
    "EntryResult",
    "EntryWorkflow",
    "ExitWorkflow",
    "FetchStats",
    "PositionMonitor",
    "PositionMonitoringWorkflow",
    "QuoteFetcher",
    "ReconcileReport",
    "ReplayMarket",
    "ReplayReport",
    "entry_order_id",
    "near_trigger",
    "reconcile",
    "record_new_fills",
    "replay_days",
    "restore_risk",
    "working_exit_positions",
]
