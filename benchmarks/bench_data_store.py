"""Benchmark: the chain store on the 782k-row SPX 2019 chain (prints its figures).

Targets: import (read + flag + write) < 10 s; one day's chain < 5 ms; one contract's history
< 20 ms. Run: ``pytest benchmarks/bench_data_store.py -m benchmark -s`` or
``python benchmarks/bench_data_store.py``. Needs ../shared/data (or $RISKPILOT_SHARED_DATA).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest

from riskpilot.data.readers import read_chain
from riskpilot.data.store import ChainStore

FILE = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
CONTRACTS = (("SPX", date(2019, 7, 19), 2800.0, "P"), ("SPXW", date(2019, 6, 28), 2900.0, "C"),
             ("SPX", date(2019, 12, 20), 3000.0, "C"))


def source() -> Path | None:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    path = base / FILE
    return path if path.is_file() else None


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.95 * (len(ordered) - 1))] * 1e3


def measure(path: Path, root: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    table = read_chain(path, "historicaloptiondata")
    t1 = time.perf_counter()
    store = ChainStore(root)
    store.import_table(table)
    t2 = time.perf_counter()
    store.import_table(table)  # idempotent re-import: merge + rewrite
    t3 = time.perf_counter()

    days = store.days("SPX")
    cold = ChainStore(root)
    c0 = time.perf_counter()
    cold.day("SPX", days[len(days) // 2])  # first read: footer parsed, then one row group
    c1 = time.perf_counter()

    day_times: list[float] = []
    for _ in range(3):
        for d in days:
            s = time.perf_counter()
            store.day("SPX", d)
            day_times.append(time.perf_counter() - s)
    contract_times: list[float] = []
    rows = 0
    for _ in range(20):
        for root_sym, exp, strike, right in CONTRACTS:
            s = time.perf_counter()
            rows += store.contract_history("SPX", root_sym, exp, strike, right).num_rows
            contract_times.append(time.perf_counter() - s)
    i0 = time.perf_counter()
    n = sum(t.num_rows for _, t in store.iter_days("SPX"))
    i1 = time.perf_counter()
    day_med, day_p95 = _ms(day_times)
    con_med, con_p95 = _ms(contract_times)
    size = sum(p.stat().st_size for p in root.rglob("*.parquet"))
    return {
        "rows": float(table.num_rows), "read_s": t1 - t0, "write_s": t2 - t1,
        "import_s": t2 - t0, "reimport_s": t3 - t2, "cold_day_ms": (c1 - c0) * 1e3,
        "day_ms_median": day_med, "day_ms_p95": day_p95,
        "contract_ms_median": con_med, "contract_ms_p95": con_p95,
        "contract_rows": rows / 20, "iter_days_s": i1 - i0, "iter_rows": float(n),
        "store_mb": size / 1e6,
    }


def report(f: dict[str, float]) -> str:
    return "\n".join([
        f"SPX 2019 chain, {f['rows']:,.0f} rows:",
        f"  import (read {f['read_s']:.2f} s + flag/merge/write {f['write_s']:.2f} s): "
        f"{f['import_s']:.2f} s  [target < 10 s]; idempotent re-import {f['reimport_s']:.2f} s",
        f"  one day's chain: median {f['day_ms_median']:.2f} ms, p95 {f['day_ms_p95']:.2f} ms "
        f"[target < 5 ms]; first read on a fresh store {f['cold_day_ms']:.2f} ms",
        f"  one contract's history: median {f['contract_ms_median']:.2f} ms, p95 "
        f"{f['contract_ms_p95']:.2f} ms [target < 20 ms] ({f['contract_rows']:.0f} rows for 3 "
        "contracts)",
        f"  iter_days over all {f['iter_rows']:,.0f} rows: {f['iter_days_s']:.2f} s; "
        f"store on disk {f['store_mb']:.1f} MB (two sorted copies)",
    ])


@pytest.mark.benchmark
def test_bench_data_store(tmp_path: Path) -> None:
    path = source()
    if path is None:
        pytest.skip(f"{FILE} is absent from ../shared/data (set RISKPILOT_SHARED_DATA)")
    figures = measure(path, tmp_path)
    print("\n" + report(figures))
    assert figures["iter_rows"] == figures["rows"]


if __name__ == "__main__":
    p = source()
    if p is None:
        raise SystemExit(f"{FILE} is absent from ../shared/data (set RISKPILOT_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        print(report(measure(p, Path(tmp))))
