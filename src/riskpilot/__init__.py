"""riskpilot: risk and exit management for systematic options positions.

The public names most users need are importable from here (loaded on first use, so that
`riskpilot --help` and small commands do not pay for numpy, pydantic and the rules)::

    from riskpilot import TrailingStop, TrailingStopConfig, RiskManager, ExitEvaluator
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "BUILTIN_RULES": "riskpilot.rules",
    "ConfigError": "riskpilot.config",
    "ExitAction": "riskpilot.model",
    "ExitDecision": "riskpilot.model",
    "ExitEvaluator": "riskpilot.rules",
    "Fill": "riskpilot.model",
    "Leg": "riskpilot.model",
    "Mark": "riskpilot.model",
    "OptionContract": "riskpilot.model",
    "Order": "riskpilot.model",
    "OrderRequest": "riskpilot.risk",
    "OrderType": "riskpilot.model",
    "OrderValidation": "riskpilot.risk",
    "PortfolioView": "riskpilot.rules",
    "Position": "riskpilot.model",
    "PremiumType": "riskpilot.model",
    "Priority": "riskpilot.model",
    "Quote": "riskpilot.model",
    "Right": "riskpilot.model",
    "RiskManager": "riskpilot.risk",
    "RiskPilotConfig": "riskpilot.config",
    "RuleContext": "riskpilot.rules",
    "Side": "riskpilot.model",
    "TradingState": "riskpilot.model",
    "TrailingStop": "riskpilot.risk",
    "TrailingStopAction": "riskpilot.rules",
    "TrailingStopConfig": "riskpilot.rules",
    "TrailingStopManager": "riskpilot.risk",
    "load_config": "riskpilot.config",
    "max_loss_per_unit": "riskpilot.risk",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'riskpilot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:
    from riskpilot.config import (
        ConfigError,
        RiskPilotConfig,
        load_config,
    )
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
