"""Benchmark: the SPY 2006-2024 model-priced chain, generated and read back from the on-disk
cache (prints its figures; process CPU time, with the machine's load).

Year by year, as a backtest asks for it:

- ``generate``: every year generated, no cache (``cache=None``);
- ``generate_and_write``: every year generated and written to an empty cache (a first run);
- ``cached``: every year read back from that cache (memory-mapped Arrow files), and
  ``cached_and_split``: also turned into the backtest's ``DayChain`` days (``split_days``),
  which a backtest does either way;
- the per-day inputs (``market_history``, the calendar included) and the cache's size.

Target (issue 18): the cached chain well under the 2 s of CPU of the whole README backtest.

Run: ``python benchmarks/bench_model_chain.py`` or ``pytest benchmarks/bench_model_chain.py -m benchmark -s``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from riskpilot.backtest.chain import split_days

from riskpilot.data.model_chain import ModelChainCache, generate_model_chain, market_history

YEARS = range(2006, 2025)
TARGET_CACHED_S = 0.5


def _years(cache: ModelChainCache | None, then: Callable[[object], object] | None = None) -> tuple[float, int]:
    rows = 0
    t = time.process_time()
    for y in YEARS:
        table = generate_model_chain("SPY", max(date(y, 1, 1), date(2006, 1, 3)), date(y, 12, 31), cache=cache)
        rows += table.num_rows
        if then is not None:
            then(table)
    return time.process_time() - t, rows


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="riskpilot-bench-chains-") as tmp:
        # Everything the model chain keeps on disk (the calendar too) goes to this directory.
        saved = os.environ.get("RISKPILOT_CHAIN_CACHE")
        os.environ["RISKPILOT_CHAIN_CACHE"] = tmp
        try:
            t = time.process_time()
            market_history("SPY")
            history_s = time.process_time() - t
            generate_s, rows = _years(None)
            cache = ModelChainCache(Path(tmp))
            write_s, _ = _years(cache)
            cached_s, _ = _years(cache)
            split_s, _ = _years(cache, lambda table: list(split_days(table, "SPY")))  # type: ignore[arg-type]
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*.arrow"))
        finally:
            if saved is None:
                del os.environ["RISKPILOT_CHAIN_CACHE"]
            else:
                os.environ["RISKPILOT_CHAIN_CACHE"] = saved
    return {"history_s": history_s, "generate_s": generate_s, "generate_and_write_s": write_s,
            "cached_s": cached_s, "cached_and_split_s": split_s, "rows": float(rows), "cache_mb": size / 1e6}


def report(f: dict[str, float]) -> str:
    one, five, _ = os.getloadavg()
    verdict = "meets" if f["cached_s"] < TARGET_CACHED_S else "misses"
    return (
        f"SPY 2006-2024 model chain, {f['rows']:,.0f} rows, process CPU "
        f"[load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs]\n"
        f"  generated (no cache)            {f['generate_s']:6.2f} s ({f['rows'] / f['generate_s']:,.0f} rows/s)\n"
        f"  generated and written to cache  {f['generate_and_write_s']:6.2f} s ({f['cache_mb']:,.0f} MB on disk)\n"
        f"  read from the cache             {f['cached_s']:6.2f} s  (target < {TARGET_CACHED_S:g} s: {verdict})\n"
        f"  read and split into DayChains   {f['cached_and_split_s']:6.2f} s  (a backtest splits either way)\n"
        f"  per-day inputs (cold)           {f['history_s']:6.2f} s"
    )


@pytest.mark.benchmark
def test_bench_spy_2006_2024_generation_prints_time() -> None:
    figures = measure()
    print()
    print(report(figures))
    assert figures["rows"] > 0


if __name__ == "__main__":
    print(report(measure()))
