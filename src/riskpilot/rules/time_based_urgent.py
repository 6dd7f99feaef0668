"""time_based_urgent (HIGH): fewer than ``minutes`` minutes to settlement of the nearest leg."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class TimeBasedUrgentParams(RuleParams):
    minutes: float = Field(5.0, gt=0, le=24 * 60)


def evaluate(ctx: RuleContext, p: TimeBasedUrgentParams) -> RuleFiring | None:
    if ctx.dte > 1:  # settlement is within a day of its expiration date: nothing close
        return None
    left = ctx.position.minutes_to_expiry(ctx.now)
    if left >= p.minutes:
        return None
    return RuleFiring(
        "time_based_urgent",
        Priority.HIGH,
        ExitAction.CLOSE,
        f"{max(left, 0.0):.1f} minutes to settlement < {p.minutes:g}",
        ctx.position.quantity,
        {"minutes_to_expiry": left, "minutes": p.minutes},
    )



def screen(b: ScreenBatch, p: TimeBasedUrgentParams) -> BoolArray:
    return b.dte <= 1

SPEC = RuleSpec("time_based_urgent", Priority.HIGH, TimeBasedUrgentParams, evaluate, __doc__ or "", screen)
