"""`riskpilot broker check --broker ibkr`: connect, print the account, buying power, positions,
one quote and one contract's market rule, and exit. Nothing is sent but requests for data.

Settings: ``brokers.ibkr`` of ``--config FILE``, then ``RISKPILOT_IBKR_*`` variables, then the
flags. A gateway that does not answer ends with the one-line reason and exit code 2.

`riskpilot broker check --broker kalshi`: where the API key id and private key are read from
(never their values), the exchange's status, a signed request accepted (the balance) and the
rate limit, from the ``kalshi`` block of ``--config FILE``; a ``FAIL`` line ends with exit code 2.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from riskpilot.cli.common import fail as _fail

if TYPE_CHECKING:
    from riskpilot.config.brokers import IbkrConfig


async def _check(settings: IbkrConfig, symbol: str) -> None:
    # Imported here: ib_async is only needed once a broker is actually asked for.
    try:
        from riskpilot.brokers.ibkr_broker import IbkrBroker
    except ImportError:
        raise _fail("Interactive Brokers needs ib_async: pip install 'riskpilot[live]'") from None
    from riskpilot.model.contract import OptionContract

    broker = IbkrBroker(settings)
    await broker.connect()
    try:
        values = broker.account_values()
        typer.echo(f"connected: {settings.address} client id {settings.client_id}, server version "
                   f"{broker.ib.client.serverVersion()}")
        typer.echo(f"account: {broker.account}")
        for tag in ("NetLiquidation", "BuyingPower", "AvailableFunds"):
            if tag in values:
                typer.echo(f"  {tag}: {float(values[tag]):,.2f}")
        held = await broker.positions()
        typer.echo(f"option positions: {len(held)}")
        for p in held:
            typer.echo(f"  {p.contract}  {p.quantity:+d}  avg {p.avg_price:.4f}/share")
        options = [p.contract for p in held if isinstance(p.contract, OptionContract)]
        if options:
            c = options[0]
            quotes = await broker.get_quotes([c])
            q = quotes.get(c)
            shown = (f"bid {q.bid} ask {q.ask}" if q is not None
                     else f"none ({broker.quote_problems.get(c, 'no market')})")
            typer.echo(f"quote {c}: {shown}")
            rule = await broker.tick_rule([c])
            typer.echo(f"market rule {c}: {rule.name}: {rule.describe()}")
        else:
            contract, quote = await broker.underlying_quote(symbol)
            shown = quote if isinstance(quote, str) else f"bid {quote.bid} ask {quote.ask}"
            typer.echo(f"quote {contract.symbol} ({contract.secType}): {shown}")
            rule = await broker.rule_of_contract(contract)
            typer.echo(f"market rule {contract.symbol}: {rule.name}: {rule.describe()}")
    finally:
        await broker.close()


def _check_kalshi(config: Path | None) -> None:
    from riskpilot.cli.common import load_cfg
    from riskpilot.config.redact import install_log_redaction

    install_log_redaction()  # no key reaches a log line
    cfg = load_cfg(config)
    try:
        from riskpilot.brokers.kalshi import kalshi_check
    except ImportError:
        raise _fail("Kalshi needs its SDK: pip install 'riskpilot[kalshi]'") from None
    lines = kalshi_check(cfg)
    typer.echo("\n".join(lines))
    if any(line.startswith("FAIL") for line in lines):
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    broker_app = typer.Typer(help="Check the connection to a broker.", no_args_is_help=True)

    @broker_app.command("check")
    def check(
        broker: str = typer.Option(..., "--broker", help="the broker: ibkr or kalshi"),
        config: Path | None = typer.Option(None, "--config", help="YAML with a brokers.ibkr or a kalshi block"),
        host: str | None = typer.Option(None, "--host", help="IB Gateway/TWS host (127.0.0.1)"),
        port: int | None = typer.Option(None, "--port", help="API port (4002 Gateway paper, 7497 TWS paper)"),
        client_id: int | None = typer.Option(None, "--client-id", help="API client id"),
        account: str | None = typer.Option(None, "--account", help="account id, when the login has several"),
        symbol: str = typer.Option("SPY", "--symbol", help="underlying to quote when no option is held"),
        verbose: bool = typer.Option(False, "--verbose", help="show ib_async's log"),
    ) -> None:
        """Connect, print account, buying power, positions, one quote and a market rule, exit
        (ibkr); or credentials' origin, exchange status, balance and rate limit (kalshi)."""
        from riskpilot.config import ConfigError, load_config
        from riskpilot.config.brokers import BrokerSettingsError, ibkr_settings
        from riskpilot.execution.port import BrokerError

        if broker == "kalshi":
            _check_kalshi(config)
            return
        if broker != "ibkr":
            raise _fail(f"--broker {broker!r} has no check: use --broker ibkr or kalshi")
        if not verbose:  # ib_async logs every failed connect attempt at ERROR; our one line says it
            logging.getLogger("ib_async").setLevel(logging.CRITICAL)
        try:
            base = load_config(config).brokers.ibkr if config is not None else None
            settings = ibkr_settings(base, host=host, port=port, client_id=client_id, account=account)
        except ConfigError as exc:
            raise _fail("; ".join(exc.errors)) from None
        except BrokerSettingsError as exc:
            raise _fail(str(exc)) from None
        try:
            asyncio.run(_check(settings, symbol))
        except BrokerError as exc:
            raise _fail(str(exc)) from None

    app.add_typer(broker_app, name="broker")
