"""liquidity_dried_up (HIGH): the close-out market got too wide, or too thin.

Which legs are judged: the legs the close must trade to take the risk off
(:func:`closing_legs`): a credit position's short legs (the long wings of a credit spread or
an iron condor are its protection: they carry no risk and can be left to expire, and their
end-of-day quotes, often 0.05 x 0.15 far out of the money, say nothing about whether the
position can be closed), a debit position's long legs. The cycle step puts their measures in
the mark it hands the rules (:func:`riskpilot.trading.marking.mark_for_rules`).

Spread: for event contracts (multiplier 1, priced in dollars) the absolute spread is compared
with ``max_spread`` (3 cents); for options the relative spread with ``max_relative_spread``,
measured on the widest *leg* (its spread over its own mid, ``Mark.leg_relative_spread``) when
the mark was built from leg quotes, else on the combo. A combo's own relative spread is no
liquidity measure: a 5-wide SPX put spread worth 0.35 is 140% wide at the combo while each
leg is quoted 2-3% wide, and would "dry up" the day it opened.

Volume: the thinnest leg's volume below ``min_volume`` (skipped when the feed reports no
volume), counted only when that market is not tight: when the widest leg's relative spread is
above ``thin_market_relative_spread`` (10%), or unknown. A strike that printed no trade today
but is quoted 3% wide can be closed; one that printed nothing and is quoted 40% wide cannot.
(On the real SPX 2019 chain half of the 0.05-0.15 delta puts traded 0 contracts on a given
day at a median leg spread of 3%.) Set ``thin_market_relative_spread`` to 0 for the volume
test alone, and ``min_volume`` to 0 to disable it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import Field

from riskpilot.model.contract import Contract, Leg
from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.model.quote import Quote
from riskpilot.rules.base import RuleContext, RuleParams, RuleSpec
from riskpilot.rules.screen import BoolArray, ScreenBatch


class LiquidityParams(RuleParams):
    max_spread: float = Field(0.03, gt=0, le=100, description="event contracts, dollars")
    max_relative_spread: float = Field(0.50, gt=0, le=10, description="options, spread / mid")
    min_volume: int = Field(50, ge=0)
    thin_market_relative_spread: float = Field(
        0.10, ge=0, le=10, description="volume counts only above this widest-leg relative spread"
    )


def closing_legs(legs: tuple[Leg, ...], credit: bool) -> tuple[Leg, ...]:
    """The legs whose market decides whether a position can be closed (module docstring):
    the short legs of a credit position, the long legs of a debit one (all legs when that
    leaves none)."""
    judged = tuple(leg for leg in legs if (leg.quantity < 0) == credit)
    return judged or legs


def closing_liquidity(legs: tuple[Leg, ...], credit: bool,
                      quotes: Mapping[Contract, Quote]) -> tuple[float | None, int | None]:
    """The widest relative spread (spread over mid; None when a judged leg has no positive
    mid or no quote) and the thinnest volume (None when a judged leg's volume is unknown)
    over :func:`closing_legs`."""
    widest: float | None = 0.0
    volume: int | None = None
    known = True
    for leg in closing_legs(legs, credit):
        q = quotes.get(leg.contract)
        if q is None or q.bid is None or q.ask is None:
            return None, None
        mid = (q.bid + q.ask) / 2.0
        if mid > 0 and widest is not None:
            rel = (q.ask - q.bid) / mid
            widest = rel if rel > widest else widest
        else:
            widest = None
        if q.volume is None:
            known = False
        else:
            volume = q.volume if volume is None else min(volume, q.volume)
    return widest, volume if known else None


def evaluate(ctx: RuleContext, p: LiquidityParams) -> RuleFiring | None:
    mark = ctx.mark
    spread = mark.spread
    if ctx.position.multiplier == 1:
        if spread is not None and spread > p.max_spread + 1e-9:
            return _fire(ctx, f"spread {spread:.2f} > {p.max_spread:.2f}", {"spread": spread})
    else:
        rel = mark.leg_relative_spread if mark.leg_relative_spread is not None else mark.relative_spread
        if rel is not None and rel > p.max_relative_spread:
            return _fire(
                ctx,
                f"spread {rel:.0%} of mid > {p.max_relative_spread:.0%}",
                {"relative_spread": rel, "spread": spread},
            )
    vol = mark.min_volume
    if p.min_volume > 0 and vol is not None and vol < p.min_volume:
        leg_rel = mark.leg_relative_spread
        if leg_rel is None or leg_rel > p.thin_market_relative_spread:
            return _fire(ctx, f"volume {vol} < {p.min_volume}", {"volume": vol, "relative_spread": leg_rel})
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
    # b.relative_spread is the measure the rule compares (widest leg, else combo);
    # b.leg_relative_spread is NaN where unknown, and NaN never counts as tight.
    wide = np.where(b.event_contract, b.spread > p.max_spread + 1e-9, b.relative_spread > p.max_relative_spread)
    if p.min_volume > 0:
        tight = b.leg_relative_spread <= p.thin_market_relative_spread
        return wide | ((b.min_volume < p.min_volume) & ~tight)
    return wide

SPEC = RuleSpec("liquidity_dried_up", Priority.HIGH, LiquidityParams, evaluate, __doc__ or "", screen)
