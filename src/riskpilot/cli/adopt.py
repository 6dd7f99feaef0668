"""`riskpilot positions adopt --broker ibkr`: take the option positions of an IB account into
the store, so the monitor manages their exits.

The account's option legs (IB's positions, average cost per share as entry premium) that no
open position of the store accounts for are grouped into positions (verticals, iron condors,
strangles, single legs, by underlying and expiry; or exactly as ``--from FILE.yaml`` says),
shown, and stored after confirmation (``--yes`` skips it). The store is bound to the account
on first use; another account is refused.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from riskpilot.cli.common import DB_HELP, DB_URL_ENV, fail, load_cfg, open_store

if TYPE_CHECKING:
    from riskpilot.execution.port import BrokerPosition
    from riskpilot.live.adopt import GroupIn
    from riskpilot.model.position import Position
    from riskpilot.store import Store


def register(positions_app: typer.Typer) -> None:
    @positions_app.command("adopt")
    def adopt_cmd(
        broker: str = typer.Option(..., "--broker", help="the broker: ibkr"),
        method: str | None = typer.Option(
            None, "--method", help="method that manages the adopted positions' exits (default: the only one)"),
        grouping: Path | None = typer.Option(
            None, "--from", help="YAML grouping the legs explicitly (positions: [{legs: [...], quantity: N}])"),
        yes: bool = typer.Option(False, "--yes", "-y", help="store without asking"),
        account: str | None = typer.Option(None, "--account", help="the IB account (default: brokers.ibkr.account)"),
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (methods, brokers.ibkr)"),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="show ib_async's log"),
    ) -> None:
        """Group the account's option legs into positions, show them and store them (entry
        premium from IB's average cost), so the monitor manages their exits."""
        if broker != "ibkr":
            raise fail(f"--broker {broker!r}: positions are adopted from ibkr")
        if not verbose:
            logging.getLogger("ib_async").setLevel(logging.CRITICAL)
        from riskpilot import app as wiring
        from riskpilot.config import ConfigError
        from riskpilot.live.adopt import load_grouping

        cfg = load_cfg(config)
        try:
            name = wiring.adopt_method_of(cfg, method or cfg.brokers.ibkr.adopt_method)
            groups = load_grouping(grouping) if grouping is not None else None
        except wiring.WiringError as exc:
            raise fail(str(exc)) from None
        except ConfigError as exc:
            raise fail(str(exc)) from None
        with open_store(db) as store:
            try:
                lease, holdings = asyncio.run(wiring.read_ibkr_holdings(store, cfg, account=account))
            except wiring.WiringError as exc:
                raise fail(str(exc)) from None
            try:  # the account's lease is held until the adoption is stored (or dropped)
                stored = _confirm_and_store(store, lease.account, holdings, name, groups, grouping, yes)
            finally:
                lease.release(datetime.now(UTC))
        typer.echo(f"adopted {len(stored)} positions: {', '.join(p.id for p in stored)}; "
                   "`riskpilot monitor --broker ibkr` now manages their exits")


def _confirm_and_store(store: Store, account: str, holdings: list[BrokerPosition], method: str,
                       groups: list[GroupIn] | None, grouping: Path | None, yes: bool) -> list[Position]:
    from riskpilot import app as wiring
    from riskpilot.config import ConfigError
    from riskpilot.live.adoption import describe_plan, plan_adoption

    try:
        plan = plan_adoption(store, holdings, method=method, now=datetime.now(UTC), grouping=groups,
                             source=str(grouping))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"IB account {account}: {len(holdings)} option holdings, {len(plan.adopted)} positions to adopt")
    for line in describe_plan(plan):
        typer.echo(f"  {line}")
    if not plan.adopted:
        typer.echo("nothing to adopt: every holding is already managed, or none could be grouped")
        raise typer.Exit(0)
    if not yes and not typer.confirm(f"store these {len(plan.adopted)} positions?", default=False):
        typer.echo("nothing stored")
        raise typer.Exit(1)
    try:
        return wiring.adopt_holdings(store, plan, broker="ibkr", account=account)
    except wiring.WiringError as exc:
        raise fail(str(exc)) from None
