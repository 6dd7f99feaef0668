"""gamma_protection (MEDIUM): close a winner before gamma risk grows: DTE <=
gamma_protection_dte (21) and profit >= gamma_protection_pnl (0.50 of entry). Silent for a
binary event contract (it has no gamma in the option sense; time_based_urgent watches its close)."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class GammaProtectionParams(RuleParams):
    gamma_protection_dte: int = Field(21, ge=0, le=3650)
    gamma_protection_pnl: float = Field(0.50, gt=0, le=100)


def evaluate(ctx: RuleContext, p: GammaProtectionParams) -> RuleFiring | None:
    if ctx.dte > p.gamma_protection_dte or ctx.profit_pct + EPS < p.gamma_protection_pnl or ctx.position.is_event:
        return None
    return RuleFiring(
        "gamma_protection",
        Priority.MEDIUM,
        ExitAction.CLOSE,
        f"{ctx.dte} DTE <= {p.gamma_protection_dte} with profit {ctx.profit_pct:.1%} >= "
        f"{p.gamma_protection_pnl:.0%}",
        ctx.position.quantity,
        {"dte": ctx.dte, "profit_pct": ctx.profit_pct},
    )



def screen(b: ScreenBatch, p: GammaProtectionParams) -> BoolArray:
    return (b.dte <= p.gamma_protection_dte) & (b.profit_pct + EPS >= p.gamma_protection_pnl)

SPEC = RuleSpec("gamma_protection", Priority.MEDIUM, GammaProtectionParams, evaluate, __doc__ or "", screen)
