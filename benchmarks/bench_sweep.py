"""Benchmark: a parameter sweep on Dask, with 1 and with 2 local workers (prints its figures).

The grid of the issue: profit target {25, 35, 50, 65} x stop loss {100, 125, 150, 200} on SPY,
QQQ and IWM, 2006-01-01..2024-12-31, on the bundled MODEL-PRICED chains (48 runs of about
4,700 trading days each), default configuration otherwise. Target (issue 18): the 48 runs under
20 s on two workers on this 2-core machine, and near-linear scaling from 1 to 2 workers.

The workers read the chain years from the model-chain cache (``$RISKPILOT_CHAIN_CACHE``, a
temporary directory of this benchmark unless set); the first sweep fills it, as a user's first
sweep would (``--warm`` fills it before timing). The CPU seconds the workers spent are printed
beside the wall time: on a machine shared with other work they, divided by the workers, are
what the sweep would take on an idle one.

For each worker count a fresh LocalCluster is started (its start-up is timed apart), the
sweep is run, and the figures printed: wall time of the runs, runs per minute, the mean wall
time of one run on a worker (``seconds`` column: chain generation on a worker's first run of a
ticker included), the speed-up over 1 worker and the scaling efficiency (speed-up / workers).
The machine's load average is printed beside each, since other work on a shared 2-core box
slows both the runs and the scaling; figures taken while others run tests are pessimistic.

``--profile`` also runs one SPY 2006-2024 backtest in this process (chain years cached
first) under cProfile and prints where its time goes.

Run: ``python benchmarks/bench_sweep.py [--workers 1,2] [--tickers SPY,QQQ,IWM] [--profile]``
or ``python -m pytest benchmarks/bench_sweep.py -m benchmark -s``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from datetime import date

import pytest

from riskpilot.backtest.runner import BacktestSpec, process_chain_cache, run_spec
from riskpilot.backtest.sweep import SweepExecutor, expand_grid, run_sweep
from riskpilot.data.model_chain import generate_model_chain

PROFIT_TARGETS = (25.0, 35.0, 50.0, 65.0)
STOP_LOSSES = (100.0, 125.0, 150.0, 200.0)
START, END = date(2006, 1, 1), date(2024, 12, 31)
TARGET_SECONDS = 20.0


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def sweep_once(workers: int, tickers: tuple[str, ...]) -> dict[str, float]:
    runs = expand_grid({"ticker": tickers, "start": (START,), "end": (END,), "profit_target": PROFIT_TARGETS,
                        "stop_loss": STOP_LOSSES})
    t0 = time.perf_counter()
    with SweepExecutor(workers=workers) as ex:
        started = time.perf_counter()
        cpu0 = ex.cpu_seconds()
        result = run_sweep(runs, ex)
        done = time.perf_counter()
        cpu = ex.cpu_seconds() - cpu0
    failed = result.failed
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed, first: {failed[0].row['error']}")
    seconds = [float(r["seconds"]) for r in result.rows]
    return {"runs": len(runs), "startup": started - t0, "wall": done - started, "mean_run": statistics.mean(seconds),
            "max_run": max(seconds), "sum_run": sum(seconds), "cpu": cpu}


def profile_one_run(top: int = 14) -> str:
    spec = BacktestSpec(ticker="SPY", start=START, end=END, profit_target=50, stop_loss=125)
    cache = process_chain_cache()
    t = time.perf_counter()
    run_spec(spec, cache=cache)  # fills the cache: generation is not what is profiled
    first = time.perf_counter() - t
    prof = cProfile.Profile()
    t, c = time.perf_counter(), time.process_time()
    prof.enable()
    run_spec(spec.model_copy(update={"profit_target": 35.0}), cache=cache)
    prof.disable()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return (f"one SPY 2006-2024 run in process: first (generating the chain years) {first:.1f} s; "
            f"cached {wall:.1f} s wall, {cpu:.1f} s CPU (under cProfile)\n{out.getvalue()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to time, e.g. 1,2")
    parser.add_argument("--tickers", default="SPY,QQQ,IWM")
    parser.add_argument("--profile", action="store_true", help="profile one run in process too")
    parser.add_argument("--warm", action="store_true", help="fill the chain cache before timing")
    args = parser.parse_args(argv)
    if "RISKPILOT_CHAIN_CACHE" in os.environ:
        _main(args)
        return
    # A chain cache of this benchmark's own, inherited by the workers, dropped at the end.
    with tempfile.TemporaryDirectory(prefix="riskpilot-bench-sweep-") as scratch:
        os.environ["RISKPILOT_CHAIN_CACHE"] = scratch
        try:
            _main(args)
        finally:
            del os.environ["RISKPILOT_CHAIN_CACHE"]


def _main(args: argparse.Namespace) -> None:
    tickers = tuple(t.strip().upper() for t in args.tickers.split(","))
    counts = [int(w) for w in args.workers.split(",")]
    if args.warm:
        for ticker in tickers:
            for year in range(START.year, END.year + 1):
                generate_model_chain(ticker, max(START, date(year, 1, 1)), min(END, date(year, 12, 31)))
    print(f"\nsweep benchmark: {len(PROFIT_TARGETS)}x{len(STOP_LOSSES)} PT x SL grid on {', '.join(tickers)}, "
          f"{START}..{END}, model-priced chains ({len(PROFIT_TARGETS) * len(STOP_LOSSES) * len(tickers)} runs)")
    results: dict[int, dict[str, float]] = {}
    for w in counts:
        before = _load()
        r = sweep_once(w, tickers)
        results[w] = r
        verdict = "meets" if r["wall"] < TARGET_SECONDS else "misses"
        print(f"  {w} worker{'s' if w != 1 else ' '}: {r['wall']:6.1f} s for {int(r['runs'])} runs "
              f"({r['runs'] / r['wall'] * 60:.1f} runs/min; cluster start-up {r['startup']:.1f} s apart), "
              f"one run {r['mean_run']:.1f} s mean / {r['max_run']:.1f} s max on a worker; "
              f"workers' CPU {r['cpu']:.1f} s ({r['cpu'] / w:.1f} s per worker); "
              f"{verdict} the {TARGET_SECONDS:.0f} s target [{before}]")
    base = min(counts)
    for w in counts:
        if w == base:
            continue
        speedup = results[base]["wall"] / results[w]["wall"]
        eff = speedup / (w / base)
        print(f"  speed-up {base} -> {w} workers: {speedup:.2f}x, scaling efficiency {eff:.0%}")
    print(f"  after: {_load()}")
    if args.profile:
        print(profile_one_run())


@pytest.mark.benchmark
def test_bench_sweep() -> None:
    main(["--profile"])


if __name__ == "__main__":
    main()
