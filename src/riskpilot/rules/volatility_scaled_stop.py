"""volatility_scaled_stop (CRITICAL): the loss per share exceeds k x ATR of the premium (or k x
the premium's implied one-day move) instead of a fixed percentage. Needs the feature ``atr`` or
``implied_move`` (premium points); silent without either."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec, feature
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class VolatilityScaledStopParams(RuleParams):
    k: float = Field(3.0, gt=0, le=50)
    measure: Literal["atr", "implied_move"] = "atr"


def evaluate(ctx: RuleContext, p: VolatilityScaledStopParams) -> RuleFiring | None:
    scale = feature(ctx, p.measure)
    if scale is None or not scale > 0:
        return None
    loss = -ctx.position.profit(ctx.premium)
    if loss + EPS < p.k * scale:
        return None
    return RuleFiring(
        "volatility_scaled_stop",
        Priority.CRITICAL,
        ExitAction.CLOSE,
        f"loss {loss:.2f} >= {p.k:g} x {p.measure} {scale:.2f}",
        ctx.position.quantity,
        {"loss": loss, p.measure: scale, "k": p.k},
    )



def screen(b: ScreenBatch, p: VolatilityScaledStopParams) -> BoolArray:
    return b.has_features

SPEC = RuleSpec(
    "volatility_scaled_stop", Priority.CRITICAL, VolatilityScaledStopParams, evaluate, __doc__ or "", screen,
    needs_features=True,
)
