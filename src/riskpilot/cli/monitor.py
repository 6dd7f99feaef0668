"""`riskpilot monitor` (the monitoring loop against a broker) and `riskpilot close` (queue
exits for it).

``monitor --broker paper --replay STORE`` replays a chain store day by day through the live
monitor, entry and exit workflows and the paper broker (see :mod:`riskpilot.live.replay`
for the timing); ``--replay FILE`` (a ``.csv`` or ``.parquet`` event-market recording,
:mod:`riskpilot.data.events`) replays event markets instant by instant instead. SIGTERM or
SIGINT stop it cleanly: no new decision is taken, exits in flight get a grace period, the rest
stay WORKING in the store and resume on the next start.

``monitor --broker kalshi [--dry-run]`` manages the Kalshi account's event positions on the
wall clock (credentials from the environment or the key file ``kalshi`` names; never printed).

``close`` does not talk to the broker: it records a WORKING exit for each selected position
(the position becomes CLOSING) and the running monitor works it with the tactic of the
chosen priority on its next cycle; a monitor started later resumes it after reconciling.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from riskpilot.cli.common import DB_HELP, DB_URL_ENV, fail, load_cfg, open_store, parse_date

if TYPE_CHECKING:
    from riskpilot.app import MonitorRun
    from riskpilot.config import RiskPilotConfig
    from riskpilot.store import HeldLease, Store

log = logging.getLogger("riskpilot.monitor")


async def _run(build: object) -> list[str]:
    """Build the run (a coroutine returning a MonitorRun, or a MonitorRun) and run it until
    it ends or SIGTERM/SIGINT stop it cleanly."""
    run: MonitorRun = await build if asyncio.iscoroutine(build) else build  # type: ignore[assignment]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        summary = await run.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return summary.lines


def _lease(store: Store, account: str, command: str, broker: str, *, simulated: bool) -> HeldLease:
    """The account's lease, taken before anything is wired: a second monitor exits at once
    naming the holder, having changed nothing."""
    from riskpilot.store.lease import LeaseHeldError, take_lease

    try:
        return take_lease(store, account, command=command, broker=broker, simulated=simulated)
    except LeaseHeldError as exc:
        raise fail(str(exc)) from None


def _ibkr_account(cfg: RiskPilotConfig, account: str | None) -> str | None:
    """The IB account to lease before connecting, when it is known (flag, variable or YAML)."""
    from riskpilot.config.brokers import BrokerSettingsError, ibkr_settings

    try:
        return ibkr_settings(cfg.brokers.ibkr, account=account).account
    except BrokerSettingsError as exc:
        raise fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def monitor_cmd(
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (default: built-in defaults)"),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        broker: str = typer.Option("paper", "--broker", help="the broker: paper, kalshi or ibkr (IB Gateway/TWS)"),
        replay: Path | None = typer.Option(
            None, "--replay", help="chain store directory to replay day by day, or an event-market recording "
            "(.csv/.parquet) to replay instant by instant"),
        underlying: str | None = typer.Option(None, "--underlying", help="symbol (default: the store's only one)"),
        method: str | None = typer.Option(None, "--method", help="method to enter with (default: the only one)"),
        start: str | None = typer.Option(None, "--start", help="first replayed day, YYYY-MM-DD"),
        end: str | None = typer.Option(None, "--end", help="last replayed day, YYYY-MM-DD"),
        speed: float = typer.Option(1.0, "--speed", min=0.0, help="real seconds per replayed day (0: no pause)"),
        equity: float = typer.Option(100_000.0, "--equity", min=1.0, help="account equity in dollars, for sizing"),
        slippage: str = typer.Option("orats", "--slippage", help="paper fills: none, pct, spread, orats, volume"),
        commission: float = typer.Option(0.65, "--commission", min=0.0, help="dollars per contract per leg"),
        account: str | None = typer.Option(
            None, "--account", help="account name in the store: the lease and the paper book (default: paper; "
            "kalshi with --broker kalshi); ibkr: the IB account to trade (default brokers.ibkr.account, or the "
            "login's only account), which is also its lease"),
        sessions: str = typer.Option(
            "auto", "--sessions",
            help="live runs: 'exchange' checks within XNYS sessions only; 'always' at any time (paper practice; "
            "Kalshi); 'auto': always for Kalshi, else exchange"),
        walk_seed: int = typer.Option(0, "--walk-seed", help="paper live runs: seed of the random-walk market"),
        dry_run: bool = typer.Option(False, "--dry-run", help="decide and log; send no order, write no position"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log every hold line and decision"),
    ) -> None:
        """Monitor every open position, enter and exit, until stopped (SIGTERM/SIGINT) or the
        replayed data ends. With --replay: the stored chain day by day on a simulated clock.
        Without: live, on the wall clock within the exchange's sessions (--broker paper trades
        on the paper broker's random-walk market seeded from what its account holds; --broker
        ibkr manages the IB account's positions in the store through IB Gateway/TWS, settings
        from brokers.ibkr of --config and RISKPILOT_IBKR_* variables)."""
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from riskpilot.cli.backtest import SLIPPAGE_MODELS
        from riskpilot.config.redact import install_log_redaction

        install_log_redaction()  # no alert URL, key or token reaches the log

        if sessions not in ("exchange", "always", "auto"):
            raise fail(f"--sessions {sessions!r}: use 'exchange', 'always' or 'auto'")
        mode: Literal["exchange", "always", "auto"] = (
            "always" if sessions == "always" else "exchange" if sessions == "exchange" else "auto")
        if broker == "ibkr" and not verbose:  # ib_async logs each failed connect at ERROR; our one line says it
            logging.getLogger("ib_async").setLevel(logging.CRITICAL)
        if slippage not in SLIPPAGE_MODELS:
            raise fail(f"--slippage {slippage!r}: use one of {', '.join(SLIPPAGE_MODELS)}")
        ib_account = account if broker == "ibkr" else None  # None: the settings', or the login's only one
        account = account or ("kalshi" if broker == "kalshi" else "paper")
        cfg = load_cfg(config)
        config_text = config.read_text() if config is not None else None
        config_dir = config.parent if config is not None else None
        if replay is None:
            if broker not in ("paper", "kalshi", "ibkr"):
                raise fail(f"--broker {broker!r}: use paper, kalshi or ibkr")
            from riskpilot.execution.port import BrokerError

            with open_store(db) as store:
                # The lease first: a second monitor is refused before anything is wired. An IB
                # account known only once connected (the login's only one) is leased by the
                # wiring right after connecting, before the store is touched.
                key = _ibkr_account(cfg, ib_account) if broker == "ibkr" else account
                lease = None if key is None else _lease(store, key, f"monitor --broker {broker}", broker,
                                                        simulated=False)
                from riskpilot import app as wiring

                opts = wiring.MonitorOptions(broker=broker, dry_run=dry_run, account=account, ib_account=ib_account,
                                             equity=equity, slippage=slippage, commission=commission, sessions=mode,
                                             walk_seed=walk_seed)
                try:
                    lines = asyncio.run(_run(wiring.build_live(store, cfg, config_text, opts, lease=lease,
                                                               config_dir=config_dir)))
                except (wiring.WiringError, BrokerError) as exc:
                    if lease is not None:
                        lease.release(datetime.now(UTC))
                    raise fail(str(exc)) from None
            typer.echo("\n".join(lines))
            raise typer.Exit(0)
        if broker != "paper":
            raise fail(f"--replay trades on the paper broker: drop --broker {broker!r}")
        if replay.suffix.lower() in (".csv", ".parquet"):
            if not replay.is_file():
                raise fail(f"--replay {replay}: no event-market recording there")
            name = method or (next(iter(cfg.methods)) if len(cfg.methods) == 1 else None)
            if name is None or name not in cfg.methods:
                raise fail(f"--method {method or '(none)'}: choose one of the config's methods {sorted(cfg.methods)}")
            first, last = parse_date(start, "--start"), parse_date(end, "--end")
            with open_store(db) as store:
                lease = _lease(store, account, "monitor --replay (event markets)", "paper", simulated=True)
                from riskpilot import app as wiring

                opts = wiring.MonitorOptions(broker=broker, dry_run=dry_run, account=account, equity=equity)
                eopts = wiring.EventReplayOptions(snapshots=replay, method=name, config_dir=config_dir, start=first,
                                                  end=last, speed=speed)
                try:
                    run = wiring.build_event_replay(store, cfg, config_text, opts, eopts, lease=lease)
                except wiring.WiringError as exc:
                    lease.release(datetime.now(UTC))
                    raise fail(str(exc)) from None
                lines = asyncio.run(_run(run))
            typer.echo("\n".join(lines))
            raise typer.Exit(0)
        if not replay.is_dir():
            raise fail(f"--replay {replay}: no chain store directory there")
        from riskpilot.data.store import ChainStore

        syms = ChainStore(replay).underlyings()
        und = underlying or (syms[0] if len(syms) == 1 else None)
        if und is None or und not in syms:
            raise fail(f"--underlying {underlying or '(none)'}: the chain store at {replay} holds "
                        f"{syms or 'nothing'}; pass one of them")
        name = method or (next(iter(cfg.methods)) if len(cfg.methods) == 1 else None)
        if name is None or name not in cfg.methods:
            raise fail(f"--method {method or '(none)'}: choose one of the config's methods {sorted(cfg.methods)}")
        first, last = parse_date(start, "--start"), parse_date(end, "--end")
        with open_store(db) as store:
            lease = _lease(store, account or "paper", "monitor --replay", "paper", simulated=True)
            from riskpilot import app as wiring

            opts = wiring.MonitorOptions(broker=broker, dry_run=dry_run, account=account or "paper", equity=equity,
                                         slippage=slippage, commission=commission, walk_seed=walk_seed)
            ropts = wiring.ReplayOptions(chains=replay, underlying=und, method=name, start=first, end=last, speed=speed)
            try:
                run = wiring.build_replay(store, cfg, config_text, opts, ropts, lease=lease)
            except (wiring.WiringError, ValueError) as exc:
                lease.release(datetime.now(UTC))
                raise fail(str(exc)) from None
            lines = asyncio.run(_run(run))
        typer.echo("\n".join(lines))
        raise typer.Exit(0)

    @app.command("close")
    def close_cmd(
        position: str | None = typer.Option(None, "--position", help="close this position"),
        underlying: str | None = typer.Option(None, "--underlying", help="close every position in this symbol"),
        close_all: bool = typer.Option(False, "--all", help="close every open position"),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=DB_HELP),
        priority: str = typer.Option("HIGH", "--priority", help="tactic: CRITICAL, HIGH, MEDIUM or LOW"),
        reason: str = typer.Option("operator request", "--reason", help="recorded with each exit"),
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (exit tactics)"),
    ) -> None:
        """Queue exits: each selected position becomes CLOSING with a WORKING exit, which the
        running monitor works with the tactic of --priority (or the next one resumes)."""
        if sum((position is not None, underlying is not None, close_all)) != 1:
            raise fail("say what to close with exactly one of --position ID, --underlying SYM or --all")
        from riskpilot.model.enums import Priority

        try:
            pri = Priority[priority.upper()]
        except KeyError:
            raise fail(f"--priority {priority!r}: use CRITICAL, HIGH, MEDIUM or LOW") from None
        from riskpilot.execution.tactics import TacticBook
        from riskpilot.store import operator

        tactic = TacticBook.from_config(load_cfg(config)).ladder(pri)[0].tactic.name
        with open_store(db) as store:
            try:
                out = operator.queue_closes(store, position=position, underlying=underlying, close_all=close_all,
                                            priority=pri, tactic=tactic, reason=reason, at=datetime.now(UTC))
            except operator.NothingToCloseError:
                flag = f"--position {position}" if position is not None else f"--underlying {underlying}"
                what = "no open position with that id" if position is not None else "no open position in it"
                raise fail(f"{flag}: {what} (see `riskpilot positions`)") from None
        for pid, why in out.skipped:
            typer.echo(f"{pid}: skipped, {why}")
        for q in out.queued:
            typer.echo(f"{q.position_id}: exit {q.exit_id} queued ({q.quantity} units, {tactic})")
        queued = len(out.queued)
        typer.echo(f"{queued} exits queued; the running monitor works them on its next cycle "
                   "(a monitor started later resumes them)")
