"""Benchmark: the backtester on SPY's model-priced chain 2006-2024 (prints its figures).

Measures chain generation (year by year, bounded memory) and the backtest loop separately, and
the share of the loop spent in the risk manager's check_position_exits. Run:
``pytest benchmarks/bench_backtest.py -m benchmark -s`` or ``python benchmarks/bench_backtest.py``.
Results are on a MODEL-PRICED chain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pytest

from riskpilot.backtest.engine import iter_table_days, run_backtest
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.model_chain import iter_model_chain_by_year
from riskpilot.risk.manager import RiskManager


def run(start: date = date(2006, 1, 1), end: date = date(2024, 12, 31)) -> dict[str, float]:
    gen_seconds = 0.0

    def days() -> Iterator[tuple[date, pa.Table]]:
        nonlocal gen_seconds
        years = iter_model_chain_by_year("SPY", start, end)
        while True:
            t0 = time.perf_counter()
            item = next(years, None)
            gen_seconds += time.perf_counter() - t0
            if item is None:
                return
            yield from iter_table_days(item[1])

    check_seconds = 0.0
    original = RiskManager.check_position_exits

    def timed(self: RiskManager, *args: object, **kwargs: object) -> object:
        nonlocal check_seconds
        t0 = time.perf_counter()
        out = original(self, *args, **kwargs)  # type: ignore[arg-type]
        check_seconds += time.perf_counter() - t0
        return out

    RiskManager.check_position_exits = timed  # type: ignore[assignment,method-assign]
    try:
        t0 = time.perf_counter()
        result = run_backtest(days(), RiskPilotConfig(), method="default", underlying="SPY",
                              equity=100_000.0)
        total = time.perf_counter() - t0
    finally:
        RiskManager.check_position_exits = original  # type: ignore[method-assign]
    m = result.metrics()
    figures = {
        "days": float(len(result.dates)),
        "trades": float(m.trade_count),
        "total_seconds": total,
        "chain_generation_seconds": gen_seconds,
        "backtest_loop_seconds": total - gen_seconds,
        "check_position_exits_seconds": check_seconds,
        "cagr": m.cagr if m.cagr is not None else float("nan"),
        "max_drawdown": m.max_drawdown,
    }
    for k, v in figures.items():
        print(f"{k:>30}: {v:,.4f}")
    print("exit reasons:", {k: (v.count, round(v.pnl)) for k, v in m.by_exit_reason.items()})
    return figures


@pytest.mark.benchmark
@pytest.mark.slow
def test_spy_2006_2024_model_chain_backtest_prints_wall_time() -> None:
    f = run()
    assert f["days"] > 4000
    assert f["trades"] > 0


if __name__ == "__main__":
    run()
