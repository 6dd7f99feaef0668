"""`riskpilot backtest sweep`: the cartesian product of `backtest run` flags, in parallel on Dask,
with stress windows, walk-forward validation, a resumable results file and an HTML report.

Every flag of `backtest run` is accepted and takes one value, a comma list or a numeric range
LO:HI:STEP (see :mod:`riskpilot.backtest.sweep`). The flags are listed here (not read from
BacktestSpec) so that `riskpilot --help` stays quick; a test keeps both in step.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from riskpilot.backtest.sweep import RunOutcome, WalkForwardResult

_LIST = " (list a,b or range LO:HI:STEP)"

#: (flag as field name, help) for every `backtest run` flag, in BacktestSpec's order.
SWEEP_FLAGS: tuple[tuple[str, str], ...] = (
    ("ticker", "Underlying symbols, e.g. SPY,QQQ,IWM"),
    ("start", "First days (YYYY-MM-DD, comma list)"),
    ("end", "Last days (YYYY-MM-DD, comma list)"),
    ("data", "Chain store directories (default: the bundled model-priced chain)"),
    ("equity", "Starting equity, dollars" + _LIST),
    ("config", "YAML configurations (comma list)"),
    ("method", "Methods of the configuration (comma list)"),
    ("strategy", "Strategy kinds (comma list)"),
    ("width", "Spread width, points" + _LIST),
    ("width_pct", "Spread width, percent of spot" + _LIST),
    ("long_delta", "Spread width by the long leg's |delta|" + _LIST),
    ("min_delta", "Short strike |delta|, low end" + _LIST),
    ("max_delta", "Short strike |delta|, high end" + _LIST),
    ("min_dte", "Expiration window, calendar days" + _LIST),
    ("max_dte", "Expiration window, calendar days" + _LIST),
    ("min_iv_percentile", "Enter only at or above (0-100)" + _LIST),
    ("max_iv_percentile", "Enter only at or below (0-100)" + _LIST),
    ("profit_target", "Percent of the entry premium, e.g. 25,35,50,65" + _LIST),
    ("stop_loss", "Percent of the entry premium, e.g. 100,125,150,200" + _LIST),
    ("time_exit_dte", "Close at or below this DTE" + _LIST),
    ("slippage", "Fill models: none, pct, spread, orats, volume (comma list)"),
    ("slippage_pct", "Percent off the mid, for slippage pct" + _LIST),
    ("spread_share", "Share of the spread paid, for slippage spread" + _LIST),
    ("volume_share", "Cap fills at this share of day volume" + _LIST),
    ("commission", "Dollars per contract per leg" + _LIST),
    ("max_correlated_exposure", "Max loss in one correlation class, percent of equity" + _LIST),
    ("settlement", "cash or physical (comma list)"),
    ("fill", "Fill timing: close, next (comma list)"),
    ("seed", "Recorded with the results" + _LIST),
)

#: Metrics of the terminal table (the --sort metric is added when not among them); the results
#: file and the HTML report carry every metric.
_SUMMARY_METRICS = ("cagr", "sharpe", "max_drawdown", "trade_count", "win_rate")
_PCT = frozenset({"cagr", "max_drawdown", "win_rate", "total_return"})


def _fmt(metric: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if metric in _PCT:
        return f"{v:.2%}"
    if metric == "trade_count":
        return f"{int(v):,}"
    if metric.startswith(("edge_vs_", "exit_edge_vs_")) or metric in ("total_pnl", "end_equity"):
        return f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}"
    return f"{v:.2f}"


def _label(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _short(r: Mapping[str, Any]) -> bool:
    """Whether a run spans less than a year (its CAGR would annualise a few months)."""
    first, last = r.get("first_day"), r.get("last_day")
    if isinstance(first, str) and isinstance(last, str):
        from datetime import date

        first, last = date.fromisoformat(first), date.fromisoformat(last)
    return bool(first is not None and last is not None and (last - first).days < 365)


def _cell(metric: str, r: Mapping[str, Any]) -> str:
    if metric == "cagr" and _short(r):
        return f"{_fmt('total_return', r.get('total_return'))} total"
    return _fmt(metric, r.get(metric))


def results_table(rows: Sequence[Mapping[str, Any]], flags: Sequence[str], metric: str, top: int) -> Table:
    """The ``top`` runs by ``metric``. A run shorter than a year shows its total return in the
    CAGR column (marked ``total``): a CAGR would annualise a few months."""
    from riskpilot.backtest.sweep import sort_rows

    ranked = [r for r in sort_rows(rows, metric) if r.get("status") == "ok"][:top]
    metrics = _SUMMARY_METRICS if metric in _SUMMARY_METRICS else (*_SUMMARY_METRICS, metric)
    table = Table(title=f"Top {len(ranked)} runs by {metric}")
    if any(_short(r) for r in ranked):
        table.caption = "runs shorter than a year show their total return in the cagr column"
    for f in flags:
        table.add_column(f)
    for m in metrics:
        table.add_column(m, justify="right", style="bold" if m == metric else None)
    for r in ranked:
        table.add_row(*[_label(r.get(f)) for f in flags], *[_cell(m, r) for m in metrics])
    return table


def failure_lines(rows: Sequence[Mapping[str, Any]], flags: Sequence[str], limit: int = 20) -> list[str]:
    """One line per failed run (its key, swept flags and error), at most ``limit``."""
    lines = [f"failed {r['run_key']} {' '.join(f'{f}={_label(r.get(f))}' for f in flags)}: {r.get('error')}"
             for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more failed runs (status and error columns of --out)")
    return lines


def walk_forward_table(wf: WalkForwardResult) -> Table:
    frame = wf.summary()
    m = wf.metric
    table = Table(title=f"Walk-forward, chosen by {m} on each training span")
    for col in ("fold", "ticker", "train", "test", "chosen", f"in-sample {m}", f"out-of-sample {m}"):
        table.add_column(col, justify="right" if "sample" in col else "left")
    for rec in frame.to_dict("records"):
        chosen = " ".join(f"{f}={_label(rec[f])}" for f in wf.swept if f != "ticker") or "-"
        if rec["test_status"] != "ok":
            chosen += f" ({rec['test_status']})"
        table.add_row(str(rec["fold"]), str(rec["ticker"]), f"{rec['train_start']} .. {rec['train_end']}",
                      f"{rec['test_start']} .. {rec['test_end']}", chosen,
                      _fmt(m, rec[f"is_{m}"]), _fmt(m, rec[f"oos_{m}"]))
    return table


def _edge_line(wf: WalkForwardResult) -> str:
    frame = wf.summary()
    m = wf.metric
    both = frame[[f"is_{m}", f"oos_{m}"]].apply(lambda c: c.astype("float64")).dropna()
    if both.empty:
        return f"no fold has {m} both in and out of sample"
    is_mean, oos_mean = float(both[f"is_{m}"].mean()), float(both[f"oos_{m}"].mean())
    kept = f"; out of sample keeps {oos_mean / is_mean:.0%} of it" if is_mean > 0 else ""
    return (f"mean {m} over {len(both)} fold(s): in sample {_fmt(m, is_mean)}, out of sample {_fmt(m, oos_mean)}"
            f"{kept}")


def _sweep(**kw: Any) -> None:
    from riskpilot.backtest import sweep as sw

    err = Console(stderr=True)
    console = Console()

    def fail(message: str) -> None:
        err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)

    try:
        axes = {name: sw.parse_axis(name, kw[name]) for name, _ in SWEEP_FLAGS if kw[name] is not None}
        windows = [sw.parse_window(w) for w in kw["window"].split(",")] if kw["window"] else []
        wf = sw.parse_walk_forward(kw["walk_forward"]) if kw["walk_forward"] else None
        for flag, metric in (("--sort", kw["sort"]), ("--select-by", kw["select_by"])):
            sw.check_metric(metric, flag)
        heat = tuple(p.strip() for p in kw["heatmap"].split(","))
        if len(heat) != 2 or any(h not in sw.FLAGS for h in heat):
            raise sw.SweepError(f"--heatmap {kw['heatmap']!r}: give two flags as X,Y (profit_target,stop_loss)")
        if wf is not None:
            if len(windows) > 1:
                raise sw.SweepError("--walk-forward splits one span: give at most one --window")
            for name in ("start", "end"):
                if len(axes.get(name, ())) > 1:
                    raise sw.SweepError(f"--walk-forward splits one span: give one --{name}")
        workers = 0 if kw["in_process"] else kw["workers"]
        if kw["in_process"] and kw["scheduler"]:
            raise sw.SweepError("--in-process runs here; drop --scheduler (or RISKPILOT_DASK_SCHEDULER)")
        runs = sw.expand_grid(axes, windows)
        executor = sw.SweepExecutor(workers=workers, scheduler=kw["scheduler"] or None)
        results = sw.ResultsFile(kw["out"]) if kw["out"] is not None else None
        if results is not None:
            results.check_resume(kw["resume"])
    except sw.SweepError as exc:
        fail(str(exc))
        return
    swept = [n for n, v in axes.items() if len(v) > 1] + (["window"] if len(windows) > 1 else [])
    shown = [f for f in swept if f != "window"] or ["ticker"]
    if windows:
        shown.append("window")
    what = f"walk-forward ({wf.text}) of {len(runs)} combinations" if wf else f"{len(runs)} runs"
    err.print(f"sweep: {what}, {executor.describe()}", highlight=False)

    counts = {"ok": 0, "failed": 0, "total": 0, "done": 0}
    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[ok]} done, {task.fields[failed]} failed, "
                                   "{task.fields[remaining]} remaining"),
                        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    task = progress.add_task("sweep", total=0, ok=0, failed=0, remaining=0)

    def refresh() -> None:
        progress.update(task, total=counts["total"], completed=counts["done"], ok=counts["ok"],
                        failed=counts["failed"], remaining=counts["total"] - counts["done"])

    def on_start(total: int, already: int) -> None:
        counts["total"] += total
        counts["done"] += already
        counts["ok"] += already
        refresh()

    def on_done(o: RunOutcome) -> None:
        counts["done"] += 1
        counts["ok" if o.ok else "failed"] += 1
        refresh()

    wf_result: WalkForwardResult | None = None
    try:
        with executor, progress:
            if wf is None:
                result = sw.run_sweep(runs, executor, results=results, resume=kw["resume"], on_done=on_done,
                                      on_start=on_start)
                outcomes = result.outcomes
                resumed = result.resumed
            else:
                wf_result = sw.run_walk_forward(runs, wf, kw["select_by"], executor, swept=swept,
                                                results=results, resume=kw["resume"], on_done=on_done,
                                                on_start=on_start)
                outcomes = wf_result.outcomes
                resumed = wf_result.resumed
    except sw.SweepError as exc:
        fail(str(exc))
        return
    except KeyboardInterrupt:
        where = f"; finish it with the same command and --resume (results so far in {results.path})" if results else ""
        err.print(f"[yellow]interrupted[/yellow]{where}", highlight=False)
        raise typer.Exit(130) from None

    rows = [o.row for o in outcomes]
    failed = [r for r in rows if r["status"] != "ok"]
    if any(r.get("model_priced") for r in rows):
        console.print("data: [bold yellow]MODEL-PRICED[/bold yellow] chains generated from the bundled daily history",
                      highlight=False)
    if wf_result is not None:
        console.print(walk_forward_table(wf_result))
        console.print(_edge_line(wf_result), highlight=False)
        ranked_rows = [r for r in rows if r.get("span") == "train"]
    else:
        ranked_rows = rows
    console.print(results_table(ranked_rows, (["fold"] if wf_result is not None else []) + shown, kw["sort"],
                                kw["top"]))
    for line in failure_lines(failed, shown):
        err.print(line, highlight=False, soft_wrap=True, style="red")
    _write_outputs(kw, results, outcomes, wf_result, heat, err)
    console.print(f"{len(rows)} runs: {len(rows) - len(failed)} ok, {len(failed)} failed"
                  f"{f', {resumed} taken from {results.path}' if results and resumed else ''}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _write_outputs(kw: Mapping[str, Any], results: Any, outcomes: Sequence[RunOutcome],
                   wf: WalkForwardResult | None, heat: tuple[str, ...], err: Console) -> None:
    from riskpilot.backtest import sweep_report as rep

    if results is not None:
        err.print(f"wrote {results.path}, {results.parquet} (rows) and {results.equity_parquet} (equity curves)",
                  highlight=False)
        if wf is not None:
            summary = wf.summary()
            path = results.path.with_suffix(".walkforward.csv")
            summary.to_csv(path, index=False)
            err.print(f"wrote {path} (walk-forward folds)", highlight=False)
    report: Path | None = kw["report"]
    base = report if report is not None else results.path if results is not None else None
    shown = [o for o in outcomes if o.row.get("span") != "test"] if wf is not None else list(outcomes)
    if base is not None:
        rows = [o.row for o in shown]
        flags = rep.swept_flags(rows)
        if heat[0] in flags and heat[1] in flags and any(r["status"] == "ok" for r in rows):
            page = base.with_suffix(".heatmap.html")
            rep.write_figure_html(rep.heatmap_figure(rows, kw["sort"], x=heat[0], y=heat[1]), page,
                                  f"{kw['sort']} by {heat[0]} x {heat[1]}")
            err.print(f"wrote {page}", highlight=False)
        if any(o.ok for o in shown):
            page = base.with_suffix(".top-equity.html")
            rep.write_figure_html(rep.equity_figure(shown, kw["sort"], min(kw["top"], 10)), page,
                                  f"top runs by {kw['sort']}: equity")
            err.print(f"wrote {page}", highlight=False)
    if report is not None:
        notes = [f"Walk-forward {wf.summary().shape[0]} fold(s); heatmap and ranking over training runs."] if wf else []
        rep.write_html(report, shown, metric=kw["sort"], heatmap=(heat[0], heat[1]), top=min(kw["top"], 10),
                       walk_forward=wf.summary().to_dict("records") if wf is not None else None, notes=notes)
        err.print(f"wrote {report}", highlight=False)


def _command() -> Callable[..., None]:
    """`_sweep` with a typed signature: every `backtest run` flag as a text option, then the
    sweep's own options (typer reads ``__signature__``)."""
    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[str | None, typer.Option(help=help_text)])
        for name, help_text in SWEEP_FLAGS
    ]
    own: list[tuple[str, Any, Any]] = [
        ("window", None, Annotated[str | None, typer.Option(
            help="Stress windows: gfc-2008, covid-2020, bear-2022, volmageddon-2018 or START:END (comma list)")]),
        ("walk_forward", None, Annotated[str | None, typer.Option(
            help="Walk-forward validation, e.g. train=3y,test=1y (lengths in y, m or d)")]),
        ("select_by", "sharpe", Annotated[str, typer.Option(help="Metric choosing each fold's parameters")]),
        ("sort", "sharpe", Annotated[str, typer.Option(
            help="Metric ranking the table, heatmap and curves; also an exit rule's attribution, e.g. "
            "edge_vs_next_rule.stop_loss or exit_edge_vs_expiration (dollars, higher: the rule earned more)")]),
        ("top", 20, Annotated[int, typer.Option(min=1, help="Rows of the table (curves: at most 10)")]),
        ("out", None, Annotated[Path | None, typer.Option(
            help="Results CSV (a .parquet copy and the equity curves are written beside it)")]),
        ("resume", False, Annotated[bool, typer.Option(
            help="Continue the sweep in --out: runs already ok there are not run again")]),
        ("report", None, Annotated[Path | None, typer.Option(help="Write a self-contained HTML report")]),
        ("heatmap", "profit_target,stop_loss", Annotated[str, typer.Option(help="Heatmap axes X,Y (two flags)")]),
        ("workers", None, Annotated[int | None, typer.Option(
            min=0, help="Local Dask worker processes (default: one per CPU; 0 = in process)")]),
        ("scheduler", None, Annotated[str | None, typer.Option(
            envvar="RISKPILOT_DASK_SCHEDULER", help="An existing Dask scheduler, tcp://HOST:PORT")]),
        ("in_process", False, Annotated[bool, typer.Option(
            "--in-process", help="Run here, one run after another (debugging); as --workers 0")]),
    ]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, d, a in own]

    def sweep_cmd(**kw: Any) -> None:
        """Run the cartesian product of the flags' values (in parallel on Dask), print the runs
        ranked by --sort, and write the results file, heatmaps and report. Exit status 1 when
        any run failed (every other run still completes and is written)."""
        _sweep(**kw)

    sweep_cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    sweep_cmd.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return sweep_cmd


def register(bt_app: typer.Typer) -> None:
    """Add `sweep` to the `backtest` command group."""
    bt_app.command("sweep")(_command())
