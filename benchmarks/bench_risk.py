"""Benchmarks of the risk layer's hooks, printing their figures.

Run:  python benchmarks/bench_risk.py          (prints a table)
  or  pytest benchmarks/bench_risk.py -m benchmark -s

Targets (issue 2, this 2-core machine): check_position_exits with every rule on 100 positions
under 1 ms and on 10,000 under 50 ms; validate_order under 50 us; record_fill under 20 us; an
empty manager costs next to nothing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from riskpilot.config import config_from_dict
from riskpilot.model import Fill, Leg, Mark, OptionContract, Position, PremiumType, Right, Side
from riskpilot.risk import OrderRequest, RiskManager
from riskpilot.rules import ExitEvaluator

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def book(n: int, *, quiet: bool = False) -> tuple[list[Position], dict[str, Mark]]:
    """``n`` put spreads. The default book is busy (about a third of the positions fire a
    rule: targets, stages, now and then a stop); a quiet book mostly holds, as a live book
    does on most cycles."""
    positions, marks = [], {}
    for i in range(n):
        exp = date(2026, 3, 20) + timedelta(days=7 * (i % 8))
        k = 500 + (i % 50)
        pos = Position(
            id=f"p{i}",
            legs=(Leg(OptionContract("SPY", exp, k, Right.PUT), -1),
                  Leg(OptionContract("SPY", exp, k - 5, Right.PUT), 1)),
            premium_type=PremiumType.CREDIT,
            entry_premium=1.00,
            quantity=4,
            opened_at=NOW - timedelta(days=10),
            method="default",
        )
        positions.append(pos)
        # Premiums spread around the entry so that most hold and some fire (targets, stages,
        # now and then a stop), with a day P&L near zero (no circuit breaker).
        if quiet:
            # About 1 in 1000 at its stop; the rest within a few cents of the entry, so the
            # day's P&L stays far from the circuit breaker's limit (which would fire on all).
            prem = 2.40 if i % 997 == 0 else 0.95 + (i % 11) * 0.01
        else:
            prem = 2.40 if i % 97 == 0 else 0.55 + (i % 23) * 0.04
        marks[pos.id] = Mark.from_premium(prem, NOW, spread=0.04, volume=500)
    return positions, marks


def all_rules_manager() -> RiskManager:
    return RiskManager(config_from_dict({}), equity=1_000_000)


def empty_manager() -> RiskManager:
    rm = RiskManager(config_from_dict({}), equity=1_000_000)
    rm._evaluators[("default", None)] = ExitEvaluator([])
    rm._trail_configs[("default", None)] = None
    return rm


#: The clock of :func:`timeit`: wall time by default; ``--cpu`` (or RISKPILOT_BENCH_CLOCK=cpu)
#: measures this process's CPU time, for a machine busy with other work.
CLOCK: Callable[[], float] = time.perf_counter


def timeit(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Median seconds per call."""
    runs = []
    for _ in range(repeat):
        t = CLOCK()
        for _ in range(number):
            fn()
        runs.append((CLOCK() - t) / number)
    return statistics.median(runs)


def measure() -> dict[str, float]:
    out: dict[str, float] = {}
    for n, number in ((100, 200), (10_000, 10)):
        positions, marks = book(n)
        rm = all_rules_manager()
        out[f"check_position_exits_{n}_ms"] = timeit(
            lambda rm=rm, p=positions, m=marks: rm.check_position_exits(p, m, NOW), 5, number) * 1e3
        quiet_positions, quiet_marks = book(n, quiet=True)
        rm = all_rules_manager()  # its own manager: the busy book's trailing stops are not its own
        out[f"check_position_exits_{n}_quiet_book_ms"] = timeit(
            lambda rm=rm, p=quiet_positions, m=quiet_marks: rm.check_position_exits(p, m, NOW), 5, number) * 1e3
        erm = empty_manager()
        out[f"check_position_exits_{n}_no_rules_ms"] = timeit(
            lambda rm=erm, p=positions, m=marks: rm.check_position_exits(p, m, NOW), 5, number) * 1e3
    rm = all_rules_manager()
    req = OrderRequest("SPY", 2, 400.0, delta_per_unit=-10.0, gamma_per_unit=-0.5, underlying_price=500.0)
    out["validate_order_us"] = timeit(lambda: rm.validate_order(req), 5, 20_000) * 1e6
    rm.register_position("p", OrderRequest("SPY", 1, 400.0))
    rm.record_fill(Fill("f0", "o", 1, 1.0, NOW, Side.BUY, position_id="p"))
    fills = [Fill(f"f{i}", "o", 1, 1.0, NOW, Side.BUY, position_id="p") for i in range(1, 100_001)]
    it = iter(fills)
    out["record_fill_us"] = timeit(lambda: rm.record_fill(next(it)), 5, 20_000) * 1e6
    return out


TARGETS = {
    "check_position_exits_100_ms": 1.0,
    "check_position_exits_10000_ms": 50.0,
    "validate_order_us": 50.0,
    "record_fill_us": 20.0,
}


def report(figures: dict[str, float]) -> str:
    lines = [f"{'measure':40s} {'value':>10s} {'target':>8s}"]
    for k, v in figures.items():
        t = TARGETS.get(k)
        lines.append(f"{k:40s} {v:10.3f} {('< ' + format(t, 'g')) if t else '':>8s}")
    return "\n".join(lines)


@pytest.mark.benchmark
def test_bench_risk_hooks() -> None:
    figures = measure()
    print()
    print(report(figures))
    assert all(v > 0 for v in figures.values())


if __name__ == "__main__":
    import os
    import sys

    if "--cpu" in sys.argv or os.environ.get("RISKPILOT_BENCH_CLOCK") == "cpu":
        CLOCK = time.process_time
        print("clock: process CPU time")
    print(report(measure()))
