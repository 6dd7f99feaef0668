"""Exit tactics (SPEC section 3): the ladder from config, limit prices by strategy, walks,
escalation, and the simulation of a ladder on one end-of-day bar."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.config.schema import ExecutionTactic, RiskPilotConfig
from riskpilot.execution.fills import ComboMarket, FillModel, FixedPctSlippage, SpreadShareSlippage, combo_market
from riskpilot.execution.tactics import (
    PRICE_FRACTION,
    PriceStrategy,
    StepKind,
    TacticBook,
    limit_price,
    simulate_exit,
    step_index_of,
)
from riskpilot.model import Leg, OptionContract, OrderType, Priority, Quote, Right, Side

T = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)
P480 = OptionContract("SPY", EXP, 480.0, Right.PUT)
P475 = OptionContract("SPY", EXP, 475.0, Right.PUT)
C500 = OptionContract("SPY", EXP, 500.0, Right.CALL)
VERTICAL = (Leg(P480, -1), Leg(P475, 1))  # a short put spread (credit)
QUOTES = {P480: Quote(2.00, 2.20, T, volume=300), P475: Quote(1.00, 1.10, T, volume=50)}
# Closing the spread buys P480 back and sells P475: passive 2.00 - 1.10 = 0.90, natural
# 2.20 - 1.00 = 1.20, mid 1.05.
BOOK = TacticBook.from_config(RiskPilotConfig())


def test_default_ladders_follow_spec_section_3() -> None:
    high = BOOK.ladder(Priority.HIGH)
    assert [(s.kind, s.order_type, s.fraction) for s in high[:4]] == [
        (StepKind.INITIAL, OrderType.LIMIT, 0.80),
        (StepKind.WALK, OrderType.LIMIT, pytest.approx(0.90)),
        (StepKind.WALK, OrderType.LIMIT, pytest.approx(1.00)),
        (StepKind.MARKET, OrderType.MARKET, None),
    ]
    assert [s.timeout_seconds for s in high[:4]] == [10, 10, 10, 10]
    assert high[4].tactic.priority is Priority.CRITICAL and high[4].escalated
    crit = BOOK.ladder(Priority.CRITICAL, market_retries=2)
    assert [(s.kind, s.order_type, s.timeout_seconds) for s in crit] == [
        (StepKind.INITIAL, OrderType.MARKET, 5),
        (StepKind.RETRY, OrderType.MARKET, 5),
        (StepKind.RETRY, OrderType.MARKET, 5),
    ]
    medium = BOOK.ladder(Priority.MEDIUM)
    assert [s.fraction for s in medium[:6]] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert all(s.timeout_seconds == 30 for s in medium[:6])
    assert medium[6].tactic.priority is Priority.HIGH and medium[6].escalated


def test_low_walks_slowly_in_half_steps_then_escalates_without_moving_back() -> None:
    low = BOOK.ladder(Priority.LOW)
    own = [s for s in low if s.tactic.priority is Priority.LOW]
    assert len(own) == 11 and all(s.timeout_seconds == 60 for s in own)
    # Half the step of walk_price: 0.40 -> 0.70 in ten walks of 0.03.
    assert [s.fraction for s in own] == pytest.approx([0.40 + 0.03 * k for k in range(11)])
    first_medium = next(s for s in low if s.tactic.priority is Priority.MEDIUM)
    # MEDIUM's own start (fair, 0.5) is behind where LOW got to: it starts at 0.70.
    assert first_medium.escalated and first_medium.fraction == pytest.approx(0.70)


def test_step_labels_carry_their_index_and_fit_the_store_column() -> None:
    for p in Priority:
        for s in BOOK.ladder(p):
            assert step_index_of(s.label) == s.index
            assert len(s.label) <= 32
    assert step_index_of("HIGH:limit-aggressive") is None
    assert step_index_of(None) is None


def test_limit_prices_by_strategy_on_a_debit_close() -> None:
    m = combo_market(VERTICAL, Side.SELL, QUOTES)
    assert isinstance(m, ComboMarket)
    assert (m.passive, m.far) == pytest.approx((0.90, 1.20))
    assert limit_price(m, PRICE_FRACTION[PriceStrategy.AGGRESSIVE]) == pytest.approx(1.14)
    assert limit_price(m, PRICE_FRACTION[PriceStrategy.FAIR]) == pytest.approx(1.05)
    assert limit_price(m, PRICE_FRACTION[PriceStrategy.CONSERVATIVE]) == pytest.approx(1.02)


def test_limit_prices_on_a_credit_close_ask_for_more_when_conservative() -> None:
    long_call = (Leg(C500, 1),)
    m = combo_market(long_call, Side.SELL, {C500: Quote(3.00, 3.20, T)})
    assert isinstance(m, ComboMarket) and not m.pays
    # Selling receives: aggressive takes 3.04 (near the bid), conservative wants 3.12.
    assert limit_price(m, 0.8) == pytest.approx(3.04)
    assert limit_price(m, 0.5) == pytest.approx(3.10)
    assert limit_price(m, 0.4) == pytest.approx(3.12)


def test_a_tactic_config_with_a_bad_key_is_refused_by_the_book() -> None:
    with pytest.raises(ValueError, match=r"needs a tactic for \['LOW'\]"):
        TacticBook({p: t for p, t in BOOK.tactics.items() if p is not Priority.LOW})


# --- property tests ---------------------------------------------------------------------------

_limit_tactics = st.builds(
    lambda strat, retry, walks, timeout: ExecutionTactic(
        order_type="limit", price_strategy=strat, retry_strategy=retry, max_walks=walks, timeout_seconds=timeout
    ),
    st.sampled_from(["aggressive", "fair", "conservative"]),
    st.sampled_from(["walk_then_market", "walk_price", "walk_slowly"]),
    st.integers(1, 20),
    st.floats(0.5, 120),
)
_books = st.builds(
    lambda low, med, high: TacticBook.from_config(
        {
            "CRITICAL": ExecutionTactic(order_type="market", timeout_seconds=5, retry_strategy="immediate_market"),
            "HIGH": high,
            "MEDIUM": med,
            "LOW": low,
        }
    ),
    _limit_tactics,
    _limit_tactics,
    _limit_tactics,
)
_markets = st.tuples(st.floats(-5, 5), st.floats(0, 3)).map(lambda t: ComboMarket(t[0], t[0] + t[1]))


@given(_books, st.sampled_from(list(Priority)), _markets)
def test_walks_move_monotonically_toward_the_aggressive_side_never_past_the_far_side(
    book: TacticBook, priority: Priority, market: ComboMarket
) -> None:
    ladder = book.ladder(priority)
    fractions = [s.fraction for s in ladder if s.fraction is not None]
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    for s, prev in zip(ladder[1:], ladder, strict=False):
        if s.kind is StepKind.WALK:
            assert s.fraction is not None and prev.fraction is not None and s.fraction > prev.fraction
    # Once a market order is in the ladder, no limit follows it.
    first_market = next(i for i, s in enumerate(ladder) if s.order_type is OrderType.MARKET)
    assert all(s.order_type is OrderType.MARKET for s in ladder[first_market:])
    assert ladder[-1].tactic.priority is Priority.CRITICAL
    prices = [limit_price(market, f) for f in fractions]
    if market.pays:  # a debit order: the limit (most it pays) only rises, never above the natural
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(prices))
        assert all(p <= market.far + 1e-9 for p in prices)
    else:  # a credit order: the limit (least it receives) only falls, never below the natural
        assert all(b <= a + 1e-9 for a, b in itertools.pairwise(prices))
        assert all(p >= -market.far - 1e-9 for p in prices)
    assert all(p >= 0 for p in prices)


# --- one end-of-day bar -----------------------------------------------------------------------


def test_high_exit_with_mid_fills_on_its_aggressive_limit_at_the_mid() -> None:
    r = simulate_exit(VERTICAL, 3, Priority.HIGH, QUOTES, FillModel(), BOOK)
    assert r.filled_quantity == 3 and r.unfilled_quantity == 0
    assert r.price == pytest.approx(1.05) and r.net_debit == pytest.approx(1.05)
    assert r.tactic == "HIGH:limit-aggressive"
    (a,) = r.attempts
    assert a.order_type is OrderType.LIMIT and a.limit_price == pytest.approx(1.14) and a.filled_quantity == 3


def test_low_exit_with_mid_walks_four_times_before_its_limit_reaches_the_mid() -> None:
    r = simulate_exit(VERTICAL, 1, Priority.LOW, QUOTES, FillModel(commission_per_contract=0.65), BOOK)
    # 0.90 + 0.3 * f for f = 0.40, 0.43, 0.46, 0.49 stay under the mid 1.05; 0.52 reaches it.
    # Each limit pays (closing a credit spread), so it goes down to SPY's penny grid:
    # 1.02, 1.029 -> 1.02, 1.038 -> 1.03, 1.047 -> 1.04, 1.056 -> 1.05.
    assert [a.limit_price for a in r.attempts] == pytest.approx([1.02, 1.02, 1.03, 1.04, 1.05])
    assert [a.filled_quantity for a in r.attempts] == [0, 0, 0, 0, 1]
    assert r.price == pytest.approx(1.05) and r.commission == pytest.approx(0.65 * 2)
    assert r.escalations == 0


def test_medium_exit_with_orats_fills_on_the_second_walk_at_the_orats_price() -> None:
    r = simulate_exit(VERTICAL, 2, Priority.MEDIUM, QUOTES, FillModel(SpreadShareSlippage()), BOOK)
    # ORATS 2 legs: buy 2.00 + 0.66 * 0.20 = 2.132, sell 1.10 - 0.66 * 0.10 = 1.034 -> 1.098,
    # i.e. 66% of the combo spread: fair (1.05) and walk 1 (1.08) miss, walk 2 (1.11) fills.
    assert len(r.attempts) == 3 and r.attempts[-1].limit_price == pytest.approx(1.11)
    assert r.price == pytest.approx(1.098)
    assert r.tactic == "MEDIUM:limit-fair"


def test_exit_that_no_limit_can_reach_escalates_to_market() -> None:
    # 50% off the mid on every leg: 2.10 * 1.5 - 1.05 * 0.5 = 2.625, beyond the natural 1.20.
    r = simulate_exit(VERTICAL, 1, Priority.MEDIUM, QUOTES, FillModel(FixedPctSlippage(0.5)), BOOK)
    assert r.price == pytest.approx(2.625)
    assert r.attempts[-1].order_type is OrderType.MARKET
    assert r.tactic == "HIGH:limit-aggressive"  # HIGH's walk_then_market order
    assert r.escalations == 1
    assert [a.filled_quantity for a in r.attempts[:-1]] == [0] * (len(r.attempts) - 1)


def test_volume_cap_fills_part_of_the_exit_and_spends_the_day() -> None:
    model = FillModel(SpreadShareSlippage(), volume_share=0.1)
    r = simulate_exit(VERTICAL, 8, Priority.HIGH, QUOTES, model, BOOK)
    # 10% of 300 = 30 and of 50 = 5 units: 5 of 8 fill, on the first (aggressive) attempt.
    assert (r.filled_quantity, r.unfilled_quantity) == (5, 3)
    assert len(r.attempts) == 1 and r.reason is not None and "volume cap" in r.reason


def test_unquoted_leg_fills_nothing_and_says_why() -> None:
    r = simulate_exit(VERTICAL, 1, Priority.CRITICAL, {P480: QUOTES[P480]}, FillModel(), BOOK)
    assert not r.filled and r.attempts == () and r.reason is not None and "no quote" in r.reason


def test_crossed_leg_fills_nothing_even_for_critical() -> None:
    crossed = {**QUOTES, P475: Quote(1.20, 1.10, T)}
    r = simulate_exit(VERTICAL, 1, Priority.CRITICAL, crossed, FillModel(), BOOK)
    assert not r.filled and r.reason is not None and "crossed" in r.reason
