"""early_exit (LOW): the model's edge on this position fell below ``min_edge`` (2%).
Needs the feature ``edge`` (a fraction); silent without it."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec, feature
from riskpilot.rules.screen import BoolArray, ScreenBatch


class EarlyExitParams(RuleParams):
    min_edge: float = Field(0.02, ge=-1, le=1)


def evaluate(ctx: RuleContext, p: EarlyExitParams) -> RuleFiring | None:
    edge = feature(ctx, "edge")
    if edge is None or edge >= p.min_edge:
        return None
    return RuleFiring(
        "early_exit",
        Priority.LOW,
        ExitAction.CLOSE,
        f"model edge {edge:.2%} < {p.min_edge:.2%}",
        ctx.position.quantity,
        {"edge": edge, "min_edge": p.min_edge},
    )



def screen(b: ScreenBatch, p: EarlyExitParams) -> BoolArray:
    return b.has_features

SPEC = RuleSpec("early_exit", Priority.LOW, EarlyExitParams, evaluate, __doc__ or "", screen, needs_features=True)
