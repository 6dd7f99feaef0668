"""trailing_stop (HIGH): the trailing stop on the premium triggered in this evaluation.

The state machine lives in :mod:`riskpilot.rules.trailing_stop`; the evaluator's caller steps it
with the current premium (only when the quote is good) and hands the result in the context.
These params are that state machine's settings.

SPEC's 2% activation and 1.5% trail were chosen for long (debit) premium. On a credit spread
worth 0.10-1.00 they sit inside the quoted spread and fire on noise (on the README's SPY run
they closed a third of the trades after five days on average and lost half of its loss), so
credit positions are not trailed unless ``trail_credit`` is set."""

from __future__ import annotations

from pydantic import Field

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch
from riskpilot.rules.trailing_stop import TrailingStopAction, TrailingStopConfig


class TrailingStopParams(RuleParams):
    activation_pct: float = Field(2.0, ge=0, le=1000)
    trailing_pct: float = Field(1.5, gt=0, lt=100)
    min_move_pct: float = Field(0.5, ge=0, le=100)
    tick_size: float = Field(0.01, gt=0, le=1)
    trail_credit: bool = Field(False, description="also trail credit (premium sold) positions")

    def to_config(self) -> TrailingStopConfig:
        return TrailingStopConfig(
            activation_pct=self.activation_pct,
            trailing_pct=self.trailing_pct,
            min_move_pct=self.min_move_pct,
            tick_size=self.tick_size,
            trail_credit=self.trail_credit,
        )


def evaluate(ctx: RuleContext, p: TrailingStopParams) -> RuleFiring | None:
    if ctx.trail_action is not TrailingStopAction.TRIGGER or ctx.trail is None:
        return None
    stop = ctx.trail.stop
    side = "<=" if not ctx.trail.credit else ">="
    return RuleFiring(
        "trailing_stop",
        Priority.HIGH,
        ExitAction.CLOSE,
        f"premium {ctx.premium:.2f} {side} trailing stop {stop:.2f} "
        f"(best {ctx.trail.best:.2f}, entry {ctx.position.entry_premium:.2f})",
        ctx.position.quantity,
        {"premium": ctx.premium, "stop_premium": stop, "best_premium": ctx.trail.best},
    )



def screen(b: ScreenBatch, p: TrailingStopParams) -> BoolArray:
    return b.trail_trigger

SPEC = RuleSpec("trailing_stop", Priority.HIGH, TrailingStopParams, evaluate, __doc__ or "", screen)
