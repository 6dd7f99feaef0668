"""circuit_breaker (CRITICAL): the day's realized + unrealized loss reached the daily loss
limit. Every position closes; the RiskManager halts new entries until the next trading day or
a manual reset. The limit itself comes from the risk settings (PortfolioView.daily_loss_limit);
without one this rule stays silent."""

from __future__ import annotations

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class CircuitBreakerParams(RuleParams):
    pass


def evaluate(ctx: RuleContext, p: CircuitBreakerParams) -> RuleFiring | None:
    limit = ctx.portfolio.daily_loss_limit
    if limit is None:
        return None
    day_loss = -ctx.portfolio.day_pnl
    if not day_loss >= limit:  # also silent on NaN: an unknown P&L is not a loss
        return None
    return RuleFiring(
        "circuit_breaker",
        Priority.CRITICAL,
        ExitAction.CLOSE,
        f"daily loss ${day_loss:,.0f} reached the limit ${limit:,.0f}",
        ctx.position.quantity,
        {"day_pnl": ctx.portfolio.day_pnl, "daily_loss_limit": limit},
    )



def screen(b: ScreenBatch, p: CircuitBreakerParams) -> BoolArray:
    return b.everywhere(b.daily_loss_limit is not None and b.day_loss >= b.daily_loss_limit)

SPEC = RuleSpec("circuit_breaker", Priority.CRITICAL, CircuitBreakerParams, evaluate, __doc__ or "", screen)
