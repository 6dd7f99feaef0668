"""Strategy builders for the backtest: pick an entry's legs from one day's chain, vectorized.

Every :data:`~riskpilot.config.schema.StrategyKind` has a builder; :func:`select_entry`
dispatches on ``strategy.kind``. Legs are per unit of the position (short -1, long +1).

=====================  =======================================================  ========
kind                   legs (one expiration)                                    premium
=====================  =======================================================  ========
put_credit_spread      short put by delta, long put below it (the wing)         CREDIT
call_credit_spread     short call by delta, long call above it (the wing)       CREDIT
iron_condor            put credit spread + call credit spread, same expiration  CREDIT
short_put              short put by delta                                       CREDIT
short_call             short call by delta                                      CREDIT
short_strangle         short put by delta + short call by delta                 CREDIT
long_put               long put by delta (the delta range picks the bought one) DEBIT
long_call              long call by delta (the delta range picks the bought one) DEBIT
=====================  =======================================================  ========

Selection rule (documented, deterministic)
------------------------------------------
Only rows of the day's *usable* chain are seen (:class:`~riskpilot.data.daychain.DayChain`
has already dropped rows flagged unusable for pricing). A row whose delta is missing never
qualifies for a delta range.

1. **Expiration**: among expirations with ``min_dte <= DTE <= max_dte`` (calendar days from
   the quote date) not in ``exclude_expirations`` (already held), in order of preference: DTE
   closest to the window's midpoint first, ties to the earlier expiration. The first
   expiration in that order on which *every* leg of the structure qualifies is taken; if none
   does, there is no entry that day.
2. **Leg by delta** (each short leg; the bought leg of a long option): among that
   expiration's options of the right with ``min_delta <= |delta| <= max_delta`` and a price
   to trade at (bid above zero to sell, ask above zero to buy), the one whose |delta| is
   closest to the range's midpoint; ties go to the strike further out of the money (the
   lower put, the higher call).
3. **Wing** (the bought leg of a credit spread, and each side of an iron condor), further out
   of the money than the short on the same expiration and right:

   - width in points (``width_points``), or as a share of the underlying's close on the
     entry day (``width_pct_of_spot``, the default: 1% of spot): the nearest listed strike at
     least that far away (the highest put at or below ``short - width``, the lowest call at or
     above ``short + width``), so the width is never narrower than asked; no wing when the
     chain carries no underlying price;
   - width by the long leg's |delta| (``long_delta``): among strikes beyond the short with a
     delta, the |delta| closest to ``long_delta``; ties to the further out-of-the-money
     strike.
4. **Two-sided structures** (iron condor, short strangle): the put side and the call side
   are each chosen by rules 2-3 on the same expiration, and the short put's strike must be
   below the short call's (otherwise that expiration does not qualify).

Undefined-risk structures (short puts, short calls, short strangles) are sized with
:func:`riskpilot.risk.sizing.max_loss_per_unit`'s convention: a short put can lose down to
an underlying at zero (strike minus credit); a net short call is measured at a +50% move of
the underlying from the entry day's close.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import numpy as np

from riskpilot.config.schema import EntryFilters, StrategyConfig, StrategyKind
from riskpilot.data.daychain import DayChain, IntArray, day_number
from riskpilot.model.contract import DEFAULT_EXPIRY_TIME, Leg, OptionContract
from riskpilot.model.enums import PremiumType, Right
from riskpilot.trading.settlement import AM_SETTLEMENT_TIME

SUPPORTED_KINDS: tuple[str, ...] = get_args(StrategyKind)

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class EntryCandidate:
    """An entry picked from one day's chain.

    ``legs`` are per unit as the position holds them (short -1, long +1). ``short_delta`` is
    the delta per share of the leg the delta range picked (the short put for an iron condor
    or strangle; the bought option for a long put/call). ``delta_per_share`` is the
    position's delta per share of one unit (sum of leg delta x leg quantity); NaN when a leg
    has no delta in the chain.
    """

    legs: tuple[Leg, ...]
    premium_type: PremiumType
    short_delta: float
    delta_per_share: float


@dataclass(frozen=True, slots=True)
class _Side:
    """One expiration's rows of one right, as indices into the day's arrays."""

    rows: IntArray
    call: bool


def _by_delta(day: DayChain, side: _Side, entry: EntryFilters, *, sell: bool) -> int | None:
    """Rule 2: the row of ``side`` picked by the delta range, or None."""
    rows = side.rows
    ad = np.abs(day.delta[rows])
    price = day.bid[rows] if sell else day.ask[rows]
    ok = (ad >= entry.min_delta - _EPS) & (ad <= entry.max_delta + _EPS) & (price > 0)
    idx = rows[ok]
    if idx.size == 0:
        return None
    dist = np.abs(ad[ok] - (entry.min_delta + entry.max_delta) / 2.0)
    # Ties to the further OTM strike: lower put, higher call.
    otm_key = -day.strike[idx] if side.call else day.strike[idx]
    return int(idx[np.lexsort((otm_key, dist))[0]])


def _wing(day: DayChain, side: _Side, short_i: int, strategy: StrategyConfig) -> int | None:
    """Rule 3: the bought leg beyond the short ``short_i`` on the same side, or None."""
    rows = side.rows
    k_short = float(day.strike[short_i])
    k = day.strike[rows]
    beyond = rows[k > k_short] if side.call else rows[k < k_short]
    if beyond.size == 0:
        return None
    kb = day.strike[beyond]
    width = strategy.width_points
    if width is None and strategy.width_pct_of_spot is not None:
        spot = day.underlying_price
        if not math.isfinite(spot) or spot <= 0:
            return None
        width = strategy.width_pct_of_spot * spot
    if width is not None:
        if side.call:
            ok = beyond[kb >= k_short + width - _EPS]
            return int(ok[np.argmin(day.strike[ok])]) if ok.size else None
        ok = beyond[kb <= k_short - width + _EPS]
        return int(ok[np.argmax(day.strike[ok])]) if ok.size else None
    if strategy.long_delta is None:
        raise ValueError(f"{strategy.kind} needs width_points, width_pct_of_spot or long_delta to place its long leg")
    cand = beyond[np.isfinite(day.delta[beyond])]
    if cand.size == 0:
        return None
    dist = np.abs(np.abs(day.delta[cand]) - strategy.long_delta)
    otm_key = -day.strike[cand] if side.call else day.strike[cand]
    return int(cand[np.lexsort((otm_key, dist))[0]])


def _spread(day: DayChain, side: _Side, strategy: StrategyConfig, entry: EntryFilters) -> tuple[int, int] | None:
    short_i = _by_delta(day, side, entry, sell=True)
    if short_i is None:
        return None
    long_i = _wing(day, side, short_i, strategy)
    return None if long_i is None else (short_i, long_i)


# A builder gets the expiration's put and call sides and returns (row, quantity) per leg.
_Picked = list[tuple[int, int]]
_Builder = Callable[[DayChain, _Side, _Side, StrategyConfig, EntryFilters], _Picked | None]


def _put_credit_spread(day: DayChain, puts: _Side, calls: _Side, s: StrategyConfig,
                       e: EntryFilters) -> _Picked | None:
    p = _spread(day, puts, s, e)
    return None if p is None else [(p[0], -1), (p[1], 1)]


def _call_credit_spread(day: DayChain, puts: _Side, calls: _Side, s: StrategyConfig,
                        e: EntryFilters) -> _Picked | None:
    c = _spread(day, calls, s, e)
    return None if c is None else [(c[0], -1), (c[1], 1)]


def _iron_condor(day: DayChain, puts: _Side, calls: _Side, s: StrategyConfig,
                 e: EntryFilters) -> _Picked | None:
    p = _spread(day, puts, s, e)
    if p is None:
        return None
    c = _spread(day, calls, s, e)
    if c is None or day.strike[p[0]] >= day.strike[c[0]]:
        return None
    return [(p[0], -1), (p[1], 1), (c[0], -1), (c[1], 1)]


def _single(call: bool, quantity: int) -> _Builder:
    def build(day: DayChain, puts: _Side, calls: _Side, s: StrategyConfig,
              e: EntryFilters) -> _Picked | None:
        i = _by_delta(day, calls if call else puts, e, sell=quantity < 0)
        return None if i is None else [(i, quantity)]
    return build


def _short_strangle(day: DayChain, puts: _Side, calls: _Side, s: StrategyConfig,
                    e: EntryFilters) -> _Picked | None:
    p = _by_delta(day, puts, e, sell=True)
    if p is None:
        return None
    c = _by_delta(day, calls, e, sell=True)
    if c is None or day.strike[p] >= day.strike[c]:
        return None
    return [(p, -1), (c, -1)]


#: kind -> (builder, needs puts, needs calls, premium type)
_BUILDERS: dict[str, tuple[_Builder, bool, bool, PremiumType]] = {
    "put_credit_spread": (_put_credit_spread, True, False, PremiumType.CREDIT),
    "call_credit_spread": (_call_credit_spread, False, True, PremiumType.CREDIT),
    "iron_condor": (_iron_condor, True, True, PremiumType.CREDIT),
    "short_put": (_single(call=False, quantity=-1), True, False, PremiumType.CREDIT),
    "short_call": (_single(call=True, quantity=-1), False, True, PremiumType.CREDIT),
    "short_strangle": (_short_strangle, True, True, PremiumType.CREDIT),
    "long_put": (_single(call=False, quantity=1), True, False, PremiumType.DEBIT),
    "long_call": (_single(call=True, quantity=1), False, True, PremiumType.DEBIT),
}

#: kind -> whether an entry of that kind collects a premium (CREDIT) or pays one (DEBIT).
PREMIUM_TYPES: dict[str, PremiumType] = {kind: b[3] for kind, b in _BUILDERS.items()}


def expirations_by_preference(
    day: DayChain, entry: EntryFilters, exclude_expirations: frozenset[int] = frozenset()
) -> IntArray:
    """Rule 1: the day's expirations (days since 1970-01-01) inside the DTE window and not
    excluded, most preferred first (DTE closest to the window's midpoint, ties earlier)."""
    today = day_number(day.quote_date)
    e = day.expirations  # distinct, ascending
    exps = e[(e >= today + entry.min_dte) & (e <= today + entry.max_dte)]
    if exclude_expirations:
        exps = exps[~np.isin(exps, np.fromiter(exclude_expirations, dtype=np.int64))]
    mid = (entry.min_dte + entry.max_dte) / 2.0
    return exps[np.lexsort((exps, np.abs((exps - today) - mid)))]


def select_entry(
    day: DayChain,
    strategy: StrategyConfig,
    entry: EntryFilters,
    *,
    multiplier: int = 100,
    exclude_expirations: frozenset[int] = frozenset(),
) -> EntryCandidate | None:
    """The entry the module's selection rule picks from ``day`` for ``strategy.kind``, or None
    when no expiration qualifies. ``exclude_expirations`` holds expirations (days since
    1970-01-01) not to enter, e.g. those already held."""
    try:
        build, need_puts, need_calls, premium_type = _BUILDERS[strategy.kind]
    except KeyError:
        raise ValueError(
            f"strategy kind {strategy.kind!r} has no builder; choose one of {SUPPORTED_KINDS}"
        ) from None
    if day.size == 0:
        return None
    exps = expirations_by_preference(day, entry, exclude_expirations)
    if exps.size == 0:
        return None
    for exp in exps:  # the first one usually qualifies; rows of an expiration are one contiguous block
        block = day.rows_of(int(exp))
        rows = np.arange(block.start, block.stop)
        calls_mask = day.is_call[rows]
        puts = _Side(rows[~calls_mask], call=False)
        calls = _Side(rows[calls_mask], call=True)
        if (need_puts and puts.rows.size == 0) or (need_calls and calls.rows.size == 0):
            continue
        picked = build(day, puts, calls, strategy, entry)
        if picked is None:
            continue
        exp_date = day.expiration_date(int(exp))
        legs = tuple(
            Leg(OptionContract(day.underlying, exp_date, float(day.strike[i]),
                               Right.CALL if day.is_call[i] else Right.PUT, multiplier,
                               AM_SETTLEMENT_TIME if day.is_am_settled(i) else DEFAULT_EXPIRY_TIME), q)
            for i, q in picked
        )
        deltas = np.array([day.delta[i] for i, _ in picked])
        qtys = np.array([q for _, q in picked], dtype=np.float64)
        return EntryCandidate(
            legs=legs,
            premium_type=premium_type,
            short_delta=float(deltas[0]),
            delta_per_share=float(np.dot(deltas, qtys)),
        )
    return None


__all__ = [
    "PREMIUM_TYPES",
    "SUPPORTED_KINDS",
    "EntryCandidate",
    "expirations_by_preference",
    "select_entry",
]
