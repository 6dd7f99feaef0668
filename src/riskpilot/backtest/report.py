"""A finished backtest as one self-contained HTML page.

Four interactive Plotly charts (the equity curve, the drawdown, P&L by exit reason, and every
trade as a point: exit date against P&L, coloured by exit reason) and the metrics table. The
plotly.js library is written inline once, in the page itself, so the file opens offline and
fetches nothing (no CDN, no MathJax). Model-priced results carry a banner saying so.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from riskpilot.backtest.metrics import Metrics

if TYPE_CHECKING:
    from riskpilot.backtest.runner import BacktestRun

__all__ = ["CHART_IDS", "render_report", "write_report"]

#: The ``id`` of each chart's element in the page.
CHART_IDS: tuple[str, ...] = ("equity-curve", "drawdown", "pnl-by-exit-reason", "trade-scatter")

#: No "produced with Plotly" link to plotly.com in the mode bar: the page links nowhere.
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_LAYOUT = {"template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 20, "t": 50, "b": 40}}


def _fmt(value: float | int | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "money":
        return f"${value:,.0f}"
    if kind == "int":
        return f"{int(value):,}"
    return f"{value:.2f}"


def _metrics_rows(m: Metrics) -> list[tuple[str, str]]:
    return [
        ("CAGR", _fmt(m.cagr, "pct")),
        ("Sharpe", _fmt(m.sharpe, "num")),
        ("Sortino", _fmt(m.sortino, "num")),
        ("Max drawdown", _fmt(m.max_drawdown, "pct")),
        ("Calmar", _fmt(m.calmar, "num")),
        ("Trades", _fmt(m.trade_count, "int")),
        ("Win rate", _fmt(m.win_rate, "pct")),
        ("Profit factor", _fmt(m.profit_factor, "num")),
        ("Avg days held", _fmt(m.avg_days_held, "num")),
        ("Total return", _fmt(m.total_return, "pct")),
        ("Total P&L", _fmt(m.total_pnl, "money")),
        ("Start / end equity", f"{_fmt(m.start_equity, 'money')} / {_fmt(m.end_equity, 'money')}"),
    ]


def _drawdown(equity: Sequence[float]) -> np.ndarray:
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return eq
    peak = np.maximum.accumulate(eq)
    out: np.ndarray = eq / peak - 1.0
    return out


def _figures(run: BacktestRun) -> list[go.Figure]:
    r = run.result
    dates = [d.isoformat() for d in r.dates]
    equity = go.Figure(go.Scatter(x=dates, y=r.equity, mode="lines", name="equity"))
    equity.update_layout(title="Equity curve (dollars, daily marks)", yaxis_title="$", **_LAYOUT)

    dd = go.Figure(go.Scatter(x=dates, y=_drawdown(r.equity), mode="lines", fill="tozeroy", name="drawdown",
                              line={"color": "#c0392b"}))
    dd.update_layout(title="Drawdown from the running peak", yaxis_tickformat=".0%", **_LAYOUT)

    reasons = sorted(run.metrics.by_exit_reason.items(), key=lambda kv: kv[1].pnl)
    names = [k for k, _ in reasons]
    pnl = [s.pnl for _, s in reasons]
    counts = [s.count for _, s in reasons]
    bars = go.Figure(go.Bar(
        x=pnl, y=names, orientation="h", text=[f"{c} trades" for c in counts], textposition="auto",
        marker_color=["#27ae60" if p >= 0 else "#c0392b" for p in pnl], name="P&L",
    ))
    bars.update_layout(title="P&L by exit reason (dollars, after commissions)", xaxis_title="$", **_LAYOUT)

    scatter = go.Figure()
    by_reason: dict[str, list[int]] = {}
    for i, t in enumerate(r.trades):
        by_reason.setdefault(t.exit_reason, []).append(i)
    for reason, idx in sorted(by_reason.items()):
        trades = [r.trades[i] for i in idx]
        scatter.add_trace(go.Scatter(
            x=[t.closed.isoformat() for t in trades], y=[t.pnl for t in trades], mode="markers",
            name=reason, marker={"size": 6, "opacity": 0.7},
            text=[f"{t.position_id} x{t.quantity}, {t.days_held} days<br>{t.legs_text}" for t in trades],
            hovertemplate="%{x}: $%{y:,.0f}<br>%{text}<extra>" + html.escape(reason) + "</extra>",
        ))
    scatter.update_layout(title="Trades: P&L (dollars) by exit date", yaxis_title="$", **_LAYOUT)
    return [equity, dd, bars, scatter]


def render_report(run: BacktestRun) -> str:
    """The page as a string (about 5 MB, most of it the inline plotly.js)."""
    spec = run.spec
    title = f"riskpilot backtest: {spec.ticker} {run.method} {run.trade_from} .. {run.end}"
    charts = "\n".join(
        '<section class="chart">'
        + pio.to_html(fig, config=_PLOT_CONFIG, include_plotlyjs=False, full_html=False, div_id=cid)
        + "</section>"
        for fig, cid in zip(_figures(run), CHART_IDS, strict=True)
    )
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                     for k, v in _metrics_rows(run.metrics))
    banner = (
        '<p class="model">MODEL-PRICED: these results come from a model-priced option chain '
        "generated from daily history, not from market quotes.</p>"
        if run.model_priced else ""
    )
    flags = ", ".join(f"{k}={v}" for k, v in spec.model_dump(mode="json").items() if v is not None)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in [*run.warnings, *run.result.warnings])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 12px; text-align: left; }}
th {{ font-weight: 600; }} .model {{ background: #fff3cd; border: 1px solid #e0b000; padding: .6em; }}
.meta {{ color: #555; font-size: 90%; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
{banner}
<p class="meta">Data: {html.escape(run.source.description)}.<br>Settings: {html.escape(flags)}.</p>
<table>{rows}</table>
{charts}
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
</body>
</html>
"""


def write_report(run: BacktestRun, path: Path) -> None:
    path.write_text(render_report(run), encoding="utf-8")
