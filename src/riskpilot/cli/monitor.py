"""`riskpilot monitor` (the monitoring loop against a broker) and `riskpilot close` (queue
exits for it).

``monitor --broker paper --replay STORE`` replays a chain store day by day through the live
monitor, entry and exit workflows and the paper broker (see :mod:`riskpilot.monitor.replay`
for the timing); SIGTERM or SIGINT stop it cleanly: no new decision is taken, exits in flight
get a grace period, the rest stay WORKING in the store and resume on the next start.

``close`` does not talk to the broker: it records a WORKING exit for each selected position
(the position becomes CLOSING) and the running monitor works it with the tactic of the
chosen priority on its next cycle; a monitor started later resumes it after reconciling.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer

from riskpilot import __version__
from riskpilot.alerts import Alerter
from riskpilot.backtest.chain import close_of
from riskpilot.backtest.engine import SlippageSpec, fill_model_for
from riskpilot.backtest.signals import IV_WINDOW, MarketData, iv_filters_set
from riskpilot.brokers.paper import PaperBroker
from riskpilot.cli.db import _DB_HELP
from riskpilot.cli.ops import _date, _fail, _load_cfg, open_store
from riskpilot.config import RiskPilotConfig
from riskpilot.config.redact import install_log_redaction
from riskpilot.data.store import ChainStore
from riskpilot.execution.executor import ExitExecutor, SimulatedClock
from riskpilot.execution.tactics import TacticBook
from riskpilot.model.enums import PositionStatus, Priority
from riskpilot.monitor import EntryWorkflow, PositionMonitor, QuoteFetcher, ReplayMarket, replay_days
from riskpilot.monitor.replay import ClockLimiter, MarkedEquity, ReplaySettlement
from riskpilot.risk.manager import RiskManager
from riskpilot.store import DB_URL_ENV, ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.repositories import OPEN_STATUSES

log = logging.getLogger("riskpilot.monitor")

_SLIPPAGES: dict[str, SlippageSpec] = {"none": "none", "pct": "pct", "spread": "spread", "orats": "orats",
                                       "volume": "volume"}


async def _run_replay(
    store: Store,
    cfg: RiskPilotConfig,
    config_text: str | None,
    *,
    chains: ChainStore,
    underlying: str,
    method: str,
    start: date | None,
    end: date | None,
    speed: float,
    equity: float,
    slippage: str,
    commission: float,
    dry_run: bool,
    account: str,
) -> int:
    try:
        market = ReplayMarket(chains, underlying, start or date(1900, 1, 1), end)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    clock = SimulatedClock(close_of(market.days[0]) - timedelta(seconds=1))
    if slippage not in _SLIPPAGES:
        raise _fail(f"--slippage {slippage!r}: use one of {', '.join(_SLIPPAGES)}")
    model = fill_model_for(_SLIPPAGES[slippage], commission)
    broker = PaperBroker(store, market, account=account, fill_model=model, clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    alerter = None if dry_run else Alerter.from_config(store, cfg.alerts, clock=clock)
    risk = RiskManager(cfg, equity=equity)
    # The call limit counts the replay's clock: real seconds would throttle a --speed 0 replay.
    quotes = QuoteFetcher.from_config(broker, clock, cfg.monitoring,
                                      limiter=ClockLimiter(clock, cfg.monitoring.max_api_calls_per_minute))
    executor = ExitExecutor(broker, store, cfg, clock, alerter)
    try:
        md: MarketData | None = MarketData.from_bundled(underlying)
    except LookupError as exc:
        md = None
        log.warning("no bundled VIX/trend history for %s (%s): VIX filters and regimes are off", underlying, exc)
    # Exits under the regime of the day, as the backtest decides them.
    exit_regime = (lambda d: md.regime(d, cfg.regimes)) if md is not None else None
    monitor = PositionMonitor(store, broker, risk, cfg, clock, executor=executor, alerts=alerter, quotes=quotes,
                              dry_run=dry_run, exit_regime=exit_regime)
    entry = EntryWorkflow(
        store=store, broker=broker, risk=risk, config=cfg, clock=clock, method=method, underlying=underlying,
        quotes=quotes, market=md, dry_run=dry_run, fill_model=model,
        equity=MarkedEquity(equity, risk, store, market, clock, cfg.monitoring.mark_basis),
    )
    warm: list[date] = []
    if iv_filters_set(cfg.method(method).entry):
        warm = chains.days(underlying, None, market.days[0] - timedelta(days=1))[-IV_WINDOW:]
    state = StateRepository(store)
    run_id = state.start_run(host=socket.gethostname(), version=__version__, dry_run=dry_run,
                             started_at=datetime.now(UTC), config_text=config_text, command="monitor --replay")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        # Expiries settle as in the backtest (not in a dry run, which writes nothing).
        settle = None if dry_run else ReplaySettlement(store, broker, risk, market, clock)
        report = await replay_days(monitor, market, clock, entry=entry, speed=speed, stop=stop, warm_up_days=warm,
                                   settlement=settle)
        await monitor.shutdown()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if alerter is not None:
            await alerter.drain()
        state.finish_run(run_id, datetime.now(UTC))
    opened = sum(1 for _, r in report.entries if r.quantity > 0)
    exits = sum(len(c.exits_started) for c in report.cycles)
    how = "stopped by signal" if report.stopped_early else "replay finished"
    typer.echo(
        f"{how}: {len(report.days)} days ({report.days[0] if report.days else '-'} to "
        f"{report.days[-1] if report.days else '-'}), {opened} entries, {exits} exits started, "
        f"{len(report.settled)} settled at expiration, {len(monitor.positions)} positions open, "
        f"broker calls {broker.total_api_calls}"
        + (" [dry run: nothing sent]" if dry_run else "")
    )
    if entry.refused:
        typer.echo("entries refused: " + ", ".join(f"{k} {v}" for k, v in sorted(entry.refused.items())))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("monitor")
    def monitor_cmd(
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (default: built-in defaults)"),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        broker: str = typer.Option("paper", "--broker", help="the broker: paper"),
        replay: Path | None = typer.Option(None, "--replay", help="chain store directory to replay day by day"),
        underlying: str | None = typer.Option(None, "--underlying", help="symbol (default: the store's only one)"),
        method: str | None = typer.Option(None, "--method", help="method to enter with (default: the only one)"),
        start: str | None = typer.Option(None, "--start", help="first replayed day, YYYY-MM-DD"),
        end: str | None = typer.Option(None, "--end", help="last replayed day, YYYY-MM-DD"),
        speed: float = typer.Option(1.0, "--speed", min=0.0, help="real seconds per replayed day (0: no pause)"),
        equity: float = typer.Option(100_000.0, "--equity", min=1.0, help="account equity in dollars, for sizing"),
        slippage: str = typer.Option("orats", "--slippage", help="paper fills: none, pct, spread, orats, volume"),
        commission: float = typer.Option(0.65, "--commission", min=0.0, help="dollars per contract per leg"),
        account: str = typer.Option("paper", "--account", help="paper account name in the store"),
        dry_run: bool = typer.Option(False, "--dry-run", help="decide and log; send no order, write no position"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log every hold line and decision"),
    ) -> None:
        """Monitor every open position, enter and exit, until stopped (SIGTERM/SIGINT) or the
        replayed data ends."""
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        install_log_redaction()  # no alert URL, key or token reaches the log
        if broker != "paper":
            raise _fail(f"--broker {broker!r} is not wired to the monitor yet: use --broker paper")
        if replay is None:
            raise _fail(
                "--broker paper needs a market to trade against: pass --replay STORE (a chain store built with "
                "`riskpilot data import` or a model chain); live paper quotes are not available offline"
            )
        if not replay.is_dir():
            raise _fail(f"--replay {replay}: no chain store directory there")
        cfg = _load_cfg(config)
        config_text = config.read_text() if config is not None else None
        chains = ChainStore(replay)
        syms = chains.underlyings()
        und = underlying or (syms[0] if len(syms) == 1 else None)
        if und is None or und not in syms:
            raise _fail(f"--underlying {underlying or '(none)'}: the chain store at {replay} holds "
                        f"{syms or 'nothing'}; pass one of them")
        name = method or (next(iter(cfg.methods)) if len(cfg.methods) == 1 else None)
        if name is None or name not in cfg.methods:
            raise _fail(f"--method {method or '(none)'}: choose one of the config's methods {sorted(cfg.methods)}")
        with open_store(db) as store:
            code = asyncio.run(_run_replay(
                store, cfg, config_text, chains=chains, underlying=und, method=name,
                start=_date(start, "--start"), end=_date(end, "--end"), speed=speed, equity=equity,
                slippage=slippage, commission=commission, dry_run=dry_run, account=account,
            ))
        raise typer.Exit(code)

    @app.command("close")
    def close_cmd(
        position: str | None = typer.Option(None, "--position", help="close this position"),
        underlying: str | None = typer.Option(None, "--underlying", help="close every position in this symbol"),
        close_all: bool = typer.Option(False, "--all", help="close every open position"),
        db: str | None = typer.Option(None, "--db", envvar=DB_URL_ENV, help=_DB_HELP),
        priority: str = typer.Option("HIGH", "--priority", help="tactic: CRITICAL, HIGH, MEDIUM or LOW"),
        reason: str = typer.Option("operator request", "--reason", help="recorded with each exit"),
        config: Path | None = typer.Option(None, "--config", help="configuration YAML (exit tactics)"),
    ) -> None:
        """Queue exits: each selected position becomes CLOSING with a WORKING exit, which the
        running monitor works with the tactic of --priority (or the next one resumes)."""
        if sum((position is not None, underlying is not None, close_all)) != 1:
            raise _fail("say what to close with exactly one of --position ID, --underlying SYM or --all")
        try:
            pri = Priority[priority.upper()]
        except KeyError:
            raise _fail(f"--priority {priority!r}: use CRITICAL, HIGH, MEDIUM or LOW") from None
        tactic = TacticBook.from_config(_load_cfg(config)).ladder(pri)[0].tactic.name
        now = datetime.now(UTC)
        with open_store(db) as store:
            repo = PositionRepository(store)
            exits = ExitRepository(store)
            stored = repo.load_open(OPEN_STATUSES)
            if position is not None:
                chosen = [sp for sp in stored if sp.position.id == position]
                if not chosen:
                    raise _fail(f"--position {position}: no open position with that id (see `riskpilot positions`)")
            elif underlying is not None:
                chosen = [sp for sp in stored if sp.position.underlying == underlying.upper()]
                if not chosen:
                    raise _fail(f"--underlying {underlying}: no open position in it (see `riskpilot positions`)")
            else:
                chosen = stored
            queued = 0
            for sp in chosen:
                p = sp.position
                if p.status is PositionStatus.PENDING:
                    typer.echo(f"{p.id}: skipped, its entry order is still working")
                    continue
                if p.status is PositionStatus.CLOSING:
                    typer.echo(f"{p.id}: skipped, an exit is already working")
                    continue
                exit_id = exits.begin_exit(
                    p.id, reason=f"manual close: {reason}", priority=pri, quantity=p.quantity, tactic=tactic,
                    triggered_at=now, rule="manual_close", unrealized_pnl_at_trigger=sp.monitoring.unrealized_pnl,
                )
                queued += 1
                typer.echo(f"{p.id}: exit {exit_id} queued ({p.quantity} units, {tactic})")
        typer.echo(f"{queued} exits queued; the running monitor works them on its next cycle "
                   "(a monitor started later resumes them)")
