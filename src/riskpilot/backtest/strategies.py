"""Strategy builders for the backtest: pick an entry's legs from one day's chain, vectorized.

Put credit spread selection rule (documented, deterministic):

1. Expiration: among expirations with ``min_dte <= DTE <= max_dte`` (calendar days from the
   quote date), the one whose DTE is closest to the window's midpoint; ties go to the earlier.
   Expirations in ``exclude_expirations`` (already held) are skipped.
2. Short put: among that expiration's puts with a usable quote, a bid above zero and
   ``min_delta <= |delta| <= max_delta``, the one whose |delta| is closest to the range's
   midpoint; ties go to the lower strike.
3. Long put (width in points): the highest listed put strike at or below
   ``short_strike - width_points`` with a usable quote, so the width is never narrower than
   asked. Width by the long leg's |delta| (``long_delta``): the put whose |delta| is closest to
   it among strikes below the short; ties to the lower strike.

If no expiration, short or long leg qualifies, there is no entry that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskpilot.backtest.chain import DayChain, _day_number
from riskpilot.config.schema import EntryFilters, StrategyConfig
from riskpilot.model.contract import Leg, OptionContract
from riskpilot.model.enums import PremiumType, Right

SUPPORTED_KINDS = ("put_credit_spread",)


@dataclass(frozen=True, slots=True)
class EntryCandidate:
    """Legs per unit as the position holds them (short -1, long +1) and the short leg's
    delta per share, from the day's chain."""

    legs: tuple[Leg, ...]
    premium_type: PremiumType
    short_delta: float
    delta_per_share: float


def select_put_credit_spread(
    day: DayChain,
    strategy: StrategyConfig,
    entry: EntryFilters,
    *,
    multiplier: int = 100,
    exclude_expirations: frozenset[int] = frozenset(),
) -> EntryCandidate | None:
    """The put credit spread the rule above picks from ``day``, or None."""
    today = _day_number(day.quote_date)
    puts = ~day.is_call
    dte = day.expiration - today
    in_window = puts & (dte >= entry.min_dte) & (dte <= entry.max_dte)
    if exclude_expirations:
        in_window &= ~np.isin(day.expiration, np.fromiter(exclude_expirations, dtype=np.int64))
    if not in_window.any():
        return None
    exps = np.unique(day.expiration[in_window])
    mid_dte = (entry.min_dte + entry.max_dte) / 2.0
    # Candidate expirations must also have a short strike in the delta range: try them in
    # order of preference and take the first that yields a full spread.
    pref = exps[np.lexsort((exps, np.abs((exps - today) - mid_dte)))]
    abs_delta = np.abs(day.delta)
    mid_delta = (entry.min_delta + entry.max_delta) / 2.0
    for exp in pref:
        same = puts & (day.expiration == exp)
        short_ok = same & (day.bid > 0) & (abs_delta >= entry.min_delta) & (abs_delta <= entry.max_delta)
        idx = np.flatnonzero(short_ok)
        if idx.size == 0:
            continue
        dist = np.abs(abs_delta[idx] - mid_delta)
        short_i = int(idx[np.lexsort((day.strike[idx], dist))[0]])
        k_short = float(day.strike[short_i])
        below = np.flatnonzero(same & (day.strike < k_short))
        if below.size == 0:
            continue
        if strategy.width_points is not None:
            ok = below[day.strike[below] <= k_short - strategy.width_points + 1e-9]
            if ok.size == 0:
                continue
            long_i = int(ok[np.argmax(day.strike[ok])])
        else:
            target = float(strategy.long_delta or 0.0)
            cand = below[np.isfinite(abs_delta[below])]
            if cand.size == 0:
                continue
            d = np.abs(abs_delta[cand] - target)
            long_i = int(cand[np.lexsort((day.strike[cand], d))[0]])
        exp_date = day.expiration_date(int(exp))
        short = OptionContract(day.underlying, exp_date, k_short, Right.PUT, multiplier)
        long = OptionContract(day.underlying, exp_date, float(day.strike[long_i]), Right.PUT, multiplier)
        sd = float(day.delta[short_i])
        ld = float(day.delta[long_i]) if np.isfinite(day.delta[long_i]) else 0.0
        return EntryCandidate(
            legs=(Leg(short, -1), Leg(long, 1)),
            premium_type=PremiumType.CREDIT,
            short_delta=sd,
            delta_per_share=-sd + ld,
        )
    return None


def select_entry(
    day: DayChain,
    strategy: StrategyConfig,
    entry: EntryFilters,
    *,
    multiplier: int = 100,
    exclude_expirations: frozenset[int] = frozenset(),
) -> EntryCandidate | None:
    """Dispatch on ``strategy.kind``; kinds other than SUPPORTED_KINDS raise with the list."""
    if strategy.kind == "put_credit_spread":
        return select_put_credit_spread(day, strategy, entry, multiplier=multiplier,
                                        exclude_expirations=exclude_expirations)
    raise NotImplementedError(
        f"the backtester builds {SUPPORTED_KINDS} so far; method strategy kind "
        f"{strategy.kind!r} is not supported yet"
    )


__all__ = ["SUPPORTED_KINDS", "EntryCandidate", "select_entry", "select_put_credit_spread"]
