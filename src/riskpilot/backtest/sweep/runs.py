"""Running a whole sweep (resumable), ranking its rows, and walk-forward validation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.runner import (
    BacktestSpecError,
    resolve_data,
)
from riskpilot.backtest.sweep.execution import (
    RunOutcome,
    SweepExecutor,
)
from riskpilot.backtest.sweep.grid import (
    LOWER_IS_BETTER,
    SELECTABLE_METRICS,
    Fold,
    SweepError,
    SweepRun,
    WalkForward,
    walk_forward_folds,
)
from riskpilot.backtest.sweep.results import (
    ResultsFile,
    _outcome_from_text,
    rows_frame,
)


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
        plain = [m for m in SELECTABLE_METRICS if "." not in m]
        raise SweepError(f"{flag} {metric!r}: not a metric; choose one of {', '.join(plain)}, or a rule's exit "
                         f"attribution as edge_vs_expiration.RULE or edge_vs_next_rule.RULE (e.g. "
                         f"edge_vs_next_rule.stop_loss)")


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
