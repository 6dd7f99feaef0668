"""`riskpilot monitor` as a subprocess: a replay of a model chain store through the paper
broker, stopped cleanly by SIGTERM; and the refusals of bad invocations."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskpilot.cli import app
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore
from riskpilot.model import PositionStatus
from riskpilot.store import PositionRepository, StateRepository, Store
from riskpilot.store.models import RunRow

_CLI = [sys.executable, "-c", "from riskpilot.cli import main; main()"]


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chains")
    ChainStore(path).import_table(generate_model_chain("SPY", date(2020, 1, 2), date(2020, 2, 28)))
    return path


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'rp.db'}"
    Store.open(url).close()  # created and migrated
    return url


def test_sigterm_stops_a_replaying_monitor_cleanly(tmp_path: Path, chain_dir: Path) -> None:
    url = _db(tmp_path)
    proc = subprocess.Popen(
        [*_CLI, "monitor", "--db", url, "--broker", "paper", "--replay", str(chain_dir), "--speed", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    store = Store.open(url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until it has traded a little
            if PositionRepository(store).load_open((PositionStatus.OPEN, PositionStatus.CLOSED)):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the monitor opened no position within 60 s")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped by signal" in out
        with store.read() as s:
            (run,) = s.query(RunRow).all()
            assert run.finished_at is not None and run.command == "monitor --replay" and not run.dry_run
        # Nothing left half-done: every position is OPEN or CLOSED, no entry pending.
        statuses = {sp.position.status for sp in PositionRepository(store).load_open(tuple(PositionStatus))}
        assert statuses <= {PositionStatus.OPEN, PositionStatus.CLOSED}
        assert StateRepository(store).trading_state() is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def test_a_dry_run_replay_finishes_and_writes_no_position(tmp_path: Path, chain_dir: Path) -> None:
    url = _db(tmp_path)
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(chain_dir), "--speed", "0",
                                   "--end", "2020-01-10", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "replay finished: 7 days" in out.output and "[dry run: nothing sent]" in out.output
    store = Store.open(url)
    try:
        assert PositionRepository(store).load_open(tuple(PositionStatus)) == []
    finally:
        store.close()


def test_monitor_refuses_unknown_brokers_and_missing_chain_stores(tmp_path: Path) -> None:
    url = _db(tmp_path)
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--broker", "etrade"])
    assert out.exit_code == 2 and "use paper, kalshi or ibkr" in out.output
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "no chain store directory" in out.output


async def _open_paper_spread(url: str) -> str:
    """A put spread expiring in 45 days, opened through the paper broker (store position, order
    intent, order and fills as the entry workflow records them), quoted by a scripted market."""
    from riskpilot.brokers.paper import PaperBroker, ScriptedMarket
    from riskpilot.execution.clock import WallClock
    from riskpilot.execution.fills import FillModel
    from riskpilot.live import entry_order_id
    from riskpilot.model import Leg, OptionContract, Order, OrderPurpose, OrderType, Position, PremiumType, Right, Side
    from riskpilot.store import OrderRepository
    from riskpilot.store.paper_book import StorePaperBook

    clock = WallClock()
    now = clock.now()
    exp = (now + timedelta(days=45)).date()
    short, long_ = OptionContract("SPY", exp, 480, Right.PUT), OptionContract("SPY", exp, 475, Right.PUT)
    market = ScriptedMarket()
    market.set(short, 2.40, 2.50, 1000)
    market.set(long_, 1.40, 1.50, 1000)
    store = Store.open(url)
    try:
        broker = PaperBroker(StorePaperBook(store), market, fill_model=FillModel(), clock=clock.now)
        legs = (Leg(short, -1), Leg(long_, 1))
        pid = "SPY-live-1"
        PositionRepository(store).open_position(
            Position(pid, legs, PremiumType.CREDIT, 1.00, 2, now, "default", status=PositionStatus.PENDING))
        order = Order(entry_order_id(pid), legs, Side.BUY, 2, OrderType.MARKET, now, None, pid, OrderPurpose.OPEN)
        orders = OrderRepository(store)
        orders.record_intent(order, tactic="entry:market")
        state = await broker.place_order(order)
        orders.record_order(order.client_order_id, broker_order_id=state.broker_order_id, status=state.status,
                            at=clock.now())
        orders.record_new(await broker.executions())
        rec = orders.get_order(order.client_order_id)
        PositionRepository(store).settle_entry(pid, filled_quantity=rec.filled_quantity, avg_price=rec.avg_fill_price,
                                               at=clock.now())
        return pid
    finally:
        store.close()


def test_a_live_paper_run_manages_the_accounts_positions_on_the_wall_clock_until_sigterm(tmp_path: Path) -> None:
    # `monitor` without --replay runs the live loop on the wall clock (--sessions always: paper
    # practice outside market hours) over the paper broker's random-walk market, seeded from
    # what the paper account holds.
    import asyncio

    url = _db(tmp_path)
    pid = asyncio.run(_open_paper_spread(url))
    started = time.time()
    proc = subprocess.Popen(
        [*_CLI, "monitor", "--db", url, "--broker", "paper", "--sessions", "always", "--walk-seed", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    store = Store.open(url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the position's first live check is written
            m = PositionRepository(store).get(pid).monitoring
            if m.last_update is not None and m.last_update.timestamp() >= started - 1:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the live run marked no position on the wall clock within 60 s")
        assert m.current_price is not None and 0.5 < m.current_price < 1.5  # the walk starts at the fills
        proc.send_signal(signal.SIGTERM)
        out_text, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "monitor stopped: 1 positions open" in out_text
        with store.read() as s:
            live = [r.finished_at for r in s.query(RunRow).all() if r.command == "monitor --broker paper"]
        assert len(live) == 1 and live[0] is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def test_a_real_broker_may_not_run_outside_the_exchange_sessions(tmp_path: Path) -> None:
    from riskpilot.app import MonitorOptions, WiringError, build_live
    from riskpilot.config import RiskPilotConfig

    store = Store.open(_db(tmp_path))
    try:
        with pytest.raises(WiringError, match="paper practice only"):
            import asyncio

            asyncio.run(build_live(store, RiskPilotConfig(), None, MonitorOptions(broker="ibkr", sessions="always")))
    finally:
        store.close()


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated store for a subprocess: a SQLite file, or a fresh PostgreSQL schema (the
    ``backend`` fixture skips PostgreSQL with its reason when it is unreachable)."""
    if backend == "sqlite":
        yield _db(tmp_path)
        return
    from riskpilot.store.testing import pg_schema, pg_test_url

    with pg_schema() as schema:
        url = f"{pg_test_url()}?options=-csearch_path%3D{schema}"
        Store.open(url).close()
        yield url


def test_a_second_monitor_on_the_same_account_is_refused_within_5_seconds_naming_the_holder(db_url: str) -> None:
    import asyncio

    from riskpilot.store import LeaseRepository

    pid = asyncio.run(_open_paper_spread(db_url))
    first = subprocess.Popen(
        [*_CLI, "monitor", "--db", db_url, "--broker", "paper", "--sessions", "always"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    store = Store.open(db_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lease = LeaseRepository(store).current("paper")
            if lease is not None and lease.released_at is None and lease.last_cycle_at is not None:
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the first monitor took no lease within 60 s")
        with store.read() as s:
            runs_before = s.query(RunRow).count()
        before = PositionRepository(store).get(pid).position
        started = time.monotonic()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        second = subprocess.run(
            [*_CLI, "monitor", "--db", db_url, "--broker", "paper", "--sessions", "always"],
            capture_output=True, text=True, timeout=60,
        )
        took = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        # Within 5 s: its CPU time (what it costs on an idle machine; the wall time on a loaded
        # one is printed, and bounded loosely).
        print(f"second monitor refused in {took:.2f} s wall, {cpu:.2f} s CPU")
        assert second.returncode != 0 and cpu < 5.0 and took < 30.0, (second.returncode, took, cpu, second.stderr)
        assert f"account 'paper' is already monitored by monitor --broker paper (pid {first.pid} on " in second.stderr
        assert "Traceback" not in second.stderr
        # Nothing else changed: no run recorded by the second, the position untouched by it,
        # and `halt` still works beside the running monitor (it never takes the lease).
        with store.read() as s:
            assert s.query(RunRow).count() == runs_before
        assert PositionRepository(store).get(pid).position.quantity == before.quantity
        halt = subprocess.run([*_CLI, "halt", "--db", db_url, "--reason", "beside the monitor"], capture_output=True,
                              text=True, timeout=60)
        assert halt.returncode == 0, halt.stderr
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
        assert first.returncode == 0, err
        lease = LeaseRepository(store).current("paper")
        assert lease is not None and lease.released_at is not None
    finally:
        if first.poll() is None:
            first.kill()
        store.close()


def test_after_a_replay_positions_and_summary_count_at_the_replays_market_time(
    tmp_path: Path, chain_dir: Path
) -> None:
    import json

    url = _db(tmp_path)
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(chain_dir), "--speed", "0",
                                   "--end", "2020-01-10"])
    assert out.exit_code == 0, out.output
    shown = CliRunner().invoke(app, ["positions", "--db", url, "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["positions"]
    assert rows and all(0 <= r["dte"] <= 70 for r in rows), [r["dte"] for r in rows]  # not counted from today
    summary = CliRunner().invoke(app, ["summary", "--db", url, "--json"])
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.output)["day"] == "2020-01-10"
    # Run again, the replay resumes after the 10th (nothing entered twice) and refuses a --start inside it.
    again = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(chain_dir), "--speed", "0",
                                     "--start", "2020-01-06", "--end", "2020-01-17"])
    assert again.exit_code == 2 and "already replayed SPY through 2020-01-10" in again.output
    resumed = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(chain_dir), "--speed", "0",
                                       "--end", "2020-01-17"])
    assert resumed.exit_code == 0 and "replay finished: 5 days (2020-01-13 to 2020-01-17)" in resumed.output
