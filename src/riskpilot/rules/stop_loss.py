"""stop_loss (CRITICAL): loss >= stop_loss_pct of the entry premium.

SPEC section 1: loss = current - entry for a credit (entry - current for a debit), as a
fraction of entry. With 1.25 a credit of 1.00 stops out when it costs 2.25 or more to close.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class StopLossParams(RuleParams):
    stop_loss_pct: float = Field(1.25, gt=0, le=50, description="credit positions, fraction of entry")
    debit_stop_loss_pct: float = Field(
        0.50, gt=0, le=1.0, description="debit positions, fraction of the premium paid"
    )


def evaluate(ctx: RuleContext, p: StopLossParams) -> RuleFiring | None:
    loss = -ctx.profit_pct
    limit = p.stop_loss_pct if ctx.position.is_credit else p.debit_stop_loss_pct
    if loss + EPS < limit:
        return None
    return RuleFiring(
        "stop_loss",
        Priority.CRITICAL,
        ExitAction.CLOSE,
        f"loss {loss:.1%} of entry premium >= stop {limit:.0%} "
        f"(entry {ctx.position.entry_premium:.2f}, now {ctx.premium:.2f})",
        ctx.position.quantity,
        {"loss_pct": loss, "stop_loss_pct": limit, "premium": ctx.premium},
    )



def screen(b: ScreenBatch, p: StopLossParams) -> BoolArray:
    limit = np.where(b.credit, p.stop_loss_pct, p.debit_stop_loss_pct)
    return -b.profit_pct + EPS >= limit

SPEC = RuleSpec("stop_loss", Priority.CRITICAL, StopLossParams, evaluate, __doc__ or "", screen)
