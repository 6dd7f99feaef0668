"""Benchmarks of the monitoring loop, printing their figures.

Run:  python benchmarks/bench_monitor.py
  or  pytest benchmarks/bench_monitor.py -m benchmark -s

Targets (issue 6): one monitoring cycle over 1,000 open positions under 20 ms, excluding
broker latency; under 60 broker calls a minute with 20 positions (batching); a CRITICAL exit
filled within 10 s against the paper broker.

What is measured
- cycle: ``PositionMonitor.check_once`` over 1,000 two-leg positions in a SQLite store, steady
  state (marks unchanged, so nothing is written), on simulated time. "cached": every quote
  from the 10 s cache; "fetch": the cache expired, one batched ``get_quotes`` of 2,000
  contracts to the in-process paper broker (no network latency). Hold lines off (the
  ``riskpilot.live.hold`` logger at WARNING) and on (written to a file).
- calls a minute: ``PositionMonitor.run`` for 10 simulated minutes, every broker call
  counted by the paper broker; "urgent": every position within 2% of its stop (5 s checks).
- CRITICAL exit: ``ExitExecutor`` on the wall clock against the paper broker with 50 ms of
  latency on every call, matching every 100 ms; triggered to filled, and after one reject.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from riskpilot.brokers.paper import Faults, PaperBroker, ScriptedMarket
from riskpilot.config import RiskPilotConfig
from riskpilot.execution.clock import SimulatedClock, WallClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.fills import FillModel
from riskpilot.live import PositionMonitor
from riskpilot.model import ExitAction, ExitDecision, Leg, OptionContract, Position, PremiumType, Priority, Right
from riskpilot.model.mark import mark_position
from riskpilot.model.order import OrderPurpose, client_order_id
from riskpilot.risk.manager import RiskManager
from riskpilot.store import PositionRepository, Store
from riskpilot.store.ledger import StoreLedger
from riskpilot.store.paper_book import StorePaperBook

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _legs(i: int, first_expiration: date = date(2026, 4, 17)) -> tuple[Leg, Leg]:
    exp = first_expiration + timedelta(days=7 * (i % 8))
    k = 300.0 + i
    return (Leg(OptionContract("SPY", exp, k, Right.PUT), -1), Leg(OptionContract("SPY", exp, k - 5, Right.PUT), 1))


def _rig(path: Path, n: int, *, premium: float = 1.01, clock_start: datetime = T0) -> tuple[
        Store, SimulatedClock, PaperBroker, PositionMonitor]:
    store = Store.open(f"sqlite:///{path / f'bench-{n}.db'}")
    clock = SimulatedClock(clock_start)
    market = ScriptedMarket()
    broker = PaperBroker(StorePaperBook(store), market, fill_model=FillModel(), clock=clock)
    repo = PositionRepository(store)
    for i in range(n):
        legs = _legs(i)
        repo.open_position(Position(f"p{i:04d}", legs, PremiumType.CREDIT, 1.00, 4, T0 - timedelta(days=5),
                                    "default"))
        # close-out mid = short mid - long mid = premium (+ a little spread per position)
        market.set(legs[1].contract, 1.00, 1.10, 1000)
        mid = premium + 1.05 + (i % 5) * 0.001
        market.set(legs[0].contract, mid - 0.05, mid + 0.05, 1000)
    cfg = RiskPilotConfig()
    risk = RiskManager(cfg, equity=10_000_000)
    executor = ExitExecutor(broker, StoreLedger(store), cfg, clock)
    monitor = PositionMonitor(store, broker, risk, cfg, clock, executor=executor)
    return store, clock, broker, monitor


async def _cycle_ms(monitor: PositionMonitor, clock: SimulatedClock, step: float, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        await clock.sleep(step)
        t = time.perf_counter()
        report = await monitor.check_once(force_all=True)
        times.append((time.perf_counter() - t) * 1000)
        assert report.checked == len(monitor.positions) and not report.exits_started
    return statistics.median(times)


async def cycle_figures(path: Path, n: int = 1000) -> dict[str, float]:
    store, clock, _broker, monitor = _rig(path, n)
    await monitor.start()
    await monitor.check_once()  # first check of the run: writes every mark once
    hold = logging.getLogger("riskpilot.live.hold")
    hold.setLevel(logging.WARNING)
    out = {
        "cached": await _cycle_ms(monitor, clock, 1.0, 15),
        "fetch": await _cycle_ms(monitor, clock, 11.0, 15),
    }
    handler = logging.FileHandler(path / "hold.log")
    hold.addHandler(handler)
    hold.setLevel(logging.INFO)
    hold.propagate = False
    try:
        out["cached, hold lines on"] = await _cycle_ms(monitor, clock, 1.0, 15)
    finally:
        hold.removeHandler(handler)
        handler.close()
        hold.propagate = True
        hold.setLevel(logging.NOTSET)
    store.close()
    return out


async def calls_per_minute(path: Path, n: int, *, urgent: bool = False, minutes: int = 10) -> float:
    # urgent: every premium at 2.22, within 2% of the 2.25 stop
    store, clock, broker, monitor = _rig(path / f"{'u' if urgent else 'n'}{n}", n, premium=2.22 if urgent else 1.01)
    stop = asyncio.Event()

    async def until(_now: datetime) -> None:
        if clock.now() >= T0 + timedelta(minutes=minutes):
            stop.set()

    clock.on_advance(until)
    await monitor.start()
    before = broker.total_api_calls
    await monitor.run(stop)
    store.close()
    return (broker.total_api_calls - before) / minutes


async def critical_exit_seconds(path: Path, *, reject_first: bool) -> float:
    store = Store.open(f"sqlite:///{path / f'exit-{reject_first}.db'}")
    legs = _legs(0, datetime.now(UTC).date() + timedelta(days=45))
    market = ScriptedMarket()
    market.set(legs[0].contract, 2.00, 2.20, 1000)
    market.set(legs[1].contract, 1.00, 1.10, 1000)
    pid = "x1"
    faults = Faults(latency_seconds=0.05,
                    reject_client_ids=frozenset({client_order_id(pid, OrderPurpose.CLOSE, 1)} if reject_first else ()))
    clock = WallClock()
    broker = PaperBroker(StorePaperBook(store), market, fill_model=FillModel(), faults=faults)
    now = clock.now()
    pos = Position(pid, legs, PremiumType.CREDIT, 1.00, 4, now - timedelta(days=5), "default")
    PositionRepository(store).open_position(pos)
    stop = asyncio.Event()
    matcher = asyncio.create_task(broker.run(0.1, stop))
    executor = ExitExecutor(broker, StoreLedger(store), RiskPilotConfig(), clock)
    mark = mark_position(pos, market.quotes([leg.contract for leg in legs], now), now)
    decision = ExitDecision(pid, ExitAction.CLOSE, "bench", rule="stop_loss", priority=Priority.CRITICAL, quantity=4)
    t = time.perf_counter()
    outcome = await executor.execute(pos, decision, mark)
    elapsed = time.perf_counter() - t
    stop.set()
    await matcher
    store.close()
    assert outcome.filled, outcome
    return elapsed


async def all_figures(path: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    cyc = await cycle_figures(path)
    for k, v in cyc.items():
        rows.append((f"cycle over 1,000 positions ({k})", f"{v:.1f} ms", "< 20 ms" if k != "fetch" else "-"))
    for n in (20, 1000):
        rows.append((f"broker calls / minute, {n} positions", f"{await calls_per_minute(path, n):.1f}",
                     "< 60" if n == 20 else "-"))
    rows.append(("broker calls / minute, 20 positions all urgent",
                 f"{await calls_per_minute(path, 20, urgent=True):.1f}", "< 60"))
    rows.append(("CRITICAL exit, triggered to filled", f"{await critical_exit_seconds(path, reject_first=False):.2f} s",
                 "< 10 s"))
    rows.append(("CRITICAL exit after one reject", f"{await critical_exit_seconds(path, reject_first=True):.2f} s",
                 "< 10 s"))
    return rows


def _print(rows: list[tuple[str, str, str]]) -> None:
    print()
    print(f"{'monitor benchmark':<52} {'figure':>12} {'target':>8}")
    for name, fig, target in rows:
        print(f"{name:<52} {fig:>12} {target:>8}")


@pytest.mark.benchmark
def test_monitor_figures(tmp_path: Path) -> None:
    for sub in ("n20", "n1000", "u20"):
        (tmp_path / sub).mkdir()
    rows = asyncio.run(all_figures(tmp_path))
    _print(rows)
    figures = dict((name, fig) for name, fig, _ in rows)
    assert float(figures["broker calls / minute, 20 positions"]) < 60


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)
        for sub in ("n20", "n1000", "u20"):
            (p / sub).mkdir()
        _print(asyncio.run(all_figures(p)))
