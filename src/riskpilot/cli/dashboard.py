"""`riskpilot dashboard`: the web dashboard over a store (see :mod:`riskpilot.web`)."""

from __future__ import annotations

from pathlib import Path

import typer

from riskpilot.cli.common import DB_HELP, DB_URL_ENV, fail, open_store

TOKEN_ENV = "RISKPILOT_DASHBOARD_TOKEN"  # riskpilot.web.auth.TOKEN_ENV (kept light here)


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_cmd(
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback unless told)"),
        port: int = typer.Option(8050, "--port", min=1, max=65535, help="TCP port"),
        token: str | None = typer.Option(
            None, "--token", envvar=TOKEN_ENV,
            help=f"token that allows actions (halt, resume, close); without one the dashboard is read-only. "
                 f"Prefer ${TOKEN_ENV}: a flag shows in the process list"),
        config: Path | None = typer.Option(
            None, "--config", help="configuration YAML for the exit levels (default: the newest monitor run's)"),
        equity: float = typer.Option(100_000.0, "--equity", min=1.0, help="account equity in dollars, for the limits"),
        refresh: float = typer.Option(5.0, "--refresh", min=1.0, max=3600.0, help="seconds between live updates"),
    ) -> None:
        """Serve the dashboard: the book with its exit levels, working exits, history and state,
        updated live; halt, resume and close behind the token. Reads the store the monitor
        writes (beside it, on this machine or another that reaches the database)."""
        try:
            from riskpilot.web.app import DashboardSettings
            from riskpilot.web.auth import TokenError, check_token
            from riskpilot.web.server import build_server, is_loopback
        except ImportError as exc:
            raise fail(f"the dashboard needs the web extra ({exc.name} is missing): "
                       "pip install 'riskpilot[web]'") from None
        from riskpilot.config import ConfigError

        try:
            tok = check_token(token)
        except TokenError as exc:
            raise fail(str(exc)) from None
        if config is not None and not config.is_file():
            raise fail(f"--config {config}: no such file")
        settings = DashboardSettings(host=host, port=port, token=tok, config=config, equity=equity,
                                     refresh_seconds=refresh)
        with open_store(db) as store:
            try:
                server = build_server(store, settings)
            except ConfigError as exc:
                raise fail(str(exc)) from None
            where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/book"
            mode = "actions need the token" if tok else "read-only (no --token)"
            typer.echo(f"riskpilot dashboard on {where} ({mode}); Ctrl-C stops it")
            if not is_loopback(host):
                typer.echo(f"warning: listening on {host}, not loopback: anyone who reaches it can read the book",
                           err=True)
            server.run()
