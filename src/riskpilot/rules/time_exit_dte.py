"""time_exit_dte (MEDIUM): DTE <= time_exit_dte (14): close, or roll per the method.

An option rule (it leaves before expiration-week gamma and pin risk): silent for a binary
event contract, whose approaching close is time_based_urgent's (minutes to the close)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class TimeExitDteParams(RuleParams):
    time_exit_dte: int = Field(14, ge=0, le=3650)
    action: Literal["close", "roll"] = "close"


def evaluate(ctx: RuleContext, p: TimeExitDteParams) -> RuleFiring | None:
    if ctx.dte > p.time_exit_dte or ctx.position.is_event:
        return None
    action = ExitAction.ROLL if p.action == "roll" else ExitAction.CLOSE
    return RuleFiring(
        "time_exit_dte",
        Priority.MEDIUM,
        action,
        f"{ctx.dte} DTE <= {p.time_exit_dte}: {p.action}",
        ctx.position.quantity,
        {"dte": ctx.dte, "time_exit_dte": p.time_exit_dte},
    )



def screen(b: ScreenBatch, p: TimeExitDteParams) -> BoolArray:
    return b.dte <= p.time_exit_dte

SPEC = RuleSpec("time_exit_dte", Priority.MEDIUM, TimeExitDteParams, evaluate, __doc__ or "", screen)
