"""What a position's close-out value can be: the bounds a mark must respect.

The bounds of a structure come from its payoff, not from its name, so every strategy riskpilot
builds is covered by one rule (the table, with the reasoning, is in ``docs/marks.md``):

- options of one expiration: the per-share payoff of one unit at expiration, in premium terms
  (``premium_sign`` x the legs' intrinsic values), is piecewise linear in the underlying price
  S with kinks at the strikes, so its least and greatest values over S >= 0 are among its
  values at S = 0 and at each strike, or unbounded where the slope beyond the last strike is
  not zero. The value before expiration lies between them (a discounted expectation of the
  payoff; an early exercise or assignment pays an intrinsic value of the same function). The
  bounds are widened to include 0 (discounting pulls a value toward 0): a put credit spread
  is worth 0 to its width, an iron condor 0 to its wider wing, a short put 0 to its strike, a
  short call or strangle and a long call 0 to unbounded, a long put 0 to its strike;
- binary event contracts: each side is worth 0 to 1.00;
- anything else (legs of several expirations, which riskpilot does not build; options mixed
  with event contracts): no structural bound.

A single option with the underlying's price known is also bounded below by its intrinsic value
less the carry a European option may lose (a put: K e^(-cT) - S; a call: S e^(-cT) - K, with
``carry_rate`` c standing for the largest interest rate or dividend yield to allow) and above
by S (a call) or K (a put).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from riskpilot.model.contract import EventContract, Leg, OptionContract
from riskpilot.model.enums import PremiumType, Right
from riskpilot.model.position import premium_sign

#: Prices are quoted in cents: a market within a cent of a bound is not outside it.
BOUND_TOLERANCE = 0.01
_SECONDS_PER_YEAR = 365.0 * 86_400.0


@dataclass(frozen=True, slots=True)
class ValueBounds:
    """The least and greatest close-out value of one unit, premium per share (``high`` is
    ``math.inf`` when the structure's value is unbounded)."""

    low: float
    high: float

    def describe(self) -> str:
        high = "unbounded" if math.isinf(self.high) else f"{self.high:.2f}"
        return f"{self.low:.2f}..{high}"


def value_bounds(legs: Sequence[Leg], premium_type: PremiumType) -> ValueBounds | None:
    """The bounds of the close-out value of one unit of ``legs`` (module docstring), or None
    where the structure has none riskpilot knows."""
    sign = premium_sign(premium_type)
    if all(isinstance(leg.contract, EventContract) for leg in legs):
        low = high = 0.0
        for leg in legs:
            w = sign * leg.quantity  # each side is worth 0 to 1.00
            low += min(w, 0.0)
            high += max(w, 0.0)
        return ValueBounds(min(low, 0.0), max(high, 0.0))
    options: list[tuple[OptionContract, int]] = []
    for leg in legs:
        c = leg.contract
        if not isinstance(c, OptionContract):
            return None
        options.append((c, leg.quantity))
    if len({c.expiration for c, _ in options}) != 1:
        return None

    def payoff(s: float) -> float:
        total = 0.0
        for c, q in options:
            intrinsic = s - c.strike if c.right is Right.CALL else c.strike - s
            if intrinsic > 0:
                total += q * intrinsic
        return sign * total

    values = [payoff(0.0)] + [payoff(c.strike) for c, _ in options]
    slope = sign * sum(q for c, q in options if c.right is Right.CALL)
    low = -math.inf if slope < 0 else min(values)
    high = math.inf if slope > 0 else max(values)
    return ValueBounds(min(low, 0.0), max(high, 0.0))


def market_outside(bounds: ValueBounds, bid: float | None, ask: float | None, premium: float) -> str | None:
    """Why a close-out market (``bid``..``ask``, premium terms; the premium alone where a side
    is unknown) cannot be the structure's: the whole market lies beyond a bound by more than
    :data:`BOUND_TOLERANCE`. None when it can. A market that straddles a bound is kept: its mid
    may sit past the bound when the legs are quoted wide (a deep in-the-money spread), and the
    rules must still act on it."""
    lo = premium if bid is None or ask is None else bid
    hi = premium if bid is None or ask is None else ask
    if lo > bounds.high + BOUND_TOLERANCE:
        return f"the whole market {lo:.2f}..{hi:.2f} is above the structure's greatest value {bounds.high:.2f}"
    if hi < bounds.low - BOUND_TOLERANCE:
        return f"the whole market {lo:.2f}..{hi:.2f} is below the structure's least value {bounds.low:.2f}"
    return None


def leg_outside(
    contract: OptionContract | EventContract,
    bid: float,
    ask: float,
    now: datetime,
    spot: float | None,
    carry_rate: float,
) -> str | None:
    """Why one leg's quote cannot be its contract's: its mid beyond the contract's bounds by
    more than its own spread (and :data:`BOUND_TOLERANCE`). An option is bounded only when the
    underlying's price ``spot`` is known (module docstring); an event contract always is
    (0..1.00). None when the quote can be true."""
    mid = (bid + ask) / 2.0
    slack = ask - bid + BOUND_TOLERANCE
    if isinstance(contract, EventContract):
        if mid > 1.0 + slack:
            return f"{contract} mid {mid:.2f} is above the 1.00 a binary contract pays"
        return None
    if spot is None:
        return None
    k = contract.strike
    years = max((contract.expires_at - now).total_seconds(), 0.0) / _SECONDS_PER_YEAR
    discount = math.exp(-carry_rate * years)
    if contract.right is Right.CALL:
        low, high = max(spot * discount - k, 0.0), spot
    else:
        low, high = max(k * discount - spot, 0.0), k
    if mid < low - slack:
        return (f"{contract} mid {mid:.2f} is under its intrinsic value {low:.2f} (underlying {spot:.2f}) "
                f"by more than its spread {ask - bid:.2f}")
    if mid > high + slack:
        return f"{contract} mid {mid:.2f} is above the most it can be worth, {high:.2f} (underlying {spot:.2f})"
    return None


__all__ = ["BOUND_TOLERANCE", "ValueBounds", "leg_outside", "market_outside", "value_bounds"]
