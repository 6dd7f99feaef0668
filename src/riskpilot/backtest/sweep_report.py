"""Pictures of a sweep: heatmaps of one metric over two swept flags, the top runs' equity curves
overlaid, and a self-contained HTML page holding both with the ranked table.

Heatmaps: one panel per ticker (and per stress window when several were swept); a cell is the
(x, y) pair of flags, coloured by the metric; when other flags were swept too, a cell shows
the best value over them (the panel title names them), so a cell never averages away a run.
Failed runs and undefined metrics leave a cell blank (grey). Colours run from bad (red) to
good (green) in the metric's own direction (lower is better for max_drawdown).

The page's charts are interactive Plotly figures (hover a cell for its flags and value, zoom,
toggle curves), as in the backtest report (:mod:`riskpilot.backtest.report`): plotly.js is
written inline once, so the page opens offline and fetches nothing.
The command line also writes each figure as its own page beside the results file
(:func:`write_figure_html`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from riskpilot.backtest.sweep import LOWER_IS_BETTER, PARAM_COLUMNS, RunOutcome, sort_rows

__all__ = [
    "CHART_IDS",
    "equity_figure",
    "heatmap_figure",
    "render_html",
    "swept_flags",
    "write_figure_html",
    "write_html",
]

#: The ``id`` of each chart's element in the page (the heatmap only when two swept flags make one).
CHART_IDS: tuple[str, ...] = ("sweep-heatmap", "sweep-top-equity")

_PCT = frozenset({"cagr", "max_drawdown", "win_rate", "total_return"})
#: No "produced with Plotly" link in the mode bar: the page links nowhere.
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_BLANK = "#d9d9d9"
_RED_TO_GREEN = [[0.0, "#d73027"], [0.5, "#ffffbf"], [1.0, "#1a9850"]]


def swept_flags(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The flags that take more than one value across ``rows``, in flag order."""
    out = []
    for name in PARAM_COLUMNS:
        values = {_hashable(r.get(name)) for r in rows}
        if len(values) > 1:
            out.append(name)
    return out


def _hashable(v: Any) -> Any:
    return str(v) if isinstance(v, date | Path) else v


def _fmt(metric: str, v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if metric in _PCT:
        return f"{v:.1%}"
    if metric == "trade_count":
        return f"{int(v):,}"
    if metric in ("total_pnl", "end_equity", "start_equity") or metric.startswith(("edge_vs_", "exit_edge_vs_")):
        return f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}"
    return f"{v:.2f}"


def _label(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) else (1, str(v))


class _Panel:
    """One heatmap panel: the ``metric`` of the best run per (x, y) cell, NaN where none."""

    def __init__(self, title: str, xs: list[Any], ys: list[Any], grid: npt.NDArray[np.float64]) -> None:
        self.title, self.xs, self.ys, self.grid = title, xs, ys, grid


def _panels(rows: Sequence[Mapping[str, Any]], metric: str, x: str, y: str) -> tuple[list[_Panel], list[str]]:
    """The panels of a heatmap and the other swept flags a cell is the best over. Raises
    ValueError naming the flag when ``x`` or ``y`` is not a flag of the sweep."""
    for name in (x, y):
        if name not in PARAM_COLUMNS:
            raise ValueError(f"--heatmap {name!r} is not a flag of the sweep")
    by_panel: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        by_panel.setdefault((str(r.get("ticker")), str(r.get("window") or "")), []).append(r)
    others = [f for f in swept_flags(rows) if f not in (x, y, "ticker", "start", "end")]
    panels = []
    for (ticker, window), prow in sorted(by_panel.items()):
        xs = sorted({r.get(x) for r in prow if r.get(x) is not None}, key=_sort_key)
        ys = sorted({r.get(y) for r in prow if r.get(y) is not None}, key=_sort_key)
        grid = np.full((max(1, len(ys)), max(1, len(xs))), np.nan)
        for r in sort_rows(prow, metric)[::-1]:  # best last, so it is the value kept
            v = r.get(metric)
            if r.get("status") != "ok" or v is None or r.get(x) is None or r.get(y) is None:
                continue
            grid[ys.index(r.get(y)), xs.index(r.get(x))] = float(v)
        panels.append(_Panel(f"{ticker}{' ' + window if window else ''}: {metric}", xs, ys, grid))
    return panels, others


def heatmap_figure(rows: Sequence[Mapping[str, Any]], metric: str = "sharpe", *, x: str = "profit_target",
                   y: str = "stop_loss") -> go.Figure:
    """An interactive heatmap of ``metric`` over flags ``x`` and ``y``, one panel per ticker
    (and window); each cell is labelled with its value and hovers with its flags."""
    panels, others = _panels(rows, metric, x, y)
    cols = min(3, max(1, len(panels)))
    nrows = math.ceil(max(1, len(panels)) / cols)
    suffix = f" (best over {', '.join(others)})" if others else ""
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[p.title + suffix for p in panels] or [metric],
                        horizontal_spacing=0.08, vertical_spacing=0.16)
    colors = _RED_TO_GREEN[::-1] if metric in LOWER_IS_BETTER else _RED_TO_GREEN
    finite = np.concatenate([p.grid[np.isfinite(p.grid)] for p in panels]) if panels else np.zeros(0)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for i, p in enumerate(panels):
        text = [[_fmt(metric, None if math.isnan(v) else float(v)) for v in row] for row in p.grid]
        fig.add_trace(go.Heatmap(
            x=[_label(v) for v in p.xs], y=[_label(v) for v in p.ys], z=p.grid, text=text,
            texttemplate="%{text}", colorscale=colors, zmin=lo, zmax=hi, showscale=i == 0,
            colorbar={"title": {"text": metric}}, xgap=1, ygap=1,
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}: %{{text}}<extra>{html.escape(p.title)}</extra>",
        ), row=i // cols + 1, col=i % cols + 1)
        fig.update_xaxes(title_text=x, type="category", row=i // cols + 1, col=i % cols + 1)
        fig.update_yaxes(title_text=y, type="category", row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(template="plotly_white", plot_bgcolor=_BLANK, height=360 * nrows + 60,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


def _run_label(row: Mapping[str, Any], flags: Sequence[str]) -> str:
    parts = [f"{f}={_label(row.get(f))}" for f in flags if f not in ("start", "end")]
    return " ".join(parts) or str(row.get("run_key"))


def _top(outcomes: Sequence[RunOutcome], metric: str, top: int) -> tuple[list[Mapping[str, Any]], list[str],
                                                                        dict[str, RunOutcome]]:
    rows = [o.row for o in outcomes]
    flags = swept_flags(rows) or ["ticker"]
    by_key = {o.key: o for o in outcomes}
    best = [r for r in sort_rows(rows, metric) if r.get("status") == "ok" and by_key[str(r["run_key"])].curve][:top]
    return best, flags, by_key


def equity_figure(outcomes: Sequence[RunOutcome], metric: str = "sharpe", top: int = 5) -> go.Figure:
    """The equity curves (dollars) of the ``top`` runs by ``metric``, overlaid (click a legend
    entry to hide a curve)."""
    best, flags, by_key = _top(outcomes, metric, top)
    fig = go.Figure()
    for r in best:
        curve = by_key[str(r["run_key"])].curve
        fig.add_trace(go.Scatter(
            x=[d.isoformat() for d, _ in curve], y=[e for _, e in curve], mode="lines",
            name=f"{_run_label(r, flags)}  ({metric} {_fmt(metric, r.get(metric))})",
            hovertemplate="%{x}: $%{y:,.0f}<extra></extra>",
        ))
    fig.update_layout(template="plotly_white", title=f"Top {len(best)} runs by {metric}: equity (dollars)",
                      yaxis_title="$", height=460, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def _div(fig: go.Figure, div_id: str) -> str:
    return str(pio.to_html(fig, config=_PLOT_CONFIG, include_plotlyjs=False, full_html=False, div_id=div_id))


def _page(title: str, body: str, style: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{style}</style><script type="text/javascript">{get_plotlyjs()}</script></head>'
            f"<body>{body}</body></html>")


def write_figure_html(fig: go.Figure, path: Path, title: str) -> None:
    """One figure as a self-contained page (plotly.js inline, nothing fetched)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, _div(fig, "figure")), encoding="utf-8")


_TABLE_METRICS = ("cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate",
                  "profit_factor", "avg_days_held")


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], metric_cols: Sequence[str]) -> str:
    """Plain columns as text, metric columns formatted by their metric (``is_``/``oos_`` prefixes
    of the walk-forward summary are looked through)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (*columns, *metric_cols))
    body = []
    for r in rows:
        cells = [f"<td>{html.escape(_label(r.get(c)) if r.get(c) is not None else '')}</td>" for c in columns]
        cells += [f'<td class="num">{html.escape(_fmt(m.removeprefix("is_").removeprefix("oos_"), r.get(m)))}</td>'
                  for m in metric_cols]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(outcomes: Sequence[RunOutcome], *, metric: str = "sharpe", title: str = "Parameter sweep",
                heatmap: tuple[str, str] = ("profit_target", "stop_loss"), top: int = 5,
                walk_forward: Sequence[Mapping[str, Any]] | None = None, notes: Sequence[str] = ()) -> str:
    """The whole report as one HTML document (charts interactive, plotly.js inline).
    ``walk_forward`` adds the per-fold table (rows of
    :meth:`riskpilot.backtest.sweep.WalkForwardResult.summary`)."""
    rows = [o.row for o in outcomes]
    flags = swept_flags(rows)
    ok = [r for r in rows if r.get("status") == "ok"]
    failed = [r for r in rows if r.get("status") != "ok"]
    model = any(r.get("model_priced") for r in ok)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if model:
        parts.append('<p class="banner">MODEL-PRICED: chains generated from the bundled daily history '
                     "(model prices, not market quotes).</p>")
    parts.append(f"<p>{len(rows)} runs: {len(ok)} ok, {len(failed)} failed. Swept: "
                 f"{html.escape(', '.join(flags) or 'nothing')}. Ranked by {html.escape(metric)}.</p>")
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    x, y = heatmap
    if ok and x in flags and y in flags:
        parts.append(f"<h2>{html.escape(metric)} by {html.escape(x)} x {html.escape(y)}</h2>")
        parts.append(_div(heatmap_figure(rows, metric, x=x, y=y), CHART_IDS[0]))
    if ok:
        parts.append(f"<h2>Top {min(top, len(ok))} equity curves</h2>")
        parts.append(_div(equity_figure(outcomes, metric, top), CHART_IDS[1]))
    if walk_forward:
        parts.append("<h2>Walk-forward: in sample (is_) against out of sample (oos_)</h2>")
        wf_cols = [c for c in walk_forward[0] if not c.startswith(("is_", "oos_"))]
        wf_metrics = [c for c in walk_forward[0] if c.startswith(("is_", "oos_"))]
        parts.append(_table(walk_forward, wf_cols, wf_metrics))
    cols = ["run_key", "status", *(["window"] if any(r.get("window") for r in rows) else []),
            *(["fold", "span"] if any(r.get("span") for r in rows) else []), *flags]
    parts.append(f"<h2>All runs by {html.escape(metric)}</h2>")
    parts.append(_table(sort_rows(rows, metric), cols, _TABLE_METRICS))
    if failed:
        parts.append("<h2>Failed runs</h2>")
        parts.append(_table(failed, ["run_key", *flags, "error"], ()))
    style = ("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:3px 6px}td.num{text-align:right}"
             ".banner{background:#fff3cd;border:1px solid #e0c060;padding:8px;font-weight:bold}")
    return _page(title, "".join(parts), style)


def write_html(path: Path, outcomes: Sequence[RunOutcome], **kwargs: Any) -> None:
    """Write :func:`render_html` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(outcomes, **kwargs), encoding="utf-8")


