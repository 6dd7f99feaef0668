"""The Kalshi adapter driven through the official SDK against the fake Kalshi on loopback
(tests/fakes/kalshi.py): quotes, the order book, orders with our client order ids, idempotent
re-sends, partial fills and their fees, rejects, HTTP 429 back-off, positions, settlements, a
refused signature, and credentials that never leak. The RSA key pair is generated here."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.kalshi import FakeKalshi, fee_cents
from riskpilot.brokers.kalshi import (
    KalshiAuthError,
    KalshiBroker,
    KalshiCredentials,
    KalshiRateLimitedError,
    kalshi_check_async,
)
from riskpilot.brokers.kalshi_wire import KalshiCredentialsError
from riskpilot.config.event_contracts import KalshiConfig
from riskpilot.execution.port import BrokerPort, OrderStatus, UnknownOrderError
from riskpilot.model import (
    ContractSide,
    EventContract,
    Leg,
    MarketResult,
    OptionContract,
    Order,
    OrderPurpose,
    OrderType,
    Position,
    PremiumType,
    Right,
    Side,
)
from riskpilot.model.event import settle_event_position

KEY_ID = f"test-key-{secrets.token_hex(8)}"
CLOSE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
A, B, C = "KXHIGHNY-26DEC03-T45", "KXHIGHNY-26DEC03-T50", "KXFED-27JAN-T4.00"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def creds(key: rsa.RSAPrivateKey) -> KalshiCredentials:
    return KalshiCredentials.from_pem(KEY_ID, _pem(key))


@pytest.fixture
async def venue(key: rsa.RSAPrivateKey) -> AsyncIterator[FakeKalshi]:
    async with FakeKalshi(KEY_ID, key.public_key()) as v:
        v.add_market(A, event="KXHIGHNY-26DEC03", series="KXHIGHNY", close_time=CLOSE,
                     yes_bids=[(40, 100), (39, 50)], no_bids=[(57, 30), (55, 100)])
        v.add_market(B, event="KXHIGHNY-26DEC03", series="KXHIGHNY", close_time=CLOSE,
                     yes_bids=[(20, 500)], no_bids=[(78, 500)])
        v.add_market(C, event="KXFED-27JAN", series="KXFED", close_time=CLOSE + timedelta(days=30),
                     yes_bids=[(60, 10)], no_bids=[(38, 10)], fee_type="quadratic_with_maker_fees")
        yield v


class Sleeps:
    """The back-off's sleep, recorded instead of slept (the tests stay quick)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_broker(venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps, **cfg: object) -> KalshiBroker:
    settings = {"base_url": venue.base_url, "max_api_calls_per_minute": 600, **cfg}
    return KalshiBroker(KalshiConfig.model_validate(settings), creds, sleep=sleeps)


@pytest.fixture
async def broker(venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps) -> AsyncIterator[KalshiBroker]:
    async with make_broker(venue, creds, sleeps) as b:
        yield b


def contract(ticker: str = A, side: ContractSide = ContractSide.YES, series: str = "KXHIGHNY") -> EventContract:
    event = ticker.rsplit("-", 1)[0]
    return EventContract(series, event, ticker, side, CLOSE, CLOSE)


def order(cid: str, c: EventContract, qty: int, price: float | None, side: Side = Side.BUY,
          purpose: OrderPurpose = OrderPurpose.OPEN) -> Order:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return Order(cid, (Leg(c, 1),), side, qty, kind, datetime.now(UTC), limit_price=price,
                 position_id=f"pos-{cid}", purpose=purpose)


# --- quotes and books ------------------------------------------------------------------------


async def test_kalshi_is_a_broker_port(broker: KalshiBroker) -> None:
    assert isinstance(broker, BrokerPort)


async def test_kalshi_quotes_when_batched_then_one_call_quotes_both_sides_of_every_market(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    wanted = [contract(A), contract(A, ContractSide.NO), contract(B), contract(C, series="KXFED")]
    quotes = await broker.get_quotes(wanted)
    assert venue.calls("/markets", "GET") == 1
    yes_a, no_a = quotes[wanted[0]], quotes[wanted[1]]
    assert (yes_a.bid, yes_a.ask) == (0.40, pytest.approx(0.43))  # ask = 1 - best NO bid 0.57
    assert (no_a.bid, no_a.ask) == (0.57, pytest.approx(0.60))  # ask = 1 - best YES bid 0.40
    assert yes_a.volume == 1000 and quotes[wanted[3]].bid == 0.60


async def test_kalshi_quotes_when_a_market_is_settled_or_unknown_then_absent(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    venue.settle(B, "no")
    quotes = await broker.get_quotes([contract(A), contract(B), contract("KXNOPE-1-X")])
    assert list(quotes) == [contract(A)]


async def test_kalshi_order_book_when_read_then_no_bids_are_turned_into_yes_asks_with_sizes(
    broker: KalshiBroker,
) -> None:
    book = await broker.order_book(contract(A))
    assert [(lv.price, lv.size) for lv in book.bids] == [(0.40, 100), (0.39, 50)]
    assert [(lv.price, lv.size) for lv in book.asks] == [(pytest.approx(0.43), 30), (pytest.approx(0.45), 100)]
    no_book = await broker.order_book(contract(A, ContractSide.NO))
    assert no_book.quote.bid == 0.57 and no_book.ask_size == 100


# --- orders -----------------------------------------------------------------------------------


async def test_kalshi_place_when_limit_is_between_cents_then_rounded_passively_and_sent_with_our_id(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    buy = await broker.place_order(order("rp-buy", contract(B), 5, 0.219))  # -> 21 cents, rests
    sell = await broker.place_order(order("rp-sell", contract(A, ContractSide.NO), 5, 0.581, Side.SELL))
    assert venue.by_client_id("rp-buy").price == 21 and buy.status is OrderStatus.SUBMITTED
    assert venue.by_client_id("rp-sell").price == 59 and sell.status is OrderStatus.SUBMITTED  # up: 58.1 -> 59
    assert (buy.limit_price, sell.limit_price) == (pytest.approx(0.21), pytest.approx(0.59))


async def test_kalshi_place_when_resent_with_the_same_client_id_then_no_second_order(
    broker: KalshiBroker, venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps
) -> None:
    first = await broker.place_order(order("rp-once", contract(B), 5, 0.15))
    again = await broker.place_order(order("rp-once", contract(B), 5, 0.15))
    # A restarted process (a new adapter) re-sends it: the venue answers 409, the order is found.
    async with make_broker(venue, creds, sleeps) as restarted:
        after_restart = await restarted.place_order(order("rp-once", contract(B), 5, 0.15))
    assert first.broker_order_id == again.broker_order_id == after_restart.broker_order_id
    assert len(venue.orders) == 1 and venue.calls("/portfolio/orders", "POST") == 2


async def test_kalshi_partial_fill_when_the_book_is_thin_then_rest_works_and_fills_carry_the_fee(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    state = await broker.place_order(order("rp-part", contract(A), 40, 0.435))
    assert state.status is OrderStatus.PARTIALLY_FILLED and (state.filled_quantity, state.remaining) == (30, 10)
    assert state.avg_fill_price == pytest.approx(0.43)
    venue.fill("rp-part", 10, price=43)  # a seller hits the resting rest: a maker fill
    done = await broker.order_status("rp-part")
    assert done.status is OrderStatus.FILLED and done.filled_quantity == 40
    fills = await broker.executions()
    assert [(f.quantity, f.price, f.client_order_id, f.position_id) for f in fills] == [
        (30, 0.43, "rp-part", "pos-rp-part"), (10, 0.43, "rp-part", "pos-rp-part")]
    # taker: 0.07 x 30 x 0.43 x 0.57 = 0.5147 -> 0.52; maker on a quadratic series: free
    assert [f.commission for f in fills] == [0.52, 0.0]
    assert fills[0].commission * 100 == venue.by_client_id("rp-part").taker_fees


async def test_kalshi_maker_fill_when_the_series_charges_makers_then_the_quarter_rate_is_applied(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    await broker.place_order(order("rp-mk", contract(C, series="KXFED"), 20, 0.55))
    venue.fill("rp-mk", 20)
    [fill] = await broker.executions()
    assert fill.commission == pytest.approx(fee_cents(20, 55, 175) / 100) == pytest.approx(0.09)


async def test_kalshi_reject_when_the_venue_refuses_then_a_rejected_state_not_an_exception(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    venue.reject_next("insufficient_balance", "not enough balance for 500 contracts")
    state = await broker.place_order(order("rp-rej", contract(B), 500, 0.21))
    assert state.status is OrderStatus.REJECTED
    assert state.reason == "insufficient_balance: not enough balance for 500 contracts"
    assert (await broker.order_status("rp-rej")).status is OrderStatus.REJECTED


async def test_kalshi_reject_when_the_limit_is_off_the_price_range_then_never_sent(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    state = await broker.place_order(order("rp-zero", contract(B), 1, 0.004))
    assert state.status is OrderStatus.REJECTED and "0 cents" in (state.reason or "")
    assert venue.calls("/portfolio/orders", "POST") == 0


async def test_kalshi_close_when_nothing_is_held_then_reduce_only_makes_the_venue_refuse(
    broker: KalshiBroker,
) -> None:
    state = await broker.place_order(order("rp-cl", contract(A), 5, 0.40, Side.SELL, OrderPurpose.CLOSE))
    assert state.status is OrderStatus.REJECTED and "reduce_only" in (state.reason or "")


async def test_kalshi_cancel_when_resting_then_cancelled_and_again_unchanged_and_unknown_raises(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    await broker.place_order(order("rp-c", contract(B), 5, 0.15))
    cancelled = await broker.cancel_order("rp-c")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.filled_quantity == 0
    calls = len(venue.requests)
    assert await broker.cancel_order("rp-c") == cancelled and len(venue.requests) == calls
    with pytest.raises(UnknownOrderError):
        await broker.cancel_order("rp-never-sent")
    with pytest.raises(UnknownOrderError):
        await broker.order_status("rp-never-sent")


async def test_kalshi_replace_when_the_limit_walks_across_the_book_then_it_fills_under_our_id(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    await broker.place_order(order("rp-walk", contract(A), 10, 0.41))
    walked = await broker.replace_order("rp-walk", limit_price=0.43)
    assert walked.status is OrderStatus.FILLED and walked.limit_price == pytest.approx(0.43)
    assert venue.by_client_id("rp-walk").client_order_id == "rp-walk:1"
    assert [f.client_order_id for f in await broker.executions()] == ["rp-walk"]


async def test_kalshi_market_order_when_the_book_is_short_then_takes_it_and_cancels_the_rest(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    state = await broker.place_order(order("rp-mkt", contract(C, series="KXFED"), 25, None))
    assert state.status is OrderStatus.CANCELLED and state.filled_quantity == 10  # IOC at 99 cents
    assert venue.by_client_id("rp-mkt").tif == "immediate_or_cancel"


async def test_kalshi_order_when_it_is_an_option_then_refused(broker: KalshiBroker, venue: FakeKalshi) -> None:
    opt = OptionContract("SPY", CLOSE.date(), 600.0, Right.PUT)
    bad = Order("rp-opt", (Leg(opt, 1),), Side.BUY, 1, OrderType.LIMIT, datetime.now(UTC), limit_price=1.0)
    with pytest.raises(ValueError, match="one event contract per order"):
        await broker.place_order(bad)
    assert venue.requests == []


async def test_kalshi_order_events_when_subscribed_then_see_the_placement(broker: KalshiBroker) -> None:
    events = broker.order_events()
    pending = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0)
    await broker.place_order(order("rp-ev", contract(B), 2, 0.15))
    event = await asyncio.wait_for(pending, 5)
    assert event.state.client_order_id == "rp-ev" and event.state.status is OrderStatus.SUBMITTED
    await events.aclose()


# --- rate limits -------------------------------------------------------------------------------


async def test_kalshi_429_when_retry_after_is_given_then_waits_that_long_and_succeeds(
    broker: KalshiBroker, venue: FakeKalshi, sleeps: Sleeps
) -> None:
    venue.throttle(2, retry_after="3")
    quotes = await broker.get_quotes([contract(A)])
    assert contract(A) in quotes
    assert sleeps.seen == [3.0, 3.0]
    assert [s for _, p, s in venue.requests if p.endswith("/markets")] == [429, 429, 200]


async def test_kalshi_429_when_no_retry_after_then_exponential_back_off_within_the_cap(
    venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps
) -> None:
    venue.throttle(3, retry_after=None)
    async with make_broker(venue, creds, sleeps, max_backoff_seconds=2) as b:
        await b.get_quotes([contract(A)])
    assert len(sleeps.seen) == 3 and all(0 <= s <= 2 for s in sleeps.seen)


async def test_kalshi_429_when_it_persists_then_rate_limited_error_after_the_retries(
    venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps
) -> None:
    venue.throttle(10, retry_after="1")
    async with make_broker(venue, creds, sleeps, max_retries=2) as b:
        with pytest.raises(KalshiRateLimitedError, match="after 2 retries"):
            await b.get_quotes([contract(A)])
    assert venue.calls("/markets") == 3


async def test_kalshi_limiter_when_configured_at_60_a_minute_then_waits_past_the_burst(
    venue: FakeKalshi, creds: KalshiCredentials, sleeps: Sleeps
) -> None:
    async with make_broker(venue, creds, sleeps, max_api_calls_per_minute=2) as b:
        await b.get_quotes([contract(A)])
        await b.get_quotes([contract(A)])
        with pytest.raises(TimeoutError):  # a third call within the minute must wait ~30 s
            await asyncio.wait_for(b.get_quotes([contract(A)]), 0.2)
    assert venue.calls("/markets") == 2


# --- portfolio ---------------------------------------------------------------------------------


async def test_kalshi_positions_when_yes_and_no_are_held_then_each_reported_long_on_its_side(
    broker: KalshiBroker,
) -> None:
    await broker.place_order(order("rp-y", contract(A), 20, 0.43))  # 20 YES at 0.43
    await broker.place_order(order("rp-n", contract(B, ContractSide.NO), 50, 0.80))  # NO: ask 0.80
    held = {(p.contract.ticker, p.contract.side): (p.quantity, p.avg_price) for p in await broker.positions()}
    assert held == {(A, ContractSide.YES): (20, pytest.approx(0.43)), (B, ContractSide.NO): (50, pytest.approx(0.80))}
    assert all(p.contract.series == "KXHIGHNY" for p in await broker.positions())


async def test_kalshi_settlement_when_the_market_resolves_then_result_revenue_and_pnl_agree(
    broker: KalshiBroker, venue: FakeKalshi
) -> None:
    await broker.place_order(order("rp-s", contract(A), 20, 0.43))
    venue.settle(A, "yes")
    [s] = await broker.settlements()
    assert (s.ticker, s.result, s.yes_count, s.revenue) == (A, MarketResult.YES, 20, 20.0)
    assert (await broker.market_results([A, B])) == {A: MarketResult.YES, B: None}
    pos = Position("pos-rp-s", (Leg(contract(A), 1),), PremiumType.DEBIT, 0.43, 20, datetime.now(UTC), "default")
    settled = settle_event_position(pos, s.result)
    assert settled.price * settled.quantity == s.revenue and settled.pnl == pytest.approx(20 * 0.57)


# --- authentication and secrets -----------------------------------------------------------------


async def test_kalshi_signature_when_signed_with_another_key_then_refused(
    venue: FakeKalshi, sleeps: Sleeps
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # any other key
    cfg = KalshiConfig(base_url=venue.base_url)
    async with KalshiBroker(cfg, KalshiCredentials.from_pem(KEY_ID, _pem(stranger)), sleep=sleeps) as b:
        with pytest.raises(KalshiAuthError, match="HTTP 401 authentication_error: invalid signature"):
            await b.get_quotes([contract(A)])
    assert venue.requests[-1][2] == 401


async def test_kalshi_credentials_never_appear_in_logs_output_or_errors(
    venue: FakeKalshi, key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    pem = _pem(key)
    key_file = tmp_path / "kalshi.pem"
    key_file.write_text(pem)
    env = {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": str(key_file)}
    cfg = KalshiConfig(base_url=venue.base_url)
    creds = KalshiCredentials.load(cfg, env)
    texts = [repr(creds), str(creds)]
    lines = await kalshi_check_async(cfg, environ=env)
    texts += lines
    venue.throttle(1, retry_after="0")
    async with KalshiBroker(cfg, creds) as b:
        await b.place_order(order("rp-secret", contract(A), 1, 0.43))
        await b.executions()
    async with KalshiBroker(cfg, KalshiCredentials("wrong-id", creds.private_key)) as b:
        with pytest.raises(KalshiAuthError) as refused:
            await b.balance()
    texts.append(str(refused.value))
    out = capsys.readouterr()
    texts += [caplog.text, out.out, out.err]
    body = "".join(pem.strip().splitlines()[1:-1])[:64]  # a slice of the key's base64 body
    for text in texts:
        assert KEY_ID not in text and body not in text and "PRIVATE KEY" not in text
    assert lines[1].startswith("OK   credentials") and lines[-1].startswith("OK   rate limit")


def test_kalshi_credentials_when_missing_then_the_error_names_where_to_put_them(tmp_path: Path) -> None:
    cfg = KalshiConfig()
    with pytest.raises(KalshiCredentialsError, match="set the environment variable KALSHI_API_KEY_ID"):
        KalshiCredentials.load(cfg, {})
    with pytest.raises(KalshiCredentialsError, match=r"KALSHI_PRIVATE_KEY_PATH \(a PEM file\) or KALSHI_PRIVATE_KEY"):
        KalshiCredentials.load(cfg, {"KALSHI_API_KEY_ID": "k"})
    with pytest.raises(KalshiCredentialsError, match="cannot be read"):
        KalshiCredentials.load(cfg, {"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "none")})
    with pytest.raises(KalshiCredentialsError, match="not an unencrypted PEM private key"):
        KalshiCredentials.load(cfg, {"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": "-----BEGIN nonsense"})


async def test_kalshi_check_when_credentials_are_absent_then_a_fail_line_and_no_call() -> None:
    lines = await kalshi_check_async(KalshiConfig(base_url="http://127.0.0.1:9/trade-api/v2"), environ={})
    assert lines[-1].startswith("FAIL credentials: no Kalshi API key id")
