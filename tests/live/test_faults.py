"""Fault scenarios of the monitor against the real paper broker and store: a restart mid-day
keeps the circuit breaker on today's P&L, an exit queued with wall-clock time is worked to its
fills under market time, and a crossed or stale quote never triggers an exit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor_rig import EXP, T0, make_rig, put

from riskpilot.brokers.paper import Faults
from riskpilot.config import RiskPilotConfig
from riskpilot.model import OrderPurpose, PositionStatus, Priority, TradingState, client_order_id
from riskpilot.store import ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import ExitStatus


async def test_a_restart_mid_day_does_not_trip_the_breaker_on_pnl_made_before_today(store: Store) -> None:
    # Friday: three spreads lose $440 each (marked and stored); no loss limit that day.
    friday = make_rig(store, config=RiskPilotConfig.model_validate({"risk": {"daily_loss_limit_pct": None}}))
    for i in range(3):
        friday.spread(f"p{i}", 400.0 + 10 * i, entry=1.00)
        friday.quote_spread(400.0 + 10 * i, 2.10)
    await friday.monitor.start()
    assert not (await friday.monitor.check_once()).circuit_breaker
    assert StateRepository(store).daily_pnl(T0.date()) is not None
    # Monday, a fresh process with a $1,000 limit: the $1,320 lost before today is not today's.
    cfg = RiskPilotConfig.model_validate({"risk": {"daily_loss_limit_pct": 0.01}})
    monday = make_rig(store, config=cfg, start=T0 + timedelta(days=3))
    monday.exp = EXP
    for i in range(3):
        monday.quote_spread(400.0 + 10 * i, 2.10)
    await monday.monitor.start()
    assert not (await monday.monitor.check_once()).circuit_breaker
    for i in range(3):
        monday.quote_spread(400.0 + 10 * i, 2.20)  # $40 more each today
    await monday.advance(30)
    assert not (await monday.monitor.check_once(force_all=True)).circuit_breaker
    assert monday.risk.trading_state is TradingState.ACTIVE
    for i in range(3):
        assert PositionRepository(store).get(f"p{i}").position.status is PositionStatus.OPEN


async def test_a_restart_mid_day_keeps_todays_realized_loss_for_the_breaker(store: Store) -> None:
    cfg = RiskPilotConfig.model_validate({"risk": {"daily_loss_limit_pct": 0.01}})
    rig = make_rig(store, config=cfg)
    rig.spread("gone", 400.0, entry=1.00)
    rig.spread("kept", 410.0, entry=1.00)
    rig.quote_spread(400.0, 1.00)
    rig.quote_spread(410.0, 1.00)
    await rig.monitor.start()
    await rig.monitor.check_once()
    # Today "gone" is closed by hand at 2.20: $480 realized loss (plus commissions).
    rig.quote_spread(400.0, 2.20)
    ExitRepository(store).begin_exit("gone", reason="test", priority=Priority.CRITICAL, quantity=4,
                                     tactic="CRITICAL:market", triggered_at=rig.clock.now())
    await rig.advance(30)
    await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    assert PositionRepository(store).get("gone").position.status is PositionStatus.CLOSED
    realized = rig.risk.day_realized_pnl
    assert realized < -480
    # Restart the same day: the day's realized loss is back in the book.
    again = make_rig(store, config=cfg, start=rig.clock.now() + timedelta(minutes=5))
    again.exp = EXP
    again.quote_spread(410.0, 1.00)
    await again.monitor.start()
    assert abs(again.risk.day_realized_pnl - (realized + 0.0)) < 5.0  # the store's figure, commissions net
    # "kept" loses $560 today: with the $480+ realized, past $1,000.
    again.quote_spread(410.0, 2.40 - 0.05)
    assert (await again.monitor.check_once(force_all=True)).circuit_breaker


async def test_an_exit_queued_with_wall_clock_time_is_worked_to_its_market_time_fills(store: Store) -> None:
    """`riskpilot close` stamps the exit with wall-clock time; a replay's orders and fills
    carry market time, years earlier. The executor still reads the exit's fills."""
    rig = make_rig(store)
    rig.spread("p1", 480.0)
    rig.quote_spread(480.0, 1.10)
    ExitRepository(store).begin_exit("p1", reason="manual close: test", priority=Priority.HIGH, quantity=4,
                                     tactic="HIGH:aggressive_limit", triggered_at=datetime.now(UTC),
                                     rule="manual_close")
    await rig.monitor.start()
    await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    (ex,) = ExitRepository(store).exits_for("p1")
    assert ex.status is ExitStatus.EXECUTED and ex.filled_quantity == 4
    assert PositionRepository(store).get("p1").position.status is PositionStatus.CLOSED
    assert "exit_suspended" not in rig.alerts.kinds()


async def test_a_crossed_or_stale_quote_never_triggers_an_exit(store: Store) -> None:
    rig = make_rig(store)
    rig.spread("p1", 480.0, entry=1.00)  # stop loss at 2.25
    # Crossed: the short leg bid above its ask, at a premium far past the stop.
    rig.market.set(put(475.0), 1.00, 1.10, 1000)
    rig.market.set(put(480.0), 4.60, 4.40, 1000)
    await rig.monitor.start()
    report = await rig.monitor.check_once(force_all=True)
    assert not report.exits_started and rig.broker.api_calls["place_order"] == 0
    # Stale: a sound quote past the stop, served 10 minutes old.
    rig.quote_spread(480.0, 3.50)
    rig.broker.faults = Faults(stale_quotes_seconds=600)
    await rig.advance(30)
    report = await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    assert not report.exits_started and rig.broker.api_calls["place_order"] == 0
    assert ExitRepository(store).exits_for("p1") == []
    assert PositionRepository(store).get("p1").position.status is PositionStatus.OPEN
    # The quote is fresh again: now the stop loss fires.
    rig.broker.faults = Faults()
    await rig.advance(30)
    report = await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    assert report.exits_started == ["p1"]


async def test_rejects_timeouts_partial_fills_and_a_disconnect_are_survived_with_alerts(store: Store) -> None:
    rig = make_rig(store, faults=Faults(partial_fill_ratio=0.5, timeout_rate=0.3, seed=3))
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 2.40)  # past the stop loss (2.25): CRITICAL at market
    rig.broker.faults = Faults(partial_fill_ratio=0.5, timeout_rate=0.3, seed=3,
                               reject_client_ids=frozenset({client_order_id("p1", OrderPurpose.CLOSE, 1)}))
    await rig.monitor.start()
    report = await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    assert report.exits_started == ["p1"]
    (ex,) = ExitRepository(store).exits_for("p1")
    assert ex.status is ExitStatus.EXECUTED and ex.filled_quantity == 4 and ex.priority is Priority.CRITICAL
    kinds = rig.alerts.kinds()
    assert "exit_rejected" in kinds and "exit_executed" in kinds
    coids = [a.client_order_id for a in ExitRepository(store).attempts_for(ex.id)]
    assert len(coids) == len(set(coids)) >= 2  # the reject, then the partial fills worked to the end
    # A disconnect mid-exit: suspended (alert), the position stays CLOSING with its exit working.
    rig.spread("p2", 470.0, entry=1.00)
    rig.quote_spread(470.0, 2.40)
    rig.monitor.reload("p2")
    rig.broker.faults = Faults(partial_fill_ratio=0.25)

    async def cut(_now: object) -> None:  # the line drops once, after the first closing order is out
        if rig.broker.api_calls["place_order"] > placed and not cut_done:
            cut_done.append(True)
            rig.broker.faults = Faults(disconnected=True)

    cut_done: list[bool] = []

    placed = rig.broker.api_calls["place_order"]
    rig.clock.on_advance(cut)
    await rig.advance(30)
    await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    assert "exit_suspended" in rig.alerts.kinds()
    assert PositionRepository(store).get("p2").position.status is PositionStatus.CLOSING
    # Reconnected: the next cycle resumes the same exit and fills it.
    rig.broker.faults = Faults()
    await rig.advance(30)
    await rig.monitor.check_once(force_all=True)
    await rig.monitor.wait_exits()
    (ex2,) = ExitRepository(store).exits_for("p2")
    assert ex2.status is ExitStatus.EXECUTED and ex2.filled_quantity == 4
    assert PositionRepository(store).get("p2").position.status is PositionStatus.CLOSED
