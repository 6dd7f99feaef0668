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

The package's modules, by idea: :mod:`~riskpilot.backtest.sweep.grid` (axes, windows, folds,
runs and keys), :mod:`~riskpilot.backtest.sweep.execution` (one run; in process or on Dask),
:mod:`~riskpilot.backtest.sweep.results` (the results file) and
:mod:`~riskpilot.backtest.sweep.runs` (whole sweeps, ranking, walk-forward). Every name is
importable from ``riskpilot.backtest.sweep``.

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

from riskpilot.backtest.sweep.execution import (
    RunOutcome,
    SweepExecutor,
    default_workers,
    failed_outcome,
    outcome_of,
    run_one,
)
from riskpilot.backtest.sweep.grid import (
    FLAGS,
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    PARAM_COLUMNS,
    ROW_COLUMNS,
    SELECTABLE_METRICS,
    WINDOWS,
    Fold,
    SweepError,
    SweepRun,
    WalkForward,
    Window,
    expand_grid,
    parse_axis,
    parse_walk_forward,
    parse_window,
    walk_forward_folds,
)
from riskpilot.backtest.sweep.results import ResultsFile, rows_frame
from riskpilot.backtest.sweep.runs import (
    FoldChoice,
    SweepResult,
    WalkForwardResult,
    check_metric,
    run_sweep,
    run_walk_forward,
    select_best,
    sort_rows,
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
