"""The ``riskpilot`` command line. Each command group lives in its own module and is
registered here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="riskpilot",
    help="Risk and exit management for systematic options positions.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # Command groups register themselves on import; keep imports here so `riskpilot --help`
    # lists every group. Each module defines `register(app)`.
    from riskpilot.cli import backtest, broker, config_cmd, dashboard, data, db, evaluate, monitor, ops

    for module in (evaluate, config_cmd, data, db, backtest, ops, monitor, broker, dashboard):
        module.register(app)


_register()


def main() -> None:
    app()
