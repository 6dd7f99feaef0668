"""kill -9 of `riskpilot monitor --replay` at seeded random points while exits are in flight
(the paper broker injects latency, partial fills, rejects and place timeouts, each decided by
the seed and the order, so a restarted venue injects what an uninterrupted one does), restarted
each time (the replay resumes where the store says it got to), then run to the end.

Afterwards the outcome equals an uninterrupted run's on the same backend: positions
(quantities, entry premiums, realized P&L, stages done), exits (rule, quantities, fill prices,
stages), the venue's fills, every exit's exit_executed alert stored once and delivered; and
the invariants hold: no orphaned position, no client order id sent twice, no position
over-closed, every exit order recorded, the venue's holdings equal the store's positions."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore
from riskpilot.live.reconcile import entry_order_id
from riskpilot.model import OrderPurpose, PositionStatus
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.models import (
    AlertRow,
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
from riskpilot.store.testing import pg_schema, pg_test_url

_ENTRY = [sys.executable, str(Path(__file__).with_name("kill9_monitor.py"))]
_FAULTS = {"latency_seconds": 0.01, "partial_fill_ratio": 0.5, "timeout_rate": 0.1, "reject_rate": 0.1, "seed": 7}
_FIRST = date(2020, 1, 2)
_LAST = date(2020, 3, 13)


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chains")
    ChainStore(path).import_table(generate_model_chain("SPY", _FIRST, date(2020, 3, 31)))
    return path


def _spawn(url: str, chains: Path, faults: dict[str, object], alerts_log: Path) -> subprocess.Popen[str]:
    """The replay as the CLI runs it: from the chain's first day, or resumed where the store's
    lease says the last run got to (no --start: a restart never names a day)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RISKPILOT_TEST_FAULTS": json.dumps(faults),
           "RISKPILOT_ALERT_URLS": f"rpfile://{alerts_log}"}
    return subprocess.Popen(
        [*_ENTRY, "monitor", "--db", url, "--broker", "paper", "--replay", str(chains), "--speed", "0",
         "--end", _LAST.isoformat()],
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


def _outcome(store: Store) -> dict[str, Any]:
    """What a run decided and did, without its timestamps: what an interrupted run must equal."""
    positions = PositionRepository(store).load_open(tuple(PositionStatus))
    with store.read() as s:
        exits = s.execute(select(PositionExitRow).order_by(PositionExitRow.position_id, PositionExitRow.id)).scalars()
        exit_rows = [(x.position_id, x.rule, x.priority.name, x.quantity, x.filled_quantity, x.fill_price,
                      x.status.name, x.stage, x.is_partial) for x in exits]
        fills = sorted((f.client_order_id, f.quantity, f.price) for f in s.execute(select(PaperFillRow)).scalars())
        realized = {r.id: (r.realized_pnl, r.commissions) for r in s.execute(select(PositionRow)).scalars()}
        executed_alerts = sorted(a.dedupe_key for a in s.execute(select(AlertRow)).scalars()
                                 if a.kind == "exit_executed")
    return {
        "positions": sorted((sp.position.id, sp.position.status.name, sp.position.quantity,
                             sp.position.original_quantity, sp.position.entry_premium,
                             tuple(sorted(sp.position.state.stages_done)), realized[sp.position.id])
                            for sp in positions),
        "exits": exit_rows,
        "venue_fills": fills,
        "exit_executed_alerts": executed_alerts,
    }


def _alerts_delivered_once(store: Store, log: Path) -> int:
    """Every stored alert delivered, each outbox row stored once; returns how many alert
    messages the channel received twice (a kill between a delivery and its record: delivery
    is at least once, never lost)."""
    with store.read() as s:
        rows = [(a.kind, a.message, a.delivered_at, a.dedupe_key) for a in s.execute(select(AlertRow)).scalars()]
    assert all(at is not None for _, _, at, _ in rows), [m for _, m, at, _ in rows if at is None][:5]
    keys = [k for _, _, _, k in rows if k is not None]
    assert len(keys) == len(set(keys))
    sent = Counter(line for line in log.read_text().splitlines() if line.startswith("exit of "))
    stored = Counter(m for kind, m, _, _ in rows if kind == "exit_executed")
    assert set(stored) <= set(sent), f"stored exit alerts never delivered: {sorted(set(stored) - set(sent))[:3]}"
    return sum(n - 1 for n in sent.values() if n > 1)


@contextmanager
def _store_url(backend: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A migrated store for the subprocesses: a SQLite file, or a fresh PostgreSQL schema
    (dropped on exit)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        Store.open(url).close()
        yield url
        return
    with pg_schema() as schema:
        url = f"{pg_test_url()}?options=-csearch_path%3D{schema}"
        Store.open(url).close()
        yield url


def _replay_to_the_end(url: str, chains: Path, log: Path, rng: random.Random | None, kills_left: int,
                       counts: Counter[str]) -> None:
    """Run the replay until it finishes; with ``rng``, SIGKILL it at random points (past the
    imports, into the entries and exits) while ``kills_left`` allows."""
    store = Store.open(url)
    try:
        while True:
            counts["starts"] += 1
            proc = _spawn(url, chains, _FAULTS, log)
            if rng is not None and counts["kills"] < kills_left:
                # Half the kills land while an exit is being worked (the store shows one
                # WORKING), the rest at a random point of the run.
                if rng.random() < 0.5:
                    deadline = time.monotonic() + 60
                    while proc.poll() is None and time.monotonic() < deadline and not _in_flight(store):
                        time.sleep(0.02)
                    time.sleep(rng.uniform(0.0, 0.1))
                else:
                    time.sleep(rng.uniform(1.5, 6.0))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                if proc.returncode == -signal.SIGKILL:
                    counts["kills"] += 1
                    counts["with_exit_in_flight"] += _in_flight(store) > 0
                    proc.communicate()
                    continue
            out, err = proc.communicate(timeout=300)
            if proc.returncode == 2 and "the chain store has no SPY days from" in err:
                return  # killed after its last day: the restart finds nothing left to replay
            assert proc.returncode == 0, err[-3000:]
            if "replay finished" in out:
                return
    finally:
        store.close()


def _run(backend: str, tmp_path: Path, chains: Path, kills: int, seed: int) -> dict[str, Any]:
    """An uninterrupted reference run, then killed runs (each a fresh store, replayed to its
    end through the kills) until ``kills`` SIGKILLs have landed; each killed run's outcome is
    compared with the reference's."""
    t0 = time.monotonic()
    counts: Counter[str] = Counter()
    with ExitStack() as stores:
        ref_url = stores.enter_context(_store_url(backend, tmp_path, "reference"))
        ref_log = tmp_path / "reference.log"
        _replay_to_the_end(ref_url, chains, ref_log, None, 0, Counter())
        ref_store = Store.open(ref_url)
        try:
            reference = _outcome(ref_store)
            _assert_consistent(ref_store)
            assert _alerts_delivered_once(ref_store, ref_log) == 0
        finally:
            ref_store.close()
        assert reference["exits"], "the reference run made no exit: nothing to compare"
        rng = random.Random(seed)
        scenarios = redelivered = 0
        while counts["kills"] < kills:
            scenarios += 1
            url = stores.enter_context(_store_url(backend, tmp_path, f"killed{scenarios}"))
            log = tmp_path / f"killed{scenarios}.log"
            _replay_to_the_end(url, chains, log, rng, kills, counts)
            store = Store.open(url)
            try:
                _assert_consistent(store)
                got = _outcome(store)
                redelivered += _alerts_delivered_once(store, log)
            finally:
                store.close()
            for key, want in reference.items():
                if got[key] != want:
                    first = next((i for i, (a, b) in enumerate(zip(got[key], want, strict=False)) if a != b),
                                 min(len(got[key]), len(want)))
                    pytest.fail(f"scenario {scenarios} ({counts['kills']} kills so far): {key} differs from the "
                                f"uninterrupted run at item {first}: {got[key][first:first + 2]} != "
                                f"{want[first:first + 2]}")
    return {"backend": backend, "kills": counts["kills"], "with_exit_in_flight": counts["with_exit_in_flight"],
            "restarts": counts["starts"] - scenarios, "scenarios": scenarios, "differences": 0,
            "alerts_delivered_twice": redelivered, "exits": len(reference["exits"]),
            "seconds": round(time.monotonic() - t0, 1)}


def test_kill9_three_times_mid_replay_ends_as_an_uninterrupted_run(tmp_path: Path, chain_dir: Path) -> None:
    # The default run's short version, on SQLite; the slow suite kills 50 times on each backend.
    figures = _run("sqlite", tmp_path, chain_dir, kills=3, seed=11)
    print(f"kill -9: {figures}")
    assert figures["kills"] == 3 and figures["differences"] == 0


@pytest.mark.slow
def test_kill9_fifty_times_mid_replay_ends_as_an_uninterrupted_run(backend: str, tmp_path: Path,
                                                                    chain_dir: Path) -> None:
    figures = _run(backend, tmp_path, chain_dir, kills=50, seed=2024)
    print(f"kill -9: {figures}")
    assert figures["kills"] == 50 and figures["differences"] == 0
    assert figures["with_exit_in_flight"] * 3 >= figures["kills"], figures
