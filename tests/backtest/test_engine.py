"""Backtest engine scenarios: a model-chain run, reconciliation from raw quotes, no look-ahead,
expiry settlement of ITM shorts, and a run on the real SPX chain."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from riskpilot.backtest.engine import iter_table_days, run_backtest
from riskpilot.backtest.result import BacktestResult
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.model.contract import Leg

REPO = Path(__file__).resolve().parents[2]
ORATS_2_LEGS = 0.66
COMMISSION = 0.65


def _shared_data() -> Path:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def spy_chain() -> pa.Table:
    return generate_model_chain("SPY", date(2019, 1, 1), date(2019, 6, 30))


@pytest.fixture(scope="module")
def spy_run(spy_chain: pa.Table) -> BacktestResult:
    return run_backtest(iter_table_days(spy_chain), RiskPilotConfig(), method="default",
                        underlying="SPY", equity=100_000.0)


def _row_prices(chain: pa.Table, day: date, expiration: date, strike: float) -> tuple[float, float]:
    m = pc.and_(
        pc.and_(pc.equal(chain["quote_date"], day), pc.equal(chain["expiration"], expiration)),
        pc.and_(pc.equal(chain["strike"], strike), pc.equal(chain["right"], "P")),
    )
    rows = chain.filter(m)
    assert rows.num_rows == 1
    return float(rows["bid"][0].as_py()), float(rows["ask"][0].as_py())


def _parse_legs(legs: tuple[Leg, ...]) -> tuple[date, float, float]:
    short, long = legs
    assert (short.quantity, long.quantity) == (-1, 1)
    return short.contract.expiration, short.contract.strike, long.contract.strike


def test_model_chain_run_opens_and_closes_for_rule_reasons(spy_run: BacktestResult) -> None:
    r = spy_run
    assert r.model_priced
    assert len(r.dates) == len(r.equity) == 124
    opens = [e for e in r.events if e.kind == "OPEN"]
    assert len(opens) >= 10
    reasons = {t.exit_reason for t in r.trades}
    rule_reasons = reasons - {"expiration_settlement", "assignment"}
    assert rule_reasons, f"no trade closed for a rule reason: {reasons}"
    assert all(t.quantity >= 1 for t in r.trades)
    # Every opening order went through validate_order: never more than the method's cap.
    cap = RiskPilotConfig().method("default").sizing.max_contracts
    assert all(e.quantity <= cap for e in opens)
    # The risk manager's class limit (3 positions in the equity class) held throughout.
    open_now: set[str] = set()
    for e in r.events:
        if e.kind == "OPEN":
            open_now.add(e.position_id)
            assert len(open_now) <= 3
        elif e.kind in ("CLOSE", "SETTLE"):
            open_now.discard(e.position_id)


def test_trade_pnl_reconciles_with_raw_quotes(spy_run: BacktestResult, spy_chain: pa.Table) -> None:
    s = ORATS_2_LEGS
    opened = {e.position_id: e.day for e in spy_run.events if e.kind == "OPEN"}
    for t in spy_run.trades:
        exp, k_short, k_long = _parse_legs(t.legs)
        sb, sa = _row_prices(spy_chain, opened[t.position_id], exp, k_short)
        lb, la = _row_prices(spy_chain, opened[t.position_id], exp, k_long)
        credit = (sa - s * (sa - sb)) - (lb + s * (la - lb))
        assert t.entry_premium == pytest.approx(credit, abs=1e-9)
        if t.exit_reason in ("expiration_settlement", "assignment"):
            spot = float(spy_chain.filter(pc.equal(spy_chain["quote_date"], t.closed))["underlying_price"][0].as_py())
            close = max(k_short - spot, 0.0) - max(k_long - spot, 0.0)
            close_comm = 0.0
        else:
            sb, sa = _row_prices(spy_chain, t.closed, exp, k_short)
            lb, la = _row_prices(spy_chain, t.closed, exp, k_long)
            close = (sb + s * (sa - sb)) - (la - s * (la - lb))
            close_comm = COMMISSION * 2 * t.quantity
        assert t.exit_premium == pytest.approx(close, abs=1e-9)
        expected = (credit - close) * 100 * t.quantity - close_comm - COMMISSION * 2 * t.quantity
        assert t.pnl == pytest.approx(expected, abs=1e-6)


def test_equity_equals_start_plus_closed_pnl_plus_open_marks(spy_run: BacktestResult) -> None:
    r = spy_run
    # Open positions are carried at their last good mark (mid), or the entry when never marked.
    open_value = sum(
        -(p.state.last_premium if p.state.last_premium is not None else p.entry_premium) * 100 * p.quantity
        for p in r.open_positions
    )
    open_comm = sum(COMMISSION * 2 * p.quantity for p in r.open_positions)
    entry_cash = sum(p.entry_premium * 100 * p.quantity for p in r.open_positions)
    expected = r.start_equity + sum(t.pnl for t in r.trades) + entry_cash - open_comm + open_value
    assert r.equity[-1] == pytest.approx(expected, abs=1e-6)


def test_truncating_data_after_day_t_changes_no_decision_up_to_t(spy_chain: pa.Table) -> None:
    days = list(iter_table_days(spy_chain))
    cut = 70
    cfg = RiskPilotConfig()
    full = run_backtest(iter(days), cfg, method="default", underlying="SPY", equity=100_000.0)
    part = run_backtest(iter(days[:cut]), cfg, method="default", underlying="SPY", equity=100_000.0)
    t = days[cut - 1][0]
    assert [e for e in full.events if e.day <= t] == part.events
    assert full.equity[:cut] == part.equity
    assert [x for x in full.trades if x.closed <= t] == part.trades


def _consumed_lazily(days: list[tuple[date, pa.Table]], seen: list[date]) -> Iterator[tuple[date, pa.Table]]:
    for d, t in days:
        seen.append(d)
        yield d, t


def test_engine_reads_each_day_only_when_it_processes_it(spy_chain: pa.Table) -> None:
    days = list(iter_table_days(spy_chain))[:30]
    seen: list[date] = []
    run_backtest(_consumed_lazily(days, seen), RiskPilotConfig(), method="default",
                 underlying="SPY", equity=100_000.0)
    assert seen == [d for d, _ in days]


# --- expiry settlement on a hand-made chain -----------------------------------------------
def _row(day: date, und: str, spot: float, exp: date, strike: float, right: str, bid: float,
         ask: float, delta: float) -> dict[str, Any]:
    return {
        "quote_date": day, "underlying": und, "underlying_price": spot, "root": und,
        "expiration": exp, "strike": strike, "right": right, "bid": bid, "ask": ask,
        "last": None, "volume": 1000, "open_interest": 1000, "iv": 0.2, "delta": delta,
        "gamma": None, "theta": None, "vega": None, "quality": 0, "source": "test",
        "model_priced": False,
    }


def _two_day_chain(und: str, spot_at_expiry: float) -> list[tuple[date, pa.Table]]:
    d1, d2 = date(2021, 3, 15), date(2021, 3, 19)
    day1 = [
        _row(d1, und, 100.0, d2, 95.0, "P", 1.00, 1.10, -0.10),
        _row(d1, und, 100.0, d2, 90.0, "P", 0.20, 0.30, -0.04),
    ]
    # Expiry day: the legs have no quotes (the position holds), only a far call carries spot.
    day2 = [_row(d2, und, spot_at_expiry, date(2021, 4, 16), 150.0, "C", 0.01, 0.02, 0.01)]
    return [(d1, pa.Table.from_pylist(day1, schema=CHAIN_SCHEMA)),
            (d2, pa.Table.from_pylist(day2, schema=CHAIN_SCHEMA))]


def _short_dte_config() -> RiskPilotConfig:
    return RiskPilotConfig.model_validate({"methods": {"default": {
        "entry": {"min_delta": 0.05, "max_delta": 0.15, "min_dte": 0, "max_dte": 10},
        "sizing": {"max_contracts": 1, "max_risk_per_trade_pct": 1.0},
    }}})


@pytest.mark.parametrize(("und", "reason"), [("SPY", "assignment"), ("SPX", "expiration_settlement")])
def test_itm_short_at_expiry_settles_at_intrinsic(und: str, reason: str) -> None:
    spot = 92.0  # short 95P is 3 ITM, long 90P OTM: close-out 3.00
    r = run_backtest(_two_day_chain(und, spot), _short_dte_config(), method="default",
                     underlying=und, equity=1_000_000.0, slippage="none")
    assert not r.open_positions
    (t,) = r.trades
    credit = 1.05 - 0.25
    assert t.entry_premium == pytest.approx(credit)
    assert t.exit_premium == pytest.approx(3.0)
    assert t.exit_reason == reason
    assert t.pnl == pytest.approx((credit - 3.0) * 100 - COMMISSION * 2)
    assert r.equity[-1] == pytest.approx(1_000_000.0 + t.pnl)


def test_otm_spread_at_expiry_expires_worthless_for_the_full_credit() -> None:
    r = run_backtest(_two_day_chain("SPY", 101.0), _short_dte_config(), method="default",
                     underlying="SPY", equity=1_000_000.0, slippage="none")
    (t,) = r.trades
    assert t.exit_reason == "expiration_settlement"
    assert t.exit_premium == 0.0
    assert t.pnl == pytest.approx(0.80 * 100 - COMMISSION * 2)


def test_unknown_slippage_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'none', 'orats'"):
        run_backtest([], RiskPilotConfig(), method="default", underlying="SPY", equity=1e5,
                     slippage="bogus")  # type: ignore[arg-type]


def test_days_out_of_order_are_refused() -> None:
    days = _two_day_chain("SPY", 101.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        run_backtest(list(reversed(days)), _short_dte_config(), method="default",
                     underlying="SPY", equity=1e5)


def test_real_spx_chain_runs_through_the_rules() -> None:
    path = _shared_data() / "spx_eod_chain_2019-04-25_2019-07-22.parquet"
    if not path.exists():
        pytest.skip(f"real SPX chain not found at {path} (set RISKPILOT_SHARED_DATA)")
    from riskpilot.data.readers import read_chain

    chain = read_chain(path, "historicaloptiondata")
    r = run_backtest(iter_table_days(chain), RiskPilotConfig(), method="default",
                     underlying="SPX", equity=1_000_000.0)
    assert not r.model_priced
    assert len(r.dates) == len(pc.unique(chain["quote_date"]))
    assert any(e.kind == "OPEN" for e in r.events)
    assert r.trades
    m = r.metrics()
    assert m.trade_count == len(r.trades)


def test_rows_flagged_unusable_are_never_used_to_mark_or_fill() -> None:
    days = _two_day_chain("SPY", 92.0)
    d2 = days[1][0]
    flagged = [
        {**_row(d2, "SPY", 92.0, d2, 95.0, "P", 50.0, 40.0, -0.9), "quality": 1},  # crossed
        {**_row(d2, "SPY", 92.0, d2, 90.0, "P", 0.0, 0.0, -0.1), "quality": 2},  # no market
    ]
    table = pa.concat_tables([days[1][1], pa.Table.from_pylist(flagged, schema=CHAIN_SCHEMA)])
    r = run_backtest([days[0], (d2, table)], _short_dte_config(), method="default",
                     underlying="SPY", equity=1_000_000.0, slippage="none")
    (t,) = r.trades
    # The stop loss cannot fire on the flagged quotes: the position holds and settles at 3.00.
    assert t.exit_reason == "assignment"
    assert t.exit_premium == pytest.approx(3.0)


def test_regime_exit_overrides_apply_to_the_backtests_exits() -> None:
    """The regime of day t selects ``regimes.exit_rules`` for that day's exit checks."""
    from datetime import timedelta

    from riskpilot.trading.signals import MarketData

    d1, d2, exp = date(2021, 3, 15), date(2021, 3, 16), date(2021, 4, 23)  # 38 DTE: no time exit
    day1 = [_row(d1, "SPY", 100.0, exp, 95.0, "P", 1.00, 1.10, -0.10),
            _row(d1, "SPY", 100.0, exp, 90.0, "P", 0.20, 0.30, -0.04)]
    # Day 2: the spread's mid is 0.55 against a 0.80 credit: 31% of the credit kept.
    day2 = [_row(d2, "SPY", 101.0, exp, 95.0, "P", 0.65, 0.75, -0.07),
            _row(d2, "SPY", 101.0, exp, 90.0, "P", 0.14, 0.16, -0.02)]
    days = [(d1, pa.Table.from_pylist(day1, schema=CHAIN_SCHEMA)),
            (d2, pa.Table.from_pylist(day2, schema=CHAIN_SCHEMA))]
    closes = {d1 - timedelta(days=k): 90.0 + (10 - k) for k in range(10)} | {d2: 101.0}
    market = MarketData("SPY", closes, {d: 12.0 for d in closes})  # rising, low VIX: bull_low_vol
    base = {
        "regimes": {"trend_sma_days": 3},
        "partial_exits": {"enabled": False},
        "methods": {"default": {
            "entry": {"min_delta": 0.05, "max_delta": 0.15, "min_dte": 0, "max_dte": 60},
            "sizing": {"max_contracts": 1, "max_risk_per_trade_pct": 1.0},
        }},
    }
    plain = RiskPilotConfig.model_validate(base)
    tuned = RiskPilotConfig.model_validate(
        base | {"regimes": {"trend_sma_days": 3,
                            "exit_rules": {"bull_low_vol": {"profit_target": {"profit_target_pct": 0.25}}}}}
    )
    held = run_backtest(days, plain, method="default", underlying="SPY", equity=1e6, slippage="none",
                        market=market, max_new_positions_per_day=1)
    assert not held.trades  # 31% < the default 50% target
    closed = run_backtest(days, tuned, method="default", underlying="SPY", equity=1e6, slippage="none",
                          market=market, max_new_positions_per_day=1)
    assert market.regime(d2, tuned.regimes) == "bull_low_vol"
    (t,) = closed.trades
    assert (t.closed, t.exit_reason) == (d2, "profit_target")
