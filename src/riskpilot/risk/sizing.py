"""Per-unit risk of a multi-leg option position: max loss at expiration, delta and gamma.

The max loss comes from the payoff at expiration, which is piecewise linear in the underlying
price with kinks at the strikes: it is evaluated at 0, at every strike, and beyond the highest
strike. A position with unbounded loss on the upside (net short calls) has no finite max loss;
it is then measured at a stress move of ``upside_stress`` (default +50%) of the underlying, a
documented convention rather than a silent guess.

A binary event contract pays 1.00 or 0.00 (:mod:`riskpilot.model.event`): its max loss is the
price paid for a long, and ``1 - price`` received for a short, with no multiplier of 100 and
no strikes to scan.
"""

from __future__ import annotations

from collections.abc import Sequence

from riskpilot.model.contract import EVENT_PAYOUT, EventContract, Leg, check_event_price, require_option
from riskpilot.model.enums import PremiumType, Right
from riskpilot.model.position import premium_sign
from riskpilot.risk.manager import OrderRequest


def payoff_at_expiry(legs: Sequence[Leg], underlying_price: float) -> float:
    """Value per share of one unit at expiration (positive = the holder receives)."""
    total = 0.0
    for leg in legs:
        c = require_option(leg.contract, "payoff_at_expiry (an event contract pays riskpilot.model.event.payout)")
        k = c.strike
        intrinsic = max(underlying_price - k, 0.0) if c.right is Right.CALL else max(k - underlying_price, 0.0)
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
    if any(isinstance(leg.contract, EventContract) for leg in legs):
        return binary_max_loss_per_unit(legs, entry_premium, premium_type)
    options = [require_option(leg.contract, "max_loss_per_unit") for leg in legs]
    mult = options[0].multiplier
    cash = -premium_sign(premium_type) * entry_premium  # what opening moved into cash, per share
    strikes = sorted({c.strike for c in options})
    points = [0.0, *strikes, strikes[-1] * 2.0]
    worst = min(payoff_at_expiry(legs, s) + cash for s in points)
    call_slope = sum(leg.quantity for leg, c in zip(legs, options, strict=True) if c.right is Right.CALL)
    if call_slope < 0:
        ref = underlying_price if underlying_price is not None else strikes[-1]
        stressed = ref * (1.0 + upside_stress)
        worst = min(
            (payoff_at_expiry(legs, s) + cash for s in [*points[:-1], stressed] if s <= stressed),
            default=worst,
        )
    return max(-worst, 0.0) * mult


def binary_max_loss_per_unit(legs: Sequence[Leg], entry_premium: float, premium_type: PremiumType) -> float:
    """Worst loss in dollars of one unit of a one-leg binary position: the price paid for a
    long (DEBIT), ``1 - price`` for a short sold at ``price`` (CREDIT), times the leg's
    quantity. (riskpilot holds event positions long; the short form is for sizing a "sell to
    open", which the venue books as the other side bought at ``1 - price``.)"""
    if len(legs) != 1 or not isinstance(legs[0].contract, EventContract):
        raise ValueError(
            "a binary position has exactly one event-contract leg (no spreads of event contracts "
            f"or mixes with options), got {[str(leg.contract) for leg in legs]}"
        )
    leg = legs[0]
    price = check_event_price("entry_premium", entry_premium)
    long = premium_type is PremiumType.DEBIT
    if long != (leg.quantity > 0):
        raise ValueError(
            f"{leg.contract}: a long leg is bought for a DEBIT and a short one sold for a CREDIT "
            f"(got quantity {leg.quantity} with {premium_type.value})"
        )
    per_contract = price if long else EVENT_PAYOUT - price
    return per_contract * abs(leg.quantity) * leg.contract.multiplier


def event_order_request(
    contract: EventContract,
    price: float,
    quantity: int,
    *,
    method: str = "default",
    position_id: str | None = None,
) -> OrderRequest:
    """The pre-trade request for buying ``quantity`` contracts of ``contract`` at ``price``
    (dollars): max loss per unit is the price, the multiplier 1, a DEBIT; the event is the
    underlying of the per-underlying and correlation limits. Sell-to-open trades are sized as
    the other side bought (:func:`riskpilot.model.event.as_long`)."""
    return OrderRequest(
        underlying=contract.underlying,
        quantity=quantity,
        max_loss_per_unit=binary_max_loss_per_unit((Leg(contract, 1),), price, PremiumType.DEBIT),
        method=method,
        position_id=position_id,
        premium_type=PremiumType.DEBIT,
        multiplier=contract.multiplier,
    )
