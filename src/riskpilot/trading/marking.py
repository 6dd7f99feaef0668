"""The mark the rules see: :func:`riskpilot.model.mark.mark_position` with the liquidity of
the legs that matter to the close (:func:`riskpilot.rules.liquidity_dried_up.closing_legs`:
a credit position's short legs, a debit position's long legs) in ``leg_relative_spread`` and
``min_volume``, which the ``liquidity_dried_up`` rule reads. Both drivers mark through it (the
cycle step), and so does the backtest's exit attribution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from riskpilot.model.contract import Contract
from riskpilot.model.enums import PremiumType
from riskpilot.model.mark import DEFAULT_MARK_CHECKS, Mark, MarkBasis, MarkChecks, mark_position
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.rules.liquidity_dried_up import closing_legs, closing_liquidity


def mark_for_rules(position: Position, quotes: Mapping[Contract, Quote], now: datetime, *,
                   basis: MarkBasis = MarkBasis.MID, max_age_seconds: float | None = None,
                   checks: MarkChecks = DEFAULT_MARK_CHECKS, underlying_price: float | None = None) -> Mark:
    """``position``'s close-out mark (module docstring); ``checks`` and ``underlying_price`` as
    :func:`~riskpilot.model.mark.mark_position` takes them (``docs/marks.md``)."""
    mark = mark_position(position, quotes, now, basis=basis, max_age_seconds=max_age_seconds, checks=checks,
                         underlying_price=underlying_price)
    if not mark.is_valid:
        return mark
    credit = position.premium_type is PremiumType.CREDIT
    if len(closing_legs(position.legs, credit)) == len(position.legs):
        return mark  # every leg is judged: the mark's own measures are the ones
    rel, volume = closing_liquidity(position.legs, credit, quotes)
    return replace(mark, leg_relative_spread=rel, min_volume=volume)


__all__ = ["mark_for_rules"]
