"""Operations on the store: `riskpilot positions`, `exits`, `alerts`, `halt`, `resume` and the
end-of-day `summary`. Every command takes ``--db URL`` and refuses a missing or un-migrated
database with how to fix it (it never creates or migrates one)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from riskpilot.cli import adopt
from riskpilot.cli.common import DB_HELP, DB_URL_ENV, fail, load_cfg, open_store, parse_date

if TYPE_CHECKING:  # riskpilot.alerts imports apprise (~0.8 s): only `summary` loads it
    from riskpilot.alerts.summary import MarketContext


def register(app: typer.Typer) -> None:
    positions_app = typer.Typer(invoke_without_command=True)
    app.add_typer(positions_app, name="positions")
    adopt.register(positions_app)

    @positions_app.callback()
    def positions_cmd(
        ctx: typer.Context,
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        include_closed: bool = typer.Option(False, "--all", help="include CLOSED positions"),
    ) -> None:
        """List the positions in the store (open ones unless --all), with their last marks.
        `positions adopt` takes a broker account's positions into the store."""
        if ctx.invoked_subcommand is not None:
            return
        from rich.table import Table

        from riskpilot.cli import views

        with open_store(db) as store:
            rows = views.position_rows(store, include_closed)
        if as_json:
            typer.echo(json.dumps({"positions": rows}, indent=2))
            return
        table = Table(title=f"Positions ({len(rows)})")
        for col in ("id", "status", "underlying", "method", "qty", "entry", "now", "profit %", "unrealized", "DTE"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["id"],
                r["status"],
                r["underlying"],
                r["method"],
                str(r["quantity"]),
                f"{r['entry_premium']:.2f}",
                views.num(r["current_premium"]),
                views.num(r["unrealized_pnl_pct"], "+.1%"),
                views.num(r["unrealized_pnl"], "+,.2f"),
                str(r["dte"]),
            )
        views.console().print(table)

    @app.command("exits")
    def exits_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        position: str | None = typer.Option(None, "--position", help="only this position's exits"),
    ) -> None:
        """List the recorded exits (oldest first): why, how urgent, how much, at what price."""
        from rich.table import Table

        from riskpilot.cli import views

        with open_store(db) as store:
            rows = views.exit_rows(store, position)
        if as_json:
            typer.echo(json.dumps({"exits": rows}, indent=2))
            return
        table = Table(title=f"Exits ({len(rows)})")
        for col in ("position", "reason", "priority", "qty", "price", "tactic", "status", "triggered", "executed"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["position_id"],
                r["reason"],
                r["priority"],
                f"{r['filled_quantity']}/{r['quantity']}",
                views.num(r["price"]),
                r["tactic"],
                r["status"],
                r["triggered_at"],
                r["executed_at"] or "-",
            )
        views.console().print(table)

    @app.command("alerts")
    def alerts_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        limit: int = typer.Option(50, min=1, help="how many of the newest alerts"),
    ) -> None:
        """List the newest stored alerts with how their delivery went."""
        from rich.table import Table

        from riskpilot.cli import views
        from riskpilot.store import StateRepository

        with open_store(db) as store:
            alerts = StateRepository(store).recent_alerts(limit)
        rows: list[dict[str, Any]] = [
            {
                "id": a.id,
                "created_at": views.iso(a.created_at),
                "kind": a.kind,
                "severity": a.level.value,
                "message": a.message,
                "position_id": a.position_id,
                "fields": a.payload,
                "delivered_at": views.iso(a.delivered_at),
                "delivery_error": a.delivery_error,
                "delivery_attempts": a.delivery_attempts,
            }
            for a in alerts
        ]
        if as_json:
            typer.echo(json.dumps({"alerts": rows}, indent=2))
            return
        table = Table(title=f"Alerts (newest {len(rows)})")
        for col in ("id", "time", "severity", "kind", "message", "delivery"):
            table.add_column(col, overflow="fold")
        for r in rows:
            delivery = r["delivered_at"] or f"FAILED x{r['delivery_attempts']}: {r['delivery_error']}"
            if r["delivered_at"] is None and r["delivery_attempts"] == 0:
                delivery = "pending"
            table.add_row(str(r["id"]), r["created_at"], r["severity"], r["kind"], r["message"], delivery)
        views.console().print(table)

    @app.command("halt")
    def halt_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        reason: str = typer.Option("operator request", "--reason", help="shown with the state"),
    ) -> None:
        """Halt new entries (exits still pass) until `riskpilot resume`."""
        from riskpilot.store import operator

        with open_store(db) as store:
            change = operator.halt(store, reason, datetime.now(UTC))
        typer.echo(f"trading state: {change.before.state.value} -> HALTED (manual: lasts until `riskpilot resume`)")

    @app.command("resume")
    def resume_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        force: bool = typer.Option(False, "--force", help="lift a circuit-breaker halt on its own day"),
    ) -> None:
        """Set the trading state back to ACTIVE (a circuit-breaker halt on its own day needs --force).

        A circuit-breaker halt lifts by itself once its trading day has rolled."""
        from riskpilot.store import operator

        with open_store(db) as store:
            try:
                change = operator.resume(store, datetime.now(UTC), force=force)
            except operator.ResumeRefusedError as exc:
                raise fail(f"{exc}; pass --force to resume now", code=1) from None
        if not change.changed:
            typer.echo("trading state is already ACTIVE; nothing to do")
            return
        typer.echo(f"trading state: {change.before.state.value} -> ACTIVE")

    @app.command("summary")
    def summary_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        day: str | None = typer.Option(
            None, "--date", help="the day, YYYY-MM-DD (default: today, New York; a replay's store: its last day)"),
        send: bool = typer.Option(False, "--send", help="also send it through the alert channels"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (alert channels, regimes)"),
        market: str = typer.Option("SPY", "--market", help="symbol whose trend sets the regime"),
    ) -> None:
        """Print the end-of-day summary; --send also sends it through the alert channels.

        The day's P&L, open positions with profit % and DTE, trade statistics today and all
        time, VIX and the regime."""
        from riskpilot.alerts import Alerter, AlertKind, build_summary, market_context
        from riskpilot.cli import views
        from riskpilot.model.contract import exchange_date
        from riskpilot.store import LeaseRepository

        cfg = load_cfg(config)
        asked = parse_date(day, "--date")
        with open_store(db) as store:
            # Default: today in New York, or the replay's market day for a store a replay wrote.
            the_day = asked or exchange_date(LeaseRepository(store).market_now(datetime.now(UTC)))
            ctx: MarketContext | None = None
            note: str | None = None
            try:
                ctx = market_context(the_day, market, cfg.regimes)
            except LookupError as exc:  # includes an unknown symbol (UnknownSymbolError is a KeyError)
                note = f"no market context: {exc}"
            summary = build_summary(store, the_day, ctx, market_note=note)
            outcome = None
            if send:
                try:
                    alerter = Alerter.from_config(store, cfg.alerts)
                except ValueError as exc:
                    raise fail(str(exc)) from None
                outcome = asyncio.run(
                    alerter.send(
                        AlertKind.SUMMARY,
                        summary.to_text(),
                        day=the_day,
                        day_pnl=summary.day_pnl,
                        realized_net=summary.realized_net,
                        open_positions=len(summary.positions),
                    )
                )
        if as_json:
            out = summary.to_dict()
            if outcome is not None:
                out["sent"] = {"alert_id": outcome.alert_id, "delivered": outcome.delivered, "error": outcome.error}
            typer.echo(json.dumps(out, indent=2))
        else:
            views.print_summary(summary)
        if outcome is not None:
            if not outcome.delivered:
                raise fail(f"summary stored as alert {outcome.alert_id} but not delivered: {outcome.error}", code=1)
            if not as_json:
                typer.echo(f"sent as alert {outcome.alert_id}")
