"""`riskpilot backtest run`: a backtest of one method over historical (or model-priced) chains,
with a progress bar, a results table, the exit attribution, the entry refusals in words, and
optional JSON, CSV and HTML outputs.

Every default `--help` shows is read, when the help is shown, from the effective
configuration (`--config` and `--method` when given on the same command line, else the
built-in one) and from :class:`riskpilot.backtest.runner.BacktestSpec`: nothing is written
twice by hand (:func:`riskpilot.cli.help_defaults`)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskpilot.cli.help_defaults import ConfigDefaultsCommand

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


def _signed_money(x: float) -> str:
    return f"-${-x:,.0f}" if x < 0 else f"+${x:,.0f}"


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


def attribution_table(run: BacktestRun) -> Table:
    """P&L by exit reason against the same units held on (riskpilot.backtest.attribution)."""
    table = Table(title="P&L by exit reason, against holding on (dollars, after commissions)",
                  caption="edge = P&L - P&L if held: what closing by the rule made over holding on (+ earned)")
    for col, right in (("exit reason", False), ("trades", True), ("P&L", True), ("if held to expiry", True),
                       ("edge", True), ("if held to next rule", True), ("edge", True)):
        table.add_column(col, justify="right" if right else "left")
    open_at_end = 0
    for reason, a in run.result.exit_attribution().items():
        open_at_end += a.open_at_end
        table.add_row(reason, f"{a.trades:,}", _money(a.pnl), _money(a.pnl_if_held_to_expiration),
                      _signed_money(a.edge_vs_expiration), _money(a.pnl_if_held_to_next_rule),
                      _signed_money(a.edge_vs_next_rule))
    if open_at_end:
        table.caption = (f"{table.caption}; {open_at_end} held path(s) still open at the end are valued at their "
                         f"last mark")
    return table


def refusals_table(run: BacktestRun) -> Table | None:
    from riskpilot.backtest.explain import refusal_advice

    advice = refusal_advice(run.result.entries_refused, run.config, run.method)
    if not advice:
        return None
    table = Table(title="Entries refused (one count per refused day and attempt)")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("why, and what to change")
    for r in advice:
        table.add_row(r.reason, f"{r.count:,}", r.why)
    return table


def timing_line(run: BacktestRun) -> str:
    """What fill timing and settlement the run used, in words."""
    from riskpilot.backtest.export import settlement_text

    fill = ("fills at the closing quotes of the day that decided (--fill close)" if run.spec.fill == "close" else
            "decided on each day's close, filled at the next day's quotes (--fill next)")
    return f"timing: {fill}; expiries settle at {settlement_text(run)}"


def register(app: typer.Typer) -> None:
    bt_app = typer.Typer(help="Backtest a method over option chains.", no_args_is_help=True)

    @bt_app.command("run", cls=ConfigDefaultsCommand)
    def run_cmd(
        ticker: Annotated[str | None, typer.Option(
            help="Underlying symbol (bundled: SPY, QQQ, IWM, SPX) {spec:ticker}", show_default=False)] = None,
        start: Annotated[datetime | None, typer.Option(formats=_DATE, help="First day (default: the data's)")] = None,
        end: Annotated[datetime | None, typer.Option(formats=_DATE, help="Last day (default: the data's)")] = None,
        data: Annotated[Path | None, typer.Option(
            help="Chain store directory (default: the bundled model-priced chain), or an event-market "
            "snapshot file (.csv/.parquet) to backtest event contracts")] = None,
        equity: Annotated[float | None, typer.Option(help="Starting equity, dollars {spec:equity}",
                                                     show_default=False)] = None,
        config: Annotated[Path | None, typer.Option(
            help="YAML configuration (any setting; flags win). The defaults this help shows are read from it")] = None,
        method: Annotated[str | None, typer.Option(
            help="Method of the configuration to trade (default: its only one)")] = None,
        strategy: Annotated[str | None, typer.Option(
            help="put_credit_spread, call_credit_spread, iron_condor, short_put, short_call, "
            "short_strangle, long_call, long_put {cfg:strategy}")] = None,
        width: Annotated[float | None, typer.Option(help="Spread width, points {cfg:width}")] = None,
        width_pct: Annotated[float | None, typer.Option(help="Spread width, percent of spot {cfg:width}")] = None,
        long_delta: Annotated[float | None, typer.Option(
            help="Spread width by the long leg's |delta| {cfg:width}")] = None,
        min_delta: Annotated[float | None, typer.Option(help="Short strike |delta|, low end {cfg:min_delta}")] = None,
        max_delta: Annotated[float | None, typer.Option(help="Short strike |delta|, high end {cfg:max_delta}")] = None,
        min_dte: Annotated[int | None, typer.Option(help="Expiration window, calendar days {cfg:min_dte}")] = None,
        max_dte: Annotated[int | None, typer.Option(help="Expiration window, calendar days {cfg:max_dte}")] = None,
        min_iv_percentile: Annotated[float | None, typer.Option(
            help="Enter only at or above (0-100) {cfg:min_iv_percentile}")] = None,
        max_iv_percentile: Annotated[float | None, typer.Option(
            help="Enter only at or below (0-100) {cfg:max_iv_percentile}")] = None,
        profit_target: Annotated[float | None, typer.Option(
            help="Percent of the entry premium {cfg:profit_target}")] = None,
        stop_loss: Annotated[float | None, typer.Option(help="Percent of the entry premium {cfg:stop_loss}")] = None,
        time_exit_dte: Annotated[int | None, typer.Option(
            help="Close at or below this DTE {cfg:time_exit_dte}")] = None,
        slippage: Annotated[str | None, typer.Option(
            help=f"Fill model: {', '.join(SLIPPAGE_MODELS)} {{spec:slippage}}", show_default=False)] = None,
        slippage_pct: Annotated[float | None, typer.Option(
            help="Percent off the mid, for --slippage pct {spec:slippage_pct}", show_default=False)] = None,
        spread_share: Annotated[float | None, typer.Option(
            help="Share of the spread paid, for --slippage spread {spec:spread_share}", show_default=False)] = None,
        volume_share: Annotated[float | None, typer.Option(help="Cap fills at this share of day volume")] = None,
        commission: Annotated[float | None, typer.Option(
            help="Dollars per contract per leg {spec:commission}", show_default=False)] = None,
        max_correlated_exposure: Annotated[float | None, typer.Option(
            help="Max loss in one correlation class, percent of equity {cfg:max_correlated_exposure}")] = None,
        settlement: Annotated[str | None, typer.Option(help="cash or physical (default: by underlying)")] = None,
        fill: Annotated[str | None, typer.Option(
            help="close: fill at the closing quotes of the day that decided; next: decide on the close, fill at "
            "the next day's quotes {spec:fill}", show_default=False)] = None,
        seed: Annotated[int | None, typer.Option(
            help="Recorded with the results (the engine is deterministic) {spec:seed}", show_default=False)] = None,
        json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON")] = None,
        trades_out: Annotated[Path | None, typer.Option("--trades", help="Write the trades as CSV")] = None,
        report_out: Annotated[Path | None, typer.Option("--report", help="Write an HTML report")] = None,
    ) -> None:
        """Backtest one method, print its metrics, what each exit rule earned against holding on,
        and why entries were refused; write the requested files. Results on the bundled chain are
        MODEL-PRICED and say so."""
        from riskpilot.backtest.runner import BacktestSpec, BacktestSpecError, run_spec

        err = Console(stderr=True)
        given: dict[str, Any] = {
            "ticker": ticker, "start": _day(start), "end": _day(end), "data": data, "equity": equity,
            "config": config, "method": method, "strategy": strategy, "width": width, "width_pct": width_pct,
            "long_delta": long_delta, "min_delta": min_delta, "max_delta": max_delta, "min_dte": min_dte,
            "max_dte": max_dte, "min_iv_percentile": min_iv_percentile, "max_iv_percentile": max_iv_percentile,
            "profit_target": profit_target, "stop_loss": stop_loss, "time_exit_dte": time_exit_dte,
            "slippage": slippage, "slippage_pct": slippage_pct, "spread_share": spread_share,
            "volume_share": volume_share, "commission": commission,
            "max_correlated_exposure": max_correlated_exposure, "settlement": settlement, "fill": fill, "seed": seed,
        }
        # A flag left out takes the spec's default (what --help printed).
        fields = {k: v for k, v in given.items() if v is not None}
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
        _print_run(run, err)
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
        Console().print(f"{run.metrics.trade_count:,} trades over {len(run.result.dates):,} trading days "
                        f"in {run.seconds:.1f} s", highlight=False)

    from riskpilot.cli.sweep import register as register_sweep

    register_sweep(bt_app)
    app.add_typer(bt_app, name="backtest")


def _print_run(run: BacktestRun, err: Console) -> None:
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
    console.print(timing_line(run), highlight=False, soft_wrap=True)
    console.print(results_table(run))
    if run.metrics.trade_count and run.source.kind == "events":
        console.print(reasons_table(run))  # no attribution for event markets: P&L by reason
    elif run.metrics.trade_count:
        console.print(attribution_table(run))
    refusals = refusals_table(run)
    if run.metrics.trade_count == 0 and not run.result.open_positions:
        total = sum(run.result.entries_refused.values())
        console.print(f"[bold]No trade[/bold]: entries were refused {total:,} times over {len(days):,} trading "
                      f"days (below, by reason, with what to change)" if total else
                      "[bold]No trade[/bold] and no refusal: the chain offered no day to enter on", highlight=False)
    if refusals is not None:
        console.print(refusals)
    warnings = [*run.warnings, *run.result.warnings]
    for warning in warnings[:10]:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if len(warnings) > 10:
        err.print(f"[yellow]warning:[/yellow] ... and {len(warnings) - 10} more (the JSON's warnings hold them all)",
                  highlight=False)
