"""PositionMonitor on simulated time against the real paper broker and store: check frequency
near a trigger, cached and batched quotes under the rate limit, trailing stops and marks stored
on change only, hold lines, bad quotes, the circuit breaker, and a dry run."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from monitor_rig import T0, make_rig, put

from riskpilot.brokers.paper import Faults
from riskpilot.config import RiskPilotConfig
from riskpilot.config.loader import config_from_dict
from riskpilot.live import QuoteFetcher
from riskpilot.model import PositionStatus, Priority, TradingState
from riskpilot.store import ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import ExitStatus


async def test_a_position_within_2pct_of_its_stop_is_checked_every_5_seconds_the_others_every_30(store: Store) -> None:
    rig = make_rig(store)
    rig.spread("near", 480.0, entry=1.00)  # stop loss 125% fires at 2.25
    rig.spread("far", 480.0, entry=2.00)  # same quotes: 11% loss, far from every trigger
    rig.quote_spread(480.0, 2.22)  # within 2% of 2.25
    await rig.monitor.start()
    first = await rig.monitor.check_once()
    assert first.checked == 2 and first.urgent == ["near"] and not first.exits_started
    assert rig.monitor.next_due["near"] == T0 + timedelta(seconds=5)
    assert rig.monitor.next_due["far"] == T0 + timedelta(seconds=30)
    checked: dict[str, int] = {"near": 0, "far": 0}
    for _ in range(11):  # the next 55 seconds, one cycle every 5 s
        await rig.advance(5)
        before = dict(rig.monitor.next_due)
        report = await rig.monitor.check_once()
        for pid in ("near", "far"):
            checked[pid] += before[pid] <= rig.clock.now()
        assert report.checked == sum(before[p] <= rig.clock.now() for p in before)
    assert checked == {"near": 11, "far": 1}
    # The premium moves away from the stop: back to the normal frequency.
    rig.quote_spread(480.0, 1.60)
    await rig.advance(5)
    await rig.monitor.check_once()
    assert "near" not in rig.monitor.urgent
    assert rig.monitor.next_due["near"] == rig.clock.now() + timedelta(seconds=30)


async def test_quotes_are_fetched_in_one_batch_per_cycle_and_cached_for_10_seconds(store: Store) -> None:
    rig = make_rig(store)
    for i in range(20):
        rig.spread(f"p{i:02d}", 400.0 + 10 * i)
        rig.quote_spread(400.0 + 10 * i, 1.00)
    await rig.monitor.start()
    calls = rig.broker.api_calls
    await rig.monitor.check_once()
    assert calls["get_quotes"] == 1  # 40 contracts, one call
    await rig.advance(3)
    await rig.monitor.check_once(force_all=True)
    assert calls["get_quotes"] == 1  # every quote from the cache
    await rig.advance(8)
    await rig.monitor.check_once(force_all=True)
    assert calls["get_quotes"] == 2  # 11 s later: expired, fetched again in one call
    stats = rig.monitor.quotes_fetcher.stats
    assert stats.cache_hits == 40 and stats.fetched == 80


async def test_twenty_positions_cost_far_fewer_than_60_broker_calls_a_minute(store: Store) -> None:
    rig = make_rig(store)
    for i in range(20):
        rig.spread(f"p{i:02d}", 400.0 + 10 * i)
        rig.quote_spread(400.0 + 10 * i, 1.00)
    stop = asyncio.Event()

    async def stop_after_ten_minutes(now: object) -> None:
        if rig.clock.now() >= T0 + timedelta(minutes=10):
            stop.set()

    rig.clock.on_advance(stop_after_ten_minutes)
    before = rig.broker.total_api_calls
    await rig.monitor.run(stop)
    per_minute = (rig.broker.total_api_calls - before) / 10
    assert per_minute <= 2.5  # one batched get_quotes per 30 s cycle
    assert rig.broker.api_calls["get_quotes"] >= 20


async def test_the_limiter_allows_60_calls_then_one_a_second(store: Store) -> None:
    rig = make_rig(store)
    rig.quote_spread(480.0, 1.0)
    fetcher = QuoteFetcher(rig.broker, rig.clock, ttl_seconds=0, max_calls_per_minute=60)
    t = time.monotonic()
    for _ in range(60):
        await fetcher.get([put(480.0)])
    burst = time.monotonic() - t
    await fetcher.get([put(480.0)])
    waited = time.monotonic() - t - burst
    assert burst < 0.5 and waited >= 0.8
    assert fetcher.stats.broker_calls == 61 == rig.broker.api_calls["get_quotes"]


#: The credit spread's trailing stop, on for credit (off by default: issue 15).
TRAIL_CREDIT = config_from_dict({"trailing_stop": {"trail_credit": True}})


async def test_the_trailing_stop_is_stored_when_it_changes_and_not_on_every_check(store: Store) -> None:
    rig = make_rig(store, config=TRAIL_CREDIT)
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 0.99)  # 1% profit: the trail (2% activation) stays inactive
    await rig.monitor.start()
    first = await rig.monitor.check_once()
    assert first.marks_written == 1 and first.trails_written == 1  # first check of the run
    stored = PositionRepository(store).get("p1")
    assert stored.trailing_state is not None and not stored.monitoring.trailing_stop_active
    await rig.advance(30)
    second = await rig.monitor.check_once()
    assert second.checked == 1 and second.marks_written == 0 and second.trails_written == 0
    rig.quote_spread(480.0, 0.90)  # 10% profit: the credit trail activates (trough 0.90)
    await rig.advance(30)
    third = await rig.monitor.check_once()
    assert third.trails_written == 1 and third.marks_written == 1
    stored = PositionRepository(store).get("p1")
    assert stored.monitoring.trailing_stop_active
    assert stored.monitoring.trailing_stop_price == pytest.approx(0.90 * 1.015)
    assert stored.monitoring.current_price == pytest.approx(0.90)
    assert stored.monitoring.unrealized_pnl == pytest.approx(0.10 * 100 * 4)
    await rig.advance(30)
    fourth = await rig.monitor.check_once()
    assert fourth.trails_written == 0 and fourth.marks_written == 0
    assert rig.monitor.unrealized["p1"] == pytest.approx(40.0)
    # A restart takes the stop back from the store.
    again = make_rig(store, config=TRAIL_CREDIT, start=rig.clock.now())
    await again.monitor.start()
    assert again.risk.trails["p1"].active and again.risk.trails["p1"].stop == pytest.approx(0.9135)


async def test_each_holding_position_logs_why_it_holds(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(store)
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 0.95)
    await rig.monitor.start()
    with caplog.at_level(logging.INFO, logger="riskpilot.live.hold"):
        await rig.monitor.check_once()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "riskpilot.live.hold"]
    assert line.startswith("HOLD p1 SPY default: profit +5.0%, 49 DTE, entry 1.00, now 0.95")


async def test_a_stale_or_crossed_quote_never_triggers_an_exit(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(store, faults=Faults(stale_quotes_seconds=120))
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 3.00)  # far beyond the stop, but the quotes are 2 minutes old
    await rig.monitor.start()
    with caplog.at_level(logging.INFO, logger="riskpilot.live.hold"):
        report = await rig.monitor.check_once()
    assert report.bad_marks == 1 and not report.exits_started
    assert any("stale" in r.getMessage() for r in caplog.records)
    rig.broker.faults = Faults()
    rig.market.set(put(480.0), 4.20, 4.00, 1000)  # crossed
    await rig.advance(31)
    report = await rig.monitor.check_once()
    assert report.bad_marks == 1 and not report.exits_started
    assert ExitRepository(store).exits_for("p1") == [] and rig.broker.api_calls["place_order"] == 0


async def test_a_stop_loss_alerts_and_is_executed_at_market(store: Store) -> None:
    rig = make_rig(store)
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 2.40)
    await rig.monitor.start()
    report = await rig.monitor.check_once()
    assert report.exits_started == ["p1"] and report.decisions[0].rule == "stop_loss"
    await rig.monitor.wait_exits()
    (ex,) = ExitRepository(store).exits_for("p1")
    assert ex.status is ExitStatus.EXECUTED and ex.priority is Priority.CRITICAL and ex.tactic == "CRITICAL:market"
    assert rig.alerts.kinds() == ["decision", "exit_executed"]
    assert "p1" not in rig.monitor.positions and rig.risk.open_quantity("p1") == 0
    assert rig.risk.realized_pnl == pytest.approx((1.00 - 2.40) * 100 * 4)


async def test_the_circuit_breaker_closes_everything_at_market_and_halts_until_the_next_day(store: Store) -> None:
    cfg = RiskPilotConfig.model_validate({"risk": {"daily_loss_limit_pct": 0.01}})  # $1,000 of $100,000
    rig = make_rig(store, config=cfg)
    for i in range(3):
        rig.spread(f"p{i}", 400.0 + 10 * i, entry=1.00)
    rig.quote_spread(400.0, 1.05)
    rig.quote_spread(410.0, 1.05)
    rig.quote_spread(420.0, 1.05)
    await rig.monitor.start()
    assert not (await rig.monitor.check_once()).circuit_breaker
    for i in range(3):
        rig.quote_spread(400.0 + 10 * i, 2.10)  # 3 x $440 lost: past the limit, below every stop
    await rig.advance(30)
    # Doubling in 30 s is a jump: held, and checked again one urgent interval later, past the cache.
    report = await rig.monitor.check_once()
    assert not report.circuit_breaker and report.bad_marks == 3 and not report.exits_started
    assert all(rig.monitor.next_due[f"p{i}"] == rig.clock.now() + timedelta(seconds=5) for i in range(3))
    await rig.advance(5)
    report = await rig.monitor.check_once()  # the next quote confirms the move
    assert report.circuit_breaker
    await rig.monitor.wait_exits()
    for i in range(3):
        sp = PositionRepository(store).get(f"p{i}")
        assert sp.position.status is PositionStatus.CLOSED
        (ex,) = ExitRepository(store).exits_for(f"p{i}")
        assert ex.priority is Priority.CRITICAL and ex.tactic == "CRITICAL:market"
    st = StateRepository(store).trading_state()
    assert st.state is TradingState.HALTED and st.halted_on == T0.date() and "circuit breaker" in st.reason
    assert "circuit_breaker" in rig.alerts.kinds() and rig.risk.trading_state is TradingState.HALTED
    # The next trading day the halt lifts by itself.
    await rig.advance(24 * 3600 * 3)  # Monday
    await rig.monitor.check_once()
    assert rig.risk.trading_state is TradingState.ACTIVE
    assert StateRepository(store).trading_state().state is TradingState.ACTIVE


async def test_a_halt_set_from_outside_reaches_the_running_monitor(store: Store) -> None:
    rig = make_rig(store)
    await rig.monitor.start()
    StateRepository(store).set_trading_state(TradingState.HALTED, "manual halt: test", rig.clock.now())
    await rig.monitor.check_once()
    assert rig.risk.trading_state is TradingState.HALTED


async def test_a_dry_run_decides_and_logs_but_sends_and_writes_nothing(store: Store,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(store, dry_run=True)
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 2.40)
    await rig.monitor.start()
    with caplog.at_level(logging.WARNING, logger="riskpilot.monitor"):
        report = await rig.monitor.check_once()
        await rig.monitor.wait_exits()
    assert report.decisions[0].rule == "stop_loss"
    assert any("DRY RUN" in r.getMessage() for r in caplog.records)
    assert rig.broker.api_calls["place_order"] == 0 and rig.alerts.seen == []
    sp = PositionRepository(store).get("p1")
    assert sp.position.status is PositionStatus.OPEN and sp.monitoring.current_price is None


async def test_the_monitor_refuses_to_cycle_before_reconciling(store: Store) -> None:
    rig = make_rig(store)
    with pytest.raises(RuntimeError, match="start"):
        await rig.monitor.check_once()

