"""Binary event contracts in the model: the contract, the position's shape, P&L, max loss,
sizing and heat, settlement at the result, the two-sided book, and option-only code refusing
an event contract."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.config import config_from_dict
from riskpilot.model import (
    ContractSide,
    EventContract,
    ExitAction,
    Fill,
    Leg,
    Mark,
    MarketResult,
    OptionContract,
    Position,
    PremiumType,
    Quote,
    Right,
    Side,
    mark_position,
)
from riskpilot.model.event import (
    as_long,
    limit_to_cents,
    max_loss_per_contract,
    payout,
    price_to_cents,
    settle_event_position,
    side_market,
)
from riskpilot.risk import RiskManager, event_order_request, max_loss_per_unit, payoff_at_expiry
from riskpilot.store.serialize import contract_from_dict, contract_key, contract_to_dict
from riskpilot.trading.settlement import settlement_close

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CLOSE = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
YES = EventContract("KXHIGHNY", "KXHIGHNY-26DEC02", "KXHIGHNY-26DEC02-T45", ContractSide.YES, CLOSE,
                    CLOSE + timedelta(hours=10))
NO = YES.opposite()


def event_position(contract: EventContract = YES, entry: float = 0.40, qty: int = 100, pid: str = "e1") -> Position:
    return Position(pid, (Leg(contract, 1),), PremiumType.DEBIT, entry, qty, NOW - timedelta(hours=1), "default")


# --- the contract ----------------------------------------------------------------------------


def test_event_contract_when_built_then_multiplier_is_1_and_close_is_its_expiry() -> None:
    assert YES.multiplier == 1
    assert YES.underlying == "KXHIGHNY-26DEC02"
    assert YES.expires_at == CLOSE and YES.expiration == date(2026, 12, 2)
    assert YES.minutes_to_expiry(NOW) == pytest.approx(7 * 60)
    assert YES.minutes_to_settlement(NOW) == pytest.approx(17 * 60)
    assert str(NO) == "KXHIGHNY-26DEC02-T45 NO" and NO.opposite() == YES


def test_event_contract_when_settling_before_close_then_refused() -> None:
    with pytest.raises(ValueError, match="settles after it stops trading"):
        EventContract("S", "S-1", "S-1-A", ContractSide.YES, CLOSE, CLOSE - timedelta(minutes=1))


def test_event_contract_when_naive_close_time_then_refused() -> None:
    with pytest.raises(ValueError, match="close_time must be a timezone-aware"):
        EventContract("S", "S-1", "S-1-A", "yes", datetime(2026, 12, 2, 22, 0), CLOSE)  # type: ignore[arg-type]


def test_event_contract_when_side_is_a_string_then_parsed_and_bad_side_refused() -> None:
    assert EventContract("S", "S-1", "S-1-A", "No", CLOSE, CLOSE).side is ContractSide.NO  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use 'yes' or 'no'"):
        EventContract("S", "S-1", "S-1-A", "maybe", CLOSE, CLOSE)  # type: ignore[arg-type]


def test_event_contract_when_stored_as_json_then_round_trips_with_its_own_key() -> None:
    assert contract_from_dict(contract_to_dict(NO)) == NO
    assert contract_key(YES) != contract_key(NO)
    option = OptionContract("SPY", date(2026, 12, 18), 600.0, Right.PUT)
    assert contract_from_dict(contract_to_dict(option)) == option


# --- the position ------------------------------------------------------------------------------


def test_event_position_long_yes_when_marked_then_pnl_is_dollars_per_contract() -> None:
    pos = event_position(entry=0.40, qty=100)
    assert pos.is_event and pos.multiplier == 1
    assert pos.profit(0.55) == pytest.approx(0.15)
    assert pos.pnl_dollars(0.55) == pytest.approx(15.0)  # 100 contracts x 0.15, not x 100
    assert pos.profit_pct(0.20) == pytest.approx(-0.5)


def test_event_position_when_short_leg_then_refused_with_the_no_side_as_the_fix() -> None:
    with pytest.raises(ValueError, match="hold the NO side bought at 1 - p"):
        Position("e1", (Leg(YES, -1),), PremiumType.CREDIT, 0.60, 10, NOW, "events")


def test_event_position_when_credit_or_two_legs_then_refused() -> None:
    with pytest.raises(ValueError, match="one long leg"):
        Position("e1", (Leg(YES, 1),), PremiumType.CREDIT, 0.60, 10, NOW, "events")
    with pytest.raises(ValueError, match="one long leg"):
        Position("e1", (Leg(YES, 1), Leg(NO, 1)), PremiumType.DEBIT, 0.60, 10, NOW, "events")


def test_event_position_when_entry_outside_one_to_99_cents_then_refused() -> None:
    with pytest.raises(ValueError, match=r"between 0\.01 and 0\.99"):
        event_position(entry=1.20)


def test_sell_yes_to_open_when_made_long_then_it_is_no_bought_at_one_minus_price() -> None:
    contract, price = as_long(YES, Side.SELL, 0.62)
    assert contract == NO and price == pytest.approx(0.38)
    assert as_long(YES, Side.BUY, 0.62) == (YES, 0.62)


def test_mark_of_a_no_position_when_quoted_then_premium_is_the_no_sides_mid() -> None:
    pos = event_position(NO, entry=0.55)
    bid, ask = side_market(ContractSide.NO, best_yes_bid=0.40, best_no_bid=0.57)
    assert (bid, ask) == (0.57, pytest.approx(0.60))
    mark = mark_position(pos, {NO: Quote(bid, ask, NOW, volume=500)}, NOW)
    assert mark.premium == pytest.approx(0.585) and mark.bid == pytest.approx(0.57)


# --- max loss, sizing and heat -----------------------------------------------------------------


def test_max_loss_when_long_then_price_paid_and_when_short_then_one_minus_price() -> None:
    assert max_loss_per_contract(0.30) == pytest.approx(0.30)
    assert max_loss_per_contract(0.30, long=False) == pytest.approx(0.70)
    assert max_loss_per_unit((Leg(YES, 1),), 0.30, PremiumType.DEBIT) == pytest.approx(0.30)
    assert max_loss_per_unit((Leg(YES, -1),), 0.30, PremiumType.CREDIT) == pytest.approx(0.70)


def test_max_loss_when_event_mixed_with_an_option_then_refused() -> None:
    option = OptionContract("SPY", date(2026, 12, 18), 600.0, Right.PUT)
    with pytest.raises(ValueError, match="exactly one event-contract leg"):
        max_loss_per_unit((Leg(YES, 1), Leg(option, 1)), 0.30, PremiumType.DEBIT)


def test_validate_order_when_event_contracts_then_heat_counts_the_price_paid() -> None:
    cfg = config_from_dict({
        "risk": {"max_portfolio_heat_pct": 0.20, "max_underlying_pct": 0.10, "max_position_pct": 0.10,
                 "max_delta_pct": None, "max_gamma_pct": None},
        "methods": {"events": {"sizing": {"max_risk_per_trade_pct": 1.0, "max_contracts": 100_000}}},
    })
    rm = RiskManager(cfg, equity=10_000)
    # 0.40 a contract: the event's 10% cap (1,000 dollars) allows 2,500 contracts, not 25.
    v = rm.validate_order(event_order_request(YES, 0.40, 5_000, method="events", position_id="e1"))
    assert v.approved and v.quantity == 2_500 and v.binding_limit == "underlying"
    rm.record_fill(Fill("f1", "o1", 2_500, 0.40, NOW, Side.BUY, position_id="e1"))
    assert rm.heat == pytest.approx(1_000.0)
    # Sold at 0.55: 2,500 x 0.15 = 375 dollars realized, heat released.
    rm.record_fill(Fill("f2", "o2", 2_500, 0.55, NOW, Side.SELL, position_id="e1", commission=4.38))
    assert rm.realized_pnl == pytest.approx(375.0 - 4.38)
    assert rm.heat == pytest.approx(0.0)


@given(price_cents=st.integers(1, 99), qty=st.integers(1, 10_000))
def test_max_loss_property_long_and_short_of_one_market_sum_to_the_payout(price_cents: int, qty: int) -> None:
    p = price_cents / 100
    long_yes = max_loss_per_unit((Leg(YES, 1),), p, PremiumType.DEBIT) * qty
    long_no = max_loss_per_unit((Leg(NO, 1),), round(1 - p, 2), PremiumType.DEBIT) * qty
    assert long_yes + long_no == pytest.approx(qty * 1.00)


# --- settlement --------------------------------------------------------------------------------


def test_settlement_when_yes_wins_then_long_yes_is_paid_one_dollar_a_contract() -> None:
    s = settle_event_position(event_position(YES, entry=0.40, qty=100), MarketResult.YES)
    assert (s.price, s.quantity) == (1.0, 100) and s.pnl == pytest.approx(60.0)


def test_settlement_when_yes_wins_then_long_no_is_worth_nothing() -> None:
    s = settle_event_position(event_position(NO, entry=0.55, qty=100), "yes")
    assert s.price == 0.0 and s.pnl == pytest.approx(-55.0)  # the max loss: the price paid


def test_settlement_when_void_then_the_cost_comes_back() -> None:
    s = settle_event_position(event_position(NO, entry=0.55, qty=10), MarketResult.VOID)
    assert s.price == pytest.approx(0.55) and s.pnl == pytest.approx(0.0)
    with pytest.raises(ValueError, match="VOID market has no payout"):
        payout(NO, MarketResult.VOID)


def test_settlement_when_scalar_result_then_refused() -> None:
    with pytest.raises(ValueError, match="scalar markets are not binary"):
        settle_event_position(event_position(), "scalar")


@given(price_cents=st.integers(1, 99), yes_wins=st.booleans())
def test_settlement_property_yes_and_no_holders_together_are_paid_exactly_one_dollar(
    price_cents: int, yes_wins: bool
) -> None:
    result = MarketResult.YES if yes_wins else MarketResult.NO
    a = settle_event_position(event_position(YES, entry=price_cents / 100, qty=1), result)
    b = settle_event_position(event_position(NO, entry=(100 - price_cents) / 100, qty=1, pid="e2"), result)
    assert a.price + b.price == 1.0
    assert a.pnl + b.pnl == pytest.approx(0.0)


# --- the cent grid -----------------------------------------------------------------------------


def test_limit_on_the_cent_grid_when_between_cents_then_rounded_away_from_aggression() -> None:
    assert limit_to_cents(0.437, Side.BUY) == 43  # a buy pays at most its limit
    assert limit_to_cents(0.431, Side.SELL) == 44  # a sell receives at least it
    assert limit_to_cents(0.29, Side.BUY) == 29 and limit_to_cents(0.29, Side.SELL) == 29  # 28.999... is 29
    assert price_to_cents(0.575, round_up=False) == 57


# --- option-only code refuses an event contract ------------------------------------------------


def test_option_payoff_when_given_an_event_contract_then_refused_naming_the_event_payout() -> None:
    with pytest.raises(ValueError, match=r"payoff_at_expiry.*binary event contract"):
        payoff_at_expiry((Leg(YES, 1),), 100.0)


def test_option_settlement_when_given_an_event_position_then_refused() -> None:
    with pytest.raises(ValueError, match="binary event contract"):
        settlement_close(event_position(), 100.0, "cash")


def test_store_legs_when_given_an_event_position_then_the_event_columns_not_option_ones(tmp_path: object) -> None:
    from riskpilot.store.rows import leg_from, legs_rows

    [row] = legs_rows("e1", (Leg(YES, 1),))
    assert (row.contract_kind, row.market_ticker, row.side, row.strike, row.right) == ("event", YES.ticker, YES.side,
                                                                                       None, None)
    assert leg_from(row) == Leg(YES, 1)


# --- the rules on an event position -------------------------------------------------------------


def _check(pos: Position, premium: float, now: datetime, **features: float) -> object:
    rm = RiskManager(equity=100_000)
    mark = Mark(premium, premium - 0.01, premium + 0.01, now, min_volume=1_000)
    feats = {pos.id: dict(features)} if features else None
    return rm.check_position_exits([pos], {pos.id: mark}, now, features=feats)[0].decision


def test_rules_when_event_closes_today_then_option_dte_rules_stay_silent() -> None:
    # 0 DTE and +50% would fire time_exit_dte and gamma_protection on an option.
    d = _check(event_position(entry=0.40), 0.60, NOW)
    assert d.rule not in ("time_exit_dte", "gamma_protection")
    assert all(f.rule not in ("time_exit_dte", "gamma_protection") for f in d.also_fired)


def test_rules_when_four_minutes_before_the_close_then_time_based_urgent_fires() -> None:
    d = _check(event_position(entry=0.40), 0.42, CLOSE - timedelta(minutes=4))
    assert d.action is ExitAction.CLOSE and d.rule == "time_based_urgent"
