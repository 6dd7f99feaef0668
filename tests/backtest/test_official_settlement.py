"""Settlement from official values (riskpilot.trading.settlement.OfficialValues): the bundled
daily history's close for PM-settled roots, its open for AM-settled ones, whatever day the
chain skipped; the chain's close only where no official series exists, with a warning."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from tests.backtest.scenario import Leg, config, day_table

from riskpilot.backtest.engine import run_backtest
from riskpilot.data.daychain import DayChain
from riskpilot.data.history import load_index, load_underlying
from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.testing import make_position
from riskpilot.trading.settlement import (
    AM_SETTLEMENT_TIME,
    ChainCloses,
    OfficialValues,
    is_am_settled,
    settles_before,
)

SPX = load_index("SPX")


def _official(underlying: str, day: str, column: str = "close") -> float:
    frame = SPX if underlying == "SPX" else load_underlying(underlying)
    return float(frame.loc[day, column])


def _closes(*days: tuple[date, float]) -> ChainCloses:
    closes = ChainCloses("SPX")
    for d, px in days:
        closes.observe(d, px)
    return closes


def test_pm_expiry_settles_at_the_official_close_not_the_chains() -> None:
    warned: list[str] = []
    prices = OfficialValues("SPX", _closes((date(2019, 5, 15), 2846.0)), warn=warned.append)
    value = prices.on("SPX", date(2019, 5, 15))
    assert value.spot == _official("SPX", "2019-05-15") == pytest.approx(2850.96)
    assert value.source == "official SPX close of 2019-05-15"
    assert not warned


def test_am_expiry_settles_at_the_official_open() -> None:
    value = OfficialValues("SPX", None).on("SPX", date(2019, 5, 17), am=True)
    assert value.spot == _official("SPX", "2019-05-17", "open")
    assert "open" in value.source and "approximated" in value.source


def test_an_expiration_day_the_chain_skipped_settles_at_that_days_official_value() -> None:
    # The 2019 SPX chain has no 2019-05-17 (a monthly expiration): the official close of the
    # 17th, not the chain's close of the 16th.
    prices = OfficialValues("SPX", _closes((date(2019, 5, 16), 2876.0), (date(2019, 5, 20), 2840.0)))
    assert prices.on("SPX", date(2019, 5, 17)).spot == _official("SPX", "2019-05-17")


@pytest.mark.parametrize("symbol", ["SPY", "QQQ", "IWM"])
def test_etfs_settle_at_their_raw_official_close(symbol: str) -> None:
    assert OfficialValues(symbol, None).on(symbol, date(2020, 3, 20)).spot == _official(symbol, "2020-03-20")


def test_xsp_settles_at_a_tenth_of_spx() -> None:
    assert OfficialValues("XSP", None).on("XSP", date(2021, 6, 18)).spot == pytest.approx(
        _official("SPX", "2021-06-18") / 10)


def test_no_official_series_falls_back_to_the_chain_with_one_warning() -> None:
    warned: list[str] = []
    prices = OfficialValues("NDX", _closes((date(2019, 5, 15), 7500.0)), warn=warned.append)
    assert prices.on("NDX", date(2019, 5, 15)).spot == 7500.0
    assert prices.on("NDX", date(2019, 5, 16)).spot == 7500.0  # the last close on or before
    assert len(warned) == 1 and "no official NDX series is bundled" in warned[0]


def test_no_series_and_no_chain_is_an_error_naming_both() -> None:
    with pytest.raises(ValueError, match="no official value to settle NDX"):
        OfficialValues("NDX", None).on("NDX", date(2019, 5, 15))


def test_a_chain_far_from_the_series_is_another_series_and_wins_with_a_warning() -> None:
    warned: list[str] = []
    prices = OfficialValues("SPY", _closes((date(2019, 5, 15), 570.0)), warn=warned.append)  # twice the close
    assert prices.on("SPY", date(2019, 5, 15)).spot == 570.0
    assert "a split the bundled series adjusts for?" in warned[0]


def test_an_open_that_is_the_previous_close_is_said_so() -> None:
    warned: list[str] = []
    value = OfficialValues("SPX", None, warn=warned.append).on("SPX", date(1990, 1, 3), am=True)
    assert value.spot == _official("SPX", "1990-01-02")  # the series' open that day is the previous close
    assert "previous close" in value.source and "previous close" in warned[0]


def test_an_am_contract_settles_before_the_close_of_its_expiration_day() -> None:
    pos = make_position(underlying="SPX", expiry_time=AM_SETTLEMENT_TIME)
    exp = pos.expiration
    assert is_am_settled(pos)
    close = datetime.combine(exp, time(16), tzinfo=EXCHANGE_TZ)
    assert settles_before(pos, close)
    pm = make_position(underlying="SPX")
    assert not is_am_settled(pm) and not settles_before(pm, close)


def test_spx_root_rows_are_am_settled_and_the_spxw_row_wins_a_shared_contract() -> None:
    exp = date(2019, 6, 21)
    table = day_table(date(2019, 5, 20), 2840.0, [
        Leg(2600.0, 6.0, 6.3, -0.0757, root="SPX"), Leg(2600.0, 6.3, 6.6, -0.0783, root="SPXW"),
        Leg(2500.0, 3.0, 3.2, -0.04, root="SPX"),
    ], underlying="SPX", expiration=exp)
    day = DayChain.from_table(date(2019, 5, 20), table, "SPX")
    rows = {float(k): day.is_am_settled(i) for i, k in enumerate(day.strike)}
    assert rows == {2500.0: True, 2600.0: False}
    assert float(day.bid[list(day.strike).index(2600.0)]) == 6.3  # the SPXW quote


def test_a_position_on_an_am_root_settles_at_the_open_in_a_backtest() -> None:
    exp = date(2019, 6, 21)
    legs = [Leg(2600.0, 10.0, 10.4, -0.10, root="SPX"), Leg(2570.0, 8.0, 8.4, -0.07, root="SPX")]
    days = [(date(2019, 5, 20), day_table(date(2019, 5, 20), 2840.0, legs, underlying="SPX", expiration=exp)),
            (exp, day_table(exp, 2950.0, [Leg(3000.0, 1.0, 1.2, -0.5, root="SPX")], underlying="SPX",
                            expiration=date(2019, 7, 19)))]
    cfg = config(profit_target={"enabled": False}, stop_loss={"enabled": False})
    cfg = cfg.model_copy(update={"methods": {"default": cfg.method("default").model_copy(update={
        "strategy": cfg.method("default").strategy.model_copy(update={"width_points": 30.0})})}})
    r = run_backtest(days, cfg, method="default", underlying="SPX", equity=1_000_000.0)
    [t] = r.trades
    assert t.legs[0].contract.expiry_time == AM_SETTLEMENT_TIME
    assert (t.exit_reason, t.closed) == ("expiration_settlement", exp)
    open_ = _official("SPX", "2019-06-21", "open")
    assert t.exit_premium == pytest.approx(max(2600 - open_, 0) - max(2570 - open_, 0))
