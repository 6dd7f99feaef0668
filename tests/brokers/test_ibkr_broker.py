"""IbkrBroker against a fake TWS on loopback, through the real ib_async client."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest

from conftest import P475, P480, VERTICAL, Venue, fast_settings
from fakes.tws import FillPlan
from riskpilot.brokers.ibkr_broker import IbkrBroker
from riskpilot.brokers.ibkr_session import BrokerConnectError, ConnectionState
from riskpilot.execution.port import (
    BrokerDisconnectedError,
    BrokerPort,
    OrderEvent,
    OrderModificationError,
    OrderStatus,
    UnknownOrderError,
)
from riskpilot.execution.ticks import PENNY_PILOT
from riskpilot.model import Leg, OptionContract, Order, OrderPurpose, OrderType, Right, Side


def _exit(coid: str = "rp-exit-1", qty: int = 2, limit: float | None = 1.003,
          legs: tuple[Leg, ...] = VERTICAL) -> Order:
    otype = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order(coid, legs, Side.SELL, qty, otype, datetime.now(UTC), limit_price=limit,
                 position_id="pos-1", purpose=OrderPurpose.CLOSE)


async def _until(cond: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond() and loop.time() < end:  # type: ignore[operator]
        await asyncio.sleep(0.01)
    assert cond(), "condition not reached in time"  # type: ignore[operator]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- connection ------------------------------------------------------------------------------


async def test_connect_to_a_closed_port_raises_the_clear_message() -> None:
    port = _closed_port()
    b = IbkrBroker(fast_settings(port))
    with pytest.raises(BrokerConnectError, match=rf"cannot reach IB Gateway/TWS at 127.0.0.1:{port}: is it running "
                                                 r"with the API enabled and this client id free\?"):
        await b.connect()
    assert b.connection_state is ConnectionState.DISCONNECTED


async def test_connect_negotiates_server_version_and_reports_account(broker: IbkrBroker) -> None:
    assert isinstance(broker, BrokerPort)
    assert broker.ib.client.serverVersion() == 178 and broker.account == "DU1234567"
    assert broker.connection_state is ConnectionState.CONNECTED
    assert broker.account_values()["BuyingPower"] == "1000000.00"


async def test_connect_with_an_account_the_login_does_not_manage_names_the_fix(tws: Venue) -> None:
    b = IbkrBroker(fast_settings(tws.port, account="U999"))
    with pytest.raises(BrokerConnectError, match="manages DU1234567, not 'U999'"):
        await b.connect()


# --- quotes ----------------------------------------------------------------------------------


async def test_quotes_come_from_streaming_lines_qualified_once(tws: Venue, broker: IbkrBroker) -> None:
    quotes = await broker.get_quotes([P480, P475])
    assert (quotes[P480].bid, quotes[P480].ask, quotes[P480].volume) == (2.00, 2.10, 500)
    assert quotes[P475].mid == pytest.approx(1.025)
    tws.fake.set_quote(tws.c480, 2.20, 2.30)  # pushed on the line: no new request
    await _until(lambda: broker.quotes.cached_quote(P480) is not None and broker.quotes.cached_quote(P480).bid == 2.2)
    again = await broker.get_quotes([P480, P475])
    assert again[P480].bid == 2.20
    assert tws.fake.inbound[9] == 2 and tws.fake.inbound[1] == 2  # contract details and lines: once each


@pytest.mark.parametrize(
    ("bid", "ask", "data_type", "why"),
    [
        (None, None, 1, "no two-sided market"),
        (2.00, None, 1, "no two-sided market"),
        (2.00, 2.10, 2, "frozen data"),
        (2.00, 2.10, 3, "delayed data"),
    ],
)
async def test_quote_without_live_two_sided_market_is_left_out_with_its_reason(
    tws: Venue, broker: IbkrBroker, bid: float | None, ask: float | None, data_type: int, why: str
) -> None:
    tws.fake.set_quote(tws.c480, bid, ask, data_type=data_type)
    quotes = await broker.get_quotes([P480, P475])
    assert P480 not in quotes and P475 in quotes
    assert why in broker.quote_problems[P480]


async def test_contract_ib_does_not_list_is_absent_and_its_order_rejected(broker: IbkrBroker) -> None:
    ghost = OptionContract("SPY", P480.expiration, 999.0, Right.CALL)
    assert ghost not in await broker.get_quotes([ghost, P480])
    assert "no security definition" in broker.quote_problems[ghost]
    st = await broker.place_order(_exit("rp-ghost", legs=(Leg(ghost, -1),)))
    assert st.status is OrderStatus.REJECTED and "IB 200" in (st.reason or "")


async def test_batch_beyond_the_line_limit_reads_the_rest_by_snapshot(tws: Venue) -> None:
    extra = [OptionContract("SPY", P480.expiration, 400.0 + i, Right.PUT) for i in range(4)]
    for c in extra:
        tws.fake.set_quote(tws.fake.add_option("SPY", c.expiration, c.strike, "P"), 0.5, 0.6)
    b = IbkrBroker(fast_settings(tws.port, max_market_data_lines=3))
    await b.connect()
    try:
        quotes = await b.get_quotes([P480, P475, *extra])
        assert len(quotes) == 6 and b.quotes.held == 3 and b.quotes.snapshots == 3
    finally:
        await b.close()


# --- orders ----------------------------------------------------------------------------------


async def test_limit_exit_is_one_bag_with_order_ref_walked_by_replace_and_filled(
    tws: Venue, broker: IbkrBroker
) -> None:
    events = broker.subscribe()
    st = await broker.place_order(_exit(limit=1.003))  # pays (closing a credit spread): rounds down
    assert st.status is OrderStatus.SUBMITTED and st.limit_price == 1.00
    [sent] = tws.fake.orders_by_ref("rp-exit-1")
    assert sent.contract[2] == "BAG" and sent.action == "SELL"
    assert [(leg.con_id, leg.ratio, leg.action) for leg in sent.legs] == [(tws.c480, 1, "SELL"), (tws.c475, 1, "BUY")]
    assert sent.lmt == -1.00  # selling the held combo at -1.00: pays at most 1.00
    st = await broker.replace_order("rp-exit-1", limit_price=1.1049)  # the walk reaches the natural 1.10
    assert st.status is OrderStatus.FILLED and st.filled_quantity == 2 and st.avg_fill_price == pytest.approx(1.10)
    assert [x[1:] for x in tws.fake.placed] == [("new", -1.00), ("modify", -1.10)]
    [fill] = await broker.executions()
    assert (fill.quantity, fill.price, fill.side, fill.position_id) == (2, pytest.approx(1.10), Side.SELL, "pos-1")
    assert fill.commission == pytest.approx(4 * 0.65)  # two legs x two contracts
    got: list[OrderEvent] = []
    while not events.empty():
        got.append(events.get_nowait())
    assert [e.fill.fill_id for e in got if e.fill] == [fill.fill_id]
    assert got[-1].state.status is OrderStatus.FILLED


async def test_placing_a_known_client_order_id_never_sends_a_second_order(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.plan_next(FillPlan(mode="never"))
    first = await broker.place_order(_exit())
    again = await broker.place_order(_exit())
    assert again.broker_order_id == first.broker_order_id
    assert len(tws.fake.orders_by_ref("rp-exit-1")) == 1


async def test_ib_reject_201_is_a_rejected_state_with_the_reason(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.plan_next(FillPlan(mode="reject", code=201, message="Order rejected - reason: margin"))
    st = await broker.place_order(_exit())
    assert st.status is OrderStatus.REJECTED and st.reason == "IB 201: Order rejected - reason: margin"
    assert (await broker.order_status("rp-exit-1")).status is OrderStatus.REJECTED


async def test_partial_fill_then_completion_reports_each_unit_once(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.plan_next(FillPlan(mode="partial", units=(1,), interval=0.05, then="immediate"))
    events = broker.subscribe()
    await broker.place_order(_exit(qty=3, limit=1.10))
    await _until(lambda: len(tws.fake.executions) >= 6)
    await _until(lambda: sum(f.quantity for f in broker._fills_of(broker._orders["rp-exit-1"],
                                                                   broker._leg_executions())) == 3)
    fills = await broker.executions()
    assert [f.quantity for f in fills] == [1, 2] and len({f.fill_id for f in fills}) == 2
    seen = []
    while not events.empty():
        e = events.get_nowait()
        if e.fill:
            seen.append((e.fill.fill_id, e.state.status))
    assert seen[0][1] in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
    assert [f for f, _ in seen] == [f.fill_id for f in fills]
    assert (await broker.order_status("rp-exit-1")).status is OrderStatus.FILLED


async def test_cancel_and_unknown_ids(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.plan_next(FillPlan(mode="never"))
    await broker.place_order(_exit())
    st = await broker.cancel_order("rp-exit-1")
    assert st.status is OrderStatus.CANCELLED
    assert (await broker.cancel_order("rp-exit-1")).status is OrderStatus.CANCELLED  # final: unchanged
    with pytest.raises(OrderModificationError, match="only working orders"):
        await broker.replace_order("rp-exit-1", limit_price=1.2)
    with pytest.raises(UnknownOrderError):
        await broker.order_status("rp-nobody")


async def test_single_leg_exit_of_a_short_put_buys_the_put(tws: Venue, broker: IbkrBroker) -> None:
    st = await broker.place_order(_exit("rp-single", qty=2, limit=2.108, legs=(Leg(P480, -1),)))
    [sent] = tws.fake.orders_by_ref("rp-single")
    assert (sent.contract[2], sent.action, sent.quantity, sent.lmt) == ("OPT", "BUY", 2.0, 2.10)
    assert st.status is OrderStatus.FILLED
    [fill] = await broker.executions()
    assert (fill.quantity, fill.price, fill.side) == (2, pytest.approx(2.10), Side.SELL)


async def test_every_limit_sent_is_on_the_tick_grid_and_never_more_aggressive(
    tws: Venue, broker: IbkrBroker
) -> None:
    tws.fake.plan_next(*[FillPlan(mode="never")] * 4)
    asked = [0.987, 1.0049, 3.03, 2.999]
    for i, limit in enumerate(asked):
        await broker.place_order(_exit(f"rp-grid-{i}", limit=limit))
    await broker.replace_order("rp-grid-0", limit_price=3.07)
    sent = [-lmt for _, _, lmt in tws.fake.placed if lmt is not None]  # SELL that pays: negative on the wire
    assert all(PENNY_PILOT.on_grid(p) for p in sent)
    assert sent == [0.98, 1.00, 3.00, 2.99, 3.05]  # each rounded down: a debit never pays more than asked


# --- disconnects and restarts ----------------------------------------------------------------


async def test_disconnect_mid_order_reconnects_and_adopts_the_working_order(tws: Venue, broker: IbkrBroker) -> None:
    states: list[ConnectionState] = []
    broker.add_connection_listener(lambda s, why: states.append(s))
    await broker.place_order(_exit())  # 1.00 rests: the combo's natural price is 1.10
    tws.fake.drop_connections()
    await _until(lambda: broker.connection_state is ConnectionState.DISCONNECTED)
    with pytest.raises(BrokerDisconnectedError):
        await broker.place_order(_exit())
    assert await broker.wait_connected(3)
    again = await broker.place_order(_exit())  # the executor re-sends after a timeout: adopted, not sent
    assert again.status is OrderStatus.SUBMITTED and len(tws.fake.orders_by_ref("rp-exit-1")) == 1
    assert (await broker.replace_order("rp-exit-1", limit_price=1.10)).status is OrderStatus.FILLED
    assert states[:1] == [ConnectionState.DISCONNECTED] and states[-1] is ConnectionState.CONNECTED
    assert broker.session.reconnects == 1


async def test_fill_while_disconnected_is_read_after_reconnect(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.plan_next(FillPlan(mode="partial", units=(), interval=0, then="never", delay=0.0))
    await broker.place_order(_exit())
    await tws.fake.pause()
    [o] = tws.fake.orders_by_ref("rp-exit-1")
    tws.fake._fill(o, 2, -1.08)  # the order fills at IB while nobody is connected
    await tws.fake.resume()
    assert await broker.wait_connected(3)
    [fill] = await broker.executions()
    assert (fill.quantity, fill.price, fill.commission) == (2, pytest.approx(1.08), pytest.approx(2.6))
    assert (await broker.order_status("rp-exit-1")).status is OrderStatus.FILLED


async def test_link_loss_1100_holds_calls_until_1102(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.broadcast_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    await _until(lambda: broker.connection_state is ConnectionState.DISCONNECTED)
    with pytest.raises(BrokerDisconnectedError, match="1100"):
        await broker.get_quotes([P480])
    tws.fake.broadcast_error(1102, "Connectivity between IB and Trader Workstation has been restored - data kept.")
    assert await broker.wait_connected(2)
    assert P480 in await broker.get_quotes([P480])


async def test_restart_finds_the_working_order_by_order_ref(tws: Venue) -> None:
    first = IbkrBroker(fast_settings(tws.port))
    await first.connect()
    await first.place_order(_exit())  # rests at 1.00
    await first.close()  # the process dies; the order works on at IB
    lookups: list[str] = []
    second = IbkrBroker(fast_settings(tws.port), order_lookup=lambda coid: lookups.append(coid) or None)
    await second.connect()
    try:
        st = await second.order_status("rp-exit-1")
        assert st.status is OrderStatus.SUBMITTED and st.limit_price == 1.00 and lookups == ["rp-exit-1"]
        assert (await second.place_order(_exit())).broker_order_id == st.broker_order_id
        assert len(tws.fake.orders_by_ref("rp-exit-1")) == 1
        filled = await second.replace_order("rp-exit-1", limit_price=1.10)  # same client id: it may modify
        assert filled.status is OrderStatus.FILLED
        [fill] = await second.executions()
        assert fill.side is Side.SELL and fill.quantity == 2
    finally:
        await second.close()


async def test_positions_report_per_share_average_price(tws: Venue, broker: IbkrBroker) -> None:
    tws.fake.add_position(tws.c480, -3, 251.30)
    [p] = await broker.positions()
    assert (p.contract, p.quantity, p.avg_price) == (P480, -3, pytest.approx(2.513))
