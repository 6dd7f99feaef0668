"""`riskpilot config validate FILE`"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Validate configuration files.", no_args_is_help=True)

    @config_app.command("validate")
    def validate(file: Path = typer.Argument(..., help="YAML configuration file")) -> None:
        """Print OK, or every error with its dotted path and exit non-zero."""
        from riskpilot.config import ConfigError, load_config

        try:
            cfg = load_config(file)
        except ConfigError as exc:
            # Plain text, never wrapped: each error stays on one greppable line.
            typer.echo(f"{file}: {len(exc.errors)} error(s)", err=True)
            for e in exc.errors:
                typer.echo(f"  - {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"OK: {file} ({len(cfg.methods)} method(s): {', '.join(cfg.methods)})")

    app.add_typer(config_app, name="config")
