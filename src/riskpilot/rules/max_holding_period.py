"""max_holding_period (LOW): held longer than ``max_days`` calendar days."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class MaxHoldingPeriodParams(RuleParams):
    max_days: int = Field(60, ge=0, le=3650)


def evaluate(ctx: RuleContext, p: MaxHoldingPeriodParams) -> RuleFiring | None:
    held = ctx.position.state.days_held
    if held <= p.max_days:
        return None
    return RuleFiring(
        "max_holding_period",
        Priority.LOW,
        ExitAction.CLOSE,
        f"held {held} days > {p.max_days}",
        ctx.position.quantity,
        {"days_held": held, "max_days": p.max_days},
    )



def screen(b: ScreenBatch, p: MaxHoldingPeriodParams) -> BoolArray:
    return b.days_held > p.max_days

SPEC = RuleSpec("max_holding_period", Priority.LOW, MaxHoldingPeriodParams, evaluate, __doc__ or "", screen)
