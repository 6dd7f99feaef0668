"""The strike grid of a model chain: strikes per (day, expiration) by the spot's level and the
ATM standard deviation, and the contracts listed on each day (a strike once listed stays
listed until its expiration)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from riskpilot.data.model_chain.params import ModelChainParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _step_for(spot: FloatArray, p: ModelChainParams) -> FloatArray:
    thresholds = np.array([s[0] for s in p.strike_steps])
    steps = np.array([s[1] for s in p.strike_steps])
    out: FloatArray = steps[np.searchsorted(thresholds, spot, side="right").clip(0, len(steps) - 1)]
    return out


def _multiples(lo: FloatArray, hi: FloatArray, step: FloatArray) -> tuple[IntArray, FloatArray]:
    """All multiples of ``step`` in [lo, hi] per group: (group index, value)."""
    first = np.ceil(lo / step - 1e-9).astype(np.int64)
    last = np.floor(hi / step + 1e-9).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    total = int(counts.sum())
    group = np.repeat(np.arange(lo.size, dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    values = (np.repeat(first, counts) + offsets) * np.repeat(step, counts)
    return group, np.round(values, 8)


def strike_grid(
    spot: FloatArray, sd: FloatArray, p: ModelChainParams
) -> tuple[IntArray, FloatArray]:
    """Strikes per (day, expiration) pair: (pair index, strike), sorted by pair then strike."""
    step = _step_for(spot, p)
    far_step = step * p.far_step_multiplier
    near_w = np.minimum(p.near_sd * sd, p.max_moneyness)
    band_w = np.minimum(p.band_sd * sd, p.max_moneyness)
    near_lo, near_hi = spot * np.exp(-near_w), spot * np.exp(near_w)
    # At least one strike each side of the spot, however short the expiration.
    near_lo = np.minimum(near_lo, np.floor(spot / step) * step)
    near_hi = np.maximum(near_hi, np.ceil(spot / step) * step)
    g_near, k_near = _multiples(near_lo, near_hi, step)
    g_far, k_far = _multiples(spot * np.exp(-band_w), spot * np.exp(band_w), far_step)
    outside = (k_far < near_lo[g_far] - 1e-9) | (k_far > near_hi[g_far] + 1e-9)
    group = np.concatenate([g_near, g_far[outside]])
    strike = np.concatenate([k_near, k_far[outside]])
    order = np.lexsort((strike, group))
    group, strike = group[order], strike[order]
    positive = strike > 0
    return group[positive], strike[positive]


def listed_rows(
    exp: npt.NDArray[np.datetime64],
    pair_day: IntArray,
    group: IntArray,
    strike: FloatArray,
    first_out: int,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.bool_]]:
    """The listed contracts of every (day, expiration) pair on or after day ``first_out``.

    ``exp``/``pair_day`` are the pairs, sorted by day then expiration; ``group``/``strike`` the
    day's own strike grid per pair (pair index, strike). A strike of an expiration is listed on
    day t when it was on the grid of that expiration on some day <= t (as on an exchange, strikes
    are added as the spot moves and never removed before the expiration), so day t depends only
    on days up to t. Returns (pair index, strike, is_call) per row, sorted by pair, calls before
    puts, then strike.
    """
    _codes, exp_code = np.unique(exp, return_inverse=True)
    exp_code = exp_code.astype(np.int64)
    g_code = exp_code[group]
    g_day = pair_day[group]
    # Stable sort by (expiration, strike): each key's first entry is its earliest day, since the
    # grid comes in pair order and pairs in day order.
    order = np.lexsort((strike, g_code))
    s_code, s_strike, s_day = g_code[order], strike[order], g_day[order]
    new = np.ones(s_code.size, dtype=np.bool_)
    new[1:] = (s_code[1:] != s_code[:-1]) | (s_strike[1:] != s_strike[:-1])
    u_code, u_strike, u_first = s_code[new], s_strike[new], s_day[new]
    # Every strike ever listed for an expiration forms one block of the unique keys, by strike.
    n_codes = int(_codes.size)
    block_lo = np.searchsorted(u_code, np.arange(n_codes), side="left")
    block_len = np.searchsorted(u_code, np.arange(n_codes), side="right") - block_lo
    # Each output pair walks its expiration's block twice (calls, then puts) and keeps the
    # strikes first listed on or before its day.
    pairs = np.flatnonzero(pair_day >= first_out)
    b_lo = block_lo[exp_code[pairs]]
    b_len = block_len[exp_code[pairs]]
    counts = 2 * b_len
    total = int(counts.sum())
    row_pair = np.repeat(pairs, counts)
    j = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rep_len = np.repeat(b_len, counts)
    is_call = j < rep_len
    idx = np.repeat(b_lo, counts) + np.where(is_call, j, j - rep_len)
    keep = u_first[idx] <= pair_day[row_pair]
    return row_pair[keep], u_strike[idx[keep]], is_call[keep]
