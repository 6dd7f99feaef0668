"""Marking a multi-leg position from its legs' quotes: the net premium to close one unit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from riskpilot.model.contract import Contract
from riskpilot.model.enums import PremiumType, QuoteProblem
from riskpilot.model.position import Position, premium_sign
from riskpilot.model.quote import DEFAULT_MAX_QUOTE_AGE_SECONDS, Quote


class MarkBasis(str, Enum):
    """Which price stands for the close-out premium: the mid, or the natural side (what a
    market order would pay: ask to buy back, bid to sell)."""

    MID = "mid"
    NATURAL = "natural"


@dataclass(frozen=True, slots=True)
class Mark:
    """A position's close-out market per share of one unit.

    ``bid``/``ask`` are the combo's market for the closing trade in *premium* terms (positive
    numbers): for a credit position, ``ask`` is the natural price to buy it back. ``premium``
    is the value the rules use (mid or natural per the basis). ``problem`` is set when any
    leg's quote is missing, crossed or stale; a mark with a problem must never trigger an
    exit or a fill. ``min_volume`` is the thinnest leg's volume (None when unknown).
    ``leg_relative_spread`` is the widest leg's own spread over its own mid (None when the
    mark was not built from leg quotes, or a leg has no positive mid): the liquidity of the
    options themselves, where the combo's :attr:`relative_spread` also reflects how small the
    net premium is (a 5-wide SPX put spread worth 0.35 has a combo spread of 140% of its mid
    while each leg is quoted 2-3% wide).
    """

    premium: float | None
    bid: float | None
    ask: float | None
    timestamp: datetime
    problem: QuoteProblem | None = None
    min_volume: int | None = None
    leg_relative_spread: float | None = None

    def __post_init__(self) -> None:
        for name in ("premium", "bid", "ask", "leg_relative_spread"):
            v = getattr(self, name)
            if v is not None and (v != v or v in (float("inf"), float("-inf"))):
                raise ValueError(f"Mark.{name} must be a finite number or None (missing), got {v!r}")

    @property
    def is_valid(self) -> bool:
        return self.problem is None and self.premium is not None

    @property
    def spread(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid

    @property
    def relative_spread(self) -> float | None:
        """Spread over the mid (0.10 = 10%); None when the mid is zero or unknown."""
        if self.bid is None or self.ask is None:
            return None
        mid = (self.bid + self.ask) / 2.0
        return (self.ask - self.bid) / mid if mid > 0 else None

    @classmethod
    def from_premium(
        cls, premium: float, timestamp: datetime, *, spread: float = 0.0, volume: int | None = None
    ) -> Mark:
        """A mark around a known premium (tests, scripted markets, single-price feeds)."""
        half = spread / 2.0
        return cls(
            premium=premium,
            bid=max(premium - half, 0.0),
            ask=premium + half,
            timestamp=timestamp,
            min_volume=volume,
        )


def mark_position(
    position: Position,
    quotes: Mapping[Contract, Quote],
    now: datetime,
    *,
    basis: MarkBasis = MarkBasis.MID,
    max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
) -> Mark:
    """Combine leg quotes into the close-out market of one unit of ``position``.

    With s = -1 for a credit and +1 for a debit position, the premium is
    s * sum(q_i * price_i) over legs with per-unit signed quantity q_i. The combo's bid takes
    each leg at the side that is worse for the holder.
    """
    sign = premium_sign(position.premium_type)
    bid_total = 0.0
    ask_total = 0.0
    oldest = now
    problem: QuoteProblem | None = None
    min_volume: int | None = None
    volume_known = True
    widest: float | None = 0.0
    for leg in position.legs:
        q = quotes.get(leg.contract)
        if q is None:
            return Mark(None, None, None, now, QuoteProblem.MISSING)
        p = q.problem(now, max_age_seconds)
        if p is not None and problem is None:
            problem = p
        if q.bid is None or q.ask is None:
            return Mark(None, None, None, q.timestamp, problem or QuoteProblem.MISSING)
        w = sign * leg.quantity
        # The holder's bid (what closing could fetch in premium terms) takes the worse side.
        if w > 0:
            bid_total += w * q.bid
            ask_total += w * q.ask
        else:
            bid_total += w * q.ask
            ask_total += w * q.bid
        if q.timestamp < oldest:
            oldest = q.timestamp
        leg_mid = (q.bid + q.ask) / 2.0
        if leg_mid > 0 and widest is not None:
            rel = (q.ask - q.bid) / leg_mid
            widest = rel if rel > widest else widest
        else:
            widest = None
        if q.volume is None:
            volume_known = False
        else:
            min_volume = q.volume if min_volume is None else min(min_volume, q.volume)
    if not volume_known:
        min_volume = None
    mid = (bid_total + ask_total) / 2.0
    if basis is MarkBasis.MID:
        premium = mid
    else:
        # Natural: buying back a credit pays the ask; selling a debit receives the bid.
        premium = ask_total if position.premium_type is PremiumType.CREDIT else bid_total
    return Mark(
        premium=max(premium, 0.0),
        bid=bid_total,
        ask=ask_total,
        timestamp=oldest,
        problem=problem,
        min_volume=min_volume,
        leg_relative_spread=widest,
    )
