"""A finished backtest as one self-contained HTML page a trader reads.

Sections: the metrics, the fill timing and settlement used, the exit attribution (what each
rule earned against holding on), and interactive Plotly charts: the equity curve with the
underlying's buy-and-hold line, the drawdown, the capital at risk over time, monthly and
yearly returns, P&L by exit reason against holding on, P&L by DTE and by short delta at
entry, and every trade as a point; then every trade in a table sortable by any column (a
click on its header; a few lines of inline script, no library). The plotly.js library is
written inline once, so the file opens offline and fetches nothing (no CDN, no MathJax).
Model-priced results carry a banner saying so.

Money is written ``-$2,548`` (never ``$-2,548``), on the page and in the charts' axes and hovers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from riskpilot.backtest.attribution import TradeAttribution
from riskpilot.backtest.metrics import Metrics
from riskpilot.backtest.trade import Trade

if TYPE_CHECKING:
    from riskpilot.backtest.runner import BacktestRun

__all__ = ["CHART_IDS", "money", "render_report", "write_report"]

#: The ``id`` of each chart's element in the page.
CHART_IDS: tuple[str, ...] = (
    "equity-curve", "drawdown", "capital-at-risk", "monthly-returns", "yearly-returns", "exit-attribution",
    "pnl-by-dte", "pnl-by-delta", "trade-scatter",
)

#: No "produced with Plotly" link to plotly.com in the mode bar: the page links nowhere.
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_LAYOUT = {"template": "plotly_white", "height": 380, "margin": {"l": 70, "r": 20, "t": 50, "b": 40}}

#: d3 formats: "$,.0f" puts the sign before the dollar (-$2,548), as the page's text does.
_MONEY_AXIS = {"tickformat": "$,.0f"}
_MONEY_HOVER = "%{y:$,.0f}"


def money(value: float) -> str:
    """Dollars as a trader writes them: ``-$2,548``, ``$1,200``."""
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def _fmt(value: float | int | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "money":
        return money(float(value))
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


def _equity_figure(run: BacktestRun) -> go.Figure:
    r = run.result
    dates = [d.isoformat() for d in r.dates]
    fig = go.Figure(go.Scatter(x=dates, y=r.equity, mode="lines", name="strategy",
                               hovertemplate=_MONEY_HOVER + "<extra>strategy</extra>"))
    closes = np.asarray(r.underlying_closes, dtype=np.float64)
    if closes.size and np.isfinite(closes).any():
        first = closes[np.isfinite(closes)][0]
        hold = pd.Series(r.start_equity * closes / first).ffill().to_numpy()
        fig.add_trace(go.Scatter(x=dates, y=hold, mode="lines", name=f"{r.underlying} buy and hold (price only)",
                                 line={"color": "#999", "dash": "dot"},
                                 hovertemplate=_MONEY_HOVER + "<extra>buy and hold</extra>"))
    fig.update_layout(title="Equity (daily marks) and the underlying bought and held with the same capital",
                      yaxis=_MONEY_AXIS, **_LAYOUT)
    return fig


def _drawdown_figure(run: BacktestRun) -> go.Figure:
    r = run.result
    dd = _drawdown(r.equity)
    fig = go.Figure(go.Scatter(x=[d.isoformat() for d in r.dates], y=dd, mode="lines", fill="tozeroy",
                               name="drawdown", line={"color": "#c0392b"},
                               hovertemplate="%{y:.2%}<extra>drawdown</extra>"))
    # "~" drops trailing zeros: a 0.6% drawdown gets ticks -0.1%, -0.2%..., not -0%, -0%, -1%.
    fig.update_layout(title="Drawdown from the running peak", yaxis={"tickformat": ".2~%"}, **_LAYOUT)
    return fig


def _at_risk_figure(run: BacktestRun) -> go.Figure:
    r = run.result
    dates = [d.isoformat() for d in r.dates]
    risk = np.asarray(r.at_risk, dtype=np.float64)
    eq = np.asarray(r.equity, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=dates, y=risk, mode="lines", fill="tozeroy", name="dollars",
                               line={"color": "#8e44ad"}, hovertemplate=_MONEY_HOVER + "<extra>at risk</extra>"))
    fig.add_trace(go.Scatter(x=dates, y=risk / eq, mode="lines", name="% of equity", yaxis="y2",
                             line={"color": "#555", "width": 1}, hovertemplate="%{y:.1%}<extra>of equity</extra>"))
    fig.update_layout(title="Capital at risk: the open positions' worst loss (dollars, and share of equity)",
                      yaxis=_MONEY_AXIS, yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%",
                                                 "showgrid": False}, **_LAYOUT)
    return fig


def period_returns(run: BacktestRun) -> tuple[pd.Series, pd.Series]:
    """Monthly and yearly returns of the equity curve (fractions), from each period's last
    equity to the next's (the first period from the starting equity)."""
    r = run.result
    eq = pd.Series(r.equity, index=pd.DatetimeIndex(pd.to_datetime(r.dates)), dtype="float64")
    start = pd.Series([r.start_equity], dtype="float64")

    def rets(freq: str) -> pd.Series:
        last = eq.groupby(eq.index.to_period(freq)).last()
        prev = pd.concat([start, last.iloc[:-1]]).to_numpy()
        return pd.Series(last.to_numpy() / prev - 1.0, index=last.index)

    return rets("M"), rets("Y")


def _monthly_figure(monthly: pd.Series) -> go.Figure:
    years = sorted({p.year for p in monthly.index})
    grid = np.full((len(years), 12), np.nan)
    for p, v in monthly.items():
        grid[years.index(p.year), p.month - 1] = v
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = [["" if math.isnan(v) else f"{v:.1%}" for v in row] for row in grid]
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.01
    fig = go.Figure(go.Heatmap(z=grid, x=names, y=[str(y) for y in years], text=text, texttemplate="%{text}",
                               colorscale="RdYlGn", zmid=0, zmin=-lim, zmax=lim, colorbar={"tickformat": ".0%"},
                               hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>", xgap=1, ygap=1))
    fig.update_layout(title="Monthly returns", **{**_LAYOUT, "height": max(260, 26 * len(years) + 120)})
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _yearly_figure(yearly: pd.Series) -> go.Figure:
    vals = yearly.to_numpy()
    fig = go.Figure(go.Bar(x=[str(p.year) for p in yearly.index], y=vals, text=[f"{v:.1%}" for v in vals],
                           marker_color=["#27ae60" if v >= 0 else "#c0392b" for v in vals],
                           hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    fig.update_layout(title="Yearly returns", yaxis={"tickformat": ".1~%"}, **_LAYOUT)
    return fig


def _attribution_figure(run: BacktestRun) -> go.Figure:
    rows = list(run.result.exit_attribution().items())
    names = [k for k, _ in rows]
    fig = go.Figure()
    for label, values, color in (
        ("P&L", [a.pnl for _, a in rows], "#2c3e50"),
        ("if held to expiry", [a.pnl_if_held_to_expiration for _, a in rows], "#95a5a6"),
        ("if held to the next rule", [a.pnl_if_held_to_next_rule for _, a in rows], "#3498db"),
    ):
        fig.add_trace(go.Bar(x=names, y=values, name=label, marker_color=color,
                             hovertemplate="%{x}: %{y:$,.0f}<extra>" + label + "</extra>"))
    fig.update_layout(title="P&L by exit reason, against the same units held on (dollars, after commissions)",
                      barmode="group", yaxis=_MONEY_AXIS, **_LAYOUT)
    return fig


def _bucket_figure(trades: Sequence[Trade], values: Sequence[float | None], edges: Sequence[float],
                   label: str, title: str) -> go.Figure:
    """Trades' P&L summed by bucket of ``values`` (``edges`` ascending, right-open)."""
    names = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)]
    pnl = [0.0] * len(names)
    count = [0] * len(names)
    unknown = [0.0, 0]
    for t, v in zip(trades, values, strict=True):
        if v is None or math.isnan(v):
            unknown[0] += t.pnl
            unknown[1] += 1
            continue
        i = min(max(int(np.searchsorted(edges, v, side="right")) - 1, 0), len(names) - 1)
        pnl[i] += t.pnl
        count[i] += 1
    if unknown[1]:
        names.append("unknown")
        pnl.append(float(unknown[0]))
        count.append(int(unknown[1]))
    fig = go.Figure(go.Bar(x=names, y=pnl, text=[f"{c} trades" for c in count], textposition="auto",
                           marker_color=["#27ae60" if p >= 0 else "#c0392b" for p in pnl],
                           hovertemplate="%{x}: %{y:$,.0f}<br>%{text}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=label, yaxis=_MONEY_AXIS, **_LAYOUT)
    return fig


def _scatter_figure(run: BacktestRun) -> go.Figure:
    r = run.result
    fig = go.Figure()
    by_reason: dict[str, list[int]] = {}
    for i, t in enumerate(r.trades):
        by_reason.setdefault(t.exit_reason, []).append(i)
    for reason, idx in sorted(by_reason.items()):
        trades = [r.trades[i] for i in idx]
        fig.add_trace(go.Scatter(
            x=[t.closed.isoformat() for t in trades], y=[t.pnl for t in trades], mode="markers",
            name=reason, marker={"size": 6, "opacity": 0.7},
            text=[f"{t.position_id} x{t.quantity}, {t.days_held} days<br>{t.legs_text}" for t in trades],
            hovertemplate="%{x}: %{y:$,.0f}<br>%{text}<extra>" + html.escape(reason) + "</extra>",
        ))
    fig.update_layout(title="Trades: P&L (dollars) by exit date", yaxis=_MONEY_AXIS, **_LAYOUT)
    return fig


def _figures(run: BacktestRun) -> list[go.Figure]:
    trades = run.result.trades
    monthly, yearly = period_returns(run)
    dte_edges = [0, 7, 14, 21, 30, 45, 60, 90, 180, 3650]
    delta_edges = [0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50, 1.0]
    return [
        _equity_figure(run), _drawdown_figure(run), _at_risk_figure(run), _monthly_figure(monthly),
        _yearly_figure(yearly), _attribution_figure(run),
        _bucket_figure(trades, [float(t.entry_dte) for t in trades], dte_edges, "DTE at entry",
                       "P&L by DTE at entry (dollars)"),
        _bucket_figure(trades, [None if t.entry_short_delta is None else abs(t.entry_short_delta) for t in trades],
                       delta_edges, "|delta| of the short leg at entry", "P&L by short delta at entry (dollars)"),
        _scatter_figure(run),
    ]


def _attribution_table(run: BacktestRun) -> str:
    head = ("<tr><th>exit reason</th><th>trades</th><th>P&amp;L</th><th>if held to expiry</th><th>edge</th>"
            "<th>if held to next rule</th><th>edge</th><th>open at end</th></tr>")
    rows = []
    for reason, a in run.result.exit_attribution().items():
        cells = [html.escape(reason), f"{a.trades:,}", money(a.pnl), money(a.pnl_if_held_to_expiration),
                 money(a.edge_vs_expiration), money(a.pnl_if_held_to_next_rule), money(a.edge_vs_next_rule),
                 str(a.open_at_end)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="grid">{head}{"".join(rows)}</table>'


def _trade_table(trades: Sequence[Trade], attribution: Sequence[TradeAttribution]) -> str:
    by_trade = {a.trade: a for a in attribution}
    cols = ("#", "position", "legs", "opened", "closed", "days", "DTE in", "short delta", "qty", "entry", "exit",
            "reason", "P&L", "if held to expiry", "next rule", "if held to next rule")
    head = "".join(f'<th onclick="sortTable(this)">{html.escape(c)}</th>' for c in cols)
    body = []
    for i, t in enumerate(trades):
        a = by_trade.get(i)
        exp = t.pnl if a is None else a.held_to_expiration.pnl
        nxt = t.pnl if a is None else a.held_to_next_rule.pnl
        how = "" if a is None else a.held_to_next_rule.how
        delta = "" if t.entry_short_delta is None else f"{t.entry_short_delta:.3f}"
        cells = [
            (i + 1, str(i + 1)), (t.position_id, html.escape(t.position_id)), (t.legs_text, html.escape(t.legs_text)),
            (t.opened.isoformat(), t.opened.isoformat()), (t.closed.isoformat(), t.closed.isoformat()),
            (t.days_held, str(t.days_held)), (t.entry_dte, str(t.entry_dte)),
            (t.entry_short_delta or 0.0, delta), (t.quantity, str(t.quantity)),
            (t.entry_premium, f"{t.entry_premium:.2f}"), (t.exit_premium, f"{t.exit_premium:.2f}"),
            (t.exit_reason, html.escape(t.exit_reason)), (t.pnl, money(t.pnl)), (exp, money(exp)),
            (how, html.escape(how)), (nxt, money(nxt)),
        ]
        body.append("<tr>" + "".join(f'<td data-v="{html.escape(str(v))}">{text}</td>' for v, text in cells)
                    + "</tr>")
    return f'<table class="grid" id="trades"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# Click a header to sort by its column (numbers as numbers), again to reverse. Hand-written:
# a dozen lines, where a table library would add hundreds of kilobytes to an offline page.
_SORT_JS = """
function sortTable(th) {
  const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
  const asc = th.dataset.dir !== "asc";
  table.querySelectorAll("th").forEach(h => delete h.dataset.dir);
  th.dataset.dir = asc ? "asc" : "desc";
  const key = tr => { const v = tr.cells[col].dataset.v, n = parseFloat(v);
                      return isNaN(n) || !/^-?[0-9.]+(e-?[0-9]+)?$/.test(v) ? v : n; };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)))
      * (asc ? 1 : -1); });
  rows.forEach(r => body.appendChild(r));
}
"""


def render_report(run: BacktestRun) -> str:
    """The page as a string (about 5 MB, most of it the inline plotly.js)."""
    from riskpilot.backtest.export import settlement_text

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
    fill = ("orders fill at the closing quotes of the day that decided them (--fill close)" if spec.fill == "close"
            else "orders decided on a day's close fill at the next day's quotes (--fill next)")
    flags = ", ".join(f"{k}={v}" for k, v in spec.model_dump(mode="json").items() if v is not None)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in [*run.warnings, *run.result.warnings])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 12px; text-align: left; }}
th {{ font-weight: 600; }} .model {{ background: #fff3cd; border: 1px solid #e0b000; padding: .6em; }}
.meta {{ color: #555; font-size: 90%; }}
table.grid td, table.grid th {{ border-bottom: 1px solid #eee; font-size: 90%; }}
table.grid td:nth-child(n+2) {{ text-align: right; }}
#trades th {{ cursor: pointer; position: sticky; top: 0; background: #fff; }}
#trades th[data-dir="asc"]::after {{ content: " \\25B2"; }} #trades th[data-dir="desc"]::after {{ content: " \\25BC"; }}
.scroll {{ max-height: 600px; overflow: auto; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
<script type="text/javascript">{_SORT_JS}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
{banner}
<p class="meta">Data: {html.escape(run.source.description)}.<br>Timing: {html.escape(fill)}; expiries settle at
{html.escape(settlement_text(run))}.<br>Settings: {html.escape(flags)}.</p>
<table>{rows}</table>
<h2>What each exit rule earned</h2>
<p class="meta">The same units followed on after each closing: held to expiration, or until another rule of the method
would have closed them. Edge = P&amp;L minus the P&amp;L if held (positive: the rule earned money).</p>
{_attribution_table(run)}
{charts}
<h2>Trades</h2>
<p class="meta">Click a column's header to sort by it. Prices are net premiums per share after slippage;
P&amp;L in dollars after commissions.</p>
<div class="scroll">{_trade_table(run.result.trades, run.result.attribution)}</div>
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
</body>
</html>
"""


def write_report(run: BacktestRun, path: Path) -> None:
    path.write_text(render_report(run), encoding="utf-8")
