"""SIGKILL of `riskpilot monitor --broker ibkr` in the middle of an exit, against the fake TWS
(in a thread of the test process) through the real ib_async client in the monitor's process.

The monitor is killed while its exit order rests at IB; the restart finds that order by its
orderRef and follows it with its own tactic (nothing re-sent, nothing made more urgent); the
market comes to it, it fills, and the restarted monitor records the exit. IB received one
order, once. (A fill that arrives while no monitor runs is recorded by the next start's
reconciliation: tests/live/test_ibkr_monitor.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from fakes.tws_thread import FakeTwsThread
from riskpilot.model import Leg, OptionContract, Position, PositionStatus, PremiumType, Right
from riskpilot.store import ExitRepository, LeaseRepository, PositionRepository, Store
from riskpilot.store.models import ExitStatus, FillRow, RunRow

_ENTRY = [sys.executable, str(Path(__file__).with_name("ibkr_monitor_entry.py"))]
EXP = (datetime.now(UTC) + timedelta(days=45)).date()


def _wait(cond: Callable[[], object], timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the monitor exited ({proc.returncode}) before {what}: {proc.communicate()}")
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


def _spawn(url: str, cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*_ENTRY, "monitor", "--broker", "ibkr", "--db", url, "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_mid_exit_then_the_restart_follows_the_order_it_finds_by_order_ref_to_its_fill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ib.db'}"
    store = Store.open(url)
    short, long_ = OptionContract("SPX", EXP, 2700.0, Right.PUT), OptionContract("SPX", EXP, 2675.0, Right.PUT)
    PositionRepository(store).open_position(Position(
        "spx-1", (Leg(short, -1), Leg(long_, 1)), PremiumType.CREDIT, 1.00, 2, datetime.now(UTC) - timedelta(days=3),
        "default"))
    with FakeTwsThread() as gw:
        def setup(f):  # type: ignore[no-untyped-def]
            s = f.add_option("SPX", EXP, 2700.0, "P")
            lg = f.add_option("SPX", EXP, 2675.0, "P")
            f.add_position(s, -2, 200.0)
            f.add_position(lg, 2, 100.0)
            f.set_quote(s, 1.50, 1.60)  # close-out 0.55: profit target; the fair limit 0.55 rests
            f.set_quote(lg, 0.95, 1.05)  # (IB fills at the natural 0.65)
            return s
        s_con = gw.call(setup)
        cfg = tmp_path / "ibkr.yaml"
        cfg.write_text(yaml.safe_dump({
            "brokers": {"ibkr": {"port": gw.port, "client_id": 7, "connect_timeout_seconds": 5,
                                 "first_quote_timeout_seconds": 0.5, "reconnect_initial_delay_seconds": 0.1}},
            "exit_execution": yaml.safe_load(_TACTICS),
        }))

        def orders() -> list[tuple[str, str]]:
            return gw.call(lambda f: [(o.order_ref, o.status) for o in f.orders.values()])

        # 1. The monitor starts, takes profit: its fair limit rests at IB. Killed.
        proc = _spawn(url, cfg)
        _wait(lambda: [st for _, st in orders()] == ["Submitted"], 30, "the exit's first order resting at IB", proc)
        _kill(proc)
        [(ref, _)] = orders()
        [ex] = ExitRepository(store).exits_for("spx-1")
        assert ex.status is ExitStatus.WORKING
        assert [a.client_order_id for a in ExitRepository(store).attempts_for(ex.id)] == [ref]

        # 2. Restarted: the working order is found by its orderRef and followed, not re-sent.
        proc = _spawn(url, cfg)
        _wait(lambda: _runs(store) == 2 and 7 in gw.call(lambda f: f.connected_clients), 30, "the restart", proc)
        time.sleep(0.5)  # reconciled, and following the order (its step lasts 20 s)
        assert [o for o, _ in orders()] == [ref]
        # 3. The market comes to the resting limit: it fills, and the monitor records the exit.
        gw.call(lambda f: f.set_quote(s_con, 1.40, 1.50))  # natural 1.50 - 0.95 = 0.55
        _wait(lambda: ExitRepository(store).get_exit(ex.id).status is ExitStatus.EXECUTED, 30,
              "the exit filled after the restart", proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-2000:]
        assert "reconciled on start: orders updated from the broker: 1" in out
        placed = gw.call(lambda f: Counter(r for r, kind, _ in f.placed if kind == "new"))
        assert placed == {ref: 1}  # one order, once: followed across the kill, never re-sent
        assert ExitRepository(store).get_exit(ex.id).tactic == "MEDIUM:limit-fair"  # not made more urgent
        assert gw.call(lambda f: f.positions) == {}
    with store.read() as s:
        assert s.query(FillRow).count() == 1
    assert PositionRepository(store).get("spx-1").position.status is PositionStatus.CLOSED
    lease = LeaseRepository(store).current("DU1234567")
    assert lease is not None and lease.released_at is not None  # keyed by the IB account, released on SIGTERM
    store.close()


def _runs(store: Store) -> int:
    with store.read() as s:
        return s.query(RunRow).count()


#: MEDIUM (profit target) waits 20 s on its fair limit, so a restart finds it still working.
_TACTICS = """
CRITICAL: {order_type: market, timeout_seconds: 5, retry_strategy: immediate_market}
HIGH: {order_type: limit, price_strategy: aggressive, timeout_seconds: 10, retry_strategy: walk_then_market,
       max_walks: 2}
MEDIUM: {order_type: limit, price_strategy: fair, timeout_seconds: 20, retry_strategy: walk_price, max_walks: 5}
LOW: {order_type: limit, price_strategy: conservative, timeout_seconds: 60, retry_strategy: walk_slowly,
      max_walks: 10}
"""
