"""`riskpilot backtest run`: a backtest of one method over historical (or model-priced) chains,
with a progress bar, a results table, and optional JSON, CSV and HTML outputs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from riskpilot.backtest.runner import BacktestRun

#: As riskpilot.backtest.runner.SLIPPAGE_MODELS (not imported here: `riskpilot --help` stays quick).
SLIPPAGE_MODELS = ("none", "pct", "spread", "orats", "volume")

_DATE = ["%Y-%m-%d"]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _money(x: float) -> str:
    return f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}"


def _data_label(run: BacktestRun) -> tuple[str, str]:
    """(table title, data cell): model-priced and synthetic data say so wherever shown."""
    if run.model_priced:
        return "Results (MODEL-PRICED chain)", "[bold yellow]MODEL-PRICED[/bold yellow]"
    if run.source.synthetic:
        return "Results (SYNTHETIC recording)", "[bold yellow]SYNTHETIC[/bold yellow]"
    return "Results (market quotes)", "market quotes"


def results_table(run: BacktestRun) -> Table:
    m = run.metrics
    title, label = _data_label(run)
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("data", label),
        ("CAGR", _pct(m.cagr)),
        ("Sharpe", _num(m.sharpe)),
        ("Sortino", _num(m.sortino)),
        ("max drawdown", _pct(m.max_drawdown)),
        ("Calmar", _num(m.calmar)),
        ("trades", f"{m.trade_count:,}"),
        ("win rate", _pct(m.win_rate)),
        ("profit factor", _num(m.profit_factor)),
        ("avg days held", _num(m.avg_days_held)),
        ("total return", _pct(m.total_return)),
        ("total P&L", _money(m.total_pnl)),
        ("end equity", _money(m.end_equity)),
        ("open at end", str(len(run.result.open_positions))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def reasons_table(run: BacktestRun) -> Table:
    table = Table(title="P&L by exit reason (after commissions)")
    table.add_column("exit reason")
    table.add_column("trades", justify="right")
    table.add_column("P&L", justify="right")
    for reason, s in sorted(run.metrics.by_exit_reason.items(), key=lambda kv: -kv[1].count):
        table.add_row(reason, f"{s.count:,}", _money(s.pnl))
    return table


def register(app: typer.Typer) -> None:
    bt_app = typer.Typer(help="Backtest a method over option chains.", no_args_is_help=True)

    @bt_app.command("run")
    def run_cmd(
        ticker: Annotated[str, typer.Option(help="Underlying symbol (bundled: SPY, QQQ, IWM, SPX)")] = "SPY",
        start: Annotated[datetime | None, typer.Option(formats=_DATE, help="First day (default: the data's)")] = None,
        end: Annotated[datetime | None, typer.Option(formats=_DATE, help="Last day (default: the data's)")] = None,
        data: Annotated[Path | None, typer.Option(
            help="Chain store directory (default: the bundled model-priced chain), or an event-market "
            "snapshot file (.csv/.parquet) to backtest event contracts")] = None,
        equity: Annotated[float, typer.Option(help="Starting equity, dollars")] = 100_000.0,
        config: Annotated[Path | None, typer.Option(help="YAML configuration (any setting; flags win)")] = None,
        method: Annotated[str | None, typer.Option(
            help="Method of the configuration to trade (default: its only one)")] = None,
        strategy: Annotated[str | None, typer.Option(
            help="put_credit_spread, call_credit_spread, iron_condor, short_put, short_call, "
            "short_strangle, long_call, long_put")] = None,
        width: Annotated[float | None, typer.Option(help="Spread width, points")] = None,
        long_delta: Annotated[float | None, typer.Option(help="Spread width by the long leg's |delta|")] = None,
        min_delta: Annotated[float | None, typer.Option(help="Short strike |delta|, low end (0.05)")] = None,
        max_delta: Annotated[float | None, typer.Option(help="Short strike |delta|, high end (0.15)")] = None,
        min_dte: Annotated[int | None, typer.Option(help="Expiration window, calendar days")] = None,
        max_dte: Annotated[int | None, typer.Option(help="Expiration window, calendar days")] = None,
        min_iv_percentile: Annotated[float | None, typer.Option(help="Enter only at or above (0-100)")] = None,
        max_iv_percentile: Annotated[float | None, typer.Option(help="Enter only at or below (0-100)")] = None,
        profit_target: Annotated[float | None, typer.Option(help="Percent of the entry premium (50)")] = None,
        stop_loss: Annotated[float | None, typer.Option(help="Percent of the entry premium (125)")] = None,
        time_exit_dte: Annotated[int | None, typer.Option(help="Close at or below this DTE")] = None,
        slippage: Annotated[str, typer.Option(help=f"Fill model: {', '.join(SLIPPAGE_MODELS)}")] = "orats",
        slippage_pct: Annotated[float, typer.Option(help="Percent off the mid, for --slippage pct")] = 1.0,
        spread_share: Annotated[float, typer.Option(
            help="Share of the spread paid, for --slippage spread")] = 0.5,
        volume_share: Annotated[float | None, typer.Option(help="Cap fills at this share of day volume")] = None,
        commission: Annotated[float, typer.Option(help="Dollars per contract per leg")] = 0.65,
        max_correlated_exposure: Annotated[float | None, typer.Option(
            help="Max loss in one correlation class, percent of equity")] = None,
        settlement: Annotated[str | None, typer.Option(help="cash or physical (default: by underlying)")] = None,
        seed: Annotated[int, typer.Option(help="Recorded with the results (the engine is deterministic)")] = 0,
        json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON")] = None,
        trades_out: Annotated[Path | None, typer.Option("--trades", help="Write the trades as CSV")] = None,
        report_out: Annotated[Path | None, typer.Option("--report", help="Write an HTML report")] = None,
    ) -> None:
        """Backtest one method, print its metrics, and write the requested files. Results on
        the bundled chain are MODEL-PRICED and say so."""
        from riskpilot.backtest.runner import BacktestSpec, BacktestSpecError, run_spec

        err = Console(stderr=True)
        fields: dict[str, Any] = {
            "ticker": ticker, "start": _day(start), "end": _day(end), "data": data, "equity": equity,
            "config": config, "method": method, "strategy": strategy, "width": width, "long_delta": long_delta,
            "min_delta": min_delta, "max_delta": max_delta, "min_dte": min_dte, "max_dte": max_dte,
            "min_iv_percentile": min_iv_percentile, "max_iv_percentile": max_iv_percentile,
            "profit_target": profit_target, "stop_loss": stop_loss, "time_exit_dte": time_exit_dte,
            "slippage": slippage, "slippage_pct": slippage_pct, "spread_share": spread_share,
            "volume_share": volume_share, "commission": commission,
            "max_correlated_exposure": max_correlated_exposure, "settlement": settlement, "seed": seed,
        }
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("days"), TimeElapsedColumn(), console=err, transient=True,
                            disable=not err.is_terminal)
        try:
            spec = BacktestSpec.parse(**fields)
            with progress:
                task = progress.add_task(f"backtest {spec.ticker}", total=None)

                def tick(done: int, total: int, day: date) -> None:
                    progress.update(task, completed=done, total=total, description=f"backtest {spec.ticker} {day}")

                run = run_spec(spec, tick)
        except BacktestSpecError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

        console = Console()
        days = run.result.dates
        if run.source.kind == "events":
            entries = run.config.event_entries
            console.print(f"Backtest event markets {days[0]} .. {days[-1]}, method {run.method} (buy a side when "
                          f"fair value - ask >= {entries.min_edge:g})", highlight=False)
        else:
            kind = run.config.method(run.method).strategy.kind
            console.print(f"Backtest {run.spec.ticker} {days[0]} .. {days[-1]}, method {run.method} ({kind})",
                          highlight=False)
        priced = ("[bold yellow]MODEL-PRICED[/bold yellow]: " if run.model_priced
                  else "[bold yellow]SYNTHETIC[/bold yellow]: " if run.source.synthetic else "")
        console.print(f"data: {priced}{run.source.description}", highlight=False)
        console.print(results_table(run))
        if run.metrics.by_exit_reason:
            console.print(reasons_table(run))
        for warning in [*run.warnings, *run.result.warnings][:10]:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
        if json_out is not None:
            from riskpilot.backtest.export import write_json

            write_json(run, json_out)
            err.print(f"wrote {json_out}", highlight=False)
        if trades_out is not None:
            from riskpilot.backtest.export import write_trades_csv

            write_trades_csv(run, trades_out)
            err.print(f"wrote {trades_out}", highlight=False)
        if report_out is not None:
            from riskpilot.backtest.report import write_report

            write_report(run, report_out)
            err.print(f"wrote {report_out}", highlight=False)
        console.print(f"{run.metrics.trade_count:,} trades over {len(run.result.dates):,} trading days "
                      f"in {run.seconds:.1f} s", highlight=False)

    from riskpilot.cli.sweep import register as register_sweep

    register_sweep(bt_app)
    app.add_typer(bt_app, name="backtest")
