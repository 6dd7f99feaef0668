"""Marking a multi-leg position from its legs' quotes: the net premium to close one unit, and
the checks that make a mark unusable (``docs/marks.md``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from riskpilot.model.contract import Contract
from riskpilot.model.enums import PremiumType, QuoteProblem
from riskpilot.model.position import Position, premium_sign
from riskpilot.model.quote import DEFAULT_MAX_CLOCK_SKEW_SECONDS, DEFAULT_MAX_QUOTE_AGE_SECONDS, Quote
from riskpilot.model.structure import BOUND_TOLERANCE, ValueBounds, leg_outside, market_outside, value_bounds


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
    is the value the rules use (mid or natural per the basis). ``problem`` is set when the
    mark may not be used (a leg's quote missing, crossed, naive, future-stamped or stale; a
    one-sided short leg; a market outside the structure's bounds; an unconfirmed jump), with
    ``detail`` saying what was seen where the problem alone does not; a mark with a problem
    must never trigger an exit, move a stop or make a fill. ``min_volume`` is the thinnest
    leg's volume (None when unknown).
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
    detail: str | None = None

    def __post_init__(self) -> None:
        for name in ("premium", "bid", "ask", "leg_relative_spread"):
            v = getattr(self, name)
            if v is not None and (v != v or v in (float("inf"), float("-inf"))):
                raise ValueError(f"Mark.{name} must be a finite number or None (missing), got {v!r}")

    def with_problem(self, problem: QuoteProblem, detail: str | None = None) -> Mark:
        """This mark, unusable for ``problem``: its prices kept for the record, except a value
        that is no number (set past the constructor by a faulty source), which becomes None."""
        return replace(self, premium=_price_or_none(self.premium), bid=_price_or_none(self.bid),
                       ask=_price_or_none(self.ask), leg_relative_spread=_price_or_none(self.leg_relative_spread),
                       problem=problem, detail=detail)

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


@dataclass(frozen=True, slots=True)
class MarkChecks:
    """What makes a mark unusable beyond a missing or crossed quote (``docs/marks.md``).

    ``max_age_seconds``: a quote or mark older than this is stale. ``max_skew_seconds``: one
    stamped later than now by more than this is future-stamped. ``one_sided_error_pct``: a
    short leg bid at 0 makes the mark one-sided when half its ask (what its mid understates
    the buy-back by) times its quantity exceeds this share of the entry premium, and its ask
    exceeds ``one_sided_min_ask`` (dollars per share: an ask of a tick or two is the price
    of a worthless option, and buying it back costs at most that).
    ``carry_rate``: the largest yearly interest rate or dividend yield a European option's
    value may lag its intrinsic value by (a leg under intrinsic by more than that carry and
    its spread cannot be true; checked where the underlying's price is known)."""

    max_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS
    max_skew_seconds: float = DEFAULT_MAX_CLOCK_SKEW_SECONDS
    one_sided_error_pct: float = 0.10
    one_sided_min_ask: float = 0.05
    carry_rate: float = 0.10

    def __post_init__(self) -> None:
        for name in ("max_age_seconds", "max_skew_seconds", "one_sided_error_pct", "one_sided_min_ask",
                     "carry_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"MarkChecks.{name} must be a finite number >= 0, got {v!r}")


DEFAULT_MARK_CHECKS = MarkChecks()


def mark_position(
    position: Position,
    quotes: Mapping[Contract, Quote],
    now: datetime,
    *,
    basis: MarkBasis = MarkBasis.MID,
    max_age_seconds: float | None = None,
    checks: MarkChecks = DEFAULT_MARK_CHECKS,
    underlying_price: float | None = None,
) -> Mark:
    """Combine leg quotes into the close-out market of one unit of ``position``.

    With s = -1 for a credit and +1 for a debit position, the premium is
    s * sum(q_i * price_i) over legs with per-unit signed quantity q_i. The combo's bid takes
    each leg at the side that is worse for the holder.

    The mark is unusable (``problem`` set) when a leg's quote is (in this order) absent,
    missing, crossed, naive, future-stamped or stale (:meth:`Quote.problem` under ``checks``;
    ``max_age_seconds``, when given, stands for ``checks.max_age_seconds``), when a short leg
    is one-sided, when a leg lies outside its own bounds (``underlying_price``: the
    underlying's price now, which bounds an option by its intrinsic value), or when the
    combo's market lies outside the structure's bounds (:mod:`riskpilot.model.structure`).
    """
    if max_age_seconds is not None:
        checks = replace(checks, max_age_seconds=max_age_seconds)
    sign = premium_sign(position.premium_type)
    bid_total = 0.0
    ask_total = 0.0
    oldest = now
    problem: QuoteProblem | None = None
    detail: str | None = None
    min_volume: int | None = None
    volume_known = True
    widest: float | None = 0.0
    one_sided_limit = checks.one_sided_error_pct * position.entry_premium
    min_ask = checks.one_sided_min_ask + 1e-9
    for leg in position.legs:
        q = quotes.get(leg.contract)
        if q is None:
            return Mark(None, None, None, now, QuoteProblem.MISSING)
        p = q.problem(now, checks.max_age_seconds, checks.max_skew_seconds)
        if p is not None and problem is None:
            problem = p
            if p is QuoteProblem.FUTURE or p is QuoteProblem.NAIVE_TIMESTAMP:
                detail = f"{leg.contract} quoted at {q.timestamp.isoformat()}, checked at {now.isoformat()}"
        if q.bid is None or q.ask is None:
            return Mark(None, None, None, q.timestamp if q.timestamp.tzinfo is not None else now,
                        problem or QuoteProblem.MISSING)
        if problem is None:
            if (q.bid == 0.0 and leg.quantity < 0 and q.ask > min_ask
                    and q.ask / 2.0 * -leg.quantity > one_sided_limit + 1e-12):
                problem = QuoteProblem.ONE_SIDED
                detail = (f"short leg {leg.contract} is bid 0.00 against an ask of {q.ask:.2f}: it cannot be "
                          f"bought back near its mid {q.ask / 2.0:.2f}")
            else:
                why = leg_outside(leg.contract, q.bid, q.ask, now, underlying_price, checks.carry_rate)
                if why is not None:
                    problem, detail = QuoteProblem.OUT_OF_BOUNDS, why
        w = sign * leg.quantity
        # The holder's bid (what closing could fetch in premium terms) takes the worse side.
        if w > 0:
            bid_total += w * q.bid
            ask_total += w * q.ask
        else:
            bid_total += w * q.ask
            ask_total += w * q.bid
        if q.timestamp.tzinfo is not None and q.timestamp < oldest:
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
    if problem is None:
        bounds = value_bounds(position.legs, position.premium_type)
        if bounds is not None:
            why = market_outside(bounds, bid_total, ask_total, premium)
            if why is not None:
                problem, detail = QuoteProblem.OUT_OF_BOUNDS, why
    return Mark(
        premium=max(premium, 0.0),
        bid=bid_total,
        ask=ask_total,
        timestamp=oldest,
        problem=problem,
        min_volume=min_volume,
        leg_relative_spread=widest,
        detail=detail,
    )


def freshness_window(now: datetime, checks: MarkChecks) -> tuple[datetime, datetime]:
    """The latest and the earliest timestamp a mark checked at ``now`` may carry."""
    return now + timedelta(seconds=checks.max_skew_seconds), now - timedelta(seconds=checks.max_age_seconds)


def mark_problem(
    mark: Mark, now: datetime, bounds: ValueBounds | None, checks: MarkChecks = DEFAULT_MARK_CHECKS
) -> tuple[QuoteProblem, str | None] | None:
    """Why a mark handed to the rules engine may not be used at ``now`` (aware), whoever built
    it: its own problem; no premium; a naive, future-stamped or stale timestamp; a premium that
    is negative, not finite or outside its own market; a crossed market; or a market outside
    the structure's ``bounds`` (:func:`riskpilot.model.structure.value_bounds`; None: no
    bound). None when it is good. Never raises on a malformed mark: a bad mark holds its
    position only."""
    if mark.problem is not None:
        return mark.problem, mark.detail
    premium = mark.premium
    if premium is None:
        return QuoteProblem.MISSING, None
    ts = mark.timestamp
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        return QuoteProblem.NAIVE_TIMESTAMP, f"marked at {ts!r}, which has no time zone"
    newest, oldest = freshness_window(now, checks)
    if ts > newest:
        ahead = (ts - now).total_seconds()
        return QuoteProblem.FUTURE, f"marked at {ts.isoformat()}, {ahead:.0f} s after the check at {now.isoformat()}"
    if ts < oldest:
        age = (now - ts).total_seconds()
        return QuoteProblem.STALE, f"marked {age:.0f} s before the check (max {checks.max_age_seconds:g} s)"
    bid, ask = mark.bid, mark.ask
    if not _finite(premium) or premium < 0:
        return QuoteProblem.OUT_OF_BOUNDS, f"premium {premium!r} is not a price (negative or not finite)"
    if bid is not None and ask is not None:
        if not (_finite(bid) and _finite(ask)):
            return QuoteProblem.OUT_OF_BOUNDS, f"market {bid!r}..{ask!r} is not finite"
        if bid > ask:
            return QuoteProblem.CROSSED, None
        # The premium is the mid or a side, clipped at 0: never outside its own market.
        if premium > max(ask, 0.0) + BOUND_TOLERANCE or premium < bid - BOUND_TOLERANCE:
            return QuoteProblem.OUT_OF_BOUNDS, f"premium {premium:.2f} lies outside its own market {bid:.2f}..{ask:.2f}"
    if bounds is not None:
        why = market_outside(bounds, bid, ask, premium)
        if why is not None:
            return QuoteProblem.OUT_OF_BOUNDS, why
    return None


def _price_or_none(v: float | None) -> float | None:
    return v if _finite(v) else None


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
