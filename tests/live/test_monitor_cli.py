"""`riskpilot monitor` as a subprocess: a replay of a model chain store through the paper
broker, stopped cleanly by SIGTERM; and the refusals of bad invocations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
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


def test_monitor_refuses_paper_without_a_market_and_unknown_brokers(tmp_path: Path) -> None:
    url = _db(tmp_path)
    out = CliRunner().invoke(app, ["monitor", "--db", url])
    assert out.exit_code == 2 and "pass --replay STORE" in out.output
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--broker", "ibkr"])
    assert out.exit_code == 2 and "use --broker paper" in out.output
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "no chain store directory" in out.output
