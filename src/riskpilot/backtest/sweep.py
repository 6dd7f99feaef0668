"""Parameter sweeps, stress windows and walk-forward validation of ``riskpilot backtest run``,
executed on Dask (a LocalCluster by default, an existing cluster by address, or in process).

Grid
----
Every field of :class:`~riskpilot.backtest.runner.BacktestSpec` (every ``backtest run`` flag)
is an *axis*: one value, a comma list (``25,35,50,65``) or, for numbers, an inclusive range
``LO:HI:STEP`` (:func:`parse_axis`). The runs are the cartesian product of the axes, in the
order the axes are given, the last axis varying fastest (:func:`expand_grid`).

Float ranges are computed in decimal arithmetic on the text as typed, then each value is
converted to the nearest float once: ``0.05:0.20:0.05`` gives exactly the floats of
``0.05,0.1,0.15,0.2`` (no ``0.15000000000000002``), and HI is included only when it lies on
the grid (``0.05:0.18:0.05`` stops at 0.15). Integer flags (``min_dte``...) take integer ranges.

Runs and their keys
-------------------
A :class:`SweepRun` is one combination: its flag values, the stress window it belongs to,
and, in a walk-forward, its fold and span. Its :attr:`SweepRun.key` is a stable hash of all of
that (and of the YAML configuration's bytes when ``config`` is set), so an interrupted sweep
resumed from its results file re-runs only the keys not yet recorded there.

Each run is :func:`run_one`: it builds the spec, calls :func:`riskpilot.backtest.runner.run_spec`
with the process's :func:`~riskpilot.backtest.runner.process_chain_cache`, and turns the
outcome into a result row (:data:`PARAM_COLUMNS`, :data:`METRIC_COLUMNS`, status and error).
Any exception of a run becomes a row with ``status="failed"`` and its error text; it never
ends the sweep. The generated model-chain years, the bundled history, opened chain stores and
the VIX/regime inputs are cached per process (see :mod:`riskpilot.backtest.runner`), so each
Dask worker loads them once and reuses them for every run it is given. Runs are submitted
grouped by ticker so that a worker tends to stay on one ticker's chain.

Windows
-------
:data:`WINDOWS` holds the named stress windows; each spans the S&P 500's closing peak before
the stress to its closing trough (both read from the bundled SPX closes,
``riskpilot/data/bundled/spx_daily.parquet``, and checked by the tests):

==================  ==========  ==========  =================================================
name                start       end         what
==================  ==========  ==========  =================================================
gfc-2008            2007-10-09  2009-03-09  global financial crisis: 1565.15 -> 676.53 (-56.8%)
volmageddon-2018    2018-01-26  2018-02-08  VIX spike of 2018-02-05 (XIV terminated): -10.2%
covid-2020          2020-02-19  2020-03-23  COVID-19 crash: 3386.15 -> 2237.40 (-33.9%)
bear-2022           2022-01-03  2022-10-12  2022 rate-hike bear market: 4796.56 -> 3577.03 (-25.4%)
==================  ==========  ==========  =================================================

``START:END`` (ISO dates, inclusive) gives any other window. A window sets ``start`` and
``end`` of its runs; several windows are one more axis.

Walk-forward
------------
:func:`walk_forward_folds` cuts ``[start, end]`` into rolling folds: a training span of
``train`` (e.g. 3 years) followed by a test span of ``test`` (e.g. 1 year); the next fold starts
``test`` later. A last test span shorter than ``test`` is kept when it holds at least half of
it. :func:`run_walk_forward` runs the whole grid on every training span, then, for each fold
and each ticker (and data source), :func:`select_best` picks the run with the best value of
the chosen metric (``max_drawdown``: the lowest; ties go to the first run of the grid) **from
the training rows of that fold only**, and runs those parameters on the test span. Test spans
are submitted only after every choice is made, and a training run's data end at its span's
last day, so nothing of a test span can reach a choice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args, get_origin

import numpy as np
import pandas as pd

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.runner import (
    BacktestRun,
    BacktestSpec,
    BacktestSpecError,
    process_chain_cache,
    resolve_data,
    run_spec,
)

__all__ = [
    "FLAGS",
    "LOWER_IS_BETTER",
    "METRIC_COLUMNS",
    "PARAM_COLUMNS",
    "ROW_COLUMNS",
    "SELECTABLE_METRICS",
    "WINDOWS",
    "Fold",
    "FoldChoice",
    "ResultsFile",
    "RunOutcome",
    "SweepError",
    "SweepExecutor",
    "SweepResult",
    "SweepRun",
    "WalkForward",
    "WalkForwardResult",
    "Window",
    "check_metric",
    "default_workers",
    "expand_grid",
    "failed_outcome",
    "outcome_of",
    "parse_axis",
    "parse_walk_forward",
    "parse_window",
    "rows_frame",
    "run_one",
    "run_sweep",
    "run_walk_forward",
    "select_best",
    "sort_rows",
    "walk_forward_folds",
]


class SweepError(ValueError):
    """A sweep that cannot start: the flag or file at fault and what to do about it."""


#: Every flag of ``backtest run`` (the fields of BacktestSpec), in its order: the sweep's axes.
FLAGS: tuple[str, ...] = tuple(BacktestSpec.model_fields)

#: Result columns of the parameters: the flags, named as the fields (``profit_target``...).
PARAM_COLUMNS: tuple[str, ...] = FLAGS

#: Result columns of the metrics, named as in the backtest JSON, then facts of the run.
METRIC_COLUMNS: tuple[str, ...] = (*METRIC_KEYS, "open_at_end", "trading_days", "first_day", "last_day",
                                   "model_priced")

#: Every result column, in order. ``seconds`` (wall time of the run) is the only column that
#: differs between two executions of the same run.
ROW_COLUMNS: tuple[str, ...] = (
    "run_key", "status", "error", "window", "fold", "span", *PARAM_COLUMNS, *METRIC_COLUMNS, "seconds",
)

#: Metrics a sweep can be sorted and a walk-forward can select by.
SELECTABLE_METRICS: tuple[str, ...] = (
    "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate", "profit_factor",
    "avg_days_held", "total_return", "total_pnl", "end_equity",
)

#: Metrics where less is better (max_drawdown is a positive fraction: 0.12 = 12%).
LOWER_IS_BETTER = frozenset({"max_drawdown"})

Kind = Literal["float", "int", "date", "path", "str"]


def _field_kind(name: str) -> Kind:
    annotation = BacktestSpec.model_fields[name].annotation
    args = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) is not None else []
    base = args[0] if len(args) == 1 and get_origin(annotation) is not Literal else annotation
    if base is float:
        return "float"
    if base is int:
        return "int"
    if base is date:
        return "date"
    if base is Path:
        return "path"
    return "str"


# ---------------------------------------------------------------------------------------------
# Axes, windows, walk-forward specifications
# ---------------------------------------------------------------------------------------------


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _decimal(flag: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise SweepError(f"{flag} {text!r} is not a number") from None
    if not value.is_finite():
        raise SweepError(f"{flag} {text!r} is not a finite number")
    return value


def _scalar(name: str, text: str) -> Any:
    flag, kind, t = _flag(name), _field_kind(name), text.strip()
    if not t:
        raise SweepError(f"{flag}: an empty value in the list; write values such as 25,35,50")
    if kind == "float":
        return float(_decimal(flag, t))
    if kind == "int":
        d = _decimal(flag, t)
        if d != d.to_integral_value():
            raise SweepError(f"{flag} {t!r} is not a whole number")
        return int(d)
    if kind == "date":
        try:
            return date.fromisoformat(t)
        except ValueError:
            raise SweepError(f"{flag} {t!r} is not a date (YYYY-MM-DD)") from None
    if kind == "path":
        return Path(t)
    return t.upper() if name == "ticker" else t


def _range(name: str, text: str) -> list[Any]:
    flag, kind = _flag(name), _field_kind(name)
    parts = text.split(":")
    if kind not in ("float", "int"):
        raise SweepError(f"{flag} {text!r}: ranges LO:HI:STEP are for numeric flags; list the values with commas")
    if len(parts) != 3:
        raise SweepError(f"{flag} {text!r}: a range is LO:HI:STEP (such as 0.05:0.20:0.05)")
    lo, hi, step = (_decimal(flag, p) for p in parts)
    if step <= 0:
        raise SweepError(f"{flag} {text!r}: the step must be positive")
    if lo > hi:
        raise SweepError(f"{flag} {text!r}: LO is above HI; write the range low to high")
    if kind == "int" and any(x != x.to_integral_value() for x in (lo, hi, step)):
        raise SweepError(f"{flag} {text!r}: {flag} takes whole numbers, so LO, HI and STEP must be whole")
    count = int((hi - lo) / step) + 1
    if count > 10_000:
        raise SweepError(f"{flag} {text!r}: {count} values; choose a larger step")
    values = [lo + k * step for k in range(count)]
    return [int(v) if kind == "int" else float(v) for v in values]


def parse_axis(name: str, text: str) -> tuple[Any, ...]:
    """The values of flag ``name`` (a BacktestSpec field) given as ``text``: one value, a comma
    list, or (numeric flags) ranges ``LO:HI:STEP``, inclusive of HI when HI is on the grid
    (see the module docstring for float handling). Items may mix: ``10,20:40:10`` is
    10, 20, 30, 40. Repeated values are kept once, first occurrence first."""
    if name not in BacktestSpec.model_fields:
        raise SweepError(f"unknown flag {_flag(name)}; the flags are those of `riskpilot backtest run`")
    if not text.strip():
        raise SweepError(f"{_flag(name)}: no value given")
    values: list[Any] = []
    for item in text.split(","):
        if ":" in item and _field_kind(name) in ("float", "int"):
            values.extend(_range(name, item))
        else:
            values.append(_scalar(name, item))
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True, slots=True)
class Window:
    """A span of dates (inclusive) runs are restricted to; ``name`` is the preset's or ``START:END``."""

    name: str
    start: date
    end: date
    description: str = ""


#: Named stress windows (see the module docstring for their source).
WINDOWS: dict[str, Window] = {
    w.name: w for w in (
        Window("gfc-2008", date(2007, 10, 9), date(2009, 3, 9),
               "global financial crisis: S&P 500 closing peak 1565.15 to trough 676.53"),
        Window("volmageddon-2018", date(2018, 1, 26), date(2018, 2, 8),
               "Volmageddon: S&P 500 closing peak 2872.87 to 2581.00, VIX spike of 2018-02-05"),
        Window("covid-2020", date(2020, 2, 19), date(2020, 3, 23),
               "COVID-19 crash: S&P 500 closing peak 3386.15 to trough 2237.40"),
        Window("bear-2022", date(2022, 1, 3), date(2022, 10, 12),
               "2022 bear market: S&P 500 closing peak 4796.56 to trough 3577.03"),
    )
}


def parse_window(text: str) -> Window:
    """A preset name of :data:`WINDOWS` or ``START:END`` (ISO dates, inclusive)."""
    t = text.strip()
    if t in WINDOWS:
        return WINDOWS[t]
    if ":" in t:
        a, _, b = t.partition(":")
        try:
            start, end = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        except ValueError:
            raise SweepError(f"--window {text!r}: write START:END as ISO dates (2020-01-01:2020-12-31)") from None
        if start > end:
            raise SweepError(f"--window {text!r}: START is after END")
        return Window(f"{start}:{end}", start, end)
    raise SweepError(f"--window {text!r}: unknown window; use one of {', '.join(WINDOWS)} or START:END "
                     f"(2020-01-01:2020-12-31)")


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Rolling walk-forward: ``train`` and ``test`` lengths as ``(years, months, days)``."""

    train: tuple[int, int, int]
    test: tuple[int, int, int]
    text: str = ""


_LENGTH = re.compile(r"^\s*(\d+)\s*([ymd])\s*$")


def _length(part: str, text: str) -> tuple[int, int, int]:
    m = _LENGTH.match(part)
    if m is None or int(m.group(1)) <= 0:
        raise SweepError(f"--walk-forward {text!r}: {part!r} is not a length such as 3y, 18m or 90d")
    n, unit = int(m.group(1)), m.group(2)
    return (n, 0, 0) if unit == "y" else (0, n, 0) if unit == "m" else (0, 0, n)


def parse_walk_forward(text: str) -> WalkForward:
    """``train=3y,test=1y`` (lengths in y, m or d)."""
    parts: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in ("train", "test"):
            raise SweepError(f"--walk-forward {text!r}: write train=LENGTH,test=LENGTH (train=3y,test=1y)")
        parts[key.strip()] = value
    if set(parts) != {"train", "test"}:
        raise SweepError(f"--walk-forward {text!r}: give both train= and test= (train=3y,test=1y)")
    return WalkForward(_length(parts["train"], text), _length(parts["test"], text), text.strip())


def _add(d: date, length: tuple[int, int, int]) -> date:
    years, months, days = length
    ts = pd.Timestamp(d) + pd.DateOffset(years=years, months=months, days=days)
    return ts.date()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold; every bound inclusive."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


def walk_forward_folds(start: date, end: date, wf: WalkForward) -> list[Fold]:
    """Rolling folds over ``[start, end]``: train ``[s, s+train)``, test ``[s+train, s+train+test)``,
    then ``s += test``. A last, shorter test span is kept if it holds at least half of ``test``
    (in calendar days). Raises :class:`SweepError` when not one fold fits."""
    folds: list[Fold] = []
    s = start
    while True:
        test_start = _add(s, wf.train)
        full_end = _add(test_start, wf.test) - timedelta(days=1)
        if test_start > end:
            break
        test_end = min(full_end, end)
        if test_end < full_end and (test_end - test_start).days + 1 < ((full_end - test_start).days + 1) / 2:
            break
        folds.append(Fold(len(folds), s, test_start - timedelta(days=1), test_start, test_end))
        s = _add(s, wf.test)
    if not folds:
        raise SweepError(f"--walk-forward {wf.text}: {start} .. {end} is too short for one training span and "
                         f"half a test span; widen --start/--end or shorten train/test")
    return folds


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    if isinstance(v, date | Path):
        return str(v)
    return v


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One combination: the flag values (every flag, defaults filled in), the window name it
    belongs to, and its walk-forward fold and span (``train``/``test``) if any."""

    params: tuple[tuple[str, Any], ...]
    window: str | None = None
    fold: int | None = None
    span: Literal["train", "test"] | None = None
    config_digest: str | None = None
    # The key, computed on first use (not part of equality, hashing or repr).
    _key: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def key(self) -> str:
        """A stable 16-hex-digit key from everything that defines the run."""
        if self._key is not None:
            return self._key
        doc = {
            "params": {k: _jsonable(v) for k, v in self.params},
            "window": self.window, "fold": self.fold, "span": self.span, "config": self.config_digest,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        object.__setattr__(self, "_key", key)
        return key

    def spec(self) -> BacktestSpec:
        return BacktestSpec.parse(**self.param_dict)

    def with_dates(self, start: date, end: date, *, window: str | None = None, fold: int | None = None,
                   span: Literal["train", "test"] | None = None) -> SweepRun:
        params = {**self.param_dict, "start": start, "end": end}
        return SweepRun(tuple(params.items()), window if window is not None else self.window, fold, span,
                        self.config_digest)


def _defaults() -> dict[str, Any]:
    return {name: f.default for name, f in BacktestSpec.model_fields.items()}


def _config_digest(path: Any) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    if not p.is_file():
        return None  # the run fails with the runner's own message naming --config
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def expand_grid(axes: Mapping[str, Sequence[Any]], windows: Sequence[Window] = ()) -> list[SweepRun]:
    """The cartesian product of ``axes`` (flag -> values, in the order given, the last axis
    varying fastest) and, when given, of ``windows`` (outermost), as runs with every other
    flag at its ``backtest run`` default. A window sets ``start`` and ``end``, so it cannot be
    combined with a ``start`` or ``end`` axis. Combinations that make no valid spec (say
    ``min_delta`` above ``max_delta``) are kept: they become failed rows naming the problem."""
    for name, values in axes.items():
        if name not in BacktestSpec.model_fields:
            raise SweepError(f"unknown flag {_flag(name)}; the flags are those of `riskpilot backtest run`")
        if not values:
            raise SweepError(f"{_flag(name)}: no value given")
    if windows and ({"start", "end"} & set(axes)):
        raise SweepError("--window sets --start and --end; give one or the other")
    names = list(axes)
    combos = list(itertools.product(*(axes[n] for n in names)))
    runs: list[SweepRun] = []
    window_list: list[Window | None] = list(windows) or [None]
    digests: dict[Any, str | None] = {}  # each --config file is read and hashed once
    for window in window_list:
        for combo in combos:
            params = _defaults() | dict(zip(names, combo, strict=True))
            if window is not None:
                params |= {"start": window.start, "end": window.end}
            config = params["config"]
            if config not in digests:
                digests[config] = _config_digest(config)
            runs.append(SweepRun(tuple(params.items()), window.name if window else None, None, None,
                                 digests[config]))
    seen: set[str] = set()
    unique = []
    for r in runs:
        if r.key not in seen:
            seen.add(r.key)
            unique.append(r)
    return unique


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

        from distributed import Client, LocalCluster

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


# ---------------------------------------------------------------------------------------------
# Results file: incremental CSV (resumable) + Parquet copies
# ---------------------------------------------------------------------------------------------


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


class ResultsFile:
    """The sweep's results: ``FILE.csv`` (one row per run, :data:`ROW_COLUMNS`), its Parquet copy
    ``FILE.parquet``, and the equity curves ``FILE.equity.csv`` / ``FILE.equity.parquet``
    (``run_key, date, equity``). Rows are appended (and flushed) as runs finish, the curve
    before its row, so a killed sweep leaves every finished run on disk; :meth:`load`
    reads them back, dropping a torn last line."""

    def __init__(self, path: Path) -> None:
        if path.suffix.lower() != ".csv":
            raise SweepError(f"--out {path}: name a .csv file (the Parquet copy is written beside it)")
        self.path = path
        self.parquet = path.with_suffix(".parquet")
        self.equity_path = path.with_suffix(".equity.csv")
        self.equity_parquet = path.with_suffix(".equity.parquet")

    def exists(self) -> bool:
        return self.path.exists()

    def check_resume(self, resume: bool) -> None:
        """Refuse to start over an existing results file unless ``resume`` is asked for."""
        if self.exists() and not resume:
            raise SweepError(f"--out {self.path} exists: pass --resume to finish that sweep (finished runs are "
                             f"kept), or choose another --out, or remove the file")

    @staticmethod
    def _read_lines(path: Path) -> list[list[str]]:
        import csv
        import io

        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a torn last line (the sweep was killed mid-write)
        return list(csv.reader(io.StringIO(text)))

    def load(self) -> tuple[list[dict[str, str]], dict[str, list[tuple[date, float]]]]:
        """The complete rows recorded (as text) and the curves of the ``ok`` ones."""
        lines = self._read_lines(self.path)
        if not lines:
            return [], {}
        header = lines[0]
        if tuple(header) != ROW_COLUMNS:
            raise SweepError(f"--out {self.path}: not a results file of this version of the sweep (its columns "
                             f"differ); choose another --out or remove it")
        rows = [dict(zip(header, line, strict=True)) for line in lines[1:] if len(line) == len(header)]
        ok = {r["run_key"] for r in rows if r["status"] == "ok"}
        curves: dict[str, list[tuple[date, float]]] = {}
        for line in self._read_lines(self.equity_path)[1:]:
            if len(line) == 3 and line[0] in ok:
                curves.setdefault(line[0], []).append((date.fromisoformat(line[1]), float(line[2])))
        return rows, curves

    def start(self, kept: Sequence[RunOutcome]) -> None:
        """Rewrite the files with the ``kept`` outcomes only; later ones are appended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8", newline="") as f:
            f.write(",".join(ROW_COLUMNS) + "\n")
        with self.equity_path.open("w", encoding="utf-8", newline="") as f:
            f.write("run_key,date,equity\n")
        for o in kept:
            self.append(o)

    def append(self, outcome: RunOutcome) -> None:
        import csv

        if outcome.curve:
            with self.equity_path.open("a", encoding="utf-8", newline="") as f:
                f.writelines(f"{outcome.key},{d.isoformat()},{float(e)!r}\n" for d, e in outcome.curve)
                f.flush()
        with self.path.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([_csv_value(outcome.row[c]) for c in ROW_COLUMNS])
            f.flush()

    def finish(self, outcomes: Sequence[RunOutcome]) -> None:
        """Write the final files: every outcome in order (CSV and Parquet), and the curves."""
        self.start(outcomes)
        frame = rows_frame([o.row for o in outcomes])
        frame.to_parquet(self.parquet, index=False)
        curves = [(o.key, d, e) for o in outcomes for d, e in o.curve]
        pd.DataFrame(curves, columns=["run_key", "date", "equity"]).astype(
            {"date": "datetime64[ns]"}).to_parquet(self.equity_parquet, index=False)


def _as_date(v: Any) -> date | None:
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Result rows as a DataFrame with :data:`ROW_COLUMNS` and stable dtypes."""
    frame = pd.DataFrame(list(rows), columns=list(ROW_COLUMNS))
    for name in (*METRIC_KEYS, "seconds"):
        if name != "trade_count":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in ("trade_count", "open_at_end", "trading_days", "fold"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    for name in PARAM_COLUMNS:
        kind = _field_kind(name)
        if kind == "float":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "int":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif kind == "date":
            frame[name] = frame[name].map(_as_date)
        else:
            frame[name] = frame[name].map(lambda v: None if v is None or v == "" else str(v)).astype("string")
    for name in ("first_day", "last_day"):
        frame[name] = frame[name].map(_as_date)
    for name in ("run_key", "status", "error", "window", "span"):
        frame[name] = frame[name].map(lambda v: None if v is None or v == "" else str(v)).astype("string")
    frame["model_priced"] = frame["model_priced"].map(
        lambda v: None if v is None or v == "" else v in (True, "True")).astype("boolean")
    return frame


def _typed(name: str, text: str) -> Any:
    """A CSV cell back to the value :func:`run_one` wrote."""
    if text == "":
        return None
    if name in PARAM_COLUMNS:
        kind = _field_kind(name)
        return {"float": float, "int": int, "date": date.fromisoformat}.get(kind, str)(text)  # type: ignore[operator]
    if name in ("trade_count", "open_at_end", "trading_days", "fold"):
        return int(text)
    if name in (*METRIC_KEYS, "seconds"):
        return float(text)
    if name in ("first_day", "last_day"):
        return date.fromisoformat(text)
    if name == "model_priced":
        return text == "True"
    return text


def _outcome_from_text(row: Mapping[str, str], curve: list[tuple[date, float]]) -> RunOutcome:
    return RunOutcome({c: _typed(c, row[c]) for c in ROW_COLUMNS}, curve)


# ---------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SweepResult:
    """The outcomes in grid order, and how many were taken from the results file."""

    outcomes: list[RunOutcome]
    resumed: int = 0
    extra: list[RunOutcome] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [o.row for o in self.outcomes]

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def frame(self) -> pd.DataFrame:
        return rows_frame(self.rows)


def _prior(results: ResultsFile | None, resume: bool) -> dict[str, RunOutcome]:
    if results is None:
        return {}
    results.check_resume(resume)
    if not resume or not results.exists():
        return {}
    rows, curves = results.load()
    prior: dict[str, RunOutcome] = {}
    for row in rows:
        if row["status"] == "ok":  # failed runs are tried again
            prior[row["run_key"]] = _outcome_from_text(row, curves.get(row["run_key"], []))
    return prior


def run_sweep(runs: Sequence[SweepRun], executor: SweepExecutor, *, results: ResultsFile | None = None,
              resume: bool = False, on_done: Callable[[RunOutcome], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run ``runs`` (skipping, with ``resume``, those already ``ok`` in ``results``), append
    each outcome to ``results`` as it arrives, and write the final files. ``on_start(runs,
    already_done)`` is called once before the first run (counts to add to a progress total);
    ``on_done`` after each new outcome.
    The executor must be entered (``with executor:``)."""
    prior = _prior(results, resume)
    keys = {r.key for r in runs}
    kept = [o for k, o in prior.items() if k in keys]
    extra = [o for k, o in prior.items() if k not in keys]
    todo = [r for r in runs if r.key not in prior]
    if results is not None:
        results.start([*kept, *extra])
    if on_start is not None:
        on_start(len(runs), len(kept))

    def done(o: RunOutcome) -> None:
        if results is not None:
            results.append(o)
        if on_done is not None:
            on_done(o)

    new = {o.key: o for o in executor.map(todo, done)}
    outcomes = [prior[r.key] if r.key in prior else new[r.key] for r in runs]
    if results is not None:
        results.finish([*outcomes, *extra])
    return SweepResult(outcomes, len(kept), extra)


# ---------------------------------------------------------------------------------------------
# Ranking and walk-forward
# ---------------------------------------------------------------------------------------------


def check_metric(metric: str, flag: str) -> None:
    """Refuse a ``metric`` (given with ``flag``) that is not one of :data:`SELECTABLE_METRICS`."""
    if metric not in SELECTABLE_METRICS:
        raise SweepError(f"{flag} {metric!r}: not a metric; choose one of {', '.join(SELECTABLE_METRICS)}")


def sort_rows(rows: Iterable[Mapping[str, Any]], metric: str) -> list[Mapping[str, Any]]:
    """Best first by ``metric`` (lowest first for :data:`LOWER_IS_BETTER`); rows where it is
    undefined, and failed rows, last; ties keep their order."""
    check_metric(metric, "--sort")
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    rows = list(rows)

    def key(r: Mapping[str, Any]) -> tuple[int, float]:
        v = r.get(metric)
        if r.get("status") != "ok" or v is None or (isinstance(v, float) and math.isnan(v)):
            return (1, 0.0)
        return (0, sign * float(v))

    return sorted(rows, key=key)


def select_best(train: Sequence[RunOutcome], metric: str) -> RunOutcome | None:
    """The training outcome with the best ``metric`` (None when no run has it defined). It
    sees only what it is given: pass the rows of one fold's training span."""
    ranked = sort_rows([o.row for o in train], metric)
    if not ranked or ranked[0].get("status") != "ok" or ranked[0].get(metric) is None:
        return None
    best_key = ranked[0]["run_key"]
    return next(o for o in train if o.key == best_key)


@dataclass(slots=True)
class FoldChoice:
    """A fold's choice for one ticker/data group: the training outcome chosen and its test run."""

    fold: Fold
    ticker: str
    data: str | None
    chosen: RunOutcome | None
    test: RunOutcome | None
    candidates: int


@dataclass(slots=True)
class WalkForwardResult:
    metric: str
    folds: dict[tuple[str, str | None], list[Fold]]
    choices: list[FoldChoice]
    outcomes: list[RunOutcome]
    swept: tuple[str, ...]
    resumed: int = 0

    def summary(self) -> pd.DataFrame:
        """One row per fold and ticker: the spans, the chosen parameters, and every metric in
        sample (``is_<metric>``) and out of sample (``oos_<metric>``)."""
        records = []
        for c in self.choices:
            rec: dict[str, Any] = {
                "fold": c.fold.index, "ticker": c.ticker, "data": c.data,
                "train_start": c.fold.train_start, "train_end": c.fold.train_end,
                "test_start": c.fold.test_start, "test_end": c.fold.test_end,
                "select_by": self.metric, "candidates": c.candidates,
            }
            for name in self.swept:
                rec[name] = c.chosen.row[name] if c.chosen else None
            for name in METRIC_KEYS[:9]:
                rec[f"is_{name}"] = c.chosen.row[name] if c.chosen else None
                rec[f"oos_{name}"] = c.test.row[name] if c.test else None
            rec["test_status"] = c.test.row["status"] if c.test else "no choice"
            rec["test_error"] = c.test.row["error"] if c.test else None
            records.append(rec)
        return pd.DataFrame.from_records(records)


def _group(run: SweepRun) -> tuple[str, str | None]:
    p = run.param_dict
    return str(p["ticker"]).upper(), None if p["data"] is None else str(p["data"])


def _span_of(run: SweepRun) -> tuple[date, date]:
    spec = run.spec()
    _source, trade_from, end = resolve_data(spec)
    return trade_from, end


def run_walk_forward(grid: Sequence[SweepRun], wf: WalkForward, metric: str, executor: SweepExecutor, *,
                     swept: Sequence[str] = (), results: ResultsFile | None = None, resume: bool = False,
                     on_done: Callable[[RunOutcome], None] | None = None,
                     on_start: Callable[[int, int], None] | None = None) -> WalkForwardResult:
    """Walk-forward over ``grid`` (runs whose ``start``/``end`` give the whole span, or the data's
    span when unset): every run on each fold's training span; per fold and ticker/data group,
    :func:`select_best` on that fold's training outcomes alone; then the chosen parameters on
    the test span. ``swept`` names the flags that vary (shown in the summary)."""
    check_metric(metric, "--select-by")
    folds: dict[tuple[str, str | None], list[Fold]] = {}
    train_runs: list[SweepRun] = []
    for run in grid:
        group = _group(run)
        if group not in folds:
            try:
                start, end = _span_of(run)
            except BacktestSpecError as exc:
                raise SweepError(f"walk-forward on {group[0]}: {exc}") from None
            folds[group] = walk_forward_folds(start, end, wf)
        for f in folds[group]:
            train_runs.append(run.with_dates(f.train_start, f.train_end, fold=f.index, span="train"))
    # Two phases; the progress total counts the test runs (one per fold and group) up front.
    n_test = sum(len(v) for v in folds.values())
    if on_start is not None:
        on_start(n_test, 0)
    train = run_sweep(train_runs, executor, results=results, resume=resume, on_done=on_done, on_start=on_start)
    by_fold: dict[tuple[tuple[str, str | None], int], list[RunOutcome]] = {}
    for run, o in zip(train_runs, train.outcomes, strict=True):
        by_fold.setdefault((_group(run), o.row["fold"]), []).append(o)
    choices: list[FoldChoice] = []
    test_runs: list[SweepRun] = []
    chosen_run: dict[int, SweepRun] = {}
    train_by_key = {r.key: r for r in train_runs}
    for (group, fold_index), outcomes in by_fold.items():
        fold = folds[group][fold_index]
        chosen = select_best(outcomes, metric)
        choices.append(FoldChoice(fold, group[0], group[1], chosen, None, len(outcomes)))
        if chosen is not None:
            t = train_by_key[chosen.key].with_dates(fold.test_start, fold.test_end, fold=fold.index, span="test")
            test_runs.append(t)
            chosen_run[len(choices) - 1] = t

    def test_start(total: int, already: int) -> None:
        if on_start is not None:  # the test runs were announced before the training runs
            on_start(total - n_test, already)

    # The test phase continues the same results file: the training rows just written are kept.
    test = run_sweep(test_runs, executor, results=results, resume=results is not None, on_done=on_done,
                     on_start=test_start)
    test_by_key = {o.key: o for o in test.outcomes}
    for i, t in chosen_run.items():
        choices[i].test = test_by_key[t.key]
    return WalkForwardResult(metric, folds, choices, [*train.outcomes, *test.outcomes], tuple(swept),
                             train.resumed + test.resumed)
