"""Golden statistics: the put credit spread backtest on the real SPX chain (2019-04-25 to
2019-07-22, ../shared/data, imported into a chain store as `riskpilot data import` does).

These figures pin the whole path (import, quality flags, selection, marks, rules, tactics, the
ORATS fill model, settlement, metrics). A change that moves them must be intended: re-pin them
in the same commit and say why. The run is the CLI's:

    riskpilot backtest run --ticker SPX --data STORE --start 2019-04-25 --end 2019-07-22
        --equity 1000000 --min-delta 0.05 --max-delta 0.15 --profit-target 50 --stop-loss 125
        --slippage orats
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from riskpilot.backtest.export import to_json_dict
from riskpilot.backtest.runner import BacktestRun, BacktestSpec, run_spec
from riskpilot.data.readers import read_chain
from riskpilot.data.store import ChainStore

REPO = Path(__file__).resolve().parents[2]
CHAIN = "spx_eod_chain_2019-04-25_2019-07-22.parquet"


def _chain_path() -> Path:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    path = (Path(env) if env else REPO.parent / "shared" / "data") / CHAIN
    if not path.exists():
        pytest.skip(f"real SPX chain {path} is absent (set RISKPILOT_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spx_store")
    ChainStore(root).import_table(read_chain(_chain_path(), "historicaloptiondata"))
    return root


@pytest.fixture(scope="module")
def run(store_dir: Path) -> BacktestRun:
    return run_spec(BacktestSpec(
        ticker="SPX", data=store_dir, start="2019-04-25", end="2019-07-22", equity=1_000_000,
        min_delta=0.05, max_delta=0.15, profit_target=50, stop_loss=125, slippage="orats",
    ))


def test_golden_statistics(run: BacktestRun) -> None:
    r, m = run.result, run.metrics
    assert not run.model_priced
    assert len(r.dates) == 56
    assert m.trade_count == 48
    assert Counter(t.exit_reason for t in r.trades) == {
        "partial_exit_target": 19, "stop_loss": 12, "profit_target": 11, "trailing_stop": 6,
    }
    assert {k: round(v.pnl, 2) for k, v in m.by_exit_reason.items()} == {
        "stop_loss": -5664.0, "partial_exit_target": -352.8, "profit_target": 249.0, "trailing_stop": -357.6,
    }
    assert m.total_pnl == pytest.approx(-6125.40, abs=0.005)
    assert m.win_rate == pytest.approx(13 / 48)
    assert m.avg_days_held == pytest.approx(7.145833, abs=1e-6)
    assert m.max_drawdown == pytest.approx(0.0063795, abs=1e-7)
    assert r.equity[-1] == pytest.approx(993_711.60, abs=0.005)
    assert len(r.open_positions) == 3
    # The correlation-class cap (3 positions) is what refuses further entries.
    assert r.entries_refused == {"class_positions": 24}


def test_every_trade_reprices_from_the_raw_rows(run: BacktestRun, store_dir: Path) -> None:
    """Entry and exit premiums of every trade follow from the stored rows of its legs on its
    days under the ORATS two-leg share (0.66), whatever the tactic's attempts were."""
    store = ChainStore(store_dir)
    s = 0.66
    for t in run.result.trades:
        short, long = t.legs
        assert (short.quantity, long.quantity) == (-1, 1)

        exp = short.contract.expiration

        def row(day: date, strike: float, exp: date = exp) -> tuple[float, float]:
            tb = store.day("SPX", day)
            same = pc.and_(pc.and_(pc.equal(tb["expiration"], exp), pc.equal(tb["strike"], strike)),
                           pc.equal(tb["right"], "P"))
            # The PM-settled SPXW row where SPX and SPXW both list the contract (DayChain's rule).
            hit = tb.filter(pc.and_(same, pc.equal(tb["root"], "SPXW")))
            if hit.num_rows == 0:
                hit = tb.filter(same)
            return float(hit["bid"][0].as_py()), float(hit["ask"][0].as_py())

        sb, sa = row(t.opened, short.contract.strike)
        lb, la = row(t.opened, long.contract.strike)
        assert t.entry_premium == pytest.approx((sa - s * (sa - sb)) - (lb + s * (la - lb)), abs=1e-9)
        if t.exit_reason not in ("expiration_settlement", "assignment"):
            sb, sa = row(t.closed, short.contract.strike)
            lb, la = row(t.closed, long.contract.strike)
            assert t.exit_premium == pytest.approx((sb + s * (sa - sb)) - (la - s * (la - lb)), abs=1e-9)
        assert t.pnl == pytest.approx(
            (t.entry_premium - t.exit_premium) * 100 * t.quantity - t.commission, abs=1e-6
        )


def test_the_json_says_real_data(run: BacktestRun) -> None:
    doc = to_json_dict(run)
    assert doc["data"]["model_priced"] is False
    assert doc["metrics"]["trade_count"] == 48
