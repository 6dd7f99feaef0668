"""Metrics cross-checked against hand-computed values, plus invariants under hypothesis."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.backtest.metrics import compute_metrics, max_drawdown
from riskpilot.backtest.trade import Trade


def _trade(pnl: float, reason: str, days: int = 10, mfe: float = 0.0, mae: float = 0.0) -> Trade:
    return Trade("p", "m", "put_credit_spread", "SPY", (), date(2020, 1, 1), date(2020, 1, 1) + timedelta(days),
                 1, 1.0, 0.5, pnl, 1.3, reason, None, days, mfe, mae)


def test_metrics_of_a_small_curve_match_hand_computation() -> None:
    dates = [date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    equity = [100.0, 110.0, 99.0, 104.0]
    trades = [_trade(30.0, "profit_target", 5, 40.0, -5.0), _trade(-10.0, "stop_loss", 3, 2.0, -15.0),
              _trade(20.0, "profit_target", 7, 25.0, 0.0)]
    m = compute_metrics(dates, equity, trades)
    r = [0.10, -0.10, 5.0 / 99.0]
    mean = sum(r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    down = math.sqrt((0.10**2) / 3)
    assert m.total_return == pytest.approx(0.04)
    assert m.cagr == pytest.approx(1.04 ** (365.25 / 5) - 1)
    assert m.sharpe == pytest.approx(mean / sd * math.sqrt(252))
    assert m.sortino == pytest.approx(mean / down * math.sqrt(252))
    assert m.max_drawdown == pytest.approx(0.10)  # 110 -> 99
    assert m.cagr is not None
    assert m.calmar == pytest.approx(m.cagr / 0.10)
    assert m.trade_count == 3
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(50.0 / 10.0)
    assert m.avg_days_held == pytest.approx(5.0)
    assert m.total_pnl == pytest.approx(40.0)
    assert m.by_exit_reason["profit_target"].count == 2
    assert m.by_exit_reason["profit_target"].pnl == pytest.approx(50.0)
    assert m.by_exit_reason["stop_loss"].pnl == pytest.approx(-10.0)
    assert m.avg_mfe == pytest.approx(67.0 / 3)
    assert m.avg_mae == pytest.approx(-20.0 / 3)


def test_metrics_without_losses_or_trades_are_none_not_zero() -> None:
    dates = [date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3)]
    m = compute_metrics(dates, [100.0, 100.0, 100.0], [])
    assert m.sharpe is None and m.sortino is None and m.calmar is None
    assert m.win_rate is None and m.profit_factor is None and m.avg_days_held is None
    assert m.max_drawdown == 0.0
    m2 = compute_metrics(dates, [100.0, 101.0, 102.0], [_trade(5.0, "profit_target")])
    assert m2.profit_factor is None  # no losing trade: gross loss is zero
    assert m2.sortino is None  # no down day


def test_misaligned_or_empty_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="aligned"):
        compute_metrics([date(2020, 1, 1)], [1.0, 2.0], [])
    with pytest.raises(ValueError, match="at least one day"):
        compute_metrics([], [], [])
    with pytest.raises(ValueError, match="positive"):
        compute_metrics([date(2020, 1, 1), date(2020, 1, 2)], [1.0, -1.0], [])


@given(st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=60))
def test_max_drawdown_is_a_fraction_and_matches_a_plain_loop(values: list[float]) -> None:
    peak = values[0]
    worst = 0.0
    for v in values:
        peak = max(peak, v)
        worst = max(worst, 1 - v / peak)
    dd = max_drawdown(np.asarray(values))
    assert 0.0 <= dd < 1.0
    assert dd == pytest.approx(worst, abs=1e-12)
