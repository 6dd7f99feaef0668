"""kill -9 of `riskpilot monitor --replay` at seeded random points while exits are in flight
(the paper broker injects latency, partial fills, rejects and place timeouts), restarted each
time from the day it reached, then run to the end. Afterwards: no orphaned position, no client
order id sent twice, no position over-closed, every exit order recorded, and the paper
broker's holdings (persisted in the store across kills) equal what the store's positions hold."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore
from riskpilot.live.reconcile import entry_order_id
from riskpilot.model import OrderPurpose, PositionStatus
from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.models import (
    ExitAttemptRow,
    ExitStatus,
    OrderIntentRow,
    PaperFillRow,
    PaperOrderRow,
    PaperPositionRow,
    PositionExitRow,
    PositionRow,
)
from riskpilot.store.serialize import contract_key

_ENTRY = [sys.executable, str(Path(__file__).with_name("kill9_monitor.py"))]
_FAULTS = {"latency_seconds": 0.01, "partial_fill_ratio": 0.5, "timeout_rate": 0.1, "reject_rate": 0.1, "seed": 7}
_FIRST = date(2020, 1, 2)


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chains")
    ChainStore(path).import_table(generate_model_chain("SPY", _FIRST, date(2020, 3, 31)))
    return path


def _reached(store: Store) -> date:
    """The latest market day the store shows activity on (where a restart picks up)."""
    with store.read() as s:
        stamps = [
            s.execute(select(func.max(PaperOrderRow.updated_at))).scalar(),
            s.execute(select(func.max(PositionRow.opened_at))).scalar(),
            s.execute(select(func.max(PositionExitRow.triggered_at))).scalar(),
        ]
    days = [t.astimezone(EXCHANGE_TZ).date() for t in stamps if t is not None]
    return max(days, default=_FIRST)


def _spawn(url: str, chains: Path, start: date, faults: dict[str, object], seed: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "RISKPILOT_TEST_FAULTS": json.dumps({**faults, "seed": seed})}
    return subprocess.Popen(
        [*_ENTRY, "monitor", "--db", url, "--broker", "paper", "--replay", str(chains), "--speed", "0",
         "--start", start.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _in_flight(store: Store) -> int:
    with store.read() as s:
        return len(s.execute(select(PositionExitRow.id).where(PositionExitRow.status == ExitStatus.WORKING)).all())


def _assert_consistent(store: Store) -> None:
    positions = PositionRepository(store).load_open(tuple(PositionStatus))
    exits = ExitRepository(store)
    with store.read() as s:
        coids = list(s.execute(select(PaperOrderRow.client_order_id)).scalars())
        attempt_ids = set(s.execute(select(ExitAttemptRow.client_order_id)).scalars())
        intents = dict(s.execute(select(OrderIntentRow.client_order_id, OrderIntentRow.purpose)).all())
        filled_by_coid: dict[str, int] = defaultdict(int)
        for coid, q in s.execute(select(PaperFillRow.client_order_id, PaperFillRow.quantity)).all():
            filled_by_coid[coid] += q
        held = {r.contract_key: r.quantity for r in s.execute(select(PaperPositionRow)).scalars()}
    # No client order id reached the venue twice.
    dup = [c for c, n in Counter(coids).items() if n > 1]
    assert not dup, f"client order ids sent twice: {dup}"
    # Every order the venue saw was recorded before it was sent; every closing one is an exit attempt.
    assert set(coids) <= set(intents), f"orders sent with no intent recorded: {sorted(set(coids) - set(intents))}"
    close_coids = {c for c in coids if intents[c] is OrderPurpose.CLOSE}
    assert close_coids <= attempt_ids, f"closing orders with no exit record: {sorted(close_coids - attempt_ids)}"
    expected: dict[str, int] = defaultdict(int)
    for sp in positions:
        p = sp.position
        recs = exits.exits_for(p.id)
        closed = sum(e.filled_quantity for e in recs)
        # Not over-closed, and every unit that left has an exit record.
        assert 0 <= p.quantity <= p.original_quantity
        never_opened = p.status is PositionStatus.CLOSED and filled_by_coid[entry_order_id(p.id)] == 0
        assert closed == p.original_quantity - p.quantity or never_opened, (p.id, closed)
        venue_closed = sum(filled_by_coid[a.client_order_id] for e in recs for a in exits.attempts_for(e.id))
        assert venue_closed == closed, f"{p.id}: the venue closed {venue_closed}, the store recorded {closed}"
        # No orphan: open and monitored, or closing with a working exit, or closed with its exits.
        if p.status is PositionStatus.CLOSING:
            assert any(e.status is ExitStatus.WORKING for e in recs), f"{p.id} is CLOSING with no working exit"
        elif p.status is PositionStatus.CLOSED:
            assert p.quantity == 0 and (recs or never_opened), f"{p.id} closed without an exit record"
        else:
            assert p.status in (PositionStatus.OPEN, PositionStatus.PENDING), p.status
        if p.status in (PositionStatus.OPEN, PositionStatus.CLOSING):
            for leg in p.legs:
                expected[contract_key(leg.contract)] += leg.quantity * p.quantity
    # The venue's book (persisted across kills) holds exactly what the store's positions hold.
    for k in set(expected) | set(held):
        assert expected.get(k, 0) == held.get(k, 0), f"{k}: store {expected.get(k, 0)}, venue {held.get(k, 0)}"


def _run(tmp_path: Path, chains: Path, kills: int, seed: int) -> dict[str, float]:
    """Replay scenarios (each a fresh store, replayed to its end) until ``kills`` SIGKILLs
    have landed; every scenario's store is checked when its replay finishes."""
    rng = random.Random(seed)
    t0 = time.monotonic()
    done, in_flight, rounds, scenarios, n_exits = 0, 0, 0, 0, 0
    while done < kills or scenarios == 0:
        scenarios += 1
        url = f"sqlite:///{tmp_path / f'rp{scenarios}.db'}"
        Store.open(url).close()
        store = Store.open(url)
        try:
            while True:
                rounds += 1
                proc = _spawn(url, chains, _reached(store), _FAULTS, seed + rounds)
                if done < kills:
                    # Past the imports (~1 s), into the replay's entries and exits.
                    try:
                        proc.wait(timeout=rng.uniform(1.0, 2.5))
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)
                    if proc.returncode == -signal.SIGKILL:
                        done += 1
                        in_flight += _in_flight(store) > 0
                        proc.communicate()
                        continue
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err[-3000:]
                if "replay finished" in out:
                    break
            _assert_consistent(store)
            with store.read() as s:
                n_exits += len(s.execute(select(PositionExitRow.id)).all())
        finally:
            store.close()
    assert n_exits > 0
    return {"kills": done, "with_exit_in_flight": in_flight, "restarts": rounds, "scenarios": scenarios,
            "exits": n_exits, "seconds": round(time.monotonic() - t0, 1)}


def test_kill9_ten_times_mid_replay_leaves_no_orphan_and_no_duplicate(tmp_path: Path, chain_dir: Path) -> None:
    figures = _run(tmp_path, chain_dir, kills=10, seed=11)
    print(f"kill -9: {figures}")
    assert figures["kills"] == 10


@pytest.mark.slow
def test_kill9_fifty_times_mid_replay_leaves_no_orphan_and_no_duplicate(tmp_path: Path, chain_dir: Path) -> None:
    figures = _run(tmp_path, chain_dir, kills=50, seed=2024)
    print(f"kill -9: {figures}")
    assert figures["kills"] == 50
