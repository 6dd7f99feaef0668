"""Benchmarks of the IBKR adapter against the fake TWS (real ib_async client, loopback TCP).

Run:  python benchmarks/bench_ibkr.py
  or  pytest benchmarks/bench_ibkr.py -m benchmark -s

What is measured
- Broker messages a minute while monitoring 20 and 200 two-leg positions at SPEC's cadence
  (one quote batch of every leg per cycle; a cycle every 30 s normally, every 5 s when urgent).
  Cycles run back to back on the wall clock; each counts the messages on the wire, both ways,
  at the fake gateway. Every cycle the fake moves every quote once (an option quoted by IB
  moves far more often: the inbound count scales with the venue, not with riskpilot). The
  per-minute figures are per-cycle counts times cycles a minute. "First minute" adds the
  one-off qualification and subscription of every leg. Outbound is what IB paces (50 a
  second); the line limit is IB's default 100.
- CRITICAL market exit: ``place_order`` of a MARKET combo to its fill event (adapter and wire),
  and ``ExitExecutor.execute`` of a CRITICAL close (trigger to filled) with the adapter as its
  broker and a SQLite store. The fake fills market orders as soon as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake gateway lives with the tests

from fakes.tws import FakeTws
from riskpilot.brokers.ibkr_broker import IbkrBroker
from riskpilot.config import RiskPilotConfig
from riskpilot.config.brokers import IbkrConfig
from riskpilot.execution.clock import WallClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.model import (
    ExitAction,
    ExitDecision,
    Leg,
    OptionContract,
    Order,
    OrderPurpose,
    OrderType,
    Position,
    PremiumType,
    Priority,
    Right,
    Side,
)
from riskpilot.model.mark import mark_position
from riskpilot.store import PositionRepository, Store
from riskpilot.store.ledger import StoreLedger

CYCLES = 6


def _settings(port: int, lines: int = 100) -> IbkrConfig:
    return IbkrConfig(port=port, client_id=21, first_quote_timeout_seconds=1, reconnect_initial_delay_seconds=0.1,
                      max_market_data_lines=lines)


def _book(fake: FakeTws, n: int) -> list[Position]:
    exp = datetime.now(UTC).date() + timedelta(days=45)
    out = []
    for i in range(n):
        k = 300.0 + 10 * i  # strikes never shared between positions
        legs = []
        for strike, q in ((k, -1), (k - 5, 1)):
            con = fake.add_option("SPY", exp, strike, "P", market_rule=239)
            fake.set_quote(con, 1.00 + i * 0.001, 1.05 + i * 0.001)
            legs.append(Leg(OptionContract("SPY", exp, strike, Right.PUT), q))
        out.append(Position(f"b{i}", tuple(legs), PremiumType.CREDIT, 1.00, 2, datetime.now(UTC) - timedelta(days=3),
                            "default"))
    return out


def _wire(fake: FakeTws) -> tuple[int, int]:
    return sum(fake.inbound.values()), sum(fake.outbound.values())


async def messages_per_minute(n: int, lines: int = 100) -> dict[str, float]:
    fake = FakeTws()
    book = _book(fake, n)
    await fake.start()
    broker = IbkrBroker(_settings(fake.port, lines))
    await broker.connect()
    contracts = [leg.contract for p in book for leg in p.legs]
    try:
        out0, in0 = _wire(fake)
        t = time.perf_counter()
        first = await broker.get_quotes(contracts)
        first_s = time.perf_counter() - t
        out1, in1 = _wire(fake)
        per_out: list[int] = []
        seconds: list[float] = []
        for c in range(CYCLES):
            for con in list(fake.quotes):  # the market moves once between cycles
                q = fake.quotes[con]
                fake.set_quote(con, (q.bid or 1.0) + 0.01 * (c % 2 * 2 - 1), (q.ask or 1.05) + 0.01 * (c % 2 * 2 - 1))
            await asyncio.sleep(0.05)
            a_out, _ = _wire(fake)
            t = time.perf_counter()
            got = await broker.get_quotes(contracts)
            seconds.append(time.perf_counter() - t)
            b_out, _ = _wire(fake)
            per_out.append(b_out - a_out)
            if len(got) != len(contracts):
                raise RuntimeError(f"only {len(got)} of {len(contracts)} quotes: {set(broker.quote_problems.values())}")
        # inbound: the pushed ticks of the quote moves plus any answers, over all the cycles
        total_in = _wire(fake)[1] - in1
        out_cycle = statistics.mean(per_out)
        in_cycle = total_in / CYCLES
        return {
            "legs": len(contracts), "lines": broker.quotes.held, "first_batch_s": first_s,
            "first_out": out1 - out0, "first_in": in1 - in0, "first_quotes": len(first),
            "out_cycle": out_cycle, "in_cycle": in_cycle, "cycle_s": statistics.median(seconds),
            "out_min_normal": out_cycle * 2, "out_min_urgent": out_cycle * 12,
            "in_min_normal": in_cycle * 2, "in_min_urgent": in_cycle * 12,
            "first_minute_out": (out1 - out0) + out_cycle * 1,
        }
    finally:
        await broker.close()
        await fake.stop()


async def critical_exit_seconds(repeats: int = 15) -> dict[str, float]:
    fake = FakeTws()
    [pos] = _book(fake, 1)
    await fake.start()
    broker = IbkrBroker(_settings(fake.port))
    await broker.connect()
    adapter: list[float] = []
    executor_s: list[float] = []
    try:
        await broker.get_quotes([leg.contract for leg in pos.legs])
        for i in range(repeats):
            events = broker.subscribe()
            order = Order(f"rp-bench-{i}", pos.legs, Side.SELL, 2, OrderType.MARKET, datetime.now(UTC),
                          position_id=pos.id, purpose=OrderPurpose.CLOSE)
            t = time.perf_counter()
            await broker.place_order(order)
            while True:
                e = await asyncio.wait_for(events.get(), 10)
                if e.fill is not None and e.state.client_order_id == order.client_order_id:
                    break
            adapter.append(time.perf_counter() - t)
            broker._subscribers.remove(events)
        with tempfile.TemporaryDirectory() as d:
            for i in range(5):
                store = Store.open(f"sqlite:///{Path(d) / f'x{i}.db'}")
                p = Position(f"crit{i}", pos.legs, PremiumType.CREDIT, 1.00, 2, pos.opened_at, "default")
                PositionRepository(store).open_position(p)
                clock = WallClock()
                executor = ExitExecutor(broker, StoreLedger(store), RiskPilotConfig(), clock)
                quotes = await broker.get_quotes([leg.contract for leg in p.legs])
                mark = mark_position(p, quotes, clock.now())
                decision = ExitDecision(p.id, ExitAction.CLOSE, "bench", rule="stop_loss", priority=Priority.CRITICAL,
                                        quantity=2)
                t = time.perf_counter()
                outcome = await executor.execute(p, decision, mark)
                executor_s.append(time.perf_counter() - t)
                store.close()
                if not outcome.filled:
                    raise RuntimeError(f"CRITICAL exit did not fill: {outcome}")
    finally:
        await broker.close()
        await fake.stop()
    return {"adapter_median": statistics.median(adapter), "adapter_max": max(adapter),
            "executor_median": statistics.median(executor_s), "executor_max": max(executor_s)}


async def all_figures() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for n, lines in ((20, 100), (200, 100), (200, 500)):
        f = await messages_per_minute(n, lines)
        legs = int(f["legs"])
        label = f"{n}" if lines == 100 else f"{n} ({lines} lines allowed)"
        held = int(f["lines"])
        rows.append((f"{label} positions ({legs} legs, {held} lines held): outbound msgs/min, normal 30 s",
                     "< 3000 (50/s)", f"{f['out_min_normal']:.0f}"))
        rows.append((f"{label} positions: outbound msgs/min, urgent 5 s", "< 3000 (50/s)",
                     f"{f['out_min_urgent']:.0f}"))
        rows.append((f"{label} positions: first minute outbound (qualify + subscribe)", "-",
                     f"{f['first_minute_out']:.0f} (first batch {f['first_batch_s']:.2f} s)"))
        rows.append((f"{label} positions: inbound msgs/min at one quote move a cycle, normal / urgent", "-",
                     f"{f['in_min_normal']:.0f} / {f['in_min_urgent']:.0f}"))
        rows.append((f"{label} positions: one quote batch, median", "-", f"{f['cycle_s'] * 1000:.1f} ms"))
    c = await critical_exit_seconds()
    rows.append(("CRITICAL market exit, place_order to fill event (median / max)", "< 10 s",
                 f"{c['adapter_median'] * 1000:.1f} / {c['adapter_max'] * 1000:.1f} ms"))
    rows.append(("CRITICAL exit via ExitExecutor, trigger to filled (median / max)", "< 10 s",
                 f"{c['executor_median']:.3f} / {c['executor_max']:.3f} s"))
    return rows


def _print(rows: list[tuple[str, str, str]]) -> None:
    w = max(len(r[0]) for r in rows)
    print(f"\n{'IBKR adapter vs fake TWS'.ljust(w)}  {'target':>14}  measured")
    for name, target, got in rows:
        print(f"{name.ljust(w)}  {target:>14}  {got}")


@pytest.mark.benchmark
def test_ibkr_figures() -> None:
    rows = asyncio.run(all_figures())
    _print(rows)
    assert rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    _print(asyncio.run(all_figures()))
