"""Scenarios for the bundled daily history (riskpilot.data.history)."""

from __future__ import annotations

import pandas as pd
import pytest

from riskpilot.data import history
from riskpilot.data.history import (
    UnknownSymbolError,
    available_indices,
    available_symbols,
    load_index,
    load_rates,
    load_underlying,
)


def test_available_symbols_lists_the_three_etfs() -> None:
    assert available_symbols() == ("IWM", "QQQ", "SPY")
    assert available_indices() == ("SPX", "VIX", "VIX3M", "VIX9D")


def test_spy_close_on_2020_03_16_matches_the_data_readme() -> None:
    spy = load_underlying("SPY")
    row = spy.loc[pd.Timestamp("2020-03-16")]
    assert row["close"] == pytest.approx(239.85, abs=1e-4)
    assert row["adj_close"] == pytest.approx(218.63, abs=0.01)
    assert spy.loc[pd.Timestamp("2008-10-10"), "close"] == pytest.approx(88.50, abs=1e-4)


def test_qqq_and_iwm_closes_on_2020_03_16_match_the_data_readme() -> None:
    assert load_underlying("qqq").loc["2020-03-16", "close"] == pytest.approx(169.30, abs=1e-4)
    assert load_underlying("IWM").loc["2020-03-16", "close"] == pytest.approx(103.62, abs=1e-4)


@pytest.mark.parametrize("symbol", ["SPY", "QQQ", "IWM"])
def test_underlying_frame_is_date_indexed_and_clean(symbol: str) -> None:
    frame = load_underlying(symbol)
    assert list(frame.columns) == list(history.UNDERLYING_COLUMNS)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert not frame.isna().any().any()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()


def test_vix_closing_maximum_is_82_69_on_2020_03_16() -> None:
    vix = load_index("VIX")
    assert vix["close"].max() == pytest.approx(82.69)
    assert vix["close"].idxmax() == pd.Timestamp("2020-03-16")
    in_2008 = vix.loc["2008", "close"]
    assert in_2008.max() == pytest.approx(80.86)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("SPX", "1927-12-30"),
        ("VIX", "1990-01-02"),
        ("VIX9D", "2011-01-04"),
        ("VIX3M", "2009-09-18"),
    ],
)
def test_index_frames_start_where_the_sources_start(name: str, first: str) -> None:
    frame = load_index(name)
    assert list(frame.columns) == ["open", "high", "low", "close"]
    assert frame.index[0] == pd.Timestamp(first)
    assert not frame["close"].isna().any()


def test_rates_are_decimals_matching_the_readme_figures() -> None:
    rates = load_rates()
    assert rates.loc["2020-03-16"] == pytest.approx(0.0024)
    assert rates.loc["2023-10-02"] == pytest.approx(0.0535)


def test_rates_on_fred_holiday_blanks_carry_the_previous_day_forward() -> None:
    rates = load_rates()
    assert not rates.isna().any()
    # 2020-01-20 (Martin Luther King Jr. Day) is blank at FRED; it carries 2020-01-17's rate.
    assert pd.Timestamp("2020-01-20") in rates.index
    assert rates.loc["2020-01-20"] == rates.loc["2020-01-17"]


def test_unknown_symbol_error_names_the_available_symbols() -> None:
    with pytest.raises(UnknownSymbolError) as info:
        load_underlying("XYZ")
    message = str(info.value)
    assert "'XYZ'" in message
    for symbol in ("SPY", "QQQ", "IWM"):
        assert symbol in message
    assert "load_index" in message


def test_index_name_passed_as_underlying_points_to_load_index() -> None:
    with pytest.raises(KeyError, match="load_index"):
        load_underlying("VIX")


def test_unknown_index_error_names_the_available_indices() -> None:
    with pytest.raises(UnknownSymbolError, match="VIX9D"):
        load_index("VXN")


def test_blank_symbol_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        load_underlying("  ")


def test_editing_a_returned_frame_does_not_change_the_cache() -> None:
    first = load_underlying("SPY")
    first.loc[:, "close"] = 0.0
    again = load_underlying("SPY")
    assert again.loc["2020-03-16", "close"] == pytest.approx(239.85)


def test_second_load_is_served_from_the_cache() -> None:
    load_index("VIX")
    before = history._cached_index.cache_info().hits
    load_index("VIX")
    assert history._cached_index.cache_info().hits == before + 1
