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
- ``metrics``: cagr, sharpe, sortino, max_drawdown, calmar, trade_count, win_rate,
  profit_factor, avg_days_held, and total_return, total_pnl, start/end equity, avg_mfe/avg_mae
  (see :mod:`riskpilot.backtest.metrics` for the conventions).
- ``exit_reasons``: ``{reason: {"count", "pnl"}}``.
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
  ``days_held``, ``mfe``/``mae`` (dollars).
- ``equity``: ``[{"date", "equity"}]``, one point per trading day from ``trade_from``.
- ``open_at_end``, ``entries_refused`` (reason -> days), ``warnings``.

The CSV (``write_trades_csv``) has one row per trade with :data:`CSV_COLUMNS`; ``legs`` is
written as text (``-1 SPY 2020-02-21 300P / +1 SPY 2020-02-21 295P``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import riskpilot
from riskpilot.backtest.trade import Trade
from riskpilot.config.redact import redact_mapping
from riskpilot.model.contract import EventContract, Leg, OptionContract, require_option
from riskpilot.model.enums import PremiumType
from riskpilot.trading.strategies import PREMIUM_TYPES

if TYPE_CHECKING:
    from riskpilot.backtest.runner import BacktestRun

__all__ = ["CSV_COLUMNS", "METRIC_KEYS", "to_json_dict", "trade_rows", "write_json", "write_trades_csv"]

#: The metrics every JSON document carries, in this order.
METRIC_KEYS: tuple[str, ...] = (
    "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate",
    "profit_factor", "avg_days_held", "total_return", "total_pnl", "start_equity",
    "end_equity", "avg_mfe", "avg_mae",
)

CSV_COLUMNS: tuple[str, ...] = (
    "id", "position_id", "underlying", "strategy", "method", "premium_type", "legs", "quantity",
    "multiplier", "entry_date", "entry_price", "exit_date", "exit_price", "commission", "pnl",
    "exit_reason", "priority", "days_held", "mfe", "mae",
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


def trade_rows(trades: list[Trade]) -> list[dict[str, Any]]:
    """The trades as JSON-ready dicts (see the module docstring for each field)."""
    rows: list[dict[str, Any]] = []
    closings: dict[str, int] = {}
    for t in trades:
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
        })
    return rows


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
        "metrics": {k: _num(getattr(m, k)) for k in METRIC_KEYS},
        "exit_reasons": {
            reason: {"count": s.count, "pnl": _num(s.pnl, 6)}
            for reason, s in sorted(m.by_exit_reason.items(), key=lambda kv: -kv[1].count)
        },
        "trades": trade_rows(result.trades),
        "equity": [
            {"date": d.isoformat(), "equity": _num(e, 6)} for d, e in zip(result.dates, result.equity, strict=True)
        ],
        "open_at_end": len(result.open_positions),
        "entries_refused": dict(sorted(result.entries_refused.items())),
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
        for row, trade in zip(trade_rows(run.result.trades), run.result.trades, strict=True):
            writer.writerow({**row, "legs": trade.legs_text})
