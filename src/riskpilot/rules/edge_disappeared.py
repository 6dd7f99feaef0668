"""edge_disappeared (LOW): the model's edge turned negative. Needs the feature ``edge``."""

from __future__ import annotations

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec, feature
from riskpilot.rules.screen import BoolArray, ScreenBatch


class EdgeDisappearedParams(RuleParams):
    pass


def evaluate(ctx: RuleContext, p: EdgeDisappearedParams) -> RuleFiring | None:
    edge = feature(ctx, "edge")
    if edge is None or edge >= 0:
        return None
    return RuleFiring(
        "edge_disappeared",
        Priority.LOW,
        ExitAction.CLOSE,
        f"model edge turned negative ({edge:.2%})",
        ctx.position.quantity,
        {"edge": edge},
    )



def screen(b: ScreenBatch, p: EdgeDisappearedParams) -> BoolArray:
    return b.has_features

SPEC = RuleSpec(
    "edge_disappeared", Priority.LOW, EdgeDisappearedParams, evaluate, __doc__ or "", screen, needs_features=True
)
