"""A finished backtest as the JSON document and the trades CSV of ``riskpilot backtest run``.

JSON (``to_json_dict``), every date ISO 8601 (``YYYY-MM-DD``), money in dollars, rates as
fractions (0.10 = 10%), a figure that is undefined (no losing trade, no drawdown...) ``null``:

- ``config``: the flags of the run (:class:`~riskpilot.backtest.runner.BacktestSpec`), the
  method traded, and ``effective``: the whole configuration after the flags were applied (alert
  URLs and any secret-named setting redacted, see :mod:`riskpilot.config.redact`).
- ``data``: ``source`` (what the chains are), ``model_priced`` (true when any row was model
  priced, not a market quote), ``kind`` (``model`` or ``store``), the span the source holds,
  and the period traded (``trade_from``..``end``; days before ``trade_from`` only warm up
  signals).
- ``timing``: ``fill`` (``close``: orders fill at the closing quotes of the day that decided;
  ``next``: at the next day's quotes) and ``settlement`` (where expiries' values came from, in
  words: the official series, or the chain's close where none is bundled).
- ``metrics``: cagr, sharpe, sortino, max_drawdown, calmar, trade_count, win_rate,
  profit_factor, avg_days_held, and total_return, total_pnl, start/end equity, avg_mfe/avg_mae
  (see :mod:`riskpilot.backtest.metrics` for the conventions), and the exit attribution's
  totals over the trades closed by a rule, ``exit_edge_vs_expiration`` and
  ``exit_edge_vs_next_rule`` (dollars; below).
- ``exit_reasons``: ``{reason: {"count", "pnl"}}``.
- ``exit_attribution`` (:mod:`riskpilot.backtest.attribution`): ``{reason: {...}}`` per exit
  reason, most trades first: ``trades``; ``pnl`` (their P&L); ``pnl_if_held_to_expiration``
  (the same units never closed by a rule, settled at expiration); ``edge_vs_expiration``
  (``pnl`` minus that: positive when closing by the rule made more than holding to expiry);
  ``pnl_if_held_to_next_rule`` (the rule switched off: the units close when another rule of
  the method fires, or settle); ``edge_vs_next_rule``; ``open_at_end`` (paths still open on
  the last day, valued at their last mid mark). Dollars after commissions. Settlement reasons
  are their own counterfactual (edge 0).
- ``trades``: one per closing (a partial exit is its own trade): ``id`` (unique:
  ``<position_id>.<n>`` for the n-th closing of that position), ``position_id``, ``underlying``,
  ``strategy``, ``method``, ``premium_type`` (``credit``/``debit``), ``legs`` per ONE unit of
  the position (``expiration``, ``strike``, ``right`` ``"P"``/``"C"``, ``quantity``: -1 short,
  +1 long; for an event contract ``market``, ``event``, ``side`` ``yes``/``no``,
  ``close_time`` and ``quantity``), ``quantity`` (units closed), ``multiplier`` (shares per
  contract; 1 for an event contract),
  ``entry_date``/``entry_price``, ``exit_date``/``exit_price`` (net premium per share of one
  unit as filled, after slippage; positive, 0 for an option that expired worthless),
  ``commission`` (dollars, opening share plus closing), ``pnl`` (dollars after commissions:
  ``(entry_price - exit_price) * multiplier * quantity - commission`` for a credit,
  ``(exit_price - entry_price) * ...`` for a debit), ``exit_reason``, ``priority``,
  ``days_held``, ``mfe``/``mae`` (dollars), ``entry_dte`` (calendar days to expiration at
  entry), ``entry_short_delta`` (delta per share at entry of the leg the delta range picked;
  null when the chain had none), and ``attribution``: null for a trade closed by
  settlement, else ``{"if_held_to_expiration": PATH, "if_held_to_next_rule": PATH}`` with
  PATH ``{"pnl", "exit_date", "exit_price", "how"}`` (``how``: the rule that would have closed
  the units, ``expiration_settlement``, ``assignment`` or ``open_at_end``).
- ``equity``: ``[{"date", "equity"}]``, one point per trading day from ``trade_from``.
- ``open_at_end``, ``entries_refused`` (reason -> refused attempts, at most one a day with one
  entry a day), ``entries_refused_why`` (reason -> the reason in words, with the setting to
  change), ``holes`` (``[{"before", "after", "missing_trading_days"}]``: stretches of more than
  10 trading days without a chain, left out of the CAGR), ``warnings``.

The CSV (``write_trades_csv``) has one row per trade with :data:`CSV_COLUMNS`; ``legs`` is
written as text (``-1 SPY 2020-02-21 300P / +1 SPY 2020-02-21 295P``); the attribution as the
two paths' P&L (a settled trade's own) and the rule that would have closed it next.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import riskpilot
from riskpilot.backtest.attribution import Outcome, TradeAttribution
from riskpilot.backtest.explain import refusal_advice
from riskpilot.backtest.trade import Trade
from riskpilot.config.redact import redact_mapping
from riskpilot.model.contract import EventContract, Leg, OptionContract, require_option
from riskpilot.model.enums import PremiumType
from riskpilot.trading.settlement import official_series
from riskpilot.trading.strategies import PREMIUM_TYPES

if TYPE_CHECKING:
    from riskpilot.backtest.runner import BacktestRun

__all__ = ["CSV_COLUMNS", "METRIC_KEYS", "settlement_text", "to_json_dict", "trade_rows", "write_json",
           "write_trades_csv"]

#: The metrics every JSON document carries, in this order.
METRIC_KEYS: tuple[str, ...] = (
    "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate",
    "profit_factor", "avg_days_held", "total_return", "total_pnl", "start_equity",
    "end_equity", "avg_mfe", "avg_mae", "exit_edge_vs_expiration", "exit_edge_vs_next_rule",
)

CSV_COLUMNS: tuple[str, ...] = (
    "id", "position_id", "underlying", "strategy", "method", "premium_type", "legs", "quantity",
    "multiplier", "entry_date", "entry_price", "exit_date", "exit_price", "commission", "pnl",
    "exit_reason", "priority", "days_held", "mfe", "mae", "entry_dte", "entry_short_delta",
    "pnl_if_held_to_expiration", "pnl_if_held_to_next_rule", "next_rule",
)


def _num(x: float | int | None, digits: int | None = None) -> float | int | None:
    """A JSON-safe number: NaN and infinities (never expected) become null; ``digits`` rounds
    away binary noise (prices and dollars keep 6 decimals, far below a cent)."""
    if x is None:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None and isinstance(x, float) else x


def _premium_type(trade: Trade) -> str:
    if trade.legs and isinstance(trade.legs[0].contract, EventContract):
        return "debit"  # an event position is one side bought
    return "debit" if PREMIUM_TYPES.get(trade.strategy) is PremiumType.DEBIT else "credit"


def _leg(leg: Leg) -> dict[str, Any]:
    c = leg.contract
    if isinstance(c, EventContract):
        return {"market": c.ticker, "event": c.event, "side": c.side.value, "close_time": c.close_time.isoformat(),
                "quantity": leg.quantity}
    o: OptionContract = require_option(c, "the backtest trade export")
    return {"expiration": o.expiration.isoformat(), "strike": o.strike, "right": o.right.value,
            "quantity": leg.quantity}


def _path(o: Outcome) -> dict[str, Any]:
    return {"pnl": _num(o.pnl, 6), "exit_date": o.exit_date.isoformat(), "exit_price": _num(o.exit_price, 6),
            "how": o.how}


def trade_rows(trades: list[Trade], attribution: Sequence[TradeAttribution] = ()) -> list[dict[str, Any]]:
    """The trades as JSON-ready dicts (see the module docstring for each field)."""
    rows: list[dict[str, Any]] = []
    closings: dict[str, int] = {}
    by_trade = {a.trade: a for a in attribution}
    for i, t in enumerate(trades):
        a = by_trade.get(i)
        n = closings.get(t.position_id, 0) + 1
        closings[t.position_id] = n
        multiplier = t.legs[0].contract.multiplier if t.legs else 100
        rows.append({
            "id": f"{t.position_id}.{n}",
            "position_id": t.position_id,
            "underlying": t.underlying,
            "strategy": t.strategy,
            "method": t.method,
            "premium_type": _premium_type(t),
            "legs": [_leg(leg) for leg in t.legs],
            "quantity": t.quantity,
            "multiplier": multiplier,
            "entry_date": t.opened.isoformat(),
            "entry_price": _num(t.entry_premium, 6),
            "exit_date": t.closed.isoformat(),
            "exit_price": _num(t.exit_premium, 6),
            "commission": _num(t.commission, 6),
            "pnl": _num(t.pnl, 6),
            "exit_reason": t.exit_reason,
            "priority": t.priority,
            "days_held": t.days_held,
            "mfe": _num(t.mfe, 6),
            "mae": _num(t.mae, 6),
            "entry_dte": t.entry_dte,
            "entry_short_delta": _num(t.entry_short_delta, 6),
            "attribution": None if a is None else {
                "if_held_to_expiration": _path(a.held_to_expiration),
                "if_held_to_next_rule": _path(a.held_to_next_rule),
            },
        })
    return rows


def settlement_text(run: BacktestRun) -> str:
    """Where the run's expiries took their values, in words."""
    series = official_series(run.spec.ticker)
    if series is None:
        return f"the chain's own {run.spec.ticker} close (no official series is bundled for it)"
    return (f"the official {series.name} close from the bundled daily history (AM-settled roots: its open, "
            f"approximating the opening settlement value)")


def to_json_dict(run: BacktestRun) -> dict[str, Any]:
    """The JSON document of a run (schema in the module docstring)."""
    m = run.metrics
    result = run.result
    src = run.source
    return {
        "riskpilot_version": riskpilot.__version__,
        "config": {
            **run.spec.model_dump(mode="json"),
            "method": run.method,
            "effective": redact_mapping(run.config.model_dump(mode="json")),
        },
        "data": {
            "source": src.description,
            "model_priced": run.model_priced,
            "kind": src.kind,
            "ticker": src.ticker,
            "first_day": src.first_day.isoformat(),
            "last_day": src.last_day.isoformat(),
            "trade_from": run.trade_from.isoformat(),
            "end": run.end.isoformat(),
        },
        "timing": {"fill": run.spec.fill, "settlement": settlement_text(run)},
        "metrics": {k: _num(getattr(m, k)) for k in METRIC_KEYS},
        "exit_reasons": {
            reason: {"count": s.count, "pnl": _num(s.pnl, 6)}
            for reason, s in sorted(m.by_exit_reason.items(), key=lambda kv: -kv[1].count)
        },
        "exit_attribution": {
            reason: {k: _num(v, 6) for k, v in a.as_dict().items()}
            for reason, a in result.exit_attribution().items()
        },
        "trades": trade_rows(result.trades, result.attribution),
        "equity": [
            {"date": d.isoformat(), "equity": _num(e, 6)} for d, e in zip(result.dates, result.equity, strict=True)
        ],
        "open_at_end": len(result.open_positions),
        "entries_refused": dict(sorted(result.entries_refused.items())),
        "entries_refused_why": {r.reason: r.why for r in refusal_advice(result.entries_refused, run.config,
                                                                        run.method)},
        "holes": [{"before": h.before.isoformat(), "after": h.after.isoformat(), "missing_trading_days": h.missing}
                  for h in result.holes],
        "warnings": [*run.warnings, *result.warnings],
        "seconds": round(run.seconds, 3),
    }


def write_json(run: BacktestRun, path: Path) -> None:
    path.write_text(json.dumps(to_json_dict(run), indent=1, allow_nan=False) + "\n", encoding="utf-8")


def write_trades_csv(run: BacktestRun, path: Path) -> None:
    """One row per trade, columns :data:`CSV_COLUMNS`."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for row, trade in zip(trade_rows(run.result.trades, run.result.attribution), run.result.trades,
                              strict=True):
            a = row.pop("attribution")
            writer.writerow({
                **row, "legs": trade.legs_text,
                "pnl_if_held_to_expiration": row["pnl"] if a is None else a["if_held_to_expiration"]["pnl"],
                "pnl_if_held_to_next_rule": row["pnl"] if a is None else a["if_held_to_next_rule"]["pnl"],
                "next_rule": "" if a is None else a["if_held_to_next_rule"]["how"],
            })
