"""partial_exit_target (MEDIUM): staged partial exits.

By default 50% of the *original* quantity at +15% profit, then 25% at +25%; the rest rides
with the trailing stop. A stage fires only when it still locks in a profit after the exit's
cost at the current quotes (``lock_in_profit``, on by default): the close-out priced at the
natural side of the mark (what crossing the whole spread would pay: its ask to buy back a
credit position, its bid to sell a debit one) must still be a profit. A +15% stage measured at
the mid of a spread quoted 30% wide would otherwise pay more in slippage than it locks in (on
the real SPX 2019 chain, 20 such partial exits lost $188). Each stage fires once (the
position's ``state.stages_done`` remembers it) and stages fire in order, one per evaluation:
a jump straight to +30% closes the first stage now and the second at the next evaluation.
Quantities are whole contracts: a stage rounds down but closes at least one contract while
any remain, and never more than remain. A stage that would close everything left is reported
as CLOSE.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch

EPS = 1e-9


class PartialStage(RuleParams):
    name: str = Field(min_length=1)
    profit_threshold: float = Field(gt=0, le=100, description="profit fraction of entry")
    exit_percentage: float = Field(gt=0, le=100, description="percent of the original quantity")


def _default_stages() -> tuple[PartialStage, ...]:
    return (
        PartialStage(name="first_target", profit_threshold=0.15, exit_percentage=50),
        PartialStage(name="second_target", profit_threshold=0.25, exit_percentage=25),
    )


class PartialExitParams(RuleParams):
    stages: tuple[PartialStage, ...] = Field(default_factory=_default_stages)
    lock_in_profit: bool = Field(True, description="fire only when the natural side still shows a profit")

    @model_validator(mode="after")
    def _check_stages(self) -> PartialExitParams:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        thresholds = [s.profit_threshold for s in self.stages]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError(
                f"stage profit_threshold values must strictly increase, got {thresholds}"
            )
        total = sum(s.exit_percentage for s in self.stages)
        if total > 100 + 1e-9:
            raise ValueError(f"stage exit_percentage values add up to {total:g}%, more than 100%")
        return self


def stage_quantity(original: int, open_qty: int, exit_percentage: float) -> int:
    """Contracts a stage closes: floor of the share of the original quantity, at least one
    while any remain, at most what remains."""
    if open_qty <= 0:
        return 0
    q = math.floor(original * exit_percentage / 100.0 + 1e-9)
    return min(max(q, 1), open_qty)


def _locks_in_profit(ctx: RuleContext) -> bool:
    """Whether closing at the natural side of the mark (module docstring) is a profit."""
    natural = ctx.mark.ask if ctx.position.is_credit else ctx.mark.bid
    return natural is not None and ctx.position.profit(natural) > EPS


def evaluate(ctx: RuleContext, p: PartialExitParams) -> RuleFiring | None:
    pos = ctx.position
    done = pos.state.stages_done
    for stage in p.stages:
        if stage.name in done:
            continue
        if ctx.profit_pct + EPS < stage.profit_threshold:
            return None
        if p.lock_in_profit and not _locks_in_profit(ctx):
            return None
        qty = stage_quantity(pos.original_quantity, pos.quantity, stage.exit_percentage)
        action = ExitAction.CLOSE if qty >= pos.quantity else ExitAction.PARTIAL_CLOSE
        return RuleFiring(
            "partial_exit_target",
            Priority.MEDIUM,
            action,
            f"stage {stage.name}: profit {ctx.profit_pct:.1%} >= {stage.profit_threshold:.0%}, "
            f"close {qty} of {pos.quantity} ({stage.exit_percentage:g}% of {pos.original_quantity})",
            qty,
            {
                "profit_pct": ctx.profit_pct,
                "profit_threshold": stage.profit_threshold,
                "exit_percentage": stage.exit_percentage,
            },
            stage=stage.name,
        )
    return None



def screen(b: ScreenBatch, p: PartialExitParams) -> BoolArray:
    if not p.stages:
        return b.everywhere(False)
    return b.profit_pct + EPS >= min(s.profit_threshold for s in p.stages)

SPEC = RuleSpec("partial_exit_target", Priority.MEDIUM, PartialExitParams, evaluate, __doc__ or "", screen)
