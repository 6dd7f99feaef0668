"""Limits on the tick grid wherever riskpilot prices one: the class table, the backtest's
simulated ladder, the paper broker, and the live executor's recorded attempts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.brokers.paper import PaperBroker, ScriptedMarket
from riskpilot.config import RiskPilotConfig
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.fills import ComboMarket, FillModel, SpreadShareSlippage
from riskpilot.execution.port import OrderModificationError, OrderStatus
from riskpilot.execution.tactics import TacticBook, limit_price, simulate_exit
from riskpilot.execution.ticks import (
    DEFAULT_RULE,
    EVENT_CENT,
    NICKEL_DIME,
    PENNY_ALL,
    PENNY_PILOT,
    TickRuleSource,
    rule_for_legs,
    tick_rule_for,
)
from riskpilot.model import (
    ExitAction,
    ExitDecision,
    Leg,
    OptionContract,
    Order,
    OrderPurpose,
    OrderType,
    Position,
    PremiumType,
    Priority,
    Quote,
    Right,
    Side,
)
from riskpilot.model.mark import mark_position
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.ledger import StoreLedger
from riskpilot.store.paper_book import StorePaperBook

T = datetime(2019, 6, 3, 20, 0, tzinfo=UTC)
EXP = date(2019, 7, 19)
SPX_SHORT = OptionContract("SPX", EXP, 2700.0, Right.PUT)
SPX_LONG = OptionContract("SPX", EXP, 2675.0, Right.PUT)
SPX_VERTICAL = (Leg(SPX_SHORT, -1), Leg(SPX_LONG, 1))
BOOK = TacticBook.from_config(RiskPilotConfig())


@pytest.mark.parametrize(
    ("root", "rule"),
    [("SPX", NICKEL_DIME), ("spxw", NICKEL_DIME), ("SPY", PENNY_ALL), ("IWM", PENNY_ALL), ("GLD", PENNY_PILOT),
     ("AAPL", DEFAULT_RULE)],
)
def test_class_table_gives_each_root_its_grid(root: str, rule: object) -> None:
    assert tick_rule_for(root) is rule


def test_unlisted_class_defaults_to_the_grid_every_finer_one_contains() -> None:
    assert DEFAULT_RULE is NICKEL_DIME
    points = [i / 100 for i in range(0, 1000)]
    on_default = [p for p in points if NICKEL_DIME.on_grid(p)]
    assert all(PENNY_PILOT.on_grid(p) and PENNY_ALL.on_grid(p) for p in on_default)


def test_a_combo_across_classes_is_priced_on_the_coarsest_grid() -> None:
    spy = Leg(OptionContract("SPY", EXP, 280.0, Right.PUT), 1)
    assert rule_for_legs([spy]).describe() == "0.01 at every price"
    assert rule_for_legs([spy, Leg(SPX_SHORT, -1)]).describe() == NICKEL_DIME.describe()
    assert EVENT_CENT.describe() == "0.01 at every price"


@given(
    passive=st.floats(-20, 20, allow_nan=False), width=st.floats(0, 5, allow_nan=False),
    fraction=st.floats(0, 1, allow_nan=False),
)
def test_limit_on_the_grid_is_never_more_aggressive_than_the_fraction_price(
    passive: float, width: float, fraction: float
) -> None:
    market = ComboMarket(passive, passive + width)
    raw = limit_price(market, fraction)
    on = limit_price(market, fraction, NICKEL_DIME)
    assert NICKEL_DIME.on_grid(on)
    if market.pays:
        assert on <= raw + 1e-12 and raw - on < 0.10 + 1e-9  # pays no more, by less than a tick
    else:
        assert on >= raw - 1e-12 and on - raw < 0.10 + 1e-9  # receives no less


def _spx_quotes(short: tuple[float, float], long: tuple[float, float]) -> dict[OptionContract, Quote]:
    return {SPX_SHORT: Quote(*short, T, volume=500), SPX_LONG: Quote(*long, T, volume=500)}


def test_simulated_spx_ladder_walks_on_nickels_and_dimes_and_fills_at_the_model_price() -> None:
    # Closing the vertical pays: passive 3.10 - 1.55 = 1.55, natural 3.50 - 1.35 = 2.15.
    quotes = _spx_quotes((3.10, 3.50), (1.35, 1.55))
    r = simulate_exit(SPX_VERTICAL, 2, Priority.MEDIUM, quotes, FillModel(SpreadShareSlippage()), BOOK)
    raw = [1.55 + f * 0.60 for f in (0.5, 0.6, 0.7)]  # 1.85, 1.91, 1.97
    # ORATS' two-leg share: 3.10 + 0.66 * 0.40 - (1.55 - 0.66 * 0.20) = 1.946, reached at 1.95.
    assert [a.limit_price for a in r.attempts] == pytest.approx([1.85, 1.90, 1.95])
    assert all(NICKEL_DIME.on_grid(a.limit_price) for a in r.attempts if a.limit_price is not None)
    assert all(a.limit_price <= x + 1e-12 for a, x in zip(r.attempts, raw, strict=False))
    # The fill is at the model's price, whichever step reached it.
    assert r.filled_quantity == 2 and r.price == pytest.approx(1.946)


# --- the paper broker ------------------------------------------------------------------------


def _paper(store: Store, market: ScriptedMarket, clock: SimulatedClock) -> PaperBroker:
    return PaperBroker(StorePaperBook(store), market, fill_model=FillModel(SpreadShareSlippage()), clock=clock)


def _order(coid: str, limit: float, side: Side = Side.SELL, legs: tuple[Leg, ...] = SPX_VERTICAL) -> Order:
    return Order(coid, legs, side, 1, OrderType.LIMIT, T, limit_price=limit, purpose=OrderPurpose.CLOSE)


def _market() -> ScriptedMarket:
    m = ScriptedMarket()
    for c, q in _spx_quotes((3.10, 3.50), (1.35, 1.55)).items():
        m.set(c, q.bid, q.ask, 500)
    return m


async def test_paper_limit_goes_on_the_grid_the_safe_way(store: Store) -> None:
    clock = SimulatedClock(T)
    b = _paper(store, _market(), clock)
    assert isinstance(b, TickRuleSource) and (await b.tick_rule([SPX_SHORT])) is NICKEL_DIME
    debit = await b.place_order(_order("rp-a", 1.87))  # closing the credit spread pays: down
    credit = await b.place_order(_order("rp-b", 1.87, Side.BUY))  # opening it receives: up
    single = await b.place_order(_order("rp-c", 3.17, Side.SELL, (Leg(SPX_SHORT, 1),)))  # sells: up, dime band
    assert (debit.limit_price, credit.limit_price, single.limit_price) == (1.85, 1.90, 3.20)
    walked = await b.replace_order("rp-a", limit_price=1.93)
    assert walked.limit_price == 1.90 and walked.status is OrderStatus.SUBMITTED


async def test_paper_limit_off_the_grid_without_quotes_is_rejected_with_the_reason(store: Store) -> None:
    b = _paper(store, ScriptedMarket(), SimulatedClock(T))
    st = await b.place_order(_order("rp-x", 1.87))
    assert st.status is OrderStatus.REJECTED
    assert "off the 0.05 under 3, 0.1 from 3 grid" in (st.reason or "") and "no quote" in (st.reason or "")
    on = await b.place_order(_order("rp-y", 1.85))  # on the grid: nothing to decide
    assert on.status is OrderStatus.SUBMITTED and on.limit_price == 1.85
    with pytest.raises(OrderModificationError, match="cannot be told a debit or a credit"):
        await b.replace_order("rp-y", limit_price=1.88)


async def test_executor_records_every_attempt_on_the_grid_it_sends(store: Store) -> None:
    clock = SimulatedClock(T)
    market = _market()
    broker = _paper(store, market, clock)
    pos = Position("spx-1", SPX_VERTICAL, PremiumType.CREDIT, 1.40, 3, T - timedelta(days=5), "default")
    PositionRepository(store).open_position(pos)
    quotes = await broker.get_quotes([SPX_SHORT, SPX_LONG])
    decision = ExitDecision(pos.id, ExitAction.CLOSE, "target", rule="profit_target", priority=Priority.MEDIUM,
                            quantity=3)
    executor = ExitExecutor(broker, StoreLedger(store), RiskPilotConfig(), clock, poll_seconds=5)
    outcome = await executor.execute(pos, decision, mark_position(pos, quotes, clock.now()))
    assert outcome.filled
    attempts = ExitRepository(store).attempts_for(outcome.exit_id or 0)
    limits = [a.limit_price for a in attempts if a.limit_price is not None]
    assert limits and all(NICKEL_DIME.on_grid(x) for x in limits)
    # Fair (mid 1.85) and its walks 1.91 -> 1.90, 1.97 -> 1.95; ORATS' 1.946 is reached at 1.95.
    assert limits == pytest.approx([1.85, 1.90, 1.95])
    assert outcome.avg_fill_price == pytest.approx(1.946)
