"""Entry signals: VIX and regime as of a day (never past it), ATM IV from a chain, IV rank and
percentile by hand-computed cases, the entry filters' refusal reasons, and the signals wired
into run_backtest (VIX filter, IV warm-up with trade_from, regime multiplier, no look-ahead)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.backtest.engine import iter_table_days, run_backtest
from riskpilot.config.schema import EntryFilters, RegimeConfig, RiskPilotConfig
from riskpilot.data.daychain import DayChain
from riskpilot.data.history import UnknownSymbolError
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.pricing.bsm import bsm_price
from riskpilot.pricing.implied import implied_vol
from riskpilot.trading.signals import (
    IVReading,
    IVTracker,
    MarketData,
    atm_iv,
    black_call_vol,
    iv_refusal,
    vix_refusal,
)

D0 = date(2021, 3, 1)


def _days(n: int, start: date = D0) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


# --- MarketData ----------------------------------------------------------------------------
def test_vix_and_close_are_the_last_value_on_or_before_the_day_and_never_stale() -> None:
    m = MarketData("XYZ", {D0: 100.0, D0 + timedelta(days=3): 101.0}, {D0: 20.0, D0 + timedelta(days=1): 21.0})
    assert m.vix_on(D0 - timedelta(days=1)) is None  # nothing yet
    assert m.vix_on(D0) == 20.0
    assert m.vix_on(D0 + timedelta(days=1)) == 21.0
    assert m.vix_on(D0 + timedelta(days=6)) == 21.0  # 5 days old: still the value
    assert m.vix_on(D0 + timedelta(days=7)) is None  # 6 days old: stale
    assert m.close_on(D0 + timedelta(days=2)) == 100.0
    assert m.close_on(D0 + timedelta(days=3)) == 101.0


def test_trend_average_is_the_mean_of_the_last_closes_up_to_the_day() -> None:
    closes = dict(zip(_days(5), [10.0, 20.0, 30.0, 40.0, 50.0], strict=True))
    m = MarketData("XYZ", closes, {D0: 15.0})
    assert m.trend_average(D0 + timedelta(days=1), 3) is None  # two closes only
    assert m.trend_average(D0 + timedelta(days=2), 3) == pytest.approx(20.0)
    assert m.trend_average(D0 + timedelta(days=4), 3) == pytest.approx(40.0)
    assert m.trend_average(D0 + timedelta(days=4), 5) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("last_close", "vix", "expected"),
    [(40.0, 15.0, "bull_low_vol"), (40.0, 20.0, "bull_high_vol"), (5.0, 19.99, "bear_low_vol"),
     (5.0, 35.0, "bear_high_vol")],
)
def test_regime_from_trend_and_vix(last_close: float, vix: float, expected: str) -> None:
    # SMA(3) of 10, 20, last_close: 40 is above its average (bull), 5 below (bear).
    days = _days(3)
    m = MarketData("XYZ", dict(zip(days, [10.0, 20.0, last_close], strict=True)), {days[-1]: vix})
    cfg = RegimeConfig(trend_sma_days=3, vix_high_threshold=20.0)
    assert m.regime(days[-1], cfg) == expected
    assert m.regime(days[1], cfg) is None  # two closes for a 3-day average: unknown


@settings(max_examples=40, deadline=None)
@given(
    closes=st.lists(st.floats(1.0, 500.0), min_size=5, max_size=60),
    vix=st.lists(st.floats(5.0, 90.0), min_size=5, max_size=60),
    cut=st.integers(0, 59),
    sma=st.integers(2, 10),
)
def test_market_data_answers_never_change_when_later_history_is_cut(
    closes: list[float], vix: list[float], cut: int, sma: int
) -> None:
    n = min(len(closes), len(vix))
    days = [D0 + timedelta(days=i + i // 5 * 2) for i in range(n)]  # weekends skipped
    cut = min(cut, n - 1)
    cfg = RegimeConfig(trend_sma_days=sma)
    full = MarketData("XYZ", dict(zip(days, closes, strict=False)), dict(zip(days, vix, strict=False)))
    part = MarketData("XYZ", dict(zip(days[: cut + 1], closes, strict=False)),
                      dict(zip(days[: cut + 1], vix, strict=False)))
    for d in days[: cut + 1]:
        assert full.vix_on(d) == part.vix_on(d)
        assert full.trend_average(d, sma) == part.trend_average(d, sma)
        assert full.regime(d, cfg) == part.regime(d, cfg)


def test_bundled_market_data_for_an_etf_and_an_index() -> None:
    spy = MarketData.from_bundled("spy")
    assert spy.underlying == "SPY"
    assert spy.vix_on(date(2020, 3, 16)) == pytest.approx(82.69, abs=0.01)  # the 2020 closing high
    assert spy.regime(date(2020, 3, 16), RegimeConfig()) == "bear_high_vol"
    assert spy.regime(date(2017, 6, 1), RegimeConfig()) == "bull_low_vol"
    assert MarketData.from_bundled("SPX").close_on(date(2019, 1, 2)) is not None


def test_unknown_ticker_names_the_bundled_ones() -> None:
    with pytest.raises(UnknownSymbolError, match=r"SPY.*VIX"):
        MarketData.from_bundled("ZZZZ")


def test_bad_series_are_refused() -> None:
    with pytest.raises(ValueError, match="two values"):
        MarketData("X", pd.Series([1.0, 2.0], index=pd.to_datetime([D0, D0])), {D0: 20.0})
    with pytest.raises(ValueError, match="non-positive"):
        MarketData("X", {D0: 0.0}, {D0: 20.0})
    with pytest.raises(TypeError, match="pandas Series"):
        MarketData("X", [1.0, 2.0], {D0: 20.0})  # type: ignore[arg-type]


# --- IV rank and percentile ----------------------------------------------------------------
def test_iv_rank_and_percentile_by_hand() -> None:
    t = IVTracker(window=5)
    days = _days(8)
    for d, iv in zip(days[:4], [0.20, 0.10, 0.30, 0.25], strict=True):
        r = t.update(d, iv)
        assert (r.rank, r.percentile, r.warmed_up) == (None, None, False)
    # Window 0.20 0.10 0.30 0.25 0.15: rank (0.15-0.10)/(0.30-0.10) = 25; 1 of 4 earlier below.
    r = t.update(days[4], 0.15)
    assert r.observations == 5 and r.warmed_up
    assert r.rank == pytest.approx(25.0)
    assert r.percentile == pytest.approx(25.0)
    # The 0.20 leaves: 0.10 0.30 0.25 0.15 0.35 -> a new high.
    r = t.update(days[5], 0.35)
    assert (r.rank, r.percentile) == (pytest.approx(100.0), pytest.approx(100.0))
    # A day without an IV is no observation and changes nothing.
    r = t.update(days[6], None)
    assert (r.iv, r.observations, r.rank, r.percentile) == (None, 5, None, None)
    # 0.30 0.25 0.15 0.35 0.30: rank (0.30-0.15)/0.20 = 75; 0.25 and 0.15 below (the equal 0.30 is not).
    r = t.update(days[7], 0.30)
    assert r.rank == pytest.approx(75.0)
    assert r.percentile == pytest.approx(50.0)


def test_a_flat_window_has_no_rank_and_a_zero_percentile() -> None:
    t = IVTracker(window=3)
    for d in _days(3):
        r = t.update(d, 0.2)
    assert r.rank is None
    assert r.percentile == 0.0
    assert iv_refusal(EntryFilters(min_iv_rank=10), r) == "iv_rank_undefined"


def test_tracker_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match=">= 2"):
        IVTracker(window=1)
    t = IVTracker(window=3)
    t.update(D0, 0.2)
    with pytest.raises(ValueError, match="date order"):
        t.update(D0, 0.2)
    with pytest.raises(ValueError, match="> 0"):
        t.update(D0 + timedelta(days=1), -0.1)


def _reading(iv: float | None, obs: int = 10, rank: float | None = 50.0, pct: float | None = 50.0) -> IVReading:
    return IVReading(D0, iv, obs, 10, rank, pct)


@pytest.mark.parametrize(
    ("entry", "reading", "reason"),
    [
        (EntryFilters(), _reading(None), None),  # no IV bound: nothing to refuse
        (EntryFilters(min_iv_percentile=0), _reading(None), "no_iv"),
        (EntryFilters(min_iv_percentile=0), _reading(0.2, obs=9), "iv_warmup"),
        (EntryFilters(min_iv_rank=50), _reading(0.2), None),  # bounds are inclusive
        (EntryFilters(min_iv_rank=50.5), _reading(0.2), "iv_rank_filter"),
        (EntryFilters(max_iv_rank=49), _reading(0.2), "iv_rank_filter"),
        (EntryFilters(min_iv_percentile=60), _reading(0.2), "iv_percentile_filter"),
        (EntryFilters(max_iv_percentile=40), _reading(0.2), "iv_percentile_filter"),
        (EntryFilters(min_iv_rank=10, max_iv_percentile=50), _reading(0.2), None),
    ],
)
def test_iv_refusal_reasons(entry: EntryFilters, reading: IVReading, reason: str | None) -> None:
    assert iv_refusal(entry, reading) == reason


@pytest.mark.parametrize(
    ("vix_min", "vix_max", "vix", "reason"),
    [(None, None, None, None), (None, 45.0, None, "no_vix_value"), (None, 45.0, 45.0, None),
     (None, 45.0, 45.01, "vix_filter"), (15.0, None, 14.9, "vix_filter"), (15.0, 30.0, 15.0, None)],
)
def test_vix_refusal_reasons(vix_min: float | None, vix_max: float | None, vix: float | None,
                             reason: str | None) -> None:
    assert vix_refusal(EntryFilters(vix_min=vix_min, vix_max=vix_max), vix) == reason


def test_iv_percentile_fields_are_bounded_and_ordered() -> None:
    with pytest.raises(ValueError, match=r"min_iv_percentile .* is above max_iv_percentile"):
        EntryFilters(min_iv_percentile=60, max_iv_percentile=50)
    with pytest.raises(ValueError, match="less than or equal to 100"):
        EntryFilters(min_iv_percentile=101)


# --- ATM IV from a chain -------------------------------------------------------------------
def _priced_rows(day: date, spot: float, exp: date, strikes: list[float], vol: float,
                 rate: float = 0.0) -> list[dict[str, Any]]:
    t = (exp - day).days / 365.0
    rows = []
    for k in strikes:
        for right in ("C", "P"):
            px = float(bsm_price(spot, k, t, rate, 0.0, vol, right == "C"))
            rows.append({
                "quote_date": day, "underlying": "XYZ", "underlying_price": spot, "root": "XYZ",
                "expiration": exp, "strike": k, "right": right, "bid": px - 0.01, "ask": px + 0.01,
                "last": None, "volume": 10, "open_interest": 10, "iv": None, "delta": None,
                "gamma": None, "theta": None, "vega": None, "quality": 0, "source": "test",
                "model_priced": False,
            })
    return rows


def _chain(rows: list[dict[str, Any]], day: date = D0) -> DayChain:
    return DayChain.from_table(day, pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA), "XYZ")


def test_atm_iv_interpolates_total_variance_between_the_bracketing_expirations() -> None:
    strikes = [95.0, 100.0, 105.0]
    e20, e40 = D0 + timedelta(days=20), D0 + timedelta(days=40)
    rows = _priced_rows(D0, 100.0, e20, strikes, 0.20) + _priced_rows(D0, 100.0, e40, strikes, 0.30)
    expected = math.sqrt((0.20**2 * 20 + (0.30**2 * 40 - 0.20**2 * 20) * (30 - 20) / (40 - 20)) / 30)
    assert atm_iv(_chain(rows)) == pytest.approx(expected, rel=1e-6)


def test_atm_iv_uses_the_nearest_expiration_when_none_brackets_30_days() -> None:
    strikes = [95.0, 100.0, 105.0]
    rows = (_priced_rows(D0, 100.0, D0 + timedelta(days=5), strikes, 0.50)  # under 7 DTE: left out
            + _priced_rows(D0, 100.0, D0 + timedelta(days=45), strikes, 0.25)
            + _priced_rows(D0, 100.0, D0 + timedelta(days=80), strikes, 0.35))
    assert atm_iv(_chain(rows)) == pytest.approx(0.25, rel=1e-6)


def test_atm_iv_takes_the_forward_from_put_call_parity() -> None:
    # Priced with a 5% rate: the forward, not the spot, is at the money; IV comes back within
    # the discounting the method ignores.
    rows = _priced_rows(D0, 100.0, D0 + timedelta(days=30), [95.0, 100.0, 105.0], 0.22, rate=0.05)
    assert atm_iv(_chain(rows)) == pytest.approx(0.22, rel=5e-3)


def test_a_bracketing_expiration_without_a_pair_gives_way_to_the_next_one() -> None:
    strikes = [95.0, 100.0, 105.0]
    calls_only_20 = [r for r in _priced_rows(D0, 100.0, D0 + timedelta(days=20), strikes, 0.5) if r["right"] == "C"]
    rows = (_priced_rows(D0, 100.0, D0 + timedelta(days=10), strikes, 0.20) + calls_only_20
            + _priced_rows(D0, 100.0, D0 + timedelta(days=40), strikes, 0.30))
    expected = math.sqrt((0.20**2 * 10 + (0.30**2 * 40 - 0.20**2 * 10) * (30 - 10) / (40 - 10)) / 30)
    assert atm_iv(_chain(rows)) == pytest.approx(expected, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(forward=st.floats(10.0, 5000.0), moneyness=st.floats(0.8, 1.2), t=st.floats(1 / 365, 2.0),
       vol=st.floats(0.03, 2.0))
def test_black_call_vol_agrees_with_the_vectorized_solver(forward: float, moneyness: float, t: float,
                                                          vol: float) -> None:
    strike = forward * moneyness
    price = float(bsm_price(forward, strike, t, 0.0, 0.0, vol, True))
    ref = float(implied_vol(price, forward, strike, t, 0.0, 0.0, True))
    mine = black_call_vol(price, forward, strike, t)
    if price - max(forward - strike, 0.0) < 1e-8 * forward:  # finer than any quote: refused
        assert math.isnan(mine)
    else:
        assert mine == pytest.approx(ref, rel=1e-6, abs=1e-7)


def test_black_call_vol_is_nan_outside_the_no_arbitrage_range() -> None:
    assert math.isnan(black_call_vol(4.0, 100.0, 95.0, 0.1))  # below intrinsic 5
    assert math.isnan(black_call_vol(100.0, 100.0, 95.0, 0.1))  # at the forward
    assert math.isnan(black_call_vol(1.0, 100.0, 95.0, 0.0))


def test_atm_strike_ties_go_to_the_lower_strike() -> None:
    e = D0 + timedelta(days=30)
    rows = _priced_rows(D0, 102.5, e, [100.0], 0.20) + _priced_rows(D0, 102.5, e, [105.0], 0.40)
    assert atm_iv(_chain(rows)) == pytest.approx(0.20, rel=1e-3)


def test_no_atm_iv_without_a_put_call_pair_or_a_spot() -> None:
    e = D0 + timedelta(days=30)
    calls_only = [r for r in _priced_rows(D0, 100.0, e, [100.0], 0.2) if r["right"] == "C"]
    assert atm_iv(_chain(calls_only)) is None
    no_spot = [{**r, "underlying_price": None} for r in _priced_rows(D0, 100.0, e, [100.0], 0.2)]
    assert atm_iv(_chain(no_spot)) is None
    assert atm_iv(_chain([])) is None


# --- wired into run_backtest ----------------------------------------------------------------
def _row(day: date, spot: float, exp: date, strike: float, right: str, bid: float, ask: float,
         delta: float) -> dict[str, Any]:
    return {
        "quote_date": day, "underlying": "SPY", "underlying_price": spot, "root": "SPY",
        "expiration": exp, "strike": strike, "right": right, "bid": bid, "ask": ask,
        "last": None, "volume": 1000, "open_interest": 1000, "iv": 0.2, "delta": delta,
        "gamma": None, "theta": None, "vega": None, "quality": 0, "source": "test",
        "model_priced": False,
    }


D1, D2 = date(2021, 3, 15), date(2021, 3, 19)


def _two_days() -> list[tuple[date, pa.Table]]:
    day1 = [_row(D1, 100.0, D2, 95.0, "P", 1.00, 1.10, -0.10), _row(D1, 100.0, D2, 90.0, "P", 0.20, 0.30, -0.04)]
    day2 = [_row(D2, 101.0, date(2021, 4, 16), 150.0, "C", 0.01, 0.02, 0.01)]
    return [(D1, pa.Table.from_pylist(day1, schema=CHAIN_SCHEMA)),
            (D2, pa.Table.from_pylist(day2, schema=CHAIN_SCHEMA))]


def _config(**regimes: Any) -> RiskPilotConfig:
    return RiskPilotConfig.model_validate({
        "regimes": {"trend_sma_days": 3, **regimes},
        "methods": {"default": {
            "entry": {"min_delta": 0.05, "max_delta": 0.15, "min_dte": 0, "max_dte": 10, "vix_max": 45},
            "sizing": {"max_contracts": 10, "max_risk_per_trade_pct": 1.0},
        }},
    })


def _market(trend: str, vix: float) -> MarketData:
    closes = [100.0, 110.0, 120.0] if trend == "bull" else [120.0, 110.0, 100.0]
    days = [D1 - timedelta(days=2), D1 - timedelta(days=1), D1]
    return MarketData("SPY", dict(zip(days, closes, strict=True)), {D1: vix, D2: vix})


def _run(market: MarketData | None, cfg: RiskPilotConfig | None = None) -> Any:
    return run_backtest(_two_days(), cfg or _config(), method="default", underlying="SPY",
                        equity=10_000_000.0, slippage="none", market=market)


def _opened(r: Any) -> list[int]:
    return [e.quantity for e in r.events if e.kind == "OPEN"]


def test_vix_above_the_range_refuses_the_entry_and_counts_why() -> None:
    r = _run(_market("bull", 50.0))
    assert _opened(r) == []
    assert r.entries_refused == {"vix_filter": 2}  # both days have a chain to enter from
    assert _opened(_run(_market("bull", 15.0))) == [10]


def test_without_market_data_vix_and_regime_are_not_applied_and_the_warnings_say_so() -> None:
    r = _run(None)
    assert _opened(r) == [10]
    assert any("vix_max=45" in w and "not applied" in w for w in r.warnings)
    assert any("regime size multipliers not applied" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("trend", "vix", "quantity"),
    [("bull", 15.0, 10), ("bull", 25.0, 7), ("bear", 15.0, 5), ("bear", 25.0, 4)],
)
def test_regime_multiplier_shrinks_the_order(trend: str, vix: float, quantity: int) -> None:
    # Default multipliers 1.0 / 0.75 / 0.5 / 0.4 on max_contracts 10, floored.
    assert _opened(_run(_market(trend, vix))) == [quantity]


def test_regime_multiplier_sizing_to_zero_refuses_with_validate_orders_reason() -> None:
    cfg = _config(multipliers={"bull_low_vol": 1.0, "bull_high_vol": 0.75, "bear_low_vol": 0.5,
                               "bear_high_vol": 0.05})
    r = _run(_market("bear", 30.0), cfg)
    assert _opened(r) == []
    assert r.entries_refused == {"regime": 1, "no_candidate": 1}  # day 2 lists nothing to enter


def test_unknown_regime_refuses_rather_than_sizing_at_full_size() -> None:
    short = MarketData("SPY", {D1: 100.0}, {D1: 15.0, D2: 15.0})  # one close for a 3-day average
    r = _run(short)
    assert _opened(r) == []
    assert r.entries_refused == {"no_regime": 2}


# --- IV filters and trade_from on a model chain ----------------------------------------------
@pytest.fixture(scope="module")
def spy_days() -> list[tuple[date, pa.Table]]:
    return list(iter_table_days(generate_model_chain("SPY", date(2019, 1, 1), date(2019, 3, 31))))


def _iv_config(**entry: Any) -> RiskPilotConfig:
    return RiskPilotConfig.model_validate({"methods": {"default": {"entry": {"vix_max": None, **entry}}}})


def _readings(days: list[tuple[date, pa.Table]], window: int) -> list[IVReading]:
    t = IVTracker(window)
    return [t.observe(DayChain.from_table(d, tb, "SPY")) for d, tb in days]


def test_iv_filter_refuses_during_warm_up_unless_trade_from_supplies_the_days(
    spy_days: list[tuple[date, pa.Table]],
) -> None:
    cfg = _iv_config(min_iv_percentile=0)
    cold = run_backtest(iter(spy_days), cfg, method="default", underlying="SPY", equity=1e6, iv_window=10)
    assert cold.entries_refused["iv_warmup"] == 9  # 1..9 observations of 10
    assert cold.dates[0] == spy_days[0][0]
    warm = run_backtest(iter(spy_days), cfg, method="default", underlying="SPY", equity=1e6, iv_window=10,
                        trade_from=spy_days[10][0])
    assert "iv_warmup" not in warm.entries_refused
    assert warm.dates == [d for d, _ in spy_days[10:]]
    assert min(e.day for e in warm.events) >= spy_days[10][0]


def test_iv_percentile_and_rank_filters_refuse_exactly_the_days_outside_their_bounds(
    spy_days: list[tuple[date, pa.Table]],
) -> None:
    readings = _readings(spy_days, 10)
    assert all(r.iv is not None for r in readings)
    pct = run_backtest(iter(spy_days), _iv_config(min_iv_percentile=50), method="default", underlying="SPY",
                       equity=1e6, iv_window=10)
    low = [r for r in readings if r.warmed_up and r.percentile is not None and r.percentile < 50]
    assert low, "the model chain's IV never fell below its median: the test proves nothing"
    assert pct.entries_refused["iv_percentile_filter"] == len(low)
    opened = {e.day for e in pct.events if e.kind == "OPEN"}
    assert not opened & {r.day for r in low}
    rank = run_backtest(iter(spy_days), _iv_config(max_iv_rank=30), method="default", underlying="SPY",
                        equity=1e6, iv_window=10)
    high = [r for r in readings if r.rank is not None and r.rank > 30]
    assert rank.entries_refused["iv_rank_filter"] == len(high)


def test_truncating_chain_and_history_after_t_changes_nothing_up_to_t(
    spy_days: list[tuple[date, pa.Table]],
) -> None:
    cfg = _iv_config(min_iv_percentile=20, vix_max=19)
    spy = MarketData.from_bundled("SPY")
    cut = 45
    t = spy_days[cut - 1][0]
    from riskpilot.data.history import load_index, load_underlying

    closes = load_underlying("SPY")["close"]
    vix = load_index("VIX")["close"]
    stamp = pd.Timestamp(t)
    cut_market = MarketData("SPY", closes[closes.index <= stamp], vix[vix.index <= stamp])
    kw: dict[str, Any] = {"method": "default", "underlying": "SPY", "equity": 1e6, "iv_window": 10,
                          "trade_from": spy_days[5][0]}
    full = run_backtest(iter(spy_days), cfg, market=spy, **kw)
    part = run_backtest(iter(spy_days[:cut]), cfg, market=cut_market, **kw)
    assert [e for e in full.events if e.day <= t] == part.events
    assert full.equity[: len(part.equity)] == part.equity
    assert [x for x in full.trades if x.closed <= t] == part.trades
    assert any(e.kind == "OPEN" for e in part.events)
    assert {"vix_filter", "iv_percentile_filter"} <= set(part.entries_refused)  # the signals were live
    assert np.isfinite(full.equity).all()


def test_warm_up_days_out_of_order_are_refused_too() -> None:
    days = list(reversed(_two_days()))
    with pytest.raises(ValueError, match="strictly increasing"):
        run_backtest(days, _config(), method="default", underlying="SPY", equity=1e6, trade_from=D2)
