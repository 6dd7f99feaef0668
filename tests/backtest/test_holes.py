"""Holes in a store's span: more than 10 trading days without a chain are warned about and
left out of the CAGR's span."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from riskpilot.backtest.explain import find_holes
from riskpilot.backtest.metrics import compute_metrics


def _weekdays(start: date, end: date) -> list[date]:
    out, d = [], start
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def test_a_gap_of_more_than_ten_trading_days_is_a_hole() -> None:
    days = _weekdays(date(2019, 1, 2), date(2019, 1, 31)) + _weekdays(date(2019, 3, 1), date(2019, 3, 29))
    [hole] = find_holes(days)
    assert (hole.before, hole.after) == (date(2019, 1, 31), date(2019, 3, 1))
    assert hole.missing == 19  # February 2019: 20 weekdays less Presidents' Day
    assert hole.calendar_days == 28


def test_ten_missing_trading_days_and_holidays_are_no_hole() -> None:
    days = [date(2019, 5, 9), date(2019, 5, 24), date(2019, 5, 28)]  # 10 sessions between, then Memorial Day
    assert find_holes(days) == []


def test_the_cagr_is_annualised_over_the_days_with_data_only() -> None:
    dates = [date(2019, 1, 2), date(2019, 7, 2), date(2020, 1, 2)]
    equity = [100.0, 105.0, 110.0]
    whole = compute_metrics(dates, equity, [])
    assert whole.cagr == pytest.approx(1.10 ** (365.25 / 365) - 1)
    holed = compute_metrics(dates, equity, [], excluded_days=182)
    assert holed.cagr == pytest.approx(1.10 ** (365.25 / 183) - 1)


def test_a_store_with_a_hole_warns_and_leaves_it_out_of_the_cagr(tmp_path: Path) -> None:
    import pyarrow as pa
    from tests.backtest.scenario import chain

    from riskpilot.backtest.runner import BacktestSpec, run_spec
    from riskpilot.data.store import ChainStore

    store = ChainStore(tmp_path / "store")
    store.import_table(pa.concat_tables([t for _, t in chain()]))
    run = run_spec(BacktestSpec(ticker="XYZ", data=tmp_path / "store", width=2))
    [hole] = run.result.holes
    assert (hole.before, hole.after, hole.missing) == (date(2024, 3, 8), date(2024, 4, 18), 27)  # less Good Friday
    assert any("1 hole(s) of more than 10 trading days" in w for w in run.warnings)
    r = run.result
    span = (r.dates[-1] - r.dates[0]).days - hole.calendar_days
    assert run.metrics.cagr == pytest.approx((r.equity[-1] / r.equity[0]) ** (365.25 / span) - 1)
