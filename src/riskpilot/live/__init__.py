"""The live driver: the async position monitor (the cycle step's venue at a broker), the
entry and exit workflows, restart reconciliation, settlement in the store, and replays of
stored chains through all of it on a simulated clock. Nothing here imports the backtest."""

from riskpilot.live.entries import EntryWorkflow
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
from riskpilot.live.settlement import DayCloses, StoreSettlement
from riskpilot.live.workflows import ExitWorkflow, PositionMonitoringWorkflow

__all__ = [
    "CycleReport",
    "DayCloses",
    "EntryWorkflow",
    "ExitWorkflow",
    "FetchStats",
    "PositionMonitor",
    "PositionMonitoringWorkflow",
    "QuoteFetcher",
    "ReconcileReport",
    "ReplayMarket",
    "ReplayReport",
    "StoreSettlement",
    "entry_order_id",
    "near_trigger",
    "reconcile",
    "record_new_fills",
    "replay_days",
    "restore_risk",
    "working_exit_positions",
]
