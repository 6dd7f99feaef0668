"""riskpilot.backtest.metrics against an independent library, empyrical-reloaded, on real
equity curves: SPY's dividend-adjusted closes 1993-2026 (bundled history), SPY through 2008,
and a backtest's own equity curve.

Conventions both sides share (so the figures must agree to rounding): simple daily returns
between consecutive equity values; 252 periods a year; risk-free rate and Sortino target 0;
Sharpe with the *sample* standard deviation (ddof=1); Sortino's downside deviation
``sqrt(mean(min(r, 0)**2))`` over *all* days; drawdown from the running peak including the
first value.

The one convention that differs is how CAGR counts years: empyrical counts
``len(returns) / 252`` (trading periods), riskpilot counts calendar time
``(last date - first date) / 365.25``. riskpilot keeps calendar time on purpose: a chain with
missing days (vendor gaps, holidays the data skips) must not shrink the time a backtest spans,
and option decay runs on calendar days. On a gap-free daily curve the two differ only by
sessions-per-year vs 252 (a few hundredths of a percentage point); given empyrical the
calendar year count (``annualization = len(returns) / calendar_years``) they agree exactly.
Calmar = CAGR / max drawdown on both sides, over the whole curve, with each side's CAGR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.backtest.engine import iter_table_days, run_backtest
from riskpilot.backtest.metrics import TRADING_DAYS, Metrics, compute_metrics
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.history import load_underlying
from riskpilot.data.model_chain import generate_model_chain

TIGHT = 1e-9


def _curve(closes: pd.Series) -> tuple[list[date], list[float]]:
    return [ts.date() for ts in pd.DatetimeIndex(closes.index)], [float(x) for x in closes.to_numpy()]


def _returns(equity: Sequence[float]) -> np.ndarray:
    eq = np.asarray(equity, dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


def _calendar_years(dates: Sequence[date]) -> float:
    return (dates[-1] - dates[0]).days / 365.25


def _assert_matches_empyrical(m: Metrics, dates: Sequence[date], equity: Sequence[float]) -> None:
    r = _returns(equity)
    assert m.sharpe == pytest.approx(empyrical.sharpe_ratio(r, risk_free=0.0, annualization=TRADING_DAYS),
                                     rel=TIGHT)
    assert m.sortino == pytest.approx(empyrical.sortino_ratio(r, required_return=0.0, annualization=TRADING_DAYS),
                                      rel=TIGHT)
    assert m.max_drawdown == pytest.approx(-empyrical.max_drawdown(r), rel=TIGHT)  # empyrical: negative
    calendar = len(r) / _calendar_years(dates)  # periods per calendar year: riskpilot's year count
    assert m.cagr == pytest.approx(empyrical.cagr(r, annualization=calendar), rel=TIGHT)
    assert m.calmar == pytest.approx(empyrical.calmar_ratio(r, annualization=calendar), rel=TIGHT)


@pytest.fixture(scope="module")
def spy_adjusted() -> pd.Series:
    return load_underlying("SPY")["adj_close"]


def test_spy_buy_and_hold_1993_2026_matches_empyrical(spy_adjusted: pd.Series) -> None:
    dates, equity = _curve(spy_adjusted)
    m = compute_metrics(dates, equity, [])
    _assert_matches_empyrical(m, dates, equity)
    # Sanity on the figures themselves: SPY's total return has been about 10% a year, with a
    # Sharpe near 0.6 and the 2007-2009 drawdown of about 55%.
    assert m.cagr is not None and 0.08 < m.cagr < 0.12
    assert m.sharpe is not None and 0.4 < m.sharpe < 0.8
    assert 0.50 < m.max_drawdown < 0.60
    # empyrical's own CAGR counts years as len(returns) / 252; SPY's history has about 251.7
    # sessions a calendar year, so the two CAGRs differ by a sliver, not by a convention bug.
    r = _returns(equity)
    assert m.cagr == pytest.approx(empyrical.cagr(r, annualization=TRADING_DAYS), abs=5e-4)


def test_spy_through_the_2008_crash_matches_empyrical(spy_adjusted: pd.Series) -> None:
    crash = spy_adjusted.loc["2007-01-01":"2009-12-31"]
    dates, equity = _curve(crash)
    m = compute_metrics(dates, equity, [])
    _assert_matches_empyrical(m, dates, equity)
    peak, trough = crash.loc[:"2009-03-31"].max(), crash.loc["2008-01-01":"2009-03-31"].min()
    assert m.max_drawdown == pytest.approx(1.0 - trough / peak, rel=TIGHT)
    assert m.calmar is not None and m.calmar < 0  # lost money over the span


def test_a_put_spread_backtest_equity_curve_matches_empyrical() -> None:
    chain = generate_model_chain("SPY", date(2018, 1, 1), date(2019, 6, 30))
    result = run_backtest(iter_table_days(chain), RiskPilotConfig(), method="default", underlying="SPY",
                          equity=100_000.0)
    m = result.metrics()
    assert m.trade_count > 0 and m.max_drawdown > 0
    _assert_matches_empyrical(m, result.dates, result.equity)


def test_cagr_counts_calendar_time_so_missing_days_do_not_inflate_it() -> None:
    # Equity growing exactly 10% a calendar year, observed only on Mondays (a chain with gaps).
    start = date(2015, 1, 5)
    dates = [start + timedelta(weeks=k) for k in range(0, 5 * 52 + 1)]
    equity = [100_000.0 * 1.10 ** ((d - start).days / 365.25) for d in dates]
    m = compute_metrics(dates, equity, [])
    assert m.cagr == pytest.approx(0.10, rel=1e-12)
    # Counting each observation as a trading day would say 261 weekly points are 1.03 years.
    naive = empyrical.cagr(_returns(equity), annualization=TRADING_DAYS)
    assert naive > 0.5


_steps = st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=3, max_size=300)


@settings(max_examples=200, deadline=None)
@given(steps=_steps)
def test_any_positive_curve_matches_empyrical_where_defined(steps: list[float]) -> None:
    equity = [100.0]
    for s in steps:
        equity.append(equity[-1] * (1.0 + s))
    start = date(2020, 1, 1)
    dates = [start + timedelta(days=i) for i in range(len(equity))]
    m = compute_metrics(dates, equity, [])
    r = _returns(equity)
    if np.std(r, ddof=1) > 1e-12:
        assert m.sharpe == pytest.approx(empyrical.sharpe_ratio(r, annualization=TRADING_DAYS), rel=1e-7, abs=1e-9)
    if (r < 0).any():
        assert m.sortino == pytest.approx(empyrical.sortino_ratio(r, annualization=TRADING_DAYS), rel=1e-7,
                                          abs=1e-9)
    else:
        assert m.sortino is None  # no downside: undefined, never a made-up number
    assert m.max_drawdown == pytest.approx(-empyrical.max_drawdown(r), rel=1e-9, abs=1e-12)
    calendar = len(r) / _calendar_years(dates)
    expected = empyrical.cagr(r, annualization=calendar)
    if math.isfinite(expected):
        assert m.cagr == pytest.approx(expected, rel=1e-7, abs=1e-12)
