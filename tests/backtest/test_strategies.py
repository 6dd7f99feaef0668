"""Strategy builders on hand-built chains: the exact legs each kind picks, the tie-breaks of the
documented selection rule, width by points and by delta, and the days with no candidate."""

from __future__ import annotations

import math
from datetime import date
from typing import Any, get_args

import pyarrow as pa
import pytest

from riskpilot.backtest.engine import iter_table_days, run_backtest
from riskpilot.config.schema import EntryFilters, RiskPilotConfig, StrategyConfig, StrategyKind
from riskpilot.data.daychain import DayChain
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.model.enums import PremiumType
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.trading.strategies import SUPPORTED_KINDS, EntryCandidate, select_entry

DAY = date(2021, 3, 1)
NEAR, MID, FAR = date(2021, 3, 26), date(2021, 4, 16), date(2021, 5, 21)  # 25, 46, 81 DTE
SPOT = 100.0

# (strike, |delta|) per right; binary fractions so that distances tie exactly.
PUTS = [(80.0, 0.03125), (85.0, 0.09375), (90.0, 0.15625), (95.0, 0.3125), (100.0, 0.5)]
CALLS = [(100.0, 0.5), (105.0, 0.3125), (110.0, 0.15625), (115.0, 0.09375), (120.0, 0.03125)]


def _row(exp: date, strike: float, right: str, delta: float | None, bid: float, ask: float,
         quality: int = 0) -> dict[str, Any]:
    return {
        "quote_date": DAY, "underlying": "XYZ", "underlying_price": SPOT, "root": "XYZ",
        "expiration": exp, "strike": strike, "right": right, "bid": bid, "ask": ask,
        "last": None, "volume": 100, "open_interest": 100, "iv": 0.2, "delta": delta,
        "gamma": None, "theta": None, "vega": None, "quality": quality, "source": "test",
        "model_priced": False,
    }


def _expiry_rows(exp: date, *, puts: list[tuple[float, float]] = PUTS,
                 calls: list[tuple[float, float]] = CALLS) -> list[dict[str, Any]]:
    rows = []
    for k, d in puts:
        px = round(d * 4, 4)
        rows.append(_row(exp, k, "P", -d, px, px + 0.1))
    for k, d in calls:
        px = round(d * 4, 4)
        rows.append(_row(exp, k, "C", d, px, px + 0.1))
    return rows


def _day(rows: list[dict[str, Any]]) -> DayChain:
    return DayChain.from_table(DAY, pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA), "XYZ")


def _std_day() -> DayChain:
    return _day(_expiry_rows(NEAR) + _expiry_rows(MID) + _expiry_rows(FAR))


# The delta range 0.125 +/- 0.0625 has its midpoint 0.125 exactly between 0.09375 and 0.15625.
TIE = EntryFilters(min_delta=0.0625, max_delta=0.1875, min_dte=30, max_dte=60)
# 0.08 .. 0.12 holds only the 0.09375 strikes (85P, 115C).
NARROW = EntryFilters(min_delta=0.08, max_delta=0.12, min_dte=30, max_dte=60)


def _legs(c: EntryCandidate | None) -> list[tuple[date, float, str, int]]:
    assert c is not None
    return [(leg.contract.expiration, leg.contract.strike, leg.contract.right.value, leg.quantity)
            for leg in c.legs]


def _pick(kind: StrategyKind, entry: EntryFilters = NARROW, day: DayChain | None = None,
          **strategy: Any) -> EntryCandidate | None:
    cfg = StrategyConfig(kind=kind, **strategy)
    return select_entry(day or _std_day(), cfg, entry)


def test_every_configured_kind_has_a_builder() -> None:
    assert set(SUPPORTED_KINDS) == set(get_args(StrategyKind))


def test_put_credit_spread_shorts_by_delta_and_buys_the_wing_width_points_below() -> None:
    c = _pick("put_credit_spread", width_points=5.0)
    assert _legs(c) == [(MID, 85.0, "P", -1), (MID, 80.0, "P", 1)]
    assert c is not None and c.premium_type is PremiumType.CREDIT
    assert c.short_delta == -0.09375
    assert c.delta_per_share == pytest.approx(0.09375 - 0.03125)


def test_width_in_points_is_never_narrower_than_asked() -> None:
    # 7 points below the 95 short is 88: the highest listed put at or below is 85.
    c = _pick("put_credit_spread", EntryFilters(min_delta=0.3, max_delta=0.33), width_points=7.0)
    assert _legs(c) == [(MID, 95.0, "P", -1), (MID, 85.0, "P", 1)]
    c = _pick("call_credit_spread", EntryFilters(min_delta=0.3, max_delta=0.33), width_points=7.0)
    assert _legs(c) == [(MID, 105.0, "C", -1), (MID, 115.0, "C", 1)]


def test_the_default_width_is_a_share_of_spot() -> None:
    # 1% of the spot 100 is 1 point: the first listed put at least 1 below the 85 short is 80.
    assert StrategyConfig().width_pct_of_spot == 0.01 and StrategyConfig().width_points is None
    assert _legs(_pick("put_credit_spread")) == [(MID, 85.0, "P", -1), (MID, 80.0, "P", 1)]
    # 12% of spot is 12 points: at or below 73, none listed.
    assert _pick("put_credit_spread", width_pct_of_spot=0.12) is None
    # 5% of spot above the 115 call short: the lowest call at or above 120.
    assert _legs(_pick("call_credit_spread", width_pct_of_spot=0.05)) == [(MID, 115.0, "C", -1), (MID, 120.0, "C", 1)]


def test_width_by_share_of_spot_needs_the_underlying_price() -> None:
    rows = [{**r, "underlying_price": None} for r in _expiry_rows(MID)]
    assert _pick("put_credit_spread", day=_day(rows), width_pct_of_spot=0.01) is None


def test_one_way_of_placing_the_wing_at_a_time() -> None:
    with pytest.raises(ValueError, match="give one of width_points, width_pct_of_spot or long_delta"):
        StrategyConfig(width_points=5.0, width_pct_of_spot=0.01)
    assert StrategyConfig(width_points=5.0).width_pct_of_spot is None  # the default yields to a given width
    assert StrategyConfig(long_delta=0.05).width_pct_of_spot is None


def test_call_credit_spread_buys_the_wing_above() -> None:
    c = _pick("call_credit_spread", width_points=5.0)
    assert _legs(c) == [(MID, 115.0, "C", -1), (MID, 120.0, "C", 1)]
    assert c is not None and c.delta_per_share == pytest.approx(-0.09375 + 0.03125)


def test_width_by_long_leg_delta_picks_the_closest_delta_beyond_the_short() -> None:
    entry = EntryFilters(min_delta=0.14, max_delta=0.17)
    c = _pick("put_credit_spread", entry, width_points=None, long_delta=0.04)
    assert _legs(c) == [(MID, 90.0, "P", -1), (MID, 80.0, "P", 1)]
    c = _pick("call_credit_spread", entry, width_points=None, long_delta=0.09)
    assert _legs(c) == [(MID, 110.0, "C", -1), (MID, 115.0, "C", 1)]


def test_long_delta_tie_goes_to_the_further_out_of_the_money_strike() -> None:
    # Short 95P (0.3125): 90P (0.15625) and 85P (0.09375) are 0.03125 from 0.125.
    entry = EntryFilters(min_delta=0.3, max_delta=0.33)
    c = _pick("put_credit_spread", entry, width_points=None, long_delta=0.125)
    assert _legs(c) == [(MID, 95.0, "P", -1), (MID, 85.0, "P", 1)]
    c = _pick("call_credit_spread", entry, width_points=None, long_delta=0.125)
    assert _legs(c) == [(MID, 105.0, "C", -1), (MID, 115.0, "C", 1)]


def test_short_delta_tie_goes_to_the_further_out_of_the_money_strike() -> None:
    assert _legs(_pick("short_put", TIE)) == [(MID, 85.0, "P", -1)]
    assert _legs(_pick("short_call", TIE)) == [(MID, 115.0, "C", -1)]
    # A long option's bought strike follows the same rule.
    assert _legs(_pick("long_put", TIE)) == [(MID, 85.0, "P", 1)]
    assert _legs(_pick("long_call", TIE)) == [(MID, 115.0, "C", 1)]


def test_iron_condor_is_both_spreads_on_one_expiration() -> None:
    c = _pick("iron_condor", width_points=5.0)
    assert _legs(c) == [(MID, 85.0, "P", -1), (MID, 80.0, "P", 1),
                        (MID, 115.0, "C", -1), (MID, 120.0, "C", 1)]
    assert c is not None and c.premium_type is PremiumType.CREDIT
    assert c.delta_per_share == pytest.approx(0.09375 - 0.03125 - 0.09375 + 0.03125)


def test_single_leg_and_strangle_kinds() -> None:
    assert _legs(_pick("short_put")) == [(MID, 85.0, "P", -1)]
    assert _legs(_pick("short_call")) == [(MID, 115.0, "C", -1)]
    strangle = _pick("short_strangle")
    assert _legs(strangle) == [(MID, 85.0, "P", -1), (MID, 115.0, "C", -1)]
    assert strangle is not None and strangle.delta_per_share == pytest.approx(0.0)
    long_put, long_call = _pick("long_put"), _pick("long_call")
    assert _legs(long_put) == [(MID, 85.0, "P", 1)]
    assert _legs(long_call) == [(MID, 115.0, "C", 1)]
    assert long_put is not None and long_put.premium_type is PremiumType.DEBIT
    assert long_put.delta_per_share == -0.09375
    assert long_call is not None and long_call.premium_type is PremiumType.DEBIT
    assert long_call.delta_per_share == 0.09375


def test_expiration_closest_to_the_window_midpoint_ties_to_the_earlier() -> None:
    # Window 20..51: midpoint 35.5 is 10.5 days from both 25 DTE and 46 DTE.
    tie = EntryFilters(min_delta=0.08, max_delta=0.12, min_dte=20, max_dte=51)
    assert _legs(_pick("short_put", tie))[0][0] == NEAR
    later = EntryFilters(min_delta=0.08, max_delta=0.12, min_dte=20, max_dte=53)  # midpoint 36.5
    assert _legs(_pick("short_put", later))[0][0] == MID


def test_next_expiration_is_used_when_the_preferred_one_has_no_qualifying_legs() -> None:
    window = EntryFilters(min_delta=0.08, max_delta=0.12, min_dte=20, max_dte=90)  # mid 55: MID first
    no_wing = _expiry_rows(MID, puts=[(85.0, 0.09375)])  # a short but nothing below it
    day = _day(_expiry_rows(NEAR) + no_wing + _expiry_rows(FAR))
    # Preference: MID (46, |46-55|=9), then FAR (81, 26), then NEAR (25, 30).
    assert _legs(_pick("put_credit_spread", window, day, width_points=5.0))[0][0] == FAR
    # A single short put has no wing to find, so MID qualifies.
    assert _legs(_pick("short_put", window, day))[0][0] == MID


def test_already_held_expirations_are_skipped() -> None:
    held = frozenset({(MID - date(1970, 1, 1)).days})
    c = select_entry(_std_day(), StrategyConfig(kind="short_put"),
                     EntryFilters(min_delta=0.08, max_delta=0.12, min_dte=20, max_dte=90),
                     exclude_expirations=held)
    assert _legs(c)[0][0] == FAR


@pytest.mark.parametrize("kind", SUPPORTED_KINDS)
def test_no_candidate_when_no_expiration_is_in_the_window(kind: StrategyKind) -> None:
    assert _pick(kind, EntryFilters(min_dte=90, max_dte=120)) is None


@pytest.mark.parametrize("kind", SUPPORTED_KINDS)
def test_no_candidate_when_no_strike_is_in_the_delta_range(kind: StrategyKind) -> None:
    assert _pick(kind, EntryFilters(min_delta=0.6, max_delta=0.9)) is None


def test_no_candidate_without_a_bid_to_sell_or_an_ask_to_buy() -> None:
    rows = [_row(MID, 85.0, "P", -0.09375, 0.0, 0.05), _row(MID, 80.0, "P", -0.03125, 0.0, 0.05),
            _row(MID, 115.0, "C", 0.09375, 0.2, 0.0)]
    day = _day(rows)
    assert _pick("short_put", day=day) is None  # bid 0: nothing to sell
    assert _pick("put_credit_spread", day=day, width_points=5.0) is None
    assert _legs(_pick("long_put", day=day)) == [(MID, 85.0, "P", 1)]  # ask 0.05: buyable
    assert _pick("long_call", day=day) is None  # ask 0: nothing to buy


def test_no_candidate_when_the_wing_is_not_listed() -> None:
    assert _pick("put_credit_spread", width_points=10.0) is None  # 85 - 10 = 75: not listed
    assert _pick("call_credit_spread", width_points=10.0) is None
    assert _pick("iron_condor", width_points=10.0) is None


def test_rows_without_delta_or_flagged_unusable_never_qualify() -> None:
    rows = [_row(MID, 85.0, "P", None, 0.4, 0.5), _row(MID, 90.0, "P", -0.1, 0.4, 0.5, quality=1)]
    assert _pick("short_put", day=_day(rows)) is None


def test_strangle_and_condor_need_the_put_below_the_call() -> None:
    atm = EntryFilters(min_delta=0.45, max_delta=0.55)  # both sides pick the 100 strike
    assert _pick("short_strangle", atm) is None
    assert _pick("iron_condor", atm, width_points=5.0) is None


def test_unknown_delta_on_the_wing_gives_an_unknown_position_delta() -> None:
    rows = [_row(MID, 85.0, "P", -0.09375, 0.4, 0.5), _row(MID, 80.0, "P", None, 0.1, 0.2)]
    c = _pick("put_credit_spread", day=_day(rows), width_points=5.0)
    assert _legs(c) == [(MID, 85.0, "P", -1), (MID, 80.0, "P", 1)]
    assert c is not None and c.delta_per_share != c.delta_per_share  # NaN


@pytest.mark.parametrize(
    ("kind", "premium", "expected"),
    [
        ("put_credit_spread", 0.30, (5.0 - 0.30) * 100),  # width - credit
        ("call_credit_spread", 0.30, (5.0 - 0.30) * 100),
        ("iron_condor", 0.60, (5.0 - 0.60) * 100),  # one side can lose at a time
        ("short_put", 0.40, (85.0 - 0.40) * 100),  # underlying to zero
        ("short_call", 0.40, (SPOT * 1.5 - 115.0 - 0.40) * 100),  # +50% stress move
        ("short_strangle", 0.80, max(85.0 - 0.80, SPOT * 1.5 - 115.0 - 0.80) * 100),
        ("long_put", 0.40, 0.40 * 100),  # the debit paid
        ("long_call", 0.40, 0.40 * 100),
    ],
)
def test_max_loss_per_unit_covers_every_structure(kind: StrategyKind, premium: float, expected: float) -> None:
    c = _pick(kind, width_points=5.0)
    assert c is not None
    assert max_loss_per_unit(c.legs, premium, c.premium_type, underlying_price=SPOT) == pytest.approx(expected)


# --- every kind end to end through run_backtest on a model chain -----------------------------
SHAPES: dict[str, list[tuple[str, int]]] = {
    "put_credit_spread": [("P", -1), ("P", 1)],
    "call_credit_spread": [("C", -1), ("C", 1)],
    "iron_condor": [("P", -1), ("P", 1), ("C", -1), ("C", 1)],
    "short_put": [("P", -1)],
    "short_call": [("C", -1)],
    "short_strangle": [("P", -1), ("C", -1)],
    "long_put": [("P", 1)],
    "long_call": [("C", 1)],
}


@pytest.fixture(scope="module")
def model_days() -> list[tuple[date, pa.Table]]:
    return list(iter_table_days(generate_model_chain("SPY", date(2019, 1, 1), date(2019, 4, 30))))


@pytest.mark.parametrize("kind", SUPPORTED_KINDS)
def test_each_kind_trades_end_to_end_on_a_model_chain(kind: StrategyKind,
                                                       model_days: list[tuple[date, pa.Table]]) -> None:
    cfg = RiskPilotConfig.model_validate({"methods": {"default": {
        "strategy": {"kind": kind, "width_points": 5},
        "entry": {"min_delta": 0.10, "max_delta": 0.30, "min_dte": 14, "max_dte": 45},
        "sizing": {"max_contracts": 2, "max_risk_per_trade_pct": 1.0},
    }}})
    r = run_backtest(iter(model_days), cfg, method="default", underlying="SPY", equity=5_000_000.0,
                     slippage="none")
    opens = [e for e in r.events if e.kind == "OPEN"]
    assert len(opens) >= 2, r.entries_refused
    assert all(1 <= e.quantity <= 2 for e in opens)
    assert r.trades
    debit = kind.startswith("long")
    for t in r.trades:
        assert t.strategy == kind
        assert [(leg.contract.right.value, leg.quantity) for leg in t.legs] == SHAPES[kind]
        assert len({leg.contract.expiration for leg in t.legs}) == 1
        k = [leg.contract.strike for leg in t.legs]
        if kind in ("put_credit_spread", "call_credit_spread"):
            assert abs(k[0] - k[1]) >= 5.0 and (k[1] < k[0]) == (kind == "put_credit_spread")
        if kind == "iron_condor":
            assert k[1] < k[0] < k[2] < k[3]
        if kind == "short_strangle":
            assert k[0] < k[1]
        assert t.entry_premium > 0
        gain = (t.exit_premium - t.entry_premium) if debit else (t.entry_premium - t.exit_premium)
        assert t.pnl == pytest.approx(gain * 100 * t.quantity - t.commission, abs=1e-6)
    assert all(math.isfinite(x) for x in r.equity)
