"""The monitor against Kalshi, through the official SDK and the signature-checking fake venue on
loopback (tests/fakes/kalshi.py), wired as ``riskpilot monitor --broker kalshi`` wires it
(``riskpilot.app.build_live``), on a simulated clock. One scenario over three positions bought
through the entry workflow:

- KXLOOP-26DEC09-EDGE (YES at 0.43): ten minutes in, the fair-value feed drops below the bid;
  the edge turns negative and ``edge_disappeared`` closes it with the LOW tactic, whose limit
  walks down the 1-cent grid (0.42, 0.41, 0.40) until the YES bid takes it;
- KXLOOP-26DEC09-RES (NO at 0.70): held through its close; the venue settles it NO and the
  monitor books the payout (1.00 a contract, no fee) from the venue's result;
- KXLOOP-26DEC09-SOON (YES at 0.61): four minutes before its close ``time_based_urgent`` closes
  it (HIGH tactic) before settlement.

Also: ``broker check --broker kalshi`` against the fake, and ``monitor --broker kalshi`` without
credentials naming where to put them."""

from __future__ import annotations

import asyncio
import csv
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from fakes.kalshi import FakeKalshi, fee_cents
from riskpilot.app import MonitorOptions, MonitorRun, build_live
from riskpilot.cli import app as cli
from riskpilot.config import RiskPilotConfig
from riskpilot.config.loader import config_from_dict
from riskpilot.execution.clock import SimulatedClock
from riskpilot.live.entries import EntryWorkflow
from riskpilot.live.session import AlwaysOpen
from riskpilot.model import ContractSide, EventContract, PositionStatus
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.trading.events import EVENTS, EventCandidate, EventEntryPlanner
from riskpilot.trading.fair_value import FeedFairValues

KEY_ID = f"loop-{secrets.token_hex(6)}"
T0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
EDGE, RES, SOON = "KXLOOP-26DEC09-EDGE", "KXLOOP-26DEC09-RES", "KXLOOP-26DEC09-SOON"
CLOSES = {EDGE: T0 + timedelta(days=1), RES: T0 + timedelta(minutes=20), SOON: T0 + timedelta(minutes=30)}

FAST_TACTICS = {
    "CRITICAL": {"order_type": "market", "timeout_seconds": 5, "retry_strategy": "immediate_market"},
    "HIGH": {"order_type": "limit", "price_strategy": "aggressive", "timeout_seconds": 5,
             "retry_strategy": "walk_then_market", "max_walks": 2},
    "MEDIUM": {"order_type": "limit", "price_strategy": "fair", "timeout_seconds": 10, "retry_strategy": "walk_price",
               "max_walks": 3},
    "LOW": {"order_type": "limit", "price_strategy": "conservative", "timeout_seconds": 15,
            "retry_strategy": "walk_slowly", "max_walks": 4},
}


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, key: rsa.RSAPrivateKey) -> None:
    monkeypatch.setenv("KALSHI_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", _pem(key))
    monkeypatch.delenv("KALSHI_PRIVATE_KEY_PATH", raising=False)


def _feed(path: Path) -> Path:
    """Fair probabilities of YES every minute from T0 - 1 min: EDGE 0.52 until T0 + 10 min, then
    0.38 (below its 0.40 bid); RES 0.20 (its NO side worth 0.80); SOON 0.70."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "market", "fair_probability"])
        for k in range(-1, 45):
            t = (T0 + timedelta(minutes=k)).isoformat()
            w.writerow([t, EDGE, 0.52 if k < 10 else 0.38])
            w.writerow([t, RES, 0.20])
            w.writerow([t, SOON, 0.70])
    return path


def _config(venue: FakeKalshi, feed: Path) -> RiskPilotConfig:
    return config_from_dict({
        "fair_value": {"feed": str(feed), "max_age_seconds": 300},
        "kalshi": {"base_url": venue.base_url, "max_api_calls_per_minute": 600},
        "exit_priorities": {"CRITICAL": ["stop_loss", "volatility_scaled_stop", "circuit_breaker"],
                            "HIGH": ["trailing_stop", "time_based_urgent", "liquidity_dried_up"],
                            "MEDIUM": ["profit_target", "partial_exit_target", "time_exit_dte", "gamma_protection"],
                            "LOW": ["edge_disappeared", "early_exit", "rebalance", "max_holding_period"]},
        "exit_execution": FAST_TACTICS,
        "methods": {"events": {"sizing": {"max_contracts": 10}, "exit_rules": {
            "trailing_stop": {"enabled": False}, "partial_exit_target": {"enabled": False},
            "profit_target": {"profit_target_pct": 0.5}, "stop_loss": {"debit_stop_loss_pct": 0.5}}}},
    })


@pytest.fixture
async def venue(key: rsa.RSAPrivateKey) -> AsyncIterator[FakeKalshi]:
    async with FakeKalshi(KEY_ID, key.public_key()) as v:
        v.add_market(EDGE, event="KXLOOP-26DEC09", series="KXLOOP", close_time=CLOSES[EDGE],
                     yes_bids=[(40, 200)], no_bids=[(57, 200)])  # YES 0.40 / 0.43: three cents wide
        v.add_market(RES, event="KXLOOP-26DEC09", series="KXLOOP", close_time=CLOSES[RES],
                     yes_bids=[(30, 200)], no_bids=[(68, 200)])  # NO 0.68 / 0.70
        v.add_market(SOON, event="KXLOOP-26DEC09", series="KXLOOP", close_time=CLOSES[SOON],
                     yes_bids=[(60, 200)], no_bids=[(39, 200)])  # YES 0.60 / 0.61
        yield v


async def _enter(run: MonitorRun, cfg: RiskPilotConfig, fair: FeedFairValues, clock: SimulatedClock,
                 store: Store, held: list[tuple[str, ContractSide, float]]) -> None:
    """Buy each side at its ask through the entry workflow (one market order each)."""
    planner = EventEntryPlanner(cfg, "events", fair)
    entries = EntryWorkflow(store=store, broker=run.broker, risk=run.risk, config=cfg, clock=clock, method="events",
                            underlying=EVENTS, planner=planner)
    for ticker, side, fair_side in held:
        contract = EventContract("KXLOOP", "KXLOOP-26DEC09", ticker, side, CLOSES[ticker], CLOSES[ticker])
        quotes = await run.broker.get_quotes([contract])
        ask = quotes[contract].ask
        assert ask is not None
        cand = EventCandidate(contract, fair_side, ask, fair_side - ask, 200)
        day = SimpleNamespace(quote_date=clock.now().date())
        plan = planner.size(cand, ask, entries.new_position_id(day.quote_date), day=day, at=clock.now(),
                            quotes=quotes, risk=run.risk, regime=None)
        result = await entries.enter(plan)  # type: ignore[arg-type]
        assert result.status == "filled" and result.quantity == 10


async def _cycle_at(run: MonitorRun, clock: SimulatedClock, at: datetime) -> None:
    await clock.sleep((at - clock.now()).total_seconds())
    await run.monitor.check_once(force_all=True, settle="before_marks")
    await run.monitor.wait_exits()


async def test_kalshi_monitor_scenario_edge_gone_limit_walks_closed_before_close_and_settled_at_the_result(
    venue: FakeKalshi, credentials: None, tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    venue.clock = clock.now
    cfg = _config(venue, _feed(tmp_path / "fair.csv"))
    store = Store.open(f"sqlite:///{tmp_path / 'kalshi.db'}", migrate=True)
    run = await build_live(store, cfg, None, MonitorOptions(broker="kalshi", sessions="auto"), clock=clock)
    try:
        assert isinstance(run.sessions, AlwaysOpen) and run.closers  # around the clock; the HTTP session closes
        fair = FeedFairValues.from_path(tmp_path / "fair.csv", max_age_seconds=300)
        await _enter(run, cfg, fair, clock, store,
                     [(EDGE, ContractSide.YES, 0.52), (RES, ContractSide.NO, 0.80), (SOON, ContractSide.YES, 0.70)])
        report = await run.monitor.start()  # reconciliation with the venue: the store agrees with it
        assert report is not None and report.position_mismatches == [] and len(run.monitor.positions) == 3

        await _cycle_at(run, clock, T0 + timedelta(minutes=1))
        assert ExitRepository(store).all_exits() == []

        await _cycle_at(run, clock, T0 + timedelta(minutes=10))  # the feed's fair value drops to 0.38
        [gone] = ExitRepository(store).all_exits()
        assert gone.rule == "edge_disappeared" and "model edge turned negative (-2.00%)" in gone.reason
        assert (gone.filled_quantity, gone.fill_price) == (10, 0.40)
        sells = [o for o in venue.orders.values() if o.ticker == EDGE and o.action == "sell"]
        walked = list(dict.fromkeys(o.price for o in sells))
        assert walked == [42, 41, 40]  # cents: the limit walked down the grid, one cent at a time
        assert all(o.status == "canceled" for o in sells[:-1]) and sells[-1].status == "executed"

        venue.markets[RES].status = "closed"  # trading stopped at its close
        await _cycle_at(run, clock, CLOSES[RES] + timedelta(seconds=30))
        assert len(ExitRepository(store).all_exits()) == 1  # no result yet: the position holds
        venue.settle(RES, "no")
        await _cycle_at(run, clock, CLOSES[RES] + timedelta(minutes=2))
        settled = next(e for e in ExitRepository(store).all_exits() if e.rule == "event_settlement")
        assert (settled.filled_quantity, settled.fill_price) == (10, 1.0)

        await _cycle_at(run, clock, CLOSES[SOON] - timedelta(minutes=4))
        urgent = next(e for e in ExitRepository(store).all_exits() if e.rule == "time_based_urgent")
        assert urgent.filled_quantity == 10 and urgent.fill_price == 0.60
        assert urgent.executed_at is not None and urgent.executed_at < CLOSES[SOON]

        positions = {sp.position.legs[0].contract.ticker: sp  # type: ignore[union-attr]
                     for sp in PositionRepository(store).load_open(tuple(PositionStatus))}
        assert all(sp.position.status is PositionStatus.CLOSED for sp in positions.values())
        # Realized P&L from the venue's prices and its fees (integer cents): buy at the ask, sell at
        # the bid the walk reached, the settlement paid 1.00 with no fee.
        expect = {EDGE: 10 * (40 - 43) - fee_cents(10, 43) - fee_cents(10, 40),
                  RES: 10 * (100 - 70) - fee_cents(10, 70),
                  SOON: 10 * (60 - 61) - fee_cents(10, 61) - fee_cents(10, 60)}
        for ticker, cents in expect.items():
            sp = positions[ticker]
            assert sp.monitoring.realized_pnl - sp.monitoring.commissions == pytest.approx(cents / 100, abs=1e-9)
        assert all(path.startswith("/trade-api/v2") for _, path, _ in venue.requests)
    finally:
        for close in run.closers:
            await close()
        store.close()


# --- commands -----------------------------------------------------------------------------------


@pytest.fixture
def threaded_venue(key: rsa.RSAPrivateKey) -> Iterator[FakeKalshi]:
    """The fake venue on its own event loop in a thread, for commands that run their own loop."""
    loop = asyncio.new_event_loop()
    fake = FakeKalshi(KEY_ID, key.public_key())
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.__aenter__())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.__aexit__(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_broker_check_kalshi_against_the_fake_prints_origin_status_balance_and_limit_never_the_key(
    threaded_venue: FakeKalshi, credentials: None, tmp_path: Path, key: rsa.RSAPrivateKey,
) -> None:
    cfg = tmp_path / "k.yaml"
    cfg.write_text(f"kalshi:\n  base_url: {threaded_venue.base_url}\n")
    out = CliRunner().invoke(cli, ["broker", "check", "--broker", "kalshi", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert "OK   credentials: read from KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY (not shown)" in out.output
    assert "OK   signed requests accepted: balance $100,000.00" in out.output
    assert "OK   rate limit: 60 calls a minute (venue ceiling 600)" in out.output
    body = "".join(_pem(key).strip().splitlines()[1:-1])[:64]
    assert KEY_ID not in out.output and body not in out.output


def test_monitor_kalshi_without_credentials_names_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY", "KALSHI_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store.open(url, migrate=True).close()
    out = CliRunner().invoke(cli, ["monitor", "--db", url, "--broker", "kalshi", "--dry-run"])
    assert out.exit_code == 2 and "set the environment variable KALSHI_API_KEY_ID" in out.output
    check = CliRunner().invoke(cli, ["broker", "check", "--broker", "kalshi"])
    assert check.exit_code == 2 and "FAIL credentials" in check.output
