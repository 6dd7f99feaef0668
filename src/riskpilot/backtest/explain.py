"""Why a run made the trades it made: entry refusals in words, with the setting to change,
and holes in a store's span.

:func:`refusal_advice` turns the refusal counts of a run (``BacktestResult.entries_refused``:
one count per refused attempt, at most one a day with the default one entry a day) into one
line per reason, naming the configuration's own values and the flag or YAML key that moves
them. :func:`find_holes` finds stretches of more than :data:`MAX_GAP_TRADING_DAYS` trading
days without a chain, which the metrics leave out of the CAGR's span.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import numpy.typing as npt

from riskpilot.config.schema import MethodConfig, RiskPilotConfig
from riskpilot.trading.signals import IV_WINDOW

#: A chain gap longer than this many trading days is a hole (warned about; not in the CAGR).
MAX_GAP_TRADING_DAYS = 10


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refusal reason of a run: ``count`` attempts refused, ``why`` in words with the fix."""

    reason: str
    count: int
    why: str


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x * 100 - round(x * 100)) < 1e-9 else f"{x:.1%}"


def _bounds(lo: float | None, hi: float | None) -> str:
    """Where a value fell outside ``[lo, hi]`` (None: unbounded), in words."""
    if lo is None and hi is not None:
        return f"above {hi:g}"
    if hi is None and lo is not None:
        return f"below {lo:g}"
    if lo is None or hi is None:
        return "outside its bounds"
    return f"outside {lo:g}-{hi:g}"


def _width(m: MethodConfig) -> str:
    s = m.strategy
    if s.width_points is not None:
        return f"{s.width_points:g} points wide (--width)"
    if s.width_pct_of_spot is not None:
        return f"{_pct(s.width_pct_of_spot)} of spot wide (--width-pct)"
    if s.long_delta is not None:
        return f"the long leg at {s.long_delta:g} |delta| (--long-delta)"
    return "a single leg"


def _texts(cfg: RiskPilotConfig, method: str) -> dict[str, Callable[[int], str]]:
    m = cfg.method(method)
    e, r = m.entry, cfg.risk
    window = f"{e.min_delta:g}-{e.max_delta:g} |delta| and {e.min_dte}-{e.max_dte} DTE"
    spread = m.strategy.kind in ("put_credit_spread", "call_credit_spread", "iron_condor")
    legs = f"no {m.strategy.kind} with its short strike in {window}" + (f", {_width(m)}," if spread else "")
    key = f"methods.{method}"
    return {
        "no_candidate": lambda n: f"{legs} on {n} days: widen --min-delta/--max-delta or --min-dte/--max-dte"
        + (", or narrow the spread" if spread else ""),
        "expirations_held": lambda n: f"every expiration in {e.min_dte}-{e.max_dte} DTE was already held on {n} "
        f"days (one position per expiration): widen --min-dte/--max-dte, or exit sooner (--profit-target, "
        f"--time-exit-dte)",
        "iv_warmup": lambda n: f"the IV window ({IV_WINDOW} trading days of the chain's ATM IV) was still filling on "
        f"{n} days: start later, or use data with {IV_WINDOW} trading days before --start",
        "no_iv": lambda n: f"the chain gave no 30-day ATM implied volatility on {n} days, which the IV filters need: "
        f"drop --min-iv-percentile/--max-iv-percentile, or use a chain with IVs or deltas",
        "iv_percentile_filter": lambda n: f"IV percentile {_bounds(e.min_iv_percentile, e.max_iv_percentile)} on "
        f"{n} days: widen --min-iv-percentile/--max-iv-percentile",
        "iv_rank_filter": lambda n: f"IV rank {_bounds(e.min_iv_rank, e.max_iv_rank)} on {n} days: widen "
        f"{key}.entry.min_iv_rank/max_iv_rank",
        "iv_rank_undefined": lambda n: f"IV rank undefined (a flat IV window) on {n} days: use the IV percentile "
        f"instead (--min-iv-percentile)",
        "vix_filter": lambda n: f"VIX {_bounds(e.vix_min, e.vix_max)} on {n} days: change "
        f"{key}.entry.vix_min/vix_max",
        "no_vix_value": lambda n: f"no VIX value on {n} days (the bundled VIX history does not cover them): "
        f"clear {key}.entry.vix_min/vix_max, or trade inside the history",
        "no_regime": lambda n: f"the regime was unknown on {n} days (it needs {cfg.regimes.trend_sma_days} days of "
        f"closes and a VIX): start later",
        "regime": lambda n: f"the regime's size multiplier sized the order to 0 contracts on {n} days: raise "
        f"regimes.multipliers, or {key}.sizing.max_contracts",
        "portfolio_heat": lambda n: f"the portfolio heat limit (open positions' max loss <= "
        f"{_pct(r.max_portfolio_heat_pct)} of equity) left no room for one more contract on {n} days: raise "
        f"risk.max_portfolio_heat_pct or --equity, or trade a structure that risks less (a spread, not a naked "
        f"short)",
        "underlying": lambda n: f"the per-underlying limit ({_pct(r.max_underlying_pct)} of equity in max loss) left "
        f"no room for one more contract on {n} days: raise risk.max_underlying_pct or --equity, or risk less a "
        f"trade",
        "position_size": lambda n: f"one contract's worst loss is above {_pct(r.max_position_pct)} of equity "
        f"(risk.max_position_pct) on {n} days: narrow the spread or raise --equity",
        "method_risk_per_trade": lambda n: f"one contract's worst loss is above the method's "
        f"{_pct(m.sizing.max_risk_per_trade_pct)} of equity a trade on {n} days: narrow the spread, raise "
        f"{key}.sizing.max_risk_per_trade_pct, or raise --equity",
        "class_positions": lambda n: f"{r.max_positions_per_class} positions were already open in the correlation "
        f"class on {n} days: raise risk.max_positions_per_class, or exit sooner",
        "class_exposure": lambda n: f"the correlation class's max-loss limit ({_pct(r.max_class_exposure_pct)} of "
        f"equity) left no room for one more contract on {n} days: raise --max-correlated-exposure",
        "delta": lambda n: f"the book's net dollar delta limit ({r.max_delta_pct}x equity) was full on {n} days: "
        f"raise risk.max_delta_pct",
        "gamma": lambda n: f"the book's dollar gamma limit ({r.max_gamma_pct}x equity) was full on {n} days: "
        f"raise risk.max_gamma_pct",
        "trading_state": lambda n: f"entries were halted (the circuit breaker's daily loss limit "
        f"{_pct(r.daily_loss_limit_pct) if r.daily_loss_limit_pct else 'off'}) on {n} days: raise "
        f"risk.daily_loss_limit_pct",
        "unfillable": lambda n: f"a leg of the chosen structure had no usable quote on {n} days (missing, crossed "
        f"or stale)",
        "no_credit": lambda n: f"the fill model's price left no credit on {n} days: a smaller --slippage, or a "
        f"wider spread",
        "no_debit": lambda n: f"the fill model's price was no debit on {n} days (inconsistent quotes)",
        "no_risk": lambda n: f"the structure's worst loss was not positive on {n} days (nothing to size)",
        "conflicting_position": lambda n: f"an entry in the underlying was still working on {n} days",
        "next_day_unfillable": lambda n: f"--fill next: an entry decided the day before could not fill at the next "
        f"day's quotes {n} times (a leg unquoted): cancelled, not chased",
        "next_day_no_credit": lambda n: f"--fill next: an entry decided the day before no longer collected a credit "
        f"at the next day's quotes {n} times: cancelled",
    }


def refusal_advice(refused: Mapping[str, int], config: RiskPilotConfig, method: str) -> list[Refusal]:
    """One :class:`Refusal` per reason of ``refused``, most frequent first."""
    texts = _texts(config, method)
    out = []
    for reason, n in sorted(refused.items(), key=lambda kv: (-kv[1], kv[0])):
        text = texts.get(reason)
        out.append(Refusal(reason, n, text(n) if text is not None else f"{reason} on {n} days"))
    return out


@dataclass(frozen=True, slots=True)
class Hole:
    """Consecutive chain days ``before`` and ``after`` with ``missing`` trading days between."""

    before: date
    after: date
    missing: int

    @property
    def calendar_days(self) -> int:
        """Calendar days of the hole beyond an ordinary next day (left out of the CAGR)."""
        return (self.after - self.before).days - 1

    def __str__(self) -> str:
        return f"{self.before} .. {self.after} ({self.missing} trading days without a chain)"


@cache
def _sessions() -> npt.NDArray[np.int64]:
    """Trading days (days since 1970-01-01) of the bundled SPX history: the exchange calendar."""
    from riskpilot.data.history import load_index

    return np.asarray(load_index("SPX").index.values.astype("datetime64[D]").astype(np.int64), dtype=np.int64)


def find_holes(days: Sequence[date], max_gap: int = MAX_GAP_TRADING_DAYS) -> list[Hole]:
    """Stretches between consecutive ``days`` with more than ``max_gap`` trading days missing
    (trading days from the bundled SPX history; weekdays beyond its end)."""
    if len(days) < 2:
        return []
    sessions = _sessions()
    epoch = date(1970, 1, 1).toordinal()
    d = np.fromiter((x.toordinal() - epoch for x in days), np.int64, len(days))
    inside = np.searchsorted(sessions, d[1:], side="left") - np.searchsorted(sessions, d[:-1], side="right")
    weekdays = np.busday_count(d[:-1].astype("datetime64[D]") + 1, d[1:].astype("datetime64[D]"))
    last = sessions[-1]
    missing = np.where(d[1:] <= last, inside, weekdays)
    return [Hole(days[i], days[i + 1], int(missing[i])) for i in np.flatnonzero(missing > max_gap).tolist()]


__all__ = ["MAX_GAP_TRADING_DAYS", "Hole", "Refusal", "find_holes", "refusal_advice"]
