"""Pictures of a sweep: heatmaps of one metric over two swept flags, the top runs' equity curves
overlaid, and a self-contained HTML page holding both with the ranked table.

Heatmaps: one panel per ticker (and per stress window when several were swept); a cell is the
(x, y) pair of flags, coloured by the metric; when other flags were swept too, a cell shows
the best value over them (the panel title names them), so a cell never averages away a run.
Failed runs and undefined metrics leave a cell blank (grey). Colours run from bad (red) to
good (green) in the metric's own direction (lower is better for max_drawdown).

Images are PNGs drawn with matplotlib's object API (no pyplot state); the HTML embeds them as
base64 ``data:`` URIs, so the page opens offline and fetches nothing.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from riskpilot.backtest.sweep import LOWER_IS_BETTER, PARAM_COLUMNS, RunOutcome, sort_rows

__all__ = ["equity_png", "heatmap_png", "render_html", "swept_flags", "write_html", "write_png"]

_PCT = frozenset({"cagr", "max_drawdown", "win_rate", "total_return"})


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
    if metric in ("total_pnl", "end_equity", "start_equity"):
        return f"${v:,.0f}"
    return f"{v:.2f}"


def _label(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def heatmap_png(rows: Sequence[Mapping[str, Any]], metric: str = "sharpe", *, x: str = "profit_target",
                y: str = "stop_loss") -> bytes:
    """A PNG of ``metric`` over flags ``x`` and ``y``, one panel per ticker (and window).
    Raises ValueError naming the flag when ``x`` or ``y`` is not a flag or has no value."""
    for name in (x, y):
        if name not in PARAM_COLUMNS:
            raise ValueError(f"--heatmap {name!r} is not a flag of the sweep")
    panels: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        panels.setdefault((str(r.get("ticker")), str(r.get("window") or "")), []).append(r)
    others = [f for f in swept_flags(rows) if f not in (x, y, "ticker", "start", "end")]
    n = max(1, len(panels))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.9 * nrows))
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    for i, ((ticker, window), prow) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(nrows, cols, i + 1)
        xs = sorted({r.get(x) for r in prow if r.get(x) is not None}, key=_sort_key)
        ys = sorted({r.get(y) for r in prow if r.get(y) is not None}, key=_sort_key)
        grid = np.full((max(1, len(ys)), max(1, len(xs))), np.nan)
        for r in sort_rows(prow, metric)[::-1]:  # best last, so it is the value kept
            v = r.get(metric)
            if r.get("status") != "ok" or v is None or r.get(x) is None or r.get(y) is None:
                continue
            grid[ys.index(r.get(y)), xs.index(r.get(x))] = float(v)
        cmap = colormaps["RdYlGn_r" if sign < 0 else "RdYlGn"].with_extremes(bad="#d9d9d9")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
        ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        title = f"{ticker}{' ' + window if window else ''}: {metric}"
        if others:
            title += f"\n(best over {', '.join(others)})"
        ax.set_title(title, fontsize=10)
        for (yi, xi), v in np.ndenumerate(grid):
            ax.text(xi, yi, _fmt(metric, None if np.isnan(v) else float(v)), ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return _png(fig)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) else (1, str(v))


def _run_label(row: Mapping[str, Any], flags: Sequence[str]) -> str:
    parts = [f"{f}={_label(row.get(f))}" for f in flags if f not in ("start", "end")]
    return " ".join(parts) or str(row.get("run_key"))


def equity_png(outcomes: Sequence[RunOutcome], metric: str = "sharpe", top: int = 5) -> bytes:
    """A PNG of the equity curves (dollars) of the ``top`` runs by ``metric``, overlaid."""
    rows = [o.row for o in outcomes]
    flags = swept_flags(rows) or ["ticker"]
    by_key = {o.key: o for o in outcomes}
    best = [r for r in sort_rows(rows, metric) if r.get("status") == "ok" and by_key[str(r["run_key"])].curve][:top]
    fig = Figure(figsize=(10, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    for r in best:
        curve = by_key[str(r["run_key"])].curve
        days = np.array([d for d, _ in curve], dtype="datetime64[D]")
        ax.plot(days, [e for _, e in curve], linewidth=1.2,
                label=f"{_run_label(r, flags)}  ({metric} {_fmt(metric, r.get(metric))})")
    ax.set_title(f"Top {len(best)} runs by {metric}: equity (dollars)")
    ax.set_ylabel("equity, $")
    ax.grid(alpha=0.3)
    if best:
        ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def write_png(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


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
    """The whole report as one HTML document (images inline). ``walk_forward`` adds the
    per-fold table (rows of :meth:`riskpilot.backtest.sweep.WalkForwardResult.summary`)."""
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
        parts.append(_img(heatmap_png(rows, metric, x=x, y=y), f"heatmap of {metric}"))
    if ok:
        parts.append(f"<h2>Top {min(top, len(ok))} equity curves</h2>")
        parts.append(_img(equity_png(outcomes, metric, top), "equity curves"))
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
             ".banner{background:#fff3cd;border:1px solid #e0c060;padding:8px;font-weight:bold}img{max-width:100%}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_html(path: Path, outcomes: Sequence[RunOutcome], **kwargs: Any) -> None:
    """Write :func:`render_html` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(outcomes, **kwargs), encoding="utf-8")
