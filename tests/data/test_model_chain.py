"""Scenarios for model-priced chains (riskpilot.data.model_chain)."""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.data.history import UnknownSymbolError
from riskpilot.data.model_chain import (
    ModelChainParams,
    cache_model_chain,
    generate_model_chain,
    iter_model_chain_by_year,
    listed_expirations,
    market_history,
    monthly_expiration,
    price_contracts,
)
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.pricing import bsm_price

REPO = Path(__file__).resolve().parents[2]


def _shared_data() -> Path:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


@pytest.fixture(scope="module")
def spy_2020() -> pd.DataFrame:
    return _frame(generate_model_chain("SPY", date(2020, 3, 2), date(2020, 3, 13)))


# --- determinism and schema -------------------------------------------------------------------


def test_generate_twice_with_same_inputs_gives_identical_tables() -> None:
    first = generate_model_chain("SPY", date(2019, 5, 1), date(2019, 5, 10))
    second = generate_model_chain("SPY", date(2019, 5, 1), date(2019, 5, 10))
    assert first.num_rows > 0
    assert first.equals(second)


@pytest.mark.parametrize("symbol", ["SPY", "QQQ", "IWM", "SPX"])
def test_generated_chain_conforms_to_the_schema_and_is_labelled_model(symbol: str) -> None:
    table = generate_model_chain(symbol, date(2015, 6, 1), date(2015, 6, 5))
    assert table.schema.equals(CHAIN_SCHEMA)
    frame = _frame(table)
    assert set(frame["source"]) == {"model"}
    assert frame["model_priced"].all()
    assert (frame["quality"] == 0).all()
    assert set(frame["underlying"]) == {symbol}
    assert set(frame["right"]) == {"C", "P"}
    assert frame["volume"].isna().all() and frame["open_interest"].isna().all()
    for column in ("bid", "ask", "iv", "delta", "gamma", "theta", "vega", "underlying_price"):
        assert frame[column].notna().all(), column
    key = ["quote_date", "root", "expiration", "strike", "right"]
    assert not frame.duplicated(key).any()


def test_spx_weeklies_use_the_spxw_root_and_monthlies_spx() -> None:
    frame = _frame(generate_model_chain("SPX", date(2019, 5, 1), date(2019, 5, 1)))
    roots = frame.groupby("expiration")["root"].first()
    assert roots[date(2019, 5, 17)] == "SPX"
    assert roots[date(2019, 5, 3)] == "SPXW"


# --- no look-ahead ------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["SPY", "QQQ", "SPX"])
def test_extending_the_span_by_20_days_leaves_earlier_days_identical(symbol: str) -> None:
    start, t = date(2008, 9, 2), date(2008, 9, 30)
    short = _frame(generate_model_chain(symbol, start, t))
    long = _frame(generate_model_chain(symbol, start, t + timedelta(days=28)))
    assert long["quote_date"].max() > t
    head = long.loc[long["quote_date"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, short)


def test_a_day_chain_uses_that_day_close_as_underlying_price() -> None:
    frame = _frame(generate_model_chain("SPY", date(2020, 3, 16), date(2020, 3, 16)))
    assert frame["underlying_price"].unique() == pytest.approx([239.85], abs=1e-4)


# --- price sanity -------------------------------------------------------------------------------


def _sorted_groups(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["quote_date", "expiration", "right", "strike"])


def test_call_quotes_fall_and_put_quotes_rise_with_strike_in_the_march_2020_crash(
    spy_2020: pd.DataFrame,
) -> None:
    frame = _sorted_groups(spy_2020)
    groups = frame.groupby(["quote_date", "expiration", "right"])
    sign = np.where(frame["right"] == "C", -1.0, 1.0)
    for column in ("bid", "ask"):
        step = groups[column].diff().to_numpy() * sign
        assert (step[~np.isnan(step)] >= -1e-9).all(), column
    # The theoretical prices behind the quotes are strictly monotonic too.
    t = (pd.to_datetime(frame["expiration"]) - pd.to_datetime(frame["quote_date"])).dt.days / 365
    mh = market_history("SPY")
    pos = np.searchsorted(mh.dates, frame["quote_date"].to_numpy().astype("datetime64[D]"))
    theo = bsm_price(
        frame["underlying_price"].to_numpy(),
        frame["strike"].to_numpy(),
        t.to_numpy(),
        mh.rate[pos],
        mh.div_yield[pos],
        frame["iv"].to_numpy(),
        (frame["right"] == "C").to_numpy(),
    )
    frame = frame.assign(theo=theo)
    theo_step = frame.groupby(["quote_date", "expiration", "right"])["theo"].diff().to_numpy() * sign
    assert (theo_step[~np.isnan(theo_step)] > 0).all()


@pytest.mark.parametrize("symbol", ["SPY", "IWM", "SPX"])
def test_quotes_are_non_negative_uncrossed_and_on_the_tick(symbol: str) -> None:
    frame = _frame(generate_model_chain(symbol, date(2008, 10, 6), date(2008, 10, 17)))
    assert (frame["bid"] >= 0).all()
    assert (frame["bid"] <= frame["ask"]).all()
    assert (frame["ask"] >= 0.01).all()
    for column in ("bid", "ask"):
        cents = frame[column].to_numpy() * 100
        assert np.allclose(cents, np.round(cents), atol=1e-6), column


def test_relative_spreads_are_wider_for_short_dte_than_long(spy_2020: pd.DataFrame) -> None:
    day = spy_2020.loc[spy_2020["quote_date"] == date(2020, 3, 2)].copy()
    day["rel"] = (day["ask"] - day["bid"]) / ((day["ask"] + day["bid"]) / 2)
    spot = day["underlying_price"].iloc[0]
    atm = day.loc[(day["right"] == "P") & ((day["strike"] - spot).abs() <= 1.0)]
    by_exp = atm.groupby("expiration")["rel"].median().sort_index()
    assert by_exp.iloc[0] > by_exp.iloc[-1]


def test_relative_spreads_are_wider_far_out_of_the_money(spy_2020: pd.DataFrame) -> None:
    day = spy_2020.loc[
        (spy_2020["quote_date"] == date(2020, 3, 2)) & (spy_2020["expiration"] == date(2020, 4, 17))
    ].copy()
    day["rel"] = (day["ask"] - day["bid"]) / ((day["ask"] + day["bid"]) / 2)
    puts = day.loc[day["right"] == "P"]
    atm = puts.loc[puts["delta"].between(-0.55, -0.45), "rel"].median()
    far = puts.loc[puts["delta"].between(-0.10, -0.02), "rel"].median()
    assert far > atm


def test_put_skew_makes_otm_puts_richer_than_otm_calls(spy_2020: pd.DataFrame) -> None:
    day = spy_2020.loc[
        (spy_2020["quote_date"] == date(2020, 3, 2)) & (spy_2020["expiration"] == date(2020, 4, 17))
    ]
    put_iv = day.loc[(day["right"] == "P") & day["delta"].between(-0.3, -0.2), "iv"].median()
    call_iv = day.loc[(day["right"] == "C") & day["delta"].between(0.2, 0.3), "iv"].median()
    assert put_iv > call_iv


def test_qqq_and_iwm_are_priced_with_higher_vol_than_spy() -> None:
    day = date(2019, 6, 3)

    def atm_iv(symbol: str) -> float:
        frame = _frame(generate_model_chain(symbol, day, day))
        exp = frame.loc[frame["expiration"] == date(2019, 6, 21)]
        return float(exp.loc[exp["delta"].abs().between(0.45, 0.55), "iv"].median())

    spy = atm_iv("SPY")
    assert atm_iv("QQQ") > spy
    assert atm_iv("IWM") > spy


# --- expirations calendar -----------------------------------------------------------------------


def test_monthly_expiration_is_the_third_friday() -> None:
    assert monthly_expiration(2024, 1) == date(2024, 1, 19)
    assert monthly_expiration(2019, 5) == date(2019, 5, 17)


def test_monthly_expiration_on_good_friday_moves_to_thursday() -> None:
    assert monthly_expiration(2019, 4) == date(2019, 4, 18)
    assert monthly_expiration(2014, 4) == date(2014, 4, 17)


@settings(max_examples=60, deadline=None)
@given(year=st.integers(1991, 2029), month=st.integers(1, 12))
def test_monthly_expiration_is_a_session_in_the_third_week(year: int, month: int) -> None:
    expiry = monthly_expiration(year, month)
    assert 14 <= expiry.day <= 21
    assert expiry.weekday() in (3, 4)
    if expiry.weekday() == 3:  # only when the Friday after is a holiday
        friday = expiry + timedelta(days=1)
        assert monthly_expiration(year, month) != friday
    sessions = pd.DatetimeIndex(market_history("SPX").dates)
    if pd.Timestamp(expiry) <= sessions[-1]:
        assert pd.Timestamp(expiry) in sessions


def test_monday_expiration_on_memorial_day_moves_to_tuesday() -> None:
    listed = listed_expirations("SPX", date(2019, 5, 20))
    assert date(2019, 5, 28) in listed
    assert date(2019, 5, 27) not in listed


def test_spy_before_2010_lists_only_monthlies() -> None:
    listed = listed_expirations("SPY", date(2009, 6, 1))
    assert listed == [date(2009, 6, 19), date(2009, 7, 17), date(2009, 8, 21), date(2009, 9, 18)]


def test_spy_weekly_eras_add_fridays_then_wednesdays() -> None:
    in_2012 = listed_expirations("SPY", date(2012, 3, 5))
    assert date(2012, 3, 9) in in_2012  # a Friday weekly
    # Fridays only (Thursday 2012-04-05 is the Good Friday weekly moved a day earlier).
    assert {d.weekday() for d in in_2012} <= {3, 4}
    assert date(2012, 4, 5) in in_2012
    in_2017 = listed_expirations("SPY", date(2017, 3, 6))
    assert date(2017, 3, 8) in in_2017  # a Wednesday weekly
    assert all(d.weekday() in (2, 4) for d in in_2017)


def test_expirations_stay_within_the_dte_window() -> None:
    params = ModelChainParams.for_underlying("SPY", max_dte=45)
    listed = listed_expirations("SPY", date(2021, 1, 4), params)
    assert listed[0] > date(2021, 1, 4)
    assert max(listed) <= date(2021, 1, 4) + timedelta(days=45)


# --- strike grid --------------------------------------------------------------------------------


def test_spy_strikes_are_whole_dollars_and_spx_five_points() -> None:
    spy = _frame(generate_model_chain("SPY", date(2016, 2, 1), date(2016, 2, 1)))
    assert np.allclose(spy["strike"] % 1.0, 0.0)
    spx = _frame(generate_model_chain("SPX", date(2016, 2, 1), date(2016, 2, 1)))
    assert np.allclose(spx["strike"] % 5.0, 0.0)


def test_strikes_added_on_a_day_stay_within_that_day_moneyness_band() -> None:
    # Autumn 2008: SPY fell ~35%, so many strikes were added below the early listings.
    frame = _frame(generate_model_chain("SPY", date(2008, 9, 15), date(2008, 11, 20)))
    key = ["root", "expiration", "strike", "right"]
    first = frame.groupby(key, as_index=False)["quote_date"].min()
    added = first.loc[first["quote_date"] > date(2008, 9, 15)].merge(
        frame[["quote_date", "underlying_price", *key]], on=["quote_date", *key]
    )
    assert len(added) > 100
    log_m = np.log(added["strike"] / added["underlying_price"]).abs()
    assert log_m.max() <= 0.25 + 1e-9


def test_a_newly_listed_expiration_starts_within_the_moneyness_band() -> None:
    frame = _frame(generate_model_chain("SPY", date(2008, 11, 19), date(2008, 11, 20)))
    # 2009-03-20 (a monthly, 120 days ahead) is first listed on 2008-11-20, after a 40% fall.
    assert date(2009, 3, 20) not in set(frame.loc[frame["quote_date"] == date(2008, 11, 19), "expiration"])
    new = frame.loc[frame["expiration"] == date(2009, 3, 20)]
    assert len(new) > 0
    log_m = np.log(new["strike"] / new["underlying_price"]).abs()
    assert log_m.max() <= 0.25 + 1e-9


# --- listed strikes persist until expiration ----------------------------------------------------


def _assert_contracts_listed_until_expiration(frame: pd.DataFrame, min_dte: int = 1) -> None:
    """Every contract is quoted on every day of the span from its first quote until its last
    day with at least ``min_dte`` days to expiry (or the span's end)."""
    days = np.sort(frame["quote_date"].unique()).astype("datetime64[D]")
    key = ["root", "expiration", "strike", "right"]
    groups = frame.groupby(key)["quote_date"].agg(["min", "count"]).reset_index()
    first_pos = np.searchsorted(days, groups["min"].to_numpy().astype("datetime64[D]"))
    last_listing = groups["expiration"].to_numpy().astype("datetime64[D]") - np.timedelta64(
        min_dte, "D"
    )
    last_pos = np.searchsorted(days, last_listing, side="right") - 1
    expected = last_pos - first_pos + 1
    missing = groups.loc[groups["count"].to_numpy() != expected]
    assert missing.empty, f"contracts delisted before expiration:\n{missing.head()}"


def test_spy_220_put_listed_on_2019_01_04_stays_listed_until_expiration() -> None:
    frame = _frame(generate_model_chain("SPY", date(2019, 1, 2), date(2019, 2, 8)))
    put = frame.loc[
        (frame["expiration"] == date(2019, 2, 8)) & (frame["strike"] == 220.0) & (frame["right"] == "P")
    ]
    dates = sorted(put["quote_date"])
    sessions = sorted(d for d in frame["quote_date"].unique() if date(2019, 1, 4) <= d < date(2019, 2, 8))
    assert dates[0] <= date(2019, 1, 4)
    assert [d for d in dates if d >= date(2019, 1, 4)] == sessions
    assert dates[-1] == date(2019, 2, 7)  # no row on the expiration day itself (min_dte 1)


@pytest.mark.parametrize(
    ("symbol", "start", "end"),
    [
        ("SPY", date(2020, 2, 15), date(2020, 4, 15)),  # the Covid crash
        ("SPX", date(2020, 2, 15), date(2020, 4, 15)),
        ("QQQ", date(2008, 9, 1), date(2008, 11, 28)),  # the 2008 crash, QQQ below $30
        ("IWM", date(2021, 1, 4), date(2021, 2, 26)),  # a rally
    ],
)
def test_a_listed_contract_is_quoted_every_day_until_expiration(
    symbol: str, start: date, end: date
) -> None:
    _assert_contracts_listed_until_expiration(_frame(generate_model_chain(symbol, start, end)))


def test_strikes_are_added_below_the_old_grid_as_the_spot_falls() -> None:
    frame = _frame(generate_model_chain("SPY", date(2020, 2, 18), date(2020, 3, 20)))
    may = frame.loc[(frame["expiration"] == date(2020, 5, 15)) & (frame["right"] == "P")]
    lowest = may.groupby("quote_date")["strike"].min()
    assert lowest[date(2020, 3, 20)] < lowest[date(2020, 2, 18)] - 30
    # ... while the strikes listed before the fall are all still there.
    before = set(may.loc[may["quote_date"] == date(2020, 2, 18), "strike"])
    after = set(may.loc[may["quote_date"] == date(2020, 3, 20), "strike"])
    assert before <= after


@settings(max_examples=8, deadline=None)
@given(
    symbol=st.sampled_from(["SPY", "QQQ", "IWM", "SPX"]),
    start=st.dates(date(2006, 1, 1), date(2024, 10, 31)),
    length=st.integers(5, 45),
)
def test_listed_contracts_persist_on_random_spans(symbol: str, start: date, length: int) -> None:
    frame = _frame(generate_model_chain(symbol, start, start + timedelta(days=length)))
    _assert_contracts_listed_until_expiration(frame)


# --- generating a span in parts ------------------------------------------------------------------


def _rows_from(table: pa.Table, first: date) -> pd.DataFrame:
    frame = _frame(table)
    return frame.loc[frame["quote_date"] >= first].reset_index(drop=True)


def test_generating_2019_alone_equals_2018_2019_sliced_to_2019() -> None:
    alone = _frame(generate_model_chain("SPY", date(2019, 1, 1), date(2019, 12, 31)))
    sliced = _rows_from(generate_model_chain("SPY", date(2018, 1, 1), date(2019, 12, 31)), date(2019, 1, 1))
    assert len(alone) > 0
    pd.testing.assert_frame_equal(alone, sliced)


def test_yearly_parts_carry_strikes_listed_the_previous_year() -> None:
    parts = dict(iter_model_chain_by_year("SPX", date(2018, 10, 1), date(2019, 2, 28)))
    whole = generate_model_chain("SPX", date(2018, 10, 1), date(2019, 2, 28))
    assert pa.concat_tables([parts[2018], parts[2019]]).equals(whole)
    # SPX fell ~15% in Q4 2018: strikes listed in the autumn are still quoted in January.
    frame = _frame(parts[2019])
    march = frame.loc[(frame["expiration"] == date(2019, 3, 15)) & (frame["quote_date"] == date(2019, 1, 2))]
    assert march["strike"].max() > march["underlying_price"].iloc[0] * np.exp(0.25)


@settings(max_examples=8, deadline=None)
@given(
    symbol=st.sampled_from(["SPY", "QQQ", "IWM", "SPX"]),
    start=st.dates(date(2007, 1, 1), date(2024, 11, 30)),
    lead=st.integers(1, 400),
)
def test_a_later_start_gives_the_same_rows_as_an_earlier_one_sliced(
    symbol: str, start: date, lead: int
) -> None:
    end = start + timedelta(days=10)
    later = _rows_from(generate_model_chain(symbol, start, end), start)
    earlier = _rows_from(generate_model_chain(symbol, start - timedelta(days=lead), end), start)
    pd.testing.assert_frame_equal(later, earlier)


# --- other entry points -------------------------------------------------------------------------


def test_price_contracts_reprices_generated_rows_exactly() -> None:
    chain = _frame(generate_model_chain("SPX", date(2019, 6, 3), date(2019, 6, 4)))
    repriced = _frame(
        price_contracts(
            "SPX",
            chain["quote_date"].to_numpy().astype("datetime64[D]"),
            chain["expiration"].to_numpy().astype("datetime64[D]"),
            chain["strike"].to_numpy(),
            chain["right"].to_numpy(),
            roots=chain["root"].to_numpy(),
        )
    )
    pd.testing.assert_frame_equal(repriced, chain)


def test_yearly_generation_concatenates_to_the_whole_span() -> None:
    whole = generate_model_chain("IWM", date(2011, 12, 20), date(2012, 1, 10))
    parts = list(iter_model_chain_by_year("IWM", date(2011, 12, 20), date(2012, 1, 10)))
    assert [year for year, _ in parts] == [2011, 2012]
    assert pa.concat_tables([t for _, t in parts]).equals(whole)


def test_cache_model_chain_writes_the_rows_into_the_chain_store(tmp_path: Path) -> None:
    store_module = pytest.importorskip("riskpilot.data.store")
    written = cache_model_chain(tmp_path, "SPY", date(2019, 5, 1), date(2019, 5, 3))
    expected = generate_model_chain("SPY", date(2019, 5, 2), date(2019, 5, 2))
    assert written > expected.num_rows
    day = store_module.ChainStore(tmp_path).day("SPY", date(2019, 5, 2))
    key = ["expiration", "right", "strike"]
    got = day.to_pandas().sort_values(key).reset_index(drop=True)
    want = expected.to_pandas().sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want, check_dtype=False)


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_underlying_error_names_the_available_ones() -> None:
    with pytest.raises(UnknownSymbolError, match="SPY") as info:
        generate_model_chain("TSLA", date(2020, 1, 2), date(2020, 1, 3))
    assert "TSLA" in str(info.value)


def test_span_outside_the_history_names_the_span_that_exists() -> None:
    with pytest.raises(ValueError, match="cover 2000-05-26"):
        generate_model_chain("IWM", date(1995, 1, 1), date(1995, 12, 31))


def test_start_after_end_is_refused() -> None:
    with pytest.raises(ValueError, match="start <= end"):
        generate_model_chain("SPY", date(2020, 2, 1), date(2020, 1, 1))


def test_out_of_range_parameter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"ModelChainParams\.atm_vix_ratio"):
        ModelChainParams(atm_vix_ratio=5.0)
    with pytest.raises(TypeError, match="unknown ModelChainParams field"):
        ModelChainParams.for_underlying("SPY", atm_vix=0.9)


def test_price_contracts_refuses_a_non_trading_quote_date() -> None:
    with pytest.raises(ValueError, match="not a trading day"):
        price_contracts(
            "SPY",
            np.array(["2020-03-14"], dtype="datetime64[D]"),
            np.array(["2020-04-17"], dtype="datetime64[D]"),
            np.array([240.0]),
            np.array(["P"]),
        )


# --- validation against the real SPX chain ------------------------------------------------------


def _load_validation_script() -> ModuleType:
    path = REPO / "scripts" / "validate_model_chain.py"
    spec = importlib.util.spec_from_file_location("validate_model_chain", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared_data
def test_out_of_sample_iv_error_for_otm_puts_is_under_two_vol_points() -> None:
    data = _shared_data()
    if not (data / "spx_eod_chain_2019-04-25_2019-07-22.parquet").is_file():
        pytest.skip(f"real SPX chain not found under {data} (set RISKPILOT_SHARED_DATA)")
    script = _load_validation_script()
    result = script.run_validation(data)
    assert result.target < 2.0
    # The fitted parameters are the shipped SPX defaults (re-run the script after a change).
    defaults = ModelChainParams.for_underlying("SPX")
    assert result.params.atm_vix_ratio == pytest.approx(defaults.atm_vix_ratio, abs=2e-3)
    assert result.params.skew == pytest.approx(defaults.skew, abs=5e-3)
