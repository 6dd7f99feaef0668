"""Risk: the RiskManager and its hooks, sizing, regimes and trailing-stop holders."""

from riskpilot.risk.manager import (
    ExitChecks,
    OrderRequest,
    OrderValidation,
    PositionCheck,
    RiskManager,
    UnknownPositionError,
)
from riskpilot.risk.regime import classify_regime, regime_multiplier
from riskpilot.risk.sizing import binary_max_loss_per_unit, event_order_request, max_loss_per_unit, payoff_at_expiry
from riskpilot.risk.trailing import TrailingStop, TrailingStopManager

__all__ = [
    "ExitChecks",
    "OrderRequest",
    "OrderValidation",
    "PositionCheck",
    "RiskManager",
    "TrailingStop",
    "TrailingStopManager",
    "UnknownPositionError",
    "binary_max_loss_per_unit",
    "classify_regime",
    "event_order_request",
    "max_loss_per_unit",
    "payoff_at_expiry",
    "regime_multiplier",
]
