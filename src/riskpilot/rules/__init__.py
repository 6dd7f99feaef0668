"""Exit rules: one module per rule, each a pure ``evaluate(context, params)``.

:data:`BUILTIN_RULES` lists them in SPEC section 2's order, which is also the default
tie-break order within a priority.
"""

from riskpilot.rules import (
    circuit_breaker,
    early_exit,
    edge_disappeared,
    gamma_protection,
    liquidity_dried_up,
    max_holding_period,
    partial_exit_target,
    profit_target,
    rebalance,
    stop_loss,
    time_based_urgent,
    time_exit_dte,
    trailing_stop_rule,
    volatility_scaled_stop,
)
from riskpilot.rules.base import PortfolioView, RuleContext, RuleParams, RuleRegistry, RuleSpec
from riskpilot.rules.evaluator import BoundRule, ExitEvaluator, prepare_context
from riskpilot.rules.trailing_stop import (
    TrailingStopAction,
    TrailingStopConfig,
    TrailState,
    trail_step,
)

BUILTIN_RULES = RuleRegistry(
    [
        stop_loss.SPEC,
        volatility_scaled_stop.SPEC,
        circuit_breaker.SPEC,
        trailing_stop_rule.SPEC,
        time_based_urgent.SPEC,
        liquidity_dried_up.SPEC,
        profit_target.SPEC,
        partial_exit_target.SPEC,
        time_exit_dte.SPEC,
        gamma_protection.SPEC,
        early_exit.SPEC,
        edge_disappeared.SPEC,
        rebalance.SPEC,
        max_holding_period.SPEC,
    ]
)

__all__ = [
    "BUILTIN_RULES",
    "BoundRule",
    "ExitEvaluator",
    "PortfolioView",
    "RuleContext",
    "RuleParams",
    "RuleRegistry",
    "RuleSpec",
    "TrailState",
    "TrailingStopAction",
    "TrailingStopConfig",
    "prepare_context",
    "trail_step",
]
