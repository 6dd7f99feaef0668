"""liquidity_dried_up (HIGH): the close-out market got too wide, or too thin.

Spread: for event contracts (multiplier 1, priced in dollars) the absolute spread is compared
with ``max_spread`` (3 cents); for options the spread relative to the mid with
``max_relative_spread``. Volume: the thinnest leg's volume below ``min_volume`` (skipped when the
feed reports no volume). Set ``min_volume`` to 0 to disable the volume test."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class LiquidityParams(RuleParams):
    max_spread: float = Field(0.03, gt=0, le=100, description="event contracts, dollars")
    max_relative_spread: float = Field(0.50, gt=0, le=10, description="options, spread / mid")
    min_volume: int = Field(50, ge=0)


def evaluate(ctx: RuleContext, p: LiquidityParams) -> RuleFiring | None:
    mark = ctx.mark
    spread = mark.spread
    if ctx.position.multiplier == 1:
        if spread is not None and spread > p.max_spread + 1e-9:
            return _fire(ctx, f"spread {spread:.2f} > {p.max_spread:.2f}", {"spread": spread})
    else:
        rel = mark.relative_spread
        if rel is not None and rel > p.max_relative_spread:
            return _fire(
                ctx,
                f"spread {rel:.0%} of mid > {p.max_relative_spread:.0%}",
                {"relative_spread": rel, "spread": spread},
            )
    vol = mark.min_volume
    if p.min_volume > 0 and vol is not None and vol < p.min_volume:
        return _fire(ctx, f"volume {vol} < {p.min_volume}", {"volume": vol})
    return None


def _fire(ctx: RuleContext, why: str, inputs: dict[str, float | int | None]) -> RuleFiring:
    return RuleFiring(
        "liquidity_dried_up",
        Priority.HIGH,
        ExitAction.CLOSE,
        f"liquidity dried up: {why}",
        ctx.position.quantity,
        inputs,
    )



def screen(b: ScreenBatch, p: LiquidityParams) -> BoolArray:
    wide = np.where(b.event_contract, b.spread > p.max_spread + 1e-9, b.relative_spread > p.max_relative_spread)
    if p.min_volume > 0:
        return wide | (b.min_volume < p.min_volume)
    return wide

SPEC = RuleSpec("liquidity_dried_up", Priority.HIGH, LiquidityParams, evaluate, __doc__ or "", screen)
