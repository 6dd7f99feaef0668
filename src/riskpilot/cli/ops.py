"""Operations on the store: `riskpilot positions`, `exits`, `alerts`, `halt`, `resume` and the
end-of-day `summary`. Every command takes ``--db URL`` and refuses a missing or un-migrated
database with how to fix it (it never creates or migrates one)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from riskpilot.cli.db import _DB_HELP
from riskpilot.config import ConfigError, RiskPilotConfig, load_config
from riskpilot.model.contract import exchange_date
from riskpilot.model.enums import PositionStatus, TradingState
from riskpilot.store import (
    DB_URL_ENV,
    OPEN_STATUSES,
    ExitRepository,
    PositionRepository,
    SchemaNotCurrentError,
    StateRepository,
    Store,
    StoreConfigError,
    default_url,
    normalize_url,
)

if TYPE_CHECKING:  # riskpilot.alerts imports apprise (~0.8 s): only `summary` loads it
    from riskpilot.alerts.summary import MarketContext, Summary

def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{flag} {value!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-01") from None


@contextmanager
def open_store(db: str | None) -> Iterator[Store]:
    """The store at ``db`` (default: $RISKPILOT_DB or sqlite:///riskpilot.db), which must
    exist and be at the latest schema revision."""
    raw = db or default_url()
    try:
        url = normalize_url(raw)
        if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
            raise _fail(
                f"database file {url.database} does not exist: create it with `riskpilot db upgrade --db {raw}` "
                "(or pass --db / set RISKPILOT_DB to the store you meant)"
            )
        store = Store.open(raw, migrate=False)
    except (StoreConfigError, SchemaNotCurrentError) as exc:
        raise _fail(str(exc)) from None
    except OperationalError as exc:
        raise _fail(f"cannot connect to {url.render_as_string(hide_password=True)}: {exc.orig}") from None
    try:
        yield store
    finally:
        store.close()


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def _console() -> Console:
    return Console(width=160)


def _position_rows(store: Store, include_closed: bool) -> list[dict[str, Any]]:
    statuses = tuple(PositionStatus) if include_closed else OPEN_STATUSES
    today = exchange_date(datetime.now(UTC))
    rows = []
    for sp in PositionRepository(store).load_open(statuses):
        p, m = sp.position, sp.monitoring
        rows.append(
            {
                "id": p.id,
                "status": p.status.value,
                "underlying": p.underlying,
                "method": p.method,
                "premium_type": p.premium_type.value,
                "quantity": p.quantity,
                "original_quantity": p.original_quantity,
                "entry_premium": p.entry_premium,
                "current_premium": m.current_price,
                "unrealized_pnl": m.unrealized_pnl,
                "unrealized_pnl_pct": m.unrealized_pnl_pct,
                "realized_pnl": m.realized_pnl,
                "commissions": m.commissions,
                "expiration": p.expiration.isoformat(),
                "dte": p.dte(today),
                "trailing_stop_price": m.trailing_stop_price,
                "exit_reason": m.exit_reason,
                "opened_at": _iso(p.opened_at),
                "closed_at": _iso(m.closed_at),
                "last_update": _iso(m.last_update),
            }
        )
    return rows


def _exit_rows(store: Store, position_id: str | None) -> list[dict[str, Any]]:
    repo = ExitRepository(store)
    exits = repo.exits_for(position_id) if position_id is not None else repo.all_exits()
    return [
        {
            "id": e.id,
            "position_id": e.position_id,
            "rule": e.rule,
            "reason": e.reason,
            "priority": e.priority.name,
            "quantity": e.quantity,
            "filled_quantity": e.filled_quantity,
            "is_partial": e.is_partial,
            "price": e.fill_price,
            "tactic": e.tactic,
            "status": e.status.value,
            "unrealized_pnl_at_trigger": e.unrealized_pnl_at_trigger,
            "triggered_at": _iso(e.triggered_at),
            "executed_at": _iso(e.executed_at),
        }
        for e in exits
    ]


def _print_summary(s: Summary) -> None:
    con = _console()
    head = Table(title=f"End-of-day summary {s.day.isoformat()}", show_header=False)
    head.add_column("item")
    head.add_column("value")
    head.add_row("Day P&L", f"{s.day_pnl:+,.2f}" if s.day_pnl is not None else f"unknown: {s.day_pnl_note}")
    head.add_row(
        "Realized (net)", f"{s.realized_pnl:+,.2f} - commissions {s.commissions:,.2f} = {s.realized_net:+,.2f}"
    )
    head.add_row("Open unrealized", f"{s.open_unrealized_pnl:+,.2f}")
    head.add_row("Trading state", f"{s.trading_state} ({s.trading_state_reason})")
    for label, st in (("Trades today", s.today), ("Trades all time", s.all_time)):
        rate = f"{st.win_rate:.0%}" if st.win_rate is not None else "n/a"
        head.add_row(label, f"{st.count} trades, {st.wins} wins ({rate}), P&L {st.pnl:+,.2f}")
    if s.market is not None:
        m = s.market
        stale = " [stale]" if m.stale else ""
        head.add_row(
            "Market",
            f"{m.as_of.isoformat()}{stale}: VIX {m.vix_close:.2f}, {m.symbol} {m.close:.2f}, "
            f"regime {m.regime or 'unknown (short history)'}",
        )
    else:
        head.add_row("Market", s.market_note or "-")
    con.print(head)
    table = Table(title=f"Open positions ({len(s.positions)})")
    for col in ("id", "underlying", "method", "qty", "entry", "now", "profit %", "unrealized", "DTE"):
        table.add_column(col, overflow="fold")
    for p in s.positions:
        table.add_row(
            p.id,
            p.underlying,
            p.method,
            str(p.quantity),
            f"{p.entry_premium:.2f}",
            _num(p.current_premium),
            "-" if p.profit_pct is None else f"{p.profit_pct:+.1%}",
            _num(p.unrealized_pnl, "+,.2f"),
            str(p.dte),
        )
    con.print(table)


def _load_cfg(config: Path | None) -> RiskPilotConfig:
    if config is None:
        return RiskPilotConfig()
    try:
        return load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    @app.command("positions")
    def positions_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        include_closed: bool = typer.Option(False, "--all", help="include CLOSED positions"),
    ) -> None:
        """List the positions in the store (open ones unless --all), with their last marks."""
        with open_store(db) as store:
            rows = _position_rows(store, include_closed)
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
                _num(r["current_premium"]),
                _num(r["unrealized_pnl_pct"], "+.1%"),
                _num(r["unrealized_pnl"], "+,.2f"),
                str(r["dte"]),
            )
        _console().print(table)

    @app.command("exits")
    def exits_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        position: str | None = typer.Option(None, "--position", help="only this position's exits"),
    ) -> None:
        """List the recorded exits (oldest first): why, how urgent, how much, at what price."""
        with open_store(db) as store:
            rows = _exit_rows(store, position)
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
                _num(r["price"]),
                r["tactic"],
                r["status"],
                r["triggered_at"],
                r["executed_at"] or "-",
            )
        _console().print(table)

    @app.command("alerts")
    def alerts_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
        limit: int = typer.Option(50, min=1, help="how many of the newest alerts"),
    ) -> None:
        """List the newest stored alerts with how their delivery went."""
        with open_store(db) as store:
            alerts = StateRepository(store).recent_alerts(limit)
        rows: list[dict[str, Any]] = [
            {
                "id": a.id,
                "created_at": _iso(a.created_at),
                "kind": a.kind,
                "severity": a.level.value,
                "message": a.message,
                "position_id": a.position_id,
                "fields": a.payload,
                "delivered_at": _iso(a.delivered_at),
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
        _console().print(table)

    @app.command("halt")
    def halt_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        reason: str = typer.Option("operator request", "--reason", help="shown with the state"),
    ) -> None:
        """Halt new entries (exits still pass) until `riskpilot resume`."""
        with open_store(db) as store:
            repo = StateRepository(store)
            before = repo.trading_state()
            repo.set_trading_state(TradingState.HALTED, f"manual halt: {reason}", datetime.now(UTC))
        typer.echo(f"trading state: {before.state.value} -> HALTED (manual: lasts until `riskpilot resume`)")

    @app.command("resume")
    def resume_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        force: bool = typer.Option(False, "--force", help="lift a circuit-breaker halt on its own day"),
    ) -> None:
        """Set the trading state back to ACTIVE (a circuit-breaker halt on its own day needs --force).

        A circuit-breaker halt lifts by itself once its trading day has rolled."""
        with open_store(db) as store:
            repo = StateRepository(store)
            st = repo.trading_state()
            if st.state is TradingState.ACTIVE:
                typer.echo("trading state is already ACTIVE; nothing to do")
                return
            today = exchange_date(datetime.now(UTC))
            if st.state is TradingState.HALTED and st.halted_on is not None and today <= st.halted_on and not force:
                raise _fail(
                    f"the circuit breaker halted entries on {st.halted_on.isoformat()} ({st.reason}); that trading "
                    "day has not rolled yet. It lifts by itself on the next trading day; pass --force to resume now",
                    code=1,
                )
            how = "forced, " if force and st.halted_on is not None and today <= st.halted_on else ""
            repo.set_trading_state(
                TradingState.ACTIVE, f"manual resume ({how}was {st.state.value}: {st.reason})", datetime.now(UTC)
            )
        typer.echo(f"trading state: {st.state.value} -> ACTIVE")

    @app.command("summary")
    def summary_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        day: str | None = typer.Option(None, "--date", help="the day, YYYY-MM-DD (default: today, New York)"),
        send: bool = typer.Option(False, "--send", help="also send it through the alert channels"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (alert channels, regimes)"),
        market: str = typer.Option("SPY", "--market", help="symbol whose trend sets the regime"),
    ) -> None:
        """Print the end-of-day summary; --send also sends it through the alert channels.

        The day's P&L, open positions with profit % and DTE, trade statistics today and all
        time, VIX and the regime."""
        from riskpilot.alerts import Alerter, AlertKind, build_summary, market_context

        the_day = _date(day, "--date") or exchange_date(datetime.now(UTC))
        cfg = _load_cfg(config)
        ctx: MarketContext | None = None
        note: str | None = None
        try:
            ctx = market_context(the_day, market, cfg.regimes)
        except LookupError as exc:  # includes an unknown symbol (UnknownSymbolError is a KeyError)
            note = f"no market context: {exc}"
        with open_store(db) as store:
            summary = build_summary(store, the_day, ctx, market_note=note)
            outcome = None
            if send:
                try:
                    alerter = Alerter.from_config(store, cfg.alerts)
                except ValueError as exc:
                    raise _fail(str(exc)) from None
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
            _print_summary(summary)
        if outcome is not None:
            if not outcome.delivered:
                raise _fail(f"summary stored as alert {outcome.alert_id} but not delivered: {outcome.error}", code=1)
            if not as_json:
                typer.echo(f"sent as alert {outcome.alert_id}")
