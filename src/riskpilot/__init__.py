"""riskpilot: risk and exit management for systematic options positions.

The public names most users need are importable from here::

    from riskpilot import TrailingStop, TrailingStopConfig, RiskManager, ExitEvaluator
"""

from riskpilot.config import ConfigError, RiskPilotConfig, load_config
from riskpilot.model import (
    ExitAction,
    ExitDecision,
    Fill,
    Leg,
    Mark,
    OptionContract,
    Order,
    OrderType,
    Position,
    PremiumType,
    Priority,
    Quote,
    Right,
    Side,
    TradingState,
)
from riskpilot.risk import (
    OrderRequest,
    OrderValidation,
    RiskManager,
    TrailingStop,
    TrailingStopManager,
    max_loss_per_unit,
)
from riskpilot.rules import (
    BUILTIN_RULES,
    ExitEvaluator,
    PortfolioView,
    RuleContext,
    TrailingStopAction,
    TrailingStopConfig,
)

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_RULES",
    "ConfigError",
    "ExitAction",
    "ExitDecision",
    "ExitEvaluator",
    "Fill",
    "Leg",
    "Mark",
    "OptionContract",
    "Order",
    "OrderRequest",
    "OrderType",
    "OrderValidation",
    "PortfolioView",
    "Position",
    "PremiumType",
    "Priority",
    "Quote",
    "Right",
    "RiskManager",
    "RiskPilotConfig",
    "RuleContext",
    "Side",
    "TradingState",
    "TrailingStop",
    "TrailingStopAction",
    "TrailingStopConfig",
    "TrailingStopManager",
    "__version__",
    "load_config",
    "max_loss_per_unit",
]
