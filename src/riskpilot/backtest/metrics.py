"""Performance figures from a daily equity curve and a trade log.

Conventions (stated, because every library picks its own):

- Daily returns are simple returns between consecutive equity values; 252 trading days a year
  (:data:`TRADING_DAYS`) for annualizing Sharpe and Sortino; risk-free rate 0.
- CAGR: ``(end / start) ** (365.25 / calendar_days) - 1`` over the curve's first to last date,
  less the calendar days of the data's holes (``excluded_days``: stretches of more than 10
  trading days without a chain, :func:`riskpilot.backtest.explain.find_holes`), over which
  nothing was marked or traded and which a rate of growth must not be spread over.
- Sharpe: ``mean(r) / std(r, ddof=1) * sqrt(252)`` (the *sample* standard deviation).
- Sortino: ``mean(r) / sqrt(mean(min(r, 0) ** 2)) * sqrt(252)`` (downside deviation over all
  days, target 0).
- Max drawdown: the largest fall from a running peak, as a positive fraction (0.12 = 12%); the
  first equity value counts as a peak.
- Calmar: CAGR / max drawdown, both over the whole curve.
- Win rate: share of trades with pnl > 0; profit factor: gross profit / gross loss.

Cross-checked against empyrical-reloaded on real equity curves
(``tests/backtest/test_metrics_crosscheck.py``): Sharpe, Sortino and max drawdown agree to
rounding, as both use the conventions above. CAGR (and so Calmar) counts years differently on
purpose: empyrical counts ``len(returns) / 252`` trading periods, riskpilot counts calendar
time. A backtest's chain can skip days (vendor gaps, missing holidays), and counting the
observations would then shrink the span and inflate the growth rate; an option's decay also
runs on calendar days. On a gap-free daily curve the two differ only by the sessions a year
holds versus 252 (SPY 1993-2026: 251.7; a few hundredths of a percentage point of CAGR).

A figure whose denominator is zero (no volatility, no drawdown, no losing trade, no trade) is
``None``, never a made-up 0 or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from riskpilot.backtest.trade import Trade

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True)
class ReasonStats:
    count: int
    pnl: float


@dataclass(frozen=True, slots=True)
class Metrics:
    """Money in dollars, rates as fractions (0.10 = 10%)."""

    start_equity: float
    end_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    calmar: float | None
    trade_count: int
    win_rate: float | None
    profit_factor: float | None
    avg_days_held: float | None
    total_pnl: float
    by_exit_reason: dict[str, ReasonStats] = field(default_factory=dict)
    avg_mfe: float | None = None
    avg_mae: float | None = None
    #: Exit attribution totals over the trades closed by a rule (:mod:`riskpilot.backtest.attribution`):
    #: their P&L minus the same units' P&L held to expiration, and held to the next rule.
    exit_edge_vs_expiration: float | None = None
    exit_edge_vs_next_rule: float | None = None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 and math.isfinite(den) else None


def max_drawdown(equity: Sequence[float] | np.ndarray) -> float:
    """Largest peak-to-trough fall as a positive fraction of the peak."""
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return 0.0
    peak = np.maximum.accumulate(eq)
    return float(np.max(1.0 - eq / peak))


def compute_metrics(dates: Sequence[date], equity: Sequence[float], trades: Sequence[Trade], *,
                    excluded_days: int = 0) -> Metrics:
    """Figures for a backtest; ``dates`` and ``equity`` are aligned, one value per day;
    ``excluded_days`` calendar days of holes are left out of the CAGR's span."""
    if len(dates) != len(equity):
        raise ValueError(f"dates ({len(dates)}) and equity ({len(equity)}) must be aligned")
    if len(equity) == 0:
        raise ValueError("an equity curve needs at least one day; the backtest processed none")
    eq = np.asarray(equity, dtype=np.float64)
    if not np.all(np.isfinite(eq)) or np.any(eq <= 0):
        raise ValueError("equity must be finite and positive on every day to compute returns")
    start, end = float(eq[0]), float(eq[-1])
    r = eq[1:] / eq[:-1] - 1.0
    days = (dates[-1] - dates[0]).days - max(excluded_days, 0)
    cagr = (end / start) ** (365.25 / days) - 1.0 if days > 0 else None
    sharpe = sortino = None
    if r.size >= 2:
        sd = float(np.std(r, ddof=1))
        s = _ratio(float(np.mean(r)), sd)
        sharpe = s * math.sqrt(TRADING_DAYS) if s is not None else None
        dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        so = _ratio(float(np.mean(r)), dd)
        sortino = so * math.sqrt(TRADING_DAYS) if so is not None else None
    mdd = max_drawdown(eq)
    calmar = cagr / mdd if cagr is not None and mdd > 0 else None
    pnl = np.asarray([t.pnl for t in trades], dtype=np.float64)
    n = int(pnl.size)
    gross_win = float(pnl[pnl > 0].sum()) if n else 0.0
    gross_loss = float(-pnl[pnl < 0].sum()) if n else 0.0
    reasons: dict[str, ReasonStats] = {}
    for t in trades:
        prev = reasons.get(t.exit_reason, ReasonStats(0, 0.0))
        reasons[t.exit_reason] = ReasonStats(prev.count + 1, prev.pnl + t.pnl)
    return Metrics(
        start_equity=start,
        end_equity=end,
        total_return=end / start - 1.0,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=mdd,
        calmar=calmar,
        trade_count=n,
        win_rate=float(np.mean(pnl > 0)) if n else None,
        profit_factor=_ratio(gross_win, gross_loss),
        avg_days_held=float(np.mean([t.days_held for t in trades])) if n else None,
        total_pnl=float(pnl.sum()) if n else 0.0,
        by_exit_reason=reasons,
        avg_mfe=float(np.mean([t.mfe for t in trades])) if n else None,
        avg_mae=float(np.mean([t.mae for t in trades])) if n else None,
    )


__all__ = ["TRADING_DAYS", "Metrics", "ReasonStats", "compute_metrics", "max_drawdown"]
