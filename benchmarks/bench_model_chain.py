"""Benchmark: time to generate the SPY 2006-2024 model-priced chain (prints its figures).

Run: ``pytest benchmarks/bench_model_chain.py -m benchmark -s`` or
``python benchmarks/bench_model_chain.py``.
"""

from __future__ import annotations

import time
from datetime import date

import pytest

from riskpilot.data.model_chain import generate_model_chain, market_history


def measure() -> dict[str, float]:
    """Seconds for the per-day inputs (cold) and for the whole chain, and its size."""
    t0 = time.perf_counter()
    market_history("SPY")
    t1 = time.perf_counter()
    table = generate_model_chain("SPY", date(2006, 1, 1), date(2024, 12, 31))
    t2 = time.perf_counter()
    return {
        "history_s": t1 - t0,
        "generate_s": t2 - t1,
        "rows": float(table.num_rows),
        "days": float(len(table.column("quote_date").unique())),
        "megabytes": table.nbytes / 1e6,
    }


def report(figures: dict[str, float]) -> str:
    return (
        f"SPY 2006-2024 model chain: {figures['generate_s']:.2f} s to generate "
        f"{figures['rows']:,.0f} rows over {figures['days']:,.0f} days "
        f"({figures['rows'] / figures['generate_s']:,.0f} rows/s, {figures['megabytes']:.0f} MB "
        f"in memory); per-day inputs loaded in {figures['history_s']:.2f} s"
    )


@pytest.mark.benchmark
def test_bench_spy_2006_2024_generation_prints_time() -> None:
    figures = measure()
    print(report(figures))
    assert figures["rows"] > 0


if __name__ == "__main__":
    print(report(measure()))
