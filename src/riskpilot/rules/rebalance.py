"""rebalance (LOW): a better opportunity's edge beats this position's by at least ``margin``.
Needs the features ``edge`` and ``alternative_edge`` (fractions); silent without them."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec, feature
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class RebalanceParams(RuleParams):
    margin: float = Field(0.05, gt=0, le=1)


def evaluate(ctx: RuleContext, p: RebalanceParams) -> RuleFiring | None:
    edge = feature(ctx, "edge")
    alt = feature(ctx, "alternative_edge")
    if edge is None or alt is None or alt - edge + EPS < p.margin:
        return None
    return RuleFiring(
        "rebalance",
        Priority.LOW,
        ExitAction.CLOSE,
        f"alternative edge {alt:.2%} beats this position's {edge:.2%} by >= {p.margin:.2%}",
        ctx.position.quantity,
        {"edge": edge, "alternative_edge": alt, "margin": p.margin},
    )



def screen(b: ScreenBatch, p: RebalanceParams) -> BoolArray:
    return b.has_features

SPEC = RuleSpec("rebalance", Priority.LOW, RebalanceParams, evaluate, __doc__ or "", screen, needs_features=True)
