"""Benchmark: the backtester's wall time and peak memory on three chains (prints its figures).

Scenarios (default config, method ``default``: put credit spreads):

- ``spx2019``: the real SPX chain 2019-04-25..2019-07-22 (782k rows, vendor data in
  ../shared/data or $RISKPILOT_SHARED_DATA), imported into a fresh ``ChainStore`` first (the
  import is timed and printed, but is not part of the run's time or memory). Target: the run
  under 1 s.
- ``spy``: SPY 2006-2024 on the MODEL-PRICED chain (about 4.7M rows), generated year by year
  as the run consumes it (bounded memory); generation and the loop are timed apart.
- ``scaled``: a MODEL-PRICED SPX chain 2020-2022 whose expirations run out to 730 days
  instead of the default 120 (``ModelChainParams.for_underlying("SPX", max_dte=730)``), about
  21.6M rows over 756 days, 28.5k rows a day: roughly the listing density of the real SPX
  chain (13-14k rows a day in 2019, DTE up to 967, in the calmer 2019 market). Generated once
  into a ``ChainStore`` cached under $RISKPILOT_BENCH_CACHE (default
  ``~/.cache/riskpilot/bench``; about 2 minutes and 1 GB the first time). Target: the run
  under 4 s.

Each scenario runs in a fresh Python process, so its **peak memory** is that process's peak
resident set size (VmHWM of /proc/self/status, which is what ``getrusage`` ``ru_maxrss`` would
say were it not for Linux carrying the parent's high-water mark across fork and exec); the
interpreter and the imported libraries are included, and printed apart as "baseline". As the
store is read through memory-mapped files, VmHWM also counts their file pages; the heap's own
peak (RssAnon, sampled every 5 ms) is printed beside it. Wall times are the best of
``--repeat`` runs (median printed too) because other work on the machine inflates single
runs; CPU seconds of the process are printed beside them.

Two input paths of ``run_backtest`` are timed where available:

- ``tables``: ``(date, pyarrow.Table)`` pairs (``ChainStore.iter_days(..., columns=
  BACKTEST_COLUMNS, strings_as_dictionary=True)``, or ``iter_table_days`` for the model
  chain), each turned into a ``DayChain`` by ``DayChain.from_table`` inside the engine;
- ``daychains``: ready ``DayChain`` objects from ``iter_store_days`` / ``split_days``, which
  convert a batch of days at once. Used only when ``riskpilot.backtest.engine`` accepts them
  (it imports ``chain.as_day_chain``); otherwise the line says it is not wired.

Run: ``python benchmarks/bench_backtest.py [--scenario spx2019|spy|scaled] [--repeat N]``
or ``python -m pytest benchmarks/bench_backtest.py -m benchmark -s``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

SPX_FILE = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
SCALED_SPAN = (date(2020, 1, 1), date(2022, 12, 31))
SCALED_MAX_DTE = 730
SCALED_MIN_ROWS = 20_000_000
TARGETS = {"spx2019": 1.0, "scaled": 4.0}
SCENARIOS = ("spx2019", "spy", "scaled")


def shared_data() -> Path:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_cache() -> Path:
    env = os.environ.get("RISKPILOT_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "riskpilot" / "bench"


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MB: VmHWM of /proc/self/status where there is
    one (Linux), else ``ru_maxrss``. VmHWM because Linux carries the parent's high-water mark
    into ``ru_maxrss`` across fork and exec, which would charge the parent's memory to the
    scenario."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


class _AnonPeak:
    """Samples RssAnon of /proc/self/status every 5 ms: the peak of the process's own heap,
    without the file pages of the memory-mapped Parquet files that VmHWM also counts (those
    are page cache the kernel can drop). None where /proc is absent."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _read() -> float | None:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._read()
            if now is not None:
                self.peak_mb = now if self.peak_mb is None else max(self.peak_mb, now)
            self._stop.wait(0.005)

    def __enter__(self) -> _AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _engine_takes_day_chains() -> bool:
    from riskpilot.backtest import engine

    return hasattr(engine, "as_day_chain")


def _timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    walls: list[float] = []
    cpus: list[float] = []
    out: Any = None
    for _ in range(repeat):
        out = None  # the previous run's result is not kept alive through the next
        w0, c0 = time.perf_counter(), time.process_time()
        out = run()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


def _path_figures(name: str, walls: list[float], cpus: list[float], result: Any) -> dict[str, Any]:
    m = result.metrics()
    return {
        f"{name}_wall_best_s": min(walls), f"{name}_wall_median_s": statistics.median(walls),
        f"{name}_cpu_best_s": min(cpus), f"{name}_days": len(result.dates), f"{name}_trades": m.trade_count,
        f"{name}_end_equity": m.end_equity,
    }


def _run(days: Iterable[Any], underlying: str, equity: float) -> Any:
    from riskpilot.backtest.engine import run_backtest
    from riskpilot.config.schema import RiskPilotConfig

    return run_backtest(days, RiskPilotConfig(), method="default", underlying=underlying, equity=equity)


def _store_paths(store_root: Path, underlying: str, start: date | None, end: date | None,
                 repeat: int) -> dict[str, Any]:
    from riskpilot.data.daychain import BACKTEST_COLUMNS, iter_store_days
    from riskpilot.data.store import ChainStore

    store = ChainStore(store_root)
    rows = sum(t.num_rows for t in store.iter_day_batches(underlying, start, end, columns=["quote_date"]))
    out: dict[str, Any] = {"rows": rows}
    def tables() -> Any:
        return store.iter_days(underlying, start, end, columns=BACKTEST_COLUMNS, strings_as_dictionary=True)

    walls, cpus, res = _timed(lambda: _run(tables(), underlying, 1_000_000.0), repeat)
    out.update(_path_figures("tables", walls, cpus, res))
    if _engine_takes_day_chains():
        walls, cpus, res = _timed(lambda: _run(iter_store_days(store, underlying, start, end), underlying,
                                               1_000_000.0), repeat)
        out.update(_path_figures("daychains", walls, cpus, res))
    # The chain work alone: read + DayChain for every day, no engine.
    walls, _, n = _timed(lambda: sum(c.size for c in iter_store_days(store, underlying, start, end)), repeat)
    out["chain_only_wall_best_s"] = min(walls)
    out["usable_rows"] = n
    return out


def import_spx2019(root: Path) -> dict[str, Any]:
    """Import the real SPX 2019 chain into a new store at ``root`` (timed; not part of the run)."""
    from riskpilot.data.readers import read_chain
    from riskpilot.data.store import ChainStore

    path = shared_data() / SPX_FILE
    if not path.is_file():
        return {"skipped": f"{path} is absent (set RISKPILOT_SHARED_DATA to the shared data folder)"}
    t0 = time.perf_counter()
    ChainStore(root).import_table(read_chain(path, "historicaloptiondata"))
    return {"import_s": time.perf_counter() - t0}


def scenario_spx2019(repeat: int, store: Path) -> dict[str, Any]:
    return _store_paths(store, "SPX", None, None, repeat)


def scenario_spy(repeat: int, store: Path | None = None) -> dict[str, Any]:
    from riskpilot.backtest.engine import iter_table_days
    from riskpilot.data.daychain import split_days
    from riskpilot.data.model_chain import iter_model_chain_by_year
    from riskpilot.risk.manager import RiskManager

    start, end = date(2006, 1, 1), date(2024, 12, 31)
    gen = {"s": 0.0, "rows": 0}

    def years() -> Iterator[Any]:
        it = iter_model_chain_by_year("SPY", start, end)
        while True:
            t0 = time.perf_counter()
            item = next(it, None)
            gen["s"] += time.perf_counter() - t0
            if item is None:
                return
            gen["rows"] += item[1].num_rows
            yield item[1]

    def tables() -> Iterator[Any]:
        for t in years():
            yield from iter_table_days(t)

    def chains() -> Iterator[Any]:
        for t in years():
            yield from split_days(t, "SPY")

    check = {"s": 0.0}
    original = RiskManager.check_position_exits

    def timed_check(self: RiskManager, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            check["s"] += time.perf_counter() - t0

    out: dict[str, Any] = {}
    paths: list[tuple[str, Callable[[], Iterator[Any]]]] = [("tables", tables)]
    if _engine_takes_day_chains():
        paths.append(("daychains", chains))
    RiskManager.check_position_exits = timed_check  # type: ignore[method-assign]
    try:
        for name, source in paths:
            walls: list[float] = []
            loops: list[float] = []
            cpus: list[float] = []
            res: Any = None
            for _ in range(repeat):
                gen["s"], gen["rows"], check["s"] = 0.0, 0, 0.0
                w0, c0 = time.perf_counter(), time.process_time()
                res = _run(source(), "SPY", 100_000.0)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                loops.append(walls[-1] - gen["s"])
            out.update(_path_figures(name, walls, cpus, res))
            out[f"{name}_generation_s"] = walls[walls.index(min(walls))] - loops[walls.index(min(walls))]
            out[f"{name}_loop_best_s"] = min(loops)
            out[f"{name}_check_position_exits_s"] = check["s"]
    finally:
        RiskManager.check_position_exits = original  # type: ignore[method-assign]
    out["rows"] = gen["rows"]
    return out


def ensure_scaled_store() -> Path:
    """The cached scaled store, generated on first use (year by year, bounded memory)."""
    from riskpilot.data.model_chain import ModelChainParams, iter_model_chain_by_year
    from riskpilot.data.store import ChainStore

    root = bench_cache() / f"spx_model_{SCALED_MAX_DTE}dte_{SCALED_SPAN[0]:%Y}_{SCALED_SPAN[1]:%Y}"
    done = root / "COMPLETE"
    if done.is_file():
        return root
    params = ModelChainParams.for_underlying("SPX", max_dte=SCALED_MAX_DTE)
    store = ChainStore(root)
    rows = 0
    print(f"generating the scaled chain into {root} (once; about 2 minutes)...", file=sys.stderr)
    for year, table in iter_model_chain_by_year("SPX", *SCALED_SPAN, params):
        store.import_table(table)
        rows += table.num_rows
        print(f"  {year}: {table.num_rows:,} rows", file=sys.stderr)
    done.write_text(f"{rows}\n")
    return root


def scenario_scaled(repeat: int, store: Path) -> dict[str, Any]:
    return _store_paths(store, "SPX", *SCALED_SPAN, repeat)


def run_scenario(name: str, repeat: int, store: Path | None) -> dict[str, Any]:
    """Run one scenario in this process and return its figures (peak RSS included). The
    store scenarios read ``store``, prepared beforehand by ``run_isolated``."""
    # Imported first, so that the baseline counts them.
    import riskpilot.backtest.engine
    import riskpilot.data.model_chain  # noqa: F401

    baseline = _peak_rss_mb()
    with _AnonPeak() as anon:
        if name == "spy":
            out = scenario_spy(repeat)
        else:
            if store is None:
                raise ValueError(f"scenario {name} reads a store: pass --store")
            out = (scenario_spx2019 if name == "spx2019" else scenario_scaled)(repeat, store)
    out.update(scenario=name, peak_rss_mb=_peak_rss_mb(), baseline_rss_mb=baseline, repeat=repeat,
               peak_anon_mb=anon.peak_mb)
    return out


def run_isolated(name: str, repeat: int) -> dict[str, Any]:
    """``run_scenario`` in a fresh interpreter, so peak memory is the scenario's own; the
    data is prepared here first (import, generation), outside the scenario's time and memory."""
    with tempfile.TemporaryDirectory() as tmp:
        store: Path | None = None
        before: dict[str, Any] = {}
        if name == "spx2019":
            store = Path(tmp)
            before = import_spx2019(store)
            if "skipped" in before:
                return {"scenario": name, **before}
        elif name == "scaled":
            store = ensure_scaled_store()
        cmd = [sys.executable, __file__, "--child", name, "--repeat", str(repeat)]
        if store is not None:
            cmd += ["--store", str(store)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scenario {name} failed:\n{proc.stderr}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**before, **figures}


def report(f: dict[str, Any]) -> str:
    name = f["scenario"]
    if "skipped" in f:
        return f"{name}: skipped: {f['skipped']}"
    target = TARGETS.get(name)
    lines = [{
        "spx2019": "SPX 2019 real chain (after import into a ChainStore), put credit spreads",
        "spy": "SPY 2006-2024, MODEL-PRICED chain generated year by year, put credit spreads",
        "scaled": f"SCALED: MODEL-PRICED SPX {SCALED_SPAN[0]:%Y}-{SCALED_SPAN[1]:%Y}, expirations to "
                  f"{SCALED_MAX_DTE} DTE, from a ChainStore, put credit spreads",
    }[name]]
    rows = f.get("rows", 0)
    if "import_s" in f:
        lines.append(f"  import into the store: {f['import_s']:.2f} s (not part of the run)")
    for path in ("tables", "daychains"):
        key = f"{path}_wall_best_s"
        if key not in f:
            lines.append(f"  {path:>9}: not wired: riskpilot.backtest.engine does not accept DayChain input yet")
            continue
        wall = f[key]
        verdict = "" if target is None else f"  [target < {target:g} s: {'met' if wall < target else 'MISSED'}]"
        lines.append(
            f"  {path:>9}: {rows:,} rows, {f[f'{path}_days']:,} days, {f[f'{path}_trades']:,} trades: "
            f"wall {wall:.2f} s best / {f[f'{path}_wall_median_s']:.2f} s median of {f['repeat']}, "
            f"cpu {f[f'{path}_cpu_best_s']:.2f} s, {rows / wall / 1e6:.1f}M rows/s{verdict}"
        )
        if f"{path}_generation_s" in f:
            lines.append(
                f"             chain generation {f[f'{path}_generation_s']:.2f} s + loop "
                f"{f[f'{path}_loop_best_s']:.2f} s (of which check_position_exits "
                f"{f[f'{path}_check_position_exits_s']:.2f} s)"
            )
    if "chain_only_wall_best_s" in f:
        lines.append(f"  chain work alone (store read + DayChain per day, no engine): "
                     f"{f['chain_only_wall_best_s']:.2f} s for {f['usable_rows']:,} usable rows")
    anon = f.get("peak_anon_mb")
    lines.append(f"  peak memory: {f['peak_rss_mb']:,.0f} MB peak RSS of the scenario's process "
                 f"(VmHWM; {f['baseline_rss_mb']:,.0f} MB of it is the interpreter and imports); "
                 + (f"heap alone (RssAnon, sampled every 5 ms) {anon:,.0f} MB, the rest is file-backed pages "
                    "(shared libraries, memory-mapped Parquet)" if anon is not None else "no /proc: heap not sampled"))
    return "\n".join(lines)


@pytest.mark.benchmark
def test_real_spx_2019_chain_backtest_prints_wall_time_and_memory() -> None:
    f = run_isolated("spx2019", repeat=3)
    if "skipped" in f:
        pytest.skip(f["skipped"])
    print("\n" + report(f))
    assert f["rows"] == 781_952
    assert f["tables_trades"] > 0


@pytest.mark.benchmark
@pytest.mark.slow
def test_spy_2006_2024_model_chain_backtest_prints_wall_time_and_memory() -> None:
    f = run_isolated("spy", repeat=1)
    print("\n" + report(f))
    assert f["tables_days"] > 4000
    assert f["tables_trades"] > 0
    if "daychains_trades" in f:
        assert f["daychains_trades"] == f["tables_trades"]
        assert f["daychains_end_equity"] == pytest.approx(f["tables_end_equity"])


@pytest.mark.benchmark
@pytest.mark.slow
def test_scaled_20m_row_chain_backtest_prints_wall_time_and_memory() -> None:
    f = run_isolated("scaled", repeat=3)
    print("\n" + report(f))
    assert f["rows"] >= SCALED_MIN_ROWS
    assert f["tables_trades"] > 0
    if "daychains_trades" in f:
        assert f["daychains_trades"] == f["tables_trades"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=SCENARIOS, action="append",
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path (best and median printed)")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # The scenarios time generating the model chain (bench_model_chain and bench_readme time
    # the on-disk cache): without a cache unless one is named, and the scaled chain's 21.6M
    # rows are never written into the user's cache. The children inherit this.
    os.environ.setdefault("RISKPILOT_CHAIN_CACHE", "off")
    if args.child:
        print(json.dumps(run_scenario(args.child, args.repeat, args.store)))
        return
    for name in args.scenario or SCENARIOS:
        print(report(run_isolated(name, 1 if name == "spy" else args.repeat)), flush=True)


if __name__ == "__main__":
    main()
