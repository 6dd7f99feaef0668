"""`riskpilot data ...`: import vendor option chains into the columnar store and show what it
holds."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from riskpilot.data.formats import FORMAT_NAMES as FORMATS
from riskpilot.data.formats import GREEK_UNITS, GreekUnits

if TYPE_CHECKING:
    from rich.table import Table

    from riskpilot.data.schema import Quality
    from riskpilot.data.store import StoreInfo

#: File name endings the directory import picks up (pyarrow reads .gz/.bz2 text transparently).
DATA_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".parquet", ".pq", ".csv.gz", ".txt.gz",
                                  ".csv.bz2")
#: Rows read before they are merged into the store: fewer rewrites of a partition when a
#: directory holds one file per day, bounded memory when it holds years.
FLUSH_ROWS = 2_000_000


def _source_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        files = sorted(p for p in source.iterdir()
                       if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)
                       and not p.name.startswith("."))
        if not files:
            raise typer.BadParameter(
                f"{source} holds no chain files (looked for {', '.join(DATA_SUFFIXES)})",
                param_hint="SOURCE",
            )
        return files
    raise typer.BadParameter(f"{source} does not exist", param_hint="SOURCE")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Import option chains into the store and inspect it.",
                           no_args_is_help=True)

    @data_app.command("import")
    def import_cmd(
        source: Annotated[Path, typer.Argument(
            help="A chain file, or a directory of chain files")],
        format: Annotated[str, typer.Option(
            "--format", "-f", help=f"Vendor layout: {', '.join(FORMATS)}")],
        store: Annotated[Path, typer.Option(
            "--store", help="Store directory (created if absent)")],
        underlying: Annotated[str | None, typer.Option(
            help="Underlying symbol, for layouts without one (optionsdx) or to override")] = None,
        greek_units: Annotated[str, typer.Option(
            "--greek-units",
            help=f"Theta/vega units in the file: {', '.join(GREEK_UNITS)} (auto = vendor's)",
        )] = "auto",
        replace_sources: Annotated[bool, typer.Option(
            "--replace-sources",
            help="Allow rows from this source to replace stored rows of another source")] = False,
    ) -> None:
        """Read SOURCE as FORMAT and merge it into the store. Re-importing is idempotent:
        rows with the same (quote_date, root, expiration, strike, right) are replaced."""
        import pyarrow as pa
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from riskpilot.data.readers import ChainFormatError, read_chain
        from riskpilot.data.store import ChainStore, ChainStoreError

        console = Console(stderr=True)
        if format not in FORMATS:
            raise typer.BadParameter(f"unknown format {format!r}; choose one of "
                                     f"{', '.join(FORMATS)}", param_hint="--format")
        if greek_units not in GREEK_UNITS:
            raise typer.BadParameter(f"choose one of {', '.join(GREEK_UNITS)}",
                                     param_hint="--greek-units")
        files = _source_files(source)
        chain_store = ChainStore(store)
        pending: list[pa.Table] = []
        pending_rows = rows_in = replaced = 0

        def flush() -> None:
            nonlocal pending_rows, rows_in, replaced
            if not pending:
                return
            result = chain_store.import_table(pa.concat_tables(pending),
                                              replace_sources=replace_sources)
            rows_in += result.rows_in
            replaced += result.rows_replaced
            pending.clear()
            pending_rows = 0

        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        try:
            with progress:
                task = progress.add_task("importing", total=len(files))
                for path in files:
                    progress.update(task, description=f"reading {path.name}")
                    table = read_chain(path, format, underlying=underlying,
                                       greek_units=cast(GreekUnits, greek_units))
                    pending.append(table)
                    pending_rows += table.num_rows
                    if pending_rows >= FLUSH_ROWS:
                        progress.update(task, description="writing store")
                        flush()
                    progress.advance(task)
                progress.update(task, description="writing store")
                flush()
                progress.update(task, description="done")
        except (ChainFormatError, ChainStoreError) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        typer.echo(f"imported {rows_in} rows from {len(files)} file(s) into {store} "
                   f"({rows_in - replaced} new, {replaced} replaced)")

    @data_app.command("info")
    def info_cmd(
        store: Annotated[Path, typer.Option("--store", help="Store directory")],
    ) -> None:
        """Show each underlying's date span, rows, expirations and data-quality counts."""
        from rich.console import Console

        from riskpilot.data.store import ChainStore

        if not store.is_dir():
            Console(stderr=True).print(f"[red]error:[/red] no store at {store} (import data "
                                       "with `riskpilot data import` first)", highlight=False)
            raise typer.Exit(2)
        info = ChainStore(store).info()
        console = Console(width=max(Console().width, 140))
        if not info.underlyings:
            console.print(f"{store}: the store is empty")
            return
        console.print(_overview(info))
        console.print(_quality(info))

    app.add_typer(data_app, name="data")


def _overview(info: StoreInfo) -> Table:
    from rich.table import Table

    table = Table(title=f"Option chains in {info.root}")
    for name in ("underlying", "first day", "last day", "days", "rows", "expirations", "roots",
                 "source", "model-priced"):
        if name in ("days", "rows", "expirations"):
            table.add_column(name, justify="right")
        else:
            table.add_column(name)
    for u in info.underlyings.values():
        if u.model_priced_rows == 0:
            model = "no"
        elif u.model_priced:
            model = "[bold yellow]YES (model-priced)[/bold yellow]"
        else:
            model = f"[bold yellow]partly: {u.model_priced_rows} rows[/bold yellow]"
        table.add_row(u.underlying, str(u.first_day), str(u.last_day), str(u.days),
                      f"{u.rows:,}", str(u.expirations), ", ".join(u.roots),
                      ", ".join(u.sources), model)
    return table




def _flag_labels() -> tuple[tuple[Quality, str], ...]:
    """What ``data info`` calls each quality flag, in the order it lists them."""
    from riskpilot.data.schema import Quality

    return (
    (Quality.CROSSED, "crossed (bid > ask)"),
    (Quality.NO_MARKET, "no market (bid or ask missing, or both 0)"),
    (Quality.BAD_IV, "bad iv (missing or not positive)"),
    (Quality.DUPLICATE, "duplicate"),
    (Quality.HOLIDAY_RESCRAPE, "holiday re-scrape"),
    (Quality.BAD_PRICE, "bad price (negative or infinite)"),
    (Quality.BAD_STRIKE, "bad strike (<= 0, infinite or absurd)"),
    (Quality.BAD_EXPIRATION, "bad expiration (before the quote date or > 15 years out)"),
    (Quality.BAD_VOLUME, "bad volume/OI (negative)"),
)


def _quality(info: StoreInfo) -> Table:
    from rich.table import Table

    from riskpilot.data.schema import UNUSABLE_FOR_PRICING

    """One row per quality check (rows carrying the flag; a row may carry several), one column
    per underlying."""
    table = Table(title="Data quality (rows are kept and flagged, never dropped)")
    table.add_column("check")
    table.add_column("unusable for pricing")
    reports = list(info.underlyings.values())
    for u in reports:
        table.add_column(u.underlying, justify="right")
    for flag, label in _flag_labels():
        name = flag.name or str(int(flag))
        unusable = "yes" if flag & UNUSABLE_FOR_PRICING else "no"
        table.add_row(label, unusable, *(f"{u.quality.flag_counts[name]:,}" for u in reports))
    table.add_row("rows unusable for pricing", "", *(f"{u.quality.unusable_rows:,}" for u in reports))
    table.add_row("gap days (NYSE sessions without rows)", "",
                  *(str(len(u.quality.gap_days)) for u in reports))

    def first_gaps(days: tuple[date, ...]) -> str:
        shown = ", ".join(d.isoformat() for d in days[:5])
        return (shown + (", ..." if len(days) > 5 else "")) or "-"

    table.add_row("gaps (first 5)", "", *(first_gaps(u.quality.gap_days) for u in reports))
    return table
