"""Paper broker scenarios: fills, partial fills, every injected fault, idempotency, and a
restart that resumes from the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from riskpilot.brokers.paper import (
    ChainReplaySource,
    Faults,
    PaperBroker,
    RandomWalkMarket,
    ScriptedMarket,
)
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.data.store import ChainStore
from riskpilot.execution.fills import FillModel, SpreadShareSlippage
from riskpilot.execution.port import (
    BrokerDisconnectedError,
    BrokerPort,
    BrokerTimeoutError,
    OrderModificationError,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.model import (
    Leg,
    OptionContract,
    Order,
    OrderPurpose,
    OrderType,
    QuoteProblem,
    Right,
    Side,
    client_order_id,
)
from riskpilot.store import OrderRepository, PositionRepository, Store
from riskpilot.store.paper_book import StorePaperBook

EXP = date(2024, 4, 19)
P480 = OptionContract("SPY", EXP, 480.0, Right.PUT)
P475 = OptionContract("SPY", EXP, 475.0, Right.PUT)
VERTICAL = (Leg(P480, -1), Leg(P475, 1))


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _market(vol: int | None = 1000) -> ScriptedMarket:
    m = ScriptedMarket()
    m.set(P480, 2.00, 2.20, vol)
    m.set(P475, 1.00, 1.10, vol)
    return m


def _order(seq: int = 1, qty: int = 2, limit: float | None = None, side: Side = Side.BUY) -> Order:
    return Order(
        client_order_id=client_order_id("p1", OrderPurpose.OPEN, seq),
        legs=VERTICAL,
        side=side,
        quantity=qty,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        created_at=datetime(2024, 3, 1, 15, 0, tzinfo=UTC),
        limit_price=limit,
        position_id=None,
        purpose=OrderPurpose.OPEN,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _broker(store: Store, market: Any, clock: FakeClock, **kw: Any) -> PaperBroker:
    kw.setdefault("fill_model", FillModel(SpreadShareSlippage(), commission_per_contract=0.65))
    return PaperBroker(StorePaperBook(store), market, clock=clock, **kw)


def test_paper_broker_satisfies_the_broker_port(store: Store, clock: FakeClock) -> None:
    assert isinstance(_broker(store, _market(), clock), BrokerPort)


async def test_market_combo_fills_at_orats_price_and_books_leg_positions(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock)
    events = b.subscribe()
    st = await b.place_order(_order(qty=2))
    assert st.status is OrderStatus.FILLED and st.filled_quantity == 2
    assert st.avg_fill_price == pytest.approx(1.002)  # credit, see test_fills
    ack, fill_ev = events.get_nowait(), events.get_nowait()
    assert ack.state.status is OrderStatus.SUBMITTED and ack.fill is None
    assert fill_ev.fill is not None and fill_ev.fill.quantity == 2
    assert fill_ev.fill.commission == pytest.approx(0.65 * 2 * 2)
    pos = {p.contract: p for p in await b.positions()}
    assert pos[P480].quantity == -2 and pos[P480].avg_price == pytest.approx(2.068)
    assert pos[P475].quantity == 2 and pos[P475].avg_price == pytest.approx(1.066)


async def test_limit_waits_until_market_reaches_it_then_fills(store: Store, clock: FakeClock) -> None:
    m = _market()
    b = _broker(store, m, clock)
    st = await b.place_order(_order(limit=1.10))
    assert st.status is OrderStatus.SUBMITTED and st.filled_quantity == 0
    assert await b.process() == []
    m.set(P480, 2.10, 2.30, 1000)  # credit now 2.168 - 1.066 = 1.102
    events = await b.process()
    assert [e.state.status for e in events] == [OrderStatus.FILLED]
    assert (await b.order_status(st.client_order_id)).avg_fill_price == pytest.approx(1.102)


async def test_price_walk_by_replace_fills_working_limit(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock)
    st = await b.place_order(_order(limit=1.05))
    assert st.status is OrderStatus.SUBMITTED
    st = await b.replace_order(st.client_order_id, limit_price=1.00)
    assert st.status is OrderStatus.FILLED and st.limit_price == 1.00


async def test_volume_cap_fills_part_and_keeps_the_rest_working(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(vol=30), clock, fill_model=FillModel(volume_share=0.1))
    st = await b.place_order(_order(qty=5))
    assert st.status is OrderStatus.PARTIALLY_FILLED and st.filled_quantity == 3
    await b.process()
    assert (await b.order_status(st.client_order_id)).status is OrderStatus.FILLED


async def test_partial_fill_fault_splits_order_into_several_fills(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock, faults=Faults(partial_fill_ratio=0.5))
    st = await b.place_order(_order(qty=4))
    assert st.filled_quantity == 2 and st.status is OrderStatus.PARTIALLY_FILLED
    await b.process()
    await b.process()
    final = await b.order_status(st.client_order_id)
    assert final.status is OrderStatus.FILLED
    assert [f.quantity for f in await b.executions()] == [2, 1, 1]


async def test_reject_fault_returns_rejected_state_with_reason(store: Store, clock: FakeClock) -> None:
    o = _order()
    b = _broker(store, _market(), clock, faults=Faults(reject_client_ids=frozenset({o.client_order_id})))
    st = await b.place_order(o)
    assert st.status is OrderStatus.REJECTED and st.reason is not None and "rejected" in st.reason
    assert await b.executions() == [] and await b.positions() == []
    b2 = _broker(store, _market(), clock, faults=Faults(reject_rate=1.0), account="other")
    assert (await b2.place_order(_order(seq=2))).status is OrderStatus.REJECTED


async def test_timeout_fault_then_resend_returns_same_order_without_duplicate(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock, faults=Faults(timeout_rate=1.0))
    o = _order()
    with pytest.raises(BrokerTimeoutError, match="re-send"):
        await b.place_order(o)
    b.faults = Faults()
    st = await b.place_order(o)
    assert st.status is OrderStatus.FILLED
    assert b.snapshot()["orders"] == {"FILLED": 1}
    assert len(await b.executions()) == 1


async def test_disconnect_fault_refuses_every_call_and_changes_nothing(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock, faults=Faults(disconnected=True))
    with pytest.raises(BrokerDisconnectedError):
        await b.get_quotes([P480])
    with pytest.raises(BrokerDisconnectedError):
        await b.place_order(_order())
    b.faults = Faults()
    with pytest.raises(UnknownOrderError):
        await b.order_status(_order().client_order_id)


async def test_stale_quote_fault_serves_old_timestamps_that_read_as_stale(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock, faults=Faults(stale_quotes_seconds=120))
    q = (await b.get_quotes([P480, P475, P480]))[P480]
    assert q.timestamp == clock.now - timedelta(seconds=120)
    assert q.problem(clock.now) is QuoteProblem.STALE


async def test_latency_fault_delays_each_call(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock, faults=Faults(latency_seconds=0.05))
    t = time.perf_counter()
    await b.get_quotes([P480])
    assert time.perf_counter() - t >= 0.05


async def test_api_calls_are_counted_per_method(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock)
    await b.get_quotes([P480, P475])
    await b.get_quotes([P480])
    await b.place_order(_order())
    await b.process()
    assert b.api_calls == {"get_quotes": 2, "place_order": 1}
    assert b.total_api_calls == 3


async def test_cancel_unknown_raises_and_cancel_final_is_unchanged(store: Store, clock: FakeClock) -> None:
    b = _broker(store, _market(), clock)
    with pytest.raises(UnknownOrderError, match="unknown order"):
        await b.cancel_order("rp-nope")
    working = await b.place_order(_order(seq=1, limit=5.0))
    assert (await b.cancel_order(working.client_order_id)).status is OrderStatus.CANCELLED
    filled = await b.place_order(_order(seq=2))
    assert (await b.cancel_order(filled.client_order_id)).status is OrderStatus.FILLED
    with pytest.raises(OrderModificationError, match="only working orders"):
        await b.replace_order(working.client_order_id, limit_price=1.0)


async def test_restart_resumes_orders_fills_positions_and_ids(store: Store, clock: FakeClock) -> None:
    m = _market()
    b = _broker(store, m, clock, faults=Faults(partial_fill_ratio=0.5))
    st = await b.place_order(_order(qty=4))
    assert st.filled_quantity == 2
    del b
    b2 = _broker(store, m, clock, faults=Faults(partial_fill_ratio=0.5))
    again = await b2.order_status(st.client_order_id)
    assert (again.status, again.filled_quantity, again.broker_order_id) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        st.broker_order_id,
    )
    assert {p.contract: p.quantity for p in await b2.positions()} == {P480: -2, P475: 2}
    await b2.process()
    fills = await b2.executions()
    assert [f.fill_id for f in fills] == ["paper-F00000001", "paper-F00000002"]
    assert (await b2.place_order(_order(seq=9))).broker_order_id == "paper-O00000002"


async def test_paper_fills_recorded_by_engine_store_close_the_position(
    store: Store, clock: FakeClock, spread: Any
) -> None:
    pos = spread.put_spread(quantity=2)
    PositionRepository(store).open_position(pos)
    close = Order(
        client_order_id(pos.id, OrderPurpose.CLOSE, 1),
        pos.legs,
        Side.SELL,
        2,
        OrderType.MARKET,
        clock.now,
        position_id=pos.id,
        purpose=OrderPurpose.CLOSE,
    )
    orders = OrderRepository(store)
    orders.record_intent(close)
    b = _broker(store, _market(), clock)
    events = b.subscribe()
    st = await b.place_order(close)
    orders.record_order(
        close.client_order_id, broker_order_id=st.broker_order_id, status=OrderStatus.SUBMITTED, at=clock.now
    )
    while not events.empty():
        ev = events.get_nowait()
        if ev.fill is not None:
            orders.record_fill(ev.fill)
    got = PositionRepository(store).get(pos.id)
    assert got.position.quantity == 0
    # Bought back at 1.098 (see test_fills) against a 1.00 credit: -0.098 * 100 * 2.
    assert got.monitoring.realized_pnl == pytest.approx(-19.6)


def test_random_walk_is_reproducible_by_seed() -> None:
    a = RandomWalkMarket({P480: 2.0}, seed=7)
    b = RandomWalkMarket({P480: 2.0}, seed=7)
    a.step(10)
    b.step(10)
    assert a.mid(P480) == b.mid(P480) != 2.0


def _chain_day(d: date, bid480: float) -> pa.Table:
    rows = [
        (480.0, "P", bid480, bid480 + 0.2, 50),
        (475.0, "P", 1.00, 1.10, 30),
    ]
    n = len(rows)
    return pa.table(
        {
            "quote_date": [d] * n,
            "underlying": ["SPY"] * n,
            "underlying_price": [500.0] * n,
            "root": ["SPY"] * n,
            "expiration": [EXP] * n,
            "strike": [r[0] for r in rows],
            "right": [r[1] for r in rows],
            "bid": [r[2] for r in rows],
            "ask": [r[3] for r in rows],
            "last": [None] * n,
            "volume": [r[4] for r in rows],
            "open_interest": [100] * n,
            "iv": [0.2] * n,
            "delta": [-0.2] * n,
            "gamma": [None] * n,
            "theta": [None] * n,
            "vega": [None] * n,
            "quality": [0] * n,
            "source": ["test"] * n,
            "model_priced": [False] * n,
        },
        schema=CHAIN_SCHEMA,
    )


async def test_chain_replay_moves_one_day_per_speed_seconds_and_fills(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    chains = ChainStore(tmp_path / "chains")
    chains.import_table(pa.concat_tables([_chain_day(date(2024, 3, 1), 2.00), _chain_day(date(2024, 3, 4), 2.50)]))
    src = ChainReplaySource(chains, "SPY", date(2024, 3, 1), speed=5.0, clock=clock)
    assert src.days == [date(2024, 3, 1), date(2024, 3, 4)]
    b = _broker(store, src, clock)
    assert (await b.get_quotes([P480]))[P480].bid == 2.00
    st = await b.place_order(_order(limit=1.40))
    assert st.status is OrderStatus.SUBMITTED
    clock.advance(5.0)
    assert src.current_day() == date(2024, 3, 4)
    assert (await b.get_quotes([P480]))[P480].bid == 2.50
    await b.process()  # credit now 2.568 - 1.066 = 1.502
    assert (await b.order_status(st.client_order_id)).status is OrderStatus.FILLED
    clock.advance(3600)
    assert src.current_day() == date(2024, 3, 4)  # holds the last day when data ends


def test_chain_replay_without_days_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="import chains first"):
        ChainReplaySource(ChainStore(tmp_path / "empty"), "SPY", date(2024, 1, 1), speed=1.0)


def test_bad_faults_are_refused_with_field_name() -> None:
    with pytest.raises(ValueError, match="reject_rate"):
        Faults(reject_rate=1.5)
    with pytest.raises(ValueError, match="partial_fill_ratio"):
        Faults(partial_fill_ratio=0.0)
