"""Market regime from trend and volatility, and its size multiplier (SPEC section 6)."""

from __future__ import annotations

import math

from riskpilot.config.schema import RegimeConfig, RegimeName


def classify_regime(
    close: float, trend_average: float, vix: float, config: RegimeConfig
) -> RegimeName:
    """bull when ``close`` >= its trend moving average, bear below; high vol when ``vix`` >=
    the threshold. Inputs must be known as of the decision (no look-ahead): yesterday's or
    today's close, never a later one."""
    for name, v in (("close", close), ("trend_average", trend_average), ("vix", vix)):
        if v is None or math.isnan(v) or v <= 0:
            raise ValueError(f"classify_regime: {name} must be a positive number, got {v!r}")
    trend = "bull" if close >= trend_average else "bear"
    vol = "high_vol" if vix >= config.vix_high_threshold else "low_vol"
    return f"{trend}_{vol}"  # type: ignore[return-value]


def regime_multiplier(regime: RegimeName | None, config: RegimeConfig) -> float:
    return 1.0 if regime is None else config.multipliers[regime]
