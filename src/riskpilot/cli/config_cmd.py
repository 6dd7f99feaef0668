"""`riskpilot config ...`"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Validate and show configuration files.", no_args_is_help=True)

    @config_app.command("validate")
    def validate(file: str = typer.Argument(..., help="YAML configuration file")) -> None:
        """Print OK, or every error with its dotted path, and exit non-zero."""
        raise typer.Exit(2)

    app.add_typer(config_app, name="config")
