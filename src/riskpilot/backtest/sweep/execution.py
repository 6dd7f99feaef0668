"""Running a sweep's runs: one run to its result row (:func:`run_one`), in this process or on a
Dask cluster (:class:`SweepExecutor`)."""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.runner import (
    BacktestRun,
    BacktestSpecError,
    process_chain_cache,
    run_spec,
)
from riskpilot.backtest.sweep.grid import (
    ROW_COLUMNS,
    SweepError,
    SweepRun,
    _jsonable,
)


@dataclass(slots=True)
class RunOutcome:
    """A run's result row (:data:`ROW_COLUMNS`) and, when it succeeded, its equity curve
    (one ``(date, dollars)`` per trading day)."""

    row: dict[str, Any]
    curve: list[tuple[date, float]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.row["run_key"])

    @property
    def ok(self) -> bool:
        return bool(self.row["status"] == "ok")


def _finite(x: Any) -> Any:
    if isinstance(x, bool | int | np.integer) and not isinstance(x, float):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x


def _base_row(run: SweepRun) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row |= {"run_key": run.key, "window": run.window, "fold": run.fold, "span": run.span}
    for name, value in run.params:
        row[name] = _jsonable(value) if isinstance(value, Path) else value
    return row


def failed_outcome(run: SweepRun, error: str, seconds: float = 0.0) -> RunOutcome:
    """The row of a run that did not finish, with its parameters and ``error``."""
    row = _base_row(run) | {"status": "failed", "error": error, "seconds": seconds}
    return RunOutcome(row)


def outcome_of(run: SweepRun, bt: BacktestRun) -> RunOutcome:
    """The row of a finished backtest ``bt`` of ``run``."""
    m = bt.metrics
    row = _base_row(run) | {"status": "ok", "error": None, "seconds": round(bt.seconds, 3)}
    for name in METRIC_KEYS:
        row[name] = _finite(getattr(m, name))
    row |= {
        "open_at_end": len(bt.result.open_positions),
        "trading_days": len(bt.result.dates),
        "first_day": bt.result.dates[0],
        "last_day": bt.result.dates[-1],
        "model_priced": bt.model_priced,
    }
    for rule, a in bt.result.exit_attribution().items():
        if f"edge_vs_expiration.{rule}" in row:  # rules; settlement reasons are their own path
            row[f"edge_vs_expiration.{rule}"] = _finite(a.edge_vs_expiration)
            row[f"edge_vs_next_rule.{rule}"] = _finite(a.edge_vs_next_rule)
    return RunOutcome(row, [(d, float(e)) for d, e in zip(bt.result.dates, bt.result.equity, strict=True)])


# The chain cache is not thread safe and the engine holds the GIL, so runs sharing a process
# (a Dask worker with several threads) take turns; give workers one thread each.
_RUN_LOCK = threading.Lock()


def run_one(run: SweepRun) -> RunOutcome:
    """Run ``run`` with this process's shared chain cache; any error becomes a failed row
    (``"<ErrorType>: <message>"``, with the last frame for an unexpected exception)."""
    t0 = time.perf_counter()
    try:
        spec = run.spec()
        with _RUN_LOCK:
            bt = run_spec(spec, cache=process_chain_cache())
        return outcome_of(run, bt)
    except BacktestSpecError as exc:
        return failed_outcome(run, f"BacktestSpecError: {exc}", time.perf_counter() - t0)
    except Exception as exc:  # isolate the run: its row carries the error, the sweep goes on
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        return failed_outcome(run, f"{type(exc).__name__}: {exc}{at}", time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


def default_workers() -> int:
    """Worker processes for a LocalCluster on this machine: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class SweepExecutor:
    """Where runs execute. ``workers=0``: in this process, one after another (debugging).
    ``scheduler="tcp://HOST:PORT"``: on that existing Dask cluster (its workers need riskpilot
    installed, and the data paths must exist on them). Otherwise a LocalCluster of ``workers``
    processes (default: :func:`default_workers`) with one thread each, started on enter and
    closed on exit. Use as a context manager."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        if workers is not None and workers < 0:
            raise SweepError(f"--workers {workers}: give 0 (in process) or a positive number of processes")
        if scheduler is not None and workers is not None:
            raise SweepError("--scheduler sends the sweep to an existing cluster, whose workers are its own; "
                             "drop --workers (or drop --scheduler for a local cluster)")
        self.scheduler = scheduler
        self.workers = default_workers() if workers is None and scheduler is None else workers
        self._client: Any = None
        self._cluster: Any = None

    @property
    def in_process(self) -> bool:
        return self.scheduler is None and self.workers == 0

    def describe(self) -> str:
        if self.in_process:
            return "in process"
        if self.scheduler is not None:
            return f"Dask cluster at {self.scheduler}"
        return f"local Dask cluster, {self.workers} worker process{'es' if self.workers != 1 else ''}"

    def __enter__(self) -> SweepExecutor:
        if self.in_process:
            return self
        import logging

        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError("a sweep on a Dask cluster needs Dask: pip install 'riskpilot[sweep]' "
                             "(or run it in this process with --in-process)") from None

        if self.scheduler is not None:
            try:
                self._client = Client(self.scheduler, timeout="20s")  # type: ignore[no-untyped-call]
            except OSError as exc:
                raise SweepError(f"--scheduler {self.scheduler}: cannot reach the Dask scheduler ({exc}); "
                                 f"check the address or leave --scheduler (and RISKPILOT_DASK_SCHEDULER) "
                                 f"unset for a local cluster") from None
        else:
            self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR)
            self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the processes that run the runs: this one in process, else
        every worker's (a benchmark's measure that other work on the machine does not inflate)."""
        if self.in_process:
            return time.process_time()
        if self._client is None:
            raise RuntimeError("SweepExecutor.cpu_seconds on a Dask cluster needs `with SweepExecutor(...) as ex:`")
        per_worker = self._client.run(time.process_time)
        return float(sum(per_worker.values()))

    def map(self, runs: Sequence[SweepRun], on_done: Callable[[RunOutcome], None] | None = None) -> list[RunOutcome]:
        """Run every run; ``on_done`` is called with each outcome as it arrives (in completion
        order). Returns the outcomes in the order of ``runs``."""
        done: dict[str, RunOutcome] = {}

        def record(o: RunOutcome) -> None:
            done[o.key] = o
            if on_done is not None:
                on_done(o)

        if self.in_process:
            for r in runs:
                record(run_one(r))
        else:
            self._map_dask(runs, record)
        return [done[r.key] for r in runs]

    def _map_dask(self, runs: Sequence[SweepRun], record: Callable[[RunOutcome], None]) -> None:
        from distributed import as_completed

        if self._client is None:
            raise RuntimeError("SweepExecutor.map on a Dask cluster needs `with SweepExecutor(...) as ex:`")
        by_key = {r.key: r for r in runs}
        # Grouped by data so a worker's cached chain years serve many runs in a row.
        ordered = sorted(runs, key=lambda r: (str(r.param_dict.get("data")), str(r.param_dict.get("ticker"))))
        futures = [self._client.submit(run_one, r, key=f"riskpilot-run-{r.key}", pure=False) for r in ordered]
        try:
            for fut in as_completed(futures):  # type: ignore[no-untyped-call]
                key = str(fut.key).removeprefix("riskpilot-run-")
                if fut.status == "error":
                    # The worker itself failed (died, out of memory...): run_one never returned.
                    exc = fut.exception()
                    record(failed_outcome(by_key[key], f"{type(exc).__name__} on the Dask worker: {exc}"))
                else:
                    record(fut.result())
                fut.release()
        except BaseException:
            self._client.cancel(futures)
            raise
