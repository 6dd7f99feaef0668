"""Fill model: hand-computed cases for every slippage model, limit orders, volume caps and
commissions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.execution.fills import (
    FillModel,
    FixedPctSlippage,
    MidSlippage,
    SpreadShareSlippage,
    combo_price,
    orats_share,
    simulate_fill,
)
from riskpilot.model import Leg, OptionContract, OrderType, Quote, Right, Side

NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)
P480 = OptionContract("SPY", EXP, 480.0, Right.PUT)
P475 = OptionContract("SPY", EXP, 475.0, Right.PUT)
C500 = OptionContract("SPY", EXP, 500.0, Right.CALL)
C505 = OptionContract("SPY", EXP, 505.0, Right.CALL)

QUOTES = {
    P480: Quote(2.00, 2.20, NOW, volume=50),
    P475: Quote(1.00, 1.10, NOW, volume=30),
    C500: Quote(1.50, 1.70, NOW, volume=1000),
    C505: Quote(0.80, 0.90, NOW, volume=1000),
}
SINGLE = (Leg(P480, 1),)
VERTICAL = (Leg(P480, -1), Leg(P475, 1))  # short put spread, held as -1/+1
CONDOR = (Leg(P480, -1), Leg(P475, 1), Leg(C500, -1), Leg(C505, 1))


def _fill(legs, side, model, qty=1, otype=OrderType.MARKET, limit=None):  # type: ignore[no-untyped-def]
    return simulate_fill(legs, side, qty, otype, limit, QUOTES, model)


def test_orats_share_by_leg_count_matches_published_table() -> None:
    assert [orats_share(n) for n in (1, 2, 3, 4, 6)] == [0.75, 0.66, 0.56, 0.53, 0.53]
    with pytest.raises(ValueError, match="legs"):
        orats_share(0)


def test_single_leg_buy_at_mid_with_no_slippage() -> None:
    r = _fill(SINGLE, Side.BUY, FillModel(MidSlippage()))
    assert r.price == pytest.approx(2.10) and r.filled_quantity == 1 and r.reason is None


def test_single_leg_fixed_pct_buys_above_and_sells_below_mid() -> None:
    m = FillModel(FixedPctSlippage(0.10))
    assert _fill(SINGLE, Side.BUY, m).price == pytest.approx(2.31)  # 2.10 * 1.10
    assert _fill(SINGLE, Side.SELL, m).price == pytest.approx(1.89)  # 2.10 * 0.90


def test_single_leg_orats_pays_three_quarters_of_spread() -> None:
    m = FillModel(SpreadShareSlippage())
    assert _fill(SINGLE, Side.BUY, m).price == pytest.approx(2.15)  # 2.00 + 0.75 * 0.20
    assert _fill(SINGLE, Side.SELL, m).price == pytest.approx(2.05)  # 2.20 - 0.75 * 0.20


def test_vertical_opened_for_credit_with_orats_two_leg_share() -> None:
    # Sell 480P at 2.20 - 0.66*0.20 = 2.068; buy 475P at 1.00 + 0.66*0.10 = 1.066.
    priced = combo_price(VERTICAL, Side.BUY, QUOTES, SpreadShareSlippage())
    assert not isinstance(priced, str)
    assert priced.net_debit == pytest.approx(-1.002)
    assert priced.mid_net_debit == pytest.approx(-1.05)
    assert priced.pays is False and priced.price == pytest.approx(1.002)


def test_vertical_closed_for_debit_with_orats_two_leg_share() -> None:
    # Buy back 480P at 2.00 + 0.132 = 2.132; sell 475P at 1.10 - 0.066 = 1.034 -> 1.098 debit.
    r = _fill(VERTICAL, Side.SELL, FillModel(SpreadShareSlippage()))
    assert r.price == pytest.approx(1.098) and r.net_debit == pytest.approx(1.098)


def test_iron_condor_uses_four_leg_share() -> None:
    # Credit: sell 480P 2.20-0.106=2.094, buy 475P 1.00+0.053=1.053,
    # sell 500C 1.70-0.106=1.594, buy 505C 0.80+0.053=0.853 -> 1.782 credit.
    r = _fill(CONDOR, Side.BUY, FillModel(SpreadShareSlippage()))
    assert r.price == pytest.approx(1.782)


def test_three_leg_order_uses_three_leg_share() -> None:
    legs = (Leg(P480, -1), Leg(P475, 1), Leg(C500, -1))
    # sell 480P 2.20-0.112=2.088, buy 475P 1.00+0.056=1.056, sell 500C 1.70-0.112=1.588
    r = _fill(legs, Side.BUY, FillModel(SpreadShareSlippage()))
    assert r.price == pytest.approx(2.088 - 1.056 + 1.588)


def test_credit_limit_fills_only_when_quotes_reach_it() -> None:
    m = FillModel(SpreadShareSlippage())
    hit = _fill(VERTICAL, Side.BUY, m, otype=OrderType.LIMIT, limit=1.00)
    assert hit.filled_quantity == 1 and hit.price == pytest.approx(1.002)
    miss = _fill(VERTICAL, Side.BUY, m, otype=OrderType.LIMIT, limit=1.05)
    assert miss.filled_quantity == 0 and miss.price is None
    assert miss.reason is not None and "limit 1.05 not reached" in miss.reason


def test_debit_limit_buy_fills_when_limit_at_or_above_achievable() -> None:
    m = FillModel(SpreadShareSlippage())  # single-leg buy achieves 2.15
    assert _fill(SINGLE, Side.BUY, m, otype=OrderType.LIMIT, limit=2.15).filled_quantity == 1
    assert _fill(SINGLE, Side.BUY, m, otype=OrderType.LIMIT, limit=2.14).filled_quantity == 0


def test_volume_cap_fills_share_of_thinnest_leg_and_leaves_rest() -> None:
    m = FillModel(MidSlippage(), volume_share=0.1)
    r = _fill(VERTICAL, Side.BUY, m, qty=10)  # caps: 0.1*50=5, 0.1*30=3
    assert (r.filled_quantity, r.unfilled_quantity) == (3, 7)
    assert r.reason is not None and "allows 3 of 10" in r.reason


def test_volume_cap_with_unknown_volume_refuses_to_guess() -> None:
    quotes = {P480: Quote(2.0, 2.2, NOW)}
    r = simulate_fill(SINGLE, Side.BUY, 1, OrderType.MARKET, None, quotes, FillModel(volume_share=0.1))
    assert r.filled_quantity == 0 and r.reason is not None and "volume unknown" in r.reason


def test_commission_per_contract_per_leg() -> None:
    r = _fill(VERTICAL, Side.BUY, FillModel(commission_per_contract=0.65), qty=3)
    assert r.commission == pytest.approx(0.65 * 2 * 3)


def test_missing_or_crossed_leg_quote_prevents_fill() -> None:
    crossed = {P480: Quote(2.3, 2.2, NOW), P475: QUOTES[P475]}
    r = simulate_fill(VERTICAL, Side.BUY, 1, OrderType.MARKET, None, crossed, FillModel())
    assert r.filled_quantity == 0 and r.reason is not None and "crossed" in r.reason
    r2 = simulate_fill(VERTICAL, Side.BUY, 1, OrderType.MARKET, None, {P480: QUOTES[P480]}, FillModel())
    assert r2.reason is not None and "no quote" in r2.reason


@given(bid=st.floats(0.0, 50.0), width=st.floats(0.0, 5.0), share=st.floats(0.0, 1.0))
def test_spread_share_buy_price_never_below_sell_price_and_within_quote(bid: float, width: float, share: float) -> None:
    ask = bid + width
    s = SpreadShareSlippage(share)
    buy, sell = s.leg_price(bid, ask, True, 1), s.leg_price(bid, ask, False, 1)
    assert bid - 1e-9 <= buy <= ask + 1e-9 and bid - 1e-9 <= sell <= ask + 1e-9
    if share >= 0.5:
        assert buy >= sell - 1e-9
