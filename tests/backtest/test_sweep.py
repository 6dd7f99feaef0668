"""Parameter sweeps: grids from lists and ranges, the same rows one by one, in process and on a
2-worker LocalCluster, resume after an interruption, failed runs isolated, stress windows, and
a walk-forward whose choices cannot see test-span data."""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.runner import BacktestSpec, run_spec
from riskpilot.backtest.sweep import (
    FLAGS,
    ROW_COLUMNS,
    WINDOWS,
    ResultsFile,
    RunOutcome,
    SweepError,
    SweepExecutor,
    WalkForward,
    expand_grid,
    parse_axis,
    parse_walk_forward,
    parse_window,
    run_sweep,
    run_walk_forward,
    select_best,
    walk_forward_folds,
)
from riskpilot.cli import app
from riskpilot.cli.sweep import SWEEP_FLAGS
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore

SHORT = {"start": (date(2020, 1, 2),), "end": (date(2020, 2, 28),)}
GRID = {"ticker": ("SPY",), **SHORT, "profit_target": (35.0, 50.0), "stop_loss": (100.0, 200.0)}


def _same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without ``seconds``, the one column that differs between executions."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ------------------------------------------------------------------------------------ axes


def test_a_float_range_is_decimal_exact_and_includes_the_end_only_on_the_grid() -> None:
    assert parse_axis("min_delta", "0.05:0.20:0.05") == (0.05, 0.1, 0.15, 0.2)
    assert parse_axis("min_delta", "0.05:0.18:0.05") == (0.05, 0.1, 0.15)
    assert parse_axis("profit_target", "25,35,50,65") == (25.0, 35.0, 50.0, 65.0)
    assert parse_axis("profit_target", "10,20:40:10,20") == (10.0, 20.0, 30.0, 40.0)  # duplicates kept once
    assert parse_axis("min_dte", "30:45:5") == (30, 35, 40, 45)
    assert parse_axis("ticker", "spy, qqq") == ("SPY", "QQQ")
    assert parse_axis("start", "2020-01-02") == (date(2020, 1, 2),)


@given(lo=st.integers(0, 5000), step=st.integers(1, 500), n=st.integers(0, 30), off_grid=st.booleans())
def test_a_range_holds_every_grid_point_as_typed_and_never_passes_hi(lo: int, step: int, n: int,
                                                                       off_grid: bool) -> None:
    lo_d, step_d = Decimal(lo) / 1000, Decimal(step) / 1000
    hi_d = lo_d + n * step_d + (step_d / 2 if off_grid else 0)
    values = parse_axis("profit_target", f"{lo_d}:{hi_d}:{step_d}")
    assert values == tuple(float(Decimal(str(lo_d + k * step_d))) for k in range(n + 1))
    assert values[-1] <= float(hi_d) and (off_grid or values[-1] == float(hi_d))


@pytest.mark.parametrize(("flag", "text", "message"), [
    ("profit_target", "abc", r"--profit-target 'abc' is not a number"),
    ("min_delta", "0.2:0.1:0.05", r"LO is above HI"),
    ("min_delta", "0.1:0.2:0", r"the step must be positive"),
    ("min_dte", "30:45:2.5", r"--min-dte takes whole numbers"),
    ("ticker", "SPY:QQQ", r"SPY:QQQ"),  # not numeric: a value, refused later as a ticker
    ("start", "2020-13-01", r"--start '2020-13-01' is not a date"),
    ("stop_loss", "100,,200", r"an empty value in the list"),
    ("nope", "1", r"unknown flag --nope"),
])
def test_bad_axis_values_name_the_flag(flag: str, text: str, message: str) -> None:
    if flag == "ticker":
        assert parse_axis(flag, text) == ("SPY:QQQ",)
        return
    with pytest.raises(SweepError, match=message):
        parse_axis(flag, text)


def test_the_cli_lists_every_backtest_run_flag() -> None:
    assert tuple(name for name, _ in SWEEP_FLAGS) == FLAGS == tuple(BacktestSpec.model_fields)


def test_grid_is_the_cartesian_product_last_axis_fastest_with_stable_keys() -> None:
    runs = expand_grid({"ticker": ("SPY", "QQQ"), "profit_target": (35.0, 50.0), "stop_loss": (100.0, 200.0)})
    combos = [(r.param_dict["ticker"], r.param_dict["profit_target"], r.param_dict["stop_loss"]) for r in runs]
    assert combos[:3] == [("SPY", 35.0, 100.0), ("SPY", 35.0, 200.0), ("SPY", 50.0, 100.0)] and len(combos) == 8
    again = expand_grid({"ticker": ("SPY", "QQQ"), "profit_target": (35.0, 50.0), "stop_loss": (100.0, 200.0)})
    assert [r.key for r in runs] == [r.key for r in again] and len({r.key for r in runs}) == 8
    assert runs[0].param_dict["slippage"] == "orats" and runs[0].param_dict["equity"] == 100_000.0  # defaults


# ----------------------------------------------------------------------- windows, folds


def test_window_presets_span_the_spx_closing_peak_to_its_trough() -> None:
    path = Path(__file__).parents[2] / "src/riskpilot/data/bundled/spx_daily.parquet"
    spx = pd.read_parquet(path).assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date")["close"]
    for w in WINDOWS.values():
        around = spx[pd.Timestamp(w.start) - pd.Timedelta(days=120): pd.Timestamp(w.end)]
        assert around.idxmax().date() == w.start, w.name  # the closing peak before the stress
        assert spx[pd.Timestamp(w.start): pd.Timestamp(w.end)].idxmin().date() == w.end, w.name
    assert set(WINDOWS) == {"gfc-2008", "covid-2020", "bear-2022", "volmageddon-2018"}
    custom = parse_window("2020-01-01:2020-12-31")
    assert (custom.start, custom.end) == (date(2020, 1, 1), date(2020, 12, 31))
    with pytest.raises(SweepError, match="unknown window; use one of gfc-2008"):
        parse_window("crash-1987")
    runs = expand_grid({"profit_target": (50.0,)}, [WINDOWS["covid-2020"], WINDOWS["bear-2022"]])
    assert [(r.window, r.param_dict["start"]) for r in runs] == [("covid-2020", date(2020, 2, 19)),
                                                                 ("bear-2022", date(2022, 1, 3))]
    with pytest.raises(SweepError, match="--window sets --start and --end"):
        expand_grid({"start": (date(2020, 1, 2),)}, [WINDOWS["covid-2020"]])


def test_walk_forward_folds_roll_by_the_test_length_and_never_overlap_their_test_span() -> None:
    folds = walk_forward_folds(date(2006, 1, 1), date(2010, 12, 31), parse_walk_forward("train=3y,test=1y"))
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (date(2006, 1, 1), date(2008, 12, 31), date(2009, 1, 1), date(2009, 12, 31)),
        (date(2007, 1, 1), date(2009, 12, 31), date(2010, 1, 1), date(2010, 12, 31)),
    ]
    with pytest.raises(SweepError, match="too short for one training span"):
        walk_forward_folds(date(2020, 1, 1), date(2021, 6, 1), WalkForward((3, 0, 0), (1, 0, 0), "train=3y,test=1y"))
    with pytest.raises(SweepError, match="write train=LENGTH,test=LENGTH"):
        parse_walk_forward("3y/1y")


def _outcome(key: str, sharpe: float | None, dd: float, status: str = "ok") -> RunOutcome:
    row = dict.fromkeys(ROW_COLUMNS) | {"run_key": key, "status": status, "sharpe": sharpe, "max_drawdown": dd}
    return RunOutcome(row)


def test_select_best_takes_the_metric_direction_skips_undefined_and_keeps_the_first_of_ties() -> None:
    rows = [_outcome("a", 0.5, 0.10), _outcome("b", None, 0.01), _outcome("c", 0.9, 0.30),
            _outcome("d", 0.9, 0.05), _outcome("e", 5.0, 0.00, status="failed")]
    assert select_best(rows, "sharpe").key == "c"  # type: ignore[union-attr]
    assert select_best(rows, "max_drawdown").key == "b"  # type: ignore[union-attr]
    assert select_best([_outcome("x", None, 0.1)], "sharpe") is None


# ----------------------------------------------------------------------------- running


def test_a_small_sweep_equals_the_same_runs_one_by_one(tmp_path: Path) -> None:
    runs = expand_grid(GRID)
    with SweepExecutor(workers=0) as ex:
        result = run_sweep(runs, ex, results=ResultsFile(tmp_path / "r.csv"))
    assert [o.ok for o in result.outcomes] == [True] * 4
    for run, row in zip(runs, result.rows, strict=True):
        alone = run_spec(BacktestSpec(**run.param_dict))
        m = alone.metrics
        assert {k: row[k] for k in METRIC_KEYS} == {k: getattr(m, k) for k in METRIC_KEYS}
        assert (row["profit_target"], row["stop_loss"], row["ticker"]) == (
            alone.spec.profit_target, alone.spec.stop_loss, "SPY")
        assert row["trading_days"] == len(alone.result.dates) and row["model_priced"] is True
    assert len({r["sharpe"] for r in result.rows}) > 1  # the exits matter: not four copies of one run
    # The files: CSV with every column, a Parquet copy with the same rows, equity curves beside.
    with (tmp_path / "r.csv").open() as f:
        assert tuple(next(csv.reader(f))) == ROW_COLUMNS
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert list(frame.columns) == list(ROW_COLUMNS)
    assert frame["sharpe"].tolist() == [r["sharpe"] for r in result.rows]
    curves = pd.read_parquet(tmp_path / "r.equity.parquet")
    assert len(curves) == sum(r["trading_days"] for r in result.rows)


def test_a_two_worker_local_cluster_gives_the_rows_of_in_process_and_isolates_a_failure() -> None:
    grid = GRID | {"ticker": ("SPY", "NOPE")}
    runs = expand_grid(grid)
    with SweepExecutor(workers=0) as ex:
        here = run_sweep(runs, ex).rows
    with SweepExecutor(workers=2) as ex:
        assert ex.describe() == "local Dask cluster, 2 worker processes"
        there = run_sweep(runs, ex).rows
    assert _same(here) == _same(there)
    failed = [r for r in there if r["status"] == "failed"]
    assert len(failed) == 4 and all(r["ticker"] == "NOPE" for r in failed)
    assert all("--ticker NOPE: unknown ticker" in r["error"] and r["sharpe"] is None for r in failed)
    assert sum(r["status"] == "ok" for r in there) == 4


def test_failing_runs_are_rows_with_their_parameters_and_error_and_the_rest_complete(tmp_path: Path) -> None:
    runs = expand_grid({"ticker": ("SPY",), **SHORT, "min_delta": (0.05, 0.30), "max_delta": (0.20,),
                        "config": (None, tmp_path / "missing.yaml")})
    with SweepExecutor(workers=0) as ex:
        result = run_sweep(runs, ex)
    by = {(r["min_delta"], r["config"]): r for r in result.rows}
    assert by[(0.05, None)]["status"] == "ok"
    assert "--min-delta 0.3 is above --max-delta 0.2" in by[(0.30, None)]["error"]
    assert by[(0.05, str(tmp_path / "missing.yaml"))]["status"] == "failed"
    assert "missing.yaml" in by[(0.05, str(tmp_path / "missing.yaml"))]["error"]
    assert len(result.failed) == 3


def test_resume_after_a_truncated_results_file_reruns_only_the_missing(tmp_path: Path) -> None:
    runs = expand_grid(GRID)
    out = ResultsFile(tmp_path / "r.csv")
    with SweepExecutor(workers=0) as ex:
        full = run_sweep(runs, ex, results=out)
    # A sweep killed while writing its third row: two whole rows and a torn line remain.
    lines = out.path.read_text().splitlines(keepends=True)
    out.path.write_text("".join(lines[:3]) + lines[3][:40])
    ran: list[str] = []
    with SweepExecutor(workers=0) as ex:
        with pytest.raises(SweepError, match="exists: pass --resume"):
            run_sweep(runs, ex, results=out)
        resumed = run_sweep(runs, ex, results=out, resume=True, on_done=lambda o: ran.append(o.key))
    assert ran == [r.key for r in runs[2:]] and resumed.resumed == 2
    assert _same(resumed.rows) == _same(full.rows)
    assert [o.curve for o in resumed.outcomes] == [o.curve for o in full.outcomes]  # curves kept too
    assert pd.read_parquet(out.parquet)["run_key"].tolist() == [r.key for r in runs]


def test_an_interrupted_sweep_resumes_without_rerunning_finished_runs(tmp_path: Path) -> None:
    runs = expand_grid(GRID)
    out = ResultsFile(tmp_path / "r.csv")
    seen: list[str] = []

    def interrupt_after_one(o: RunOutcome) -> None:
        seen.append(o.key)
        raise KeyboardInterrupt  # Ctrl-C right after the first run was written

    with SweepExecutor(workers=0) as ex, pytest.raises(KeyboardInterrupt):
        run_sweep(runs, ex, results=out, on_done=interrupt_after_one)
    ran: list[str] = []
    with SweepExecutor(workers=0) as ex:
        resumed = run_sweep(runs, ex, results=out, resume=True, on_done=lambda o: ran.append(o.key))
    assert seen == [runs[0].key] and ran == [r.key for r in runs[1:]]
    assert all(o.ok for o in resumed.outcomes)


# -------------------------------------------------------------------------- walk-forward


def _store(path: Path, table: pa.Table) -> Path:
    ChainStore(path).import_table(table)
    return path


def test_walk_forward_never_lets_test_span_data_into_the_choice(tmp_path: Path) -> None:
    """Two stores, equal up to the second fold's training end and different after it (quotes
    scaled by a random factor per row). Every choice made on training spans ending by then is
    the same on both, while the test results (which read the changed quotes) differ."""
    chain = generate_model_chain("SPY", date(2019, 7, 1), date(2020, 6, 30))
    clean = _store(tmp_path / "clean", chain)
    wf = parse_walk_forward("train=6m,test=3m")
    folds = walk_forward_folds(date(2019, 7, 1), date(2020, 6, 30), wf)
    assert len(folds) == 2
    cutoff = folds[1].train_end  # 2020-03-31: fold 1's test span (and nothing a choice sees) follows
    after = pc.greater(chain.column("quote_date"), pa.scalar(cutoff, pa.date32()))
    rng = np.random.default_rng(7)
    factor = pa.array(np.where(after.to_numpy(zero_copy_only=False), rng.uniform(0.5, 2.0, chain.num_rows), 1.0))
    perturbed = chain
    for name in ("bid", "ask"):
        i = perturbed.schema.get_field_index(name)
        perturbed = perturbed.set_column(i, name, pc.round(pc.multiply(perturbed.column(name), factor), 2))
    dirty = _store(tmp_path / "dirty", perturbed)

    def walk(data: Path) -> Any:
        grid = expand_grid({"ticker": ("SPY",), "data": (data,), "start": (date(2019, 7, 1),),
                            "end": (date(2020, 6, 30),), "profit_target": (25.0, 50.0, 75.0),
                            "stop_loss": (100.0, 200.0)})
        with SweepExecutor(workers=0) as ex:
            return run_walk_forward(grid, wf, "sharpe", ex, swept=("profit_target", "stop_loss"))

    a, b = walk(clean), walk(dirty)
    assert [c.fold.index for c in a.choices] == [0, 1]
    for ca, cb in zip(a.choices, b.choices, strict=True):
        assert ca.chosen is not None and cb.chosen is not None
        assert (ca.chosen.row["profit_target"], ca.chosen.row["stop_loss"]) == (
            cb.chosen.row["profit_target"], cb.chosen.row["stop_loss"])
        assert ca.chosen.row["sharpe"] == cb.chosen.row["sharpe"]  # in-sample: the very same numbers
        assert ca.chosen.row["last_day"] <= cutoff
    train_a = [{k: v for k, v in o.row.items() if k not in ("seconds", "data", "run_key")}
               for o in a.outcomes if o.row["span"] == "train"]
    train_b = [{k: v for k, v in o.row.items() if k not in ("seconds", "data", "run_key")}
               for o in b.outcomes if o.row["span"] == "train"]
    assert train_a == train_b and len(train_a) == 12
    test_a, test_b = a.choices[1].test, b.choices[1].test
    assert test_a is not None and test_b is not None and test_a.ok and test_b.ok
    assert test_a.row["total_pnl"] != test_b.row["total_pnl"]  # the perturbation reached the test span
    summary = a.summary()
    assert list(summary["fold"]) == [0, 1] and {"is_sharpe", "oos_sharpe", "profit_target"} <= set(summary.columns)


# --------------------------------------------------------------------------------- CLI


def test_cli_sweep_writes_rows_parquet_heatmap_and_a_self_contained_report(tmp_path: Path) -> None:
    out, report = tmp_path / "s.csv", tmp_path / "s.html"
    args = ["backtest", "sweep", "--ticker", "SPY", "--start", "2020-01-02", "--end", "2020-02-28",
            "--profit-target", "35,50", "--stop-loss", "100:200:100", "--in-process", "--out", str(out),
            "--report", str(report), "--sort", "cagr"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Top 4 runs by cagr" in result.output and "MODEL-PRICED" in result.output
    frame = pd.read_parquet(out.with_suffix(".parquet"))
    assert sorted(zip(frame["profit_target"], frame["stop_loss"], strict=True)) == [
        (35.0, 100.0), (35.0, 200.0), (50.0, 100.0), (50.0, 200.0)]
    # Each figure also on its own page, Plotly like the report (one plotting library).
    assert "Plotly.newPlot" in (tmp_path / "s.heatmap.html").read_text()
    assert "Plotly.newPlot" in (tmp_path / "s.top-equity.html").read_text()
    page = report.read_text()
    # Interactive Plotly charts with plotly.js inline; nothing fetched (tests/backtest/test_sweep_report.py).
    assert 'id="sweep-heatmap"' in page and 'id="sweep-top-equity"' in page
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", page, flags=re.I) and "<link" not in page.lower()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "pass --resume" in again.output
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0 and "4 taken from" in resumed.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--profit-target", "fifty"], "--profit-target 'fifty' is not a number"),
    (["--sort", "alpha"], "--sort 'alpha': not a metric"),
    (["--window", "dotcom"], "unknown window"),
    (["--walk-forward", "train=3y"], "give both train= and test="),
    (["--in-process", "--scheduler", "tcp://127.0.0.1:1"], "drop --scheduler"),
])
def test_cli_sweep_refuses_bad_input_naming_the_flag(extra: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["backtest", "sweep", "--ticker", "SPY", *extra])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_cli_sweep_shows_the_window_and_total_return_for_windows_under_a_year() -> None:
    args = ["backtest", "sweep", "--ticker", "SPY", "--window", "2020-01-02:2020-03-31,2020-04-01:2020-06-30",
            "--profit-target", "35,50", "--in-process", "--sort", "total_return"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "window" in out and "2020-01-02:2020-03-31" in out
    assert re.search(r"-?\d+\.\d\d% total", out) and "shorter than a year show their total return" in out


def test_cli_sweep_sorts_by_a_rules_exit_attribution() -> None:
    args = ["backtest", "sweep", "--ticker", "SPY", "--start", "2020-01-02", "--end", "2020-03-31",
            "--profit-target", "35,50", "--in-process", "--sort", "edge_vs_next_rule.profit_target"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Top 2 runs by edge_vs_next_rule.profit_target" in result.output
    bad = CliRunner().invoke(app, [*args[:-1], "edge_vs_next_rule.no_such_rule"])
    assert bad.exit_code == 2 and "edge_vs_next_rule.RULE" in " ".join(bad.output.split())
