"""Per-unit risk of a multi-leg option position: max loss at expiration, delta and gamma.

The max loss comes from the payoff at expiration, which is piecewise linear in the underlying
price with kinks at the strikes: it is evaluated at 0, at every strike, and beyond the highest
strike. A position with unbounded loss on the upside (net short calls) has no finite max loss;
it is then measured at a stress move of ``upside_stress`` (default +50%) of the underlying, a
documented convention rather than a silent guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from riskpilot.model.contract import Leg
from riskpilot.model.enums import PremiumType, Right
from riskpilot.model.position import premium_sign


def payoff_at_expiry(legs: Sequence[Leg], underlying_price: float) -> float:
    """Value per share of one unit at expiration (positive = the holder receives)."""
    total = 0.0
    for leg in legs:
        k = leg.contract.strike
        intrinsic = (
            max(underlying_price - k, 0.0)
            if leg.contract.right is Right.CALL
            else max(k - underlying_price, 0.0)
        )
        total += leg.quantity * intrinsic
    return total


def max_loss_per_unit(
    legs: Sequence[Leg],
    entry_premium: float,
    premium_type: PremiumType,
    *,
    underlying_price: float | None = None,
    upside_stress: float = 0.5,
) -> float:
    """Worst loss in dollars of one unit held to expiration, after the entry premium.

    ``entry_premium`` is per share, positive; a credit adds to the payoff, a debit subtracts.
    """
    if entry_premium < 0:
        raise ValueError(f"entry_premium must be >= 0, got {entry_premium}")
    mult = legs[0].contract.multiplier
    cash = -premium_sign(premium_type) * entry_premium  # what opening moved into cash, per share
    strikes = sorted({leg.contract.strike for leg in legs})
    points = [0.0, *strikes, strikes[-1] * 2.0]
    worst = min(payoff_at_expiry(legs, s) + cash for s in points)
    call_slope = sum(leg.quantity for leg in legs if leg.contract.right is Right.CALL)
    if call_slope < 0:
        ref = underlying_price if underlying_price is not None else strikes[-1]
        stressed = ref * (1.0 + upside_stress)
        worst = min(
            (payoff_at_expiry(legs, s) + cash for s in [*points[:-1], stressed] if s <= stressed),
            default=worst,
        )
    return max(-worst, 0.0) * mult
