"""profit_target (MEDIUM): profit >= profit_target_pct of the entry premium (0.35 by default;
0.50 and 0.65 are common). Credit 1.00 now 0.40 is 60% profit."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class ProfitTargetParams(RuleParams):
    profit_target_pct: float = Field(0.35, gt=0, le=100)


def evaluate(ctx: RuleContext, p: ProfitTargetParams) -> RuleFiring | None:
    if ctx.profit_pct + EPS < p.profit_target_pct:
        return None
    return RuleFiring(
        "profit_target",
        Priority.MEDIUM,
        ExitAction.CLOSE,
        f"profit {ctx.profit_pct:.1%} >= target {p.profit_target_pct:.0%} "
        f"(entry {ctx.position.entry_premium:.2f}, now {ctx.premium:.2f})",
        ctx.position.quantity,
        {"profit_pct": ctx.profit_pct, "profit_target_pct": p.profit_target_pct},
    )



def screen(b: ScreenBatch, p: ProfitTargetParams) -> BoolArray:
    return b.profit_pct + EPS >= p.profit_target_pct

SPEC = RuleSpec("profit_target", Priority.MEDIUM, ProfitTargetParams, evaluate, __doc__ or "", screen)
