"""ExitExecutor against the real paper broker and store (SQLite and PostgreSQL), on simulated
time: fills, rejects, timeouts, partial fills, disconnects, stale and crossed quotes,
escalation with alerts, CRITICAL within 10 s, and a restart mid-exit without a duplicate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from riskpilot.brokers.paper import Faults, PaperBroker, ScriptedMarket
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.executor import ExitExecutor, ExitOutcome, ExitOutcomeStatus
from riskpilot.execution.fills import FillModel, FixedPctSlippage, SpreadShareSlippage
from riskpilot.execution.port import OrderStatus
from riskpilot.model import (
    ExitAction,
    ExitDecision,
    Leg,
    OptionContract,
    Order,
    OrderPurpose,
    OrderType,
    Position,
    PositionStatus,
    PremiumType,
    Priority,
    QuoteProblem,
    Right,
    Side,
    client_order_id,
)
from riskpilot.model.mark import Mark, mark_position
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.ledger import StoreLedger
from riskpilot.store.models import ExitStatus
from riskpilot.store.paper_book import StorePaperBook
from testkit import RecordingAlerts as Alerts

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)
P480 = OptionContract("SPY", EXP, 480.0, Right.PUT)
P475 = OptionContract("SPY", EXP, 475.0, Right.PUT)
PID = "pos-1"
# Closing the short spread: buy P480 (2.00/2.20) back, sell P475 (1.00/1.10): the combo's
# bid/ask is 0.90/1.20, mid 1.05. Entry credit 0.80.
ENTRY = 0.80


def coid(n: int) -> str:
    return client_order_id(PID, OrderPurpose.CLOSE, n)


class Killed(BaseException):
    """Stands for kill -9: nothing below catches it."""


@dataclass
class Rig:
    store: Store
    clock: SimulatedClock
    market: ScriptedMarket
    broker: PaperBroker
    executor: ExitExecutor
    alerts: Alerts
    position: Position
    moves: dict[float, Any] = field(default_factory=dict)  # seconds after T0 -> callable

    def mark(self) -> Mark:
        quotes = self.market.quotes([P480, P475], self.clock.now())
        return mark_position(self.position, quotes, self.clock.now())

    async def run(self, action: ExitAction, priority: Priority, quantity: int | None = None) -> ExitOutcome:
        qty = self.position.quantity if quantity is None else quantity
        dec = ExitDecision(PID, action, f"{priority.name} test exit", rule="test_rule", priority=priority, quantity=qty)
        return await self.executor.execute(self.position, dec, self.mark())

    def new_executor(self, **kw: Any) -> ExitExecutor:
        return ExitExecutor(self.broker, StoreLedger(self.store), RiskPilotConfig(), self.clock, self.alerts, **kw)


def _rig(store: Store, *, model: FillModel | None = None, faults: Faults | None = None, qty: int = 4,
         **kw: Any) -> Rig:
    clock = SimulatedClock(T0)
    market = ScriptedMarket()
    market.set(P480, 2.00, 2.20, 1000)
    market.set(P475, 1.00, 1.10, 1000)
    broker = PaperBroker(StorePaperBook(store), market, fill_model=model or FillModel(commission_per_contract=0.65),
                         faults=faults, clock=clock)
    pos = Position(PID, (Leg(P480, -1), Leg(P475, 1)), PremiumType.CREDIT, ENTRY, qty, T0 - timedelta(days=5),
                   "put-spread")
    PositionRepository(store).open_position(pos)
    alerts = Alerts()
    executor = ExitExecutor(broker, StoreLedger(store), RiskPilotConfig(), clock, alerts, **kw)
    rig = Rig(store, clock, market, broker, executor, alerts, pos)

    async def tick(now: datetime) -> None:
        elapsed = (now - T0).total_seconds()
        for at in sorted(rig.moves):
            if at <= elapsed:
                rig.moves.pop(at)(rig)
        await rig.broker.process()

    clock.on_advance(tick)
    return rig


def _elapsed(o: ExitOutcome) -> float:
    assert o.executed_at is not None and o.triggered_at is not None
    return (o.executed_at - o.triggered_at).total_seconds()


async def test_critical_exit_fills_at_market_within_10_seconds_and_is_recorded(store: Store) -> None:
    rig = _rig(store)
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.status is ExitOutcomeStatus.FILLED and out.filled_quantity == 4
    assert _elapsed(out) <= 10
    assert out.avg_fill_price == pytest.approx(1.05)  # mid fill model
    (ex,) = ExitRepository(store).exits_for(PID)
    assert ex.status is ExitStatus.EXECUTED and ex.tactic == "CRITICAL:market" and not ex.is_partial
    assert ex.reason == "CRITICAL test exit" and ex.rule == "test_rule" and ex.priority is Priority.CRITICAL
    assert ex.fill_price == pytest.approx(1.05) and ex.filled_quantity == 4
    assert ex.unrealized_pnl_at_trigger == pytest.approx((ENTRY - 1.05) * 100 * 4)
    (att,) = ExitRepository(store).attempts_for(ex.id)
    assert (att.order_type, att.limit_price, att.quantity, att.status, att.filled_quantity) == (
        OrderType.MARKET, None, 4, OrderStatus.FILLED, 4,
    )
    assert att.client_order_id == coid(1) and att.tactic == "CRITICAL:market#0"
    stored = PositionRepository(store).get(PID)
    assert stored.position.status is PositionStatus.CLOSED and stored.position.quantity == 0
    assert stored.monitoring.realized_pnl == pytest.approx((ENTRY - 1.05) * 100 * 4)
    assert rig.alerts.kinds() == ["exit_executed"]


async def test_critical_reject_is_retried_as_market_at_once_and_fills_within_10_seconds(store: Store) -> None:
    rig = _rig(store, faults=Faults(reject_client_ids=frozenset({coid(1)})))
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.filled and _elapsed(out) <= 10
    assert [(a.client_order_id, a.status) for a in out.attempts] == [
        (coid(1), OrderStatus.REJECTED), (coid(2), OrderStatus.FILLED),
    ]
    assert rig.alerts.kinds() == ["exit_rejected", "exit_executed"]


async def test_high_exit_walks_its_limit_after_10_seconds_then_fills(store: Store) -> None:
    # The venue fills at 85% of each leg's spread: 0.90 + 0.85 * 0.30 = 1.155 for the combo.
    rig = _rig(store, model=FillModel(SpreadShareSlippage(0.85)))
    out = await rig.run(ExitAction.CLOSE, Priority.HIGH)
    assert out.filled and out.tactic == "HIGH:limit-aggressive" and out.escalations == ()
    # Aggressive 0.90 + 0.8 * 0.3 = 1.14 is not reached; the first walk (0.9: 1.17) is.
    assert [a.limit_price for a in out.attempts] == pytest.approx([1.14, 1.17])
    assert [a.status for a in out.attempts] == [OrderStatus.CANCELLED, OrderStatus.FILLED]
    assert out.avg_fill_price == pytest.approx(1.155)
    assert _elapsed(out) == pytest.approx(10.0)
    assert rig.alerts.kinds() == ["exit_executed"]


async def test_medium_exit_escalates_to_high_with_an_alert_when_its_walks_run_out(store: Store) -> None:
    # 50% off the mid on every leg: no limit can ever be reached, only a market order fills.
    rig = _rig(store, model=FillModel(FixedPctSlippage(0.5)))
    out = await rig.run(ExitAction.CLOSE, Priority.MEDIUM)
    assert out.filled
    kinds = [(a.order_type, a.step.split("#")[0]) for a in out.attempts]
    assert kinds == [(OrderType.LIMIT, "MEDIUM:limit-fair")] * 6 + [
        (OrderType.LIMIT, "HIGH:limit-aggressive"), (OrderType.MARKET, "HIGH:limit-aggressive"),
    ]
    assert [a.limit_price for a in out.attempts[:6]] == pytest.approx([1.05, 1.08, 1.11, 1.14, 1.17, 1.20])
    assert out.escalations == ("HIGH:limit-aggressive",) and out.tactic == "HIGH:limit-aggressive"
    assert _elapsed(out) == pytest.approx(6 * 30 + 10)
    assert rig.alerts.kinds() == ["exit_escalated", "exit_executed"]
    _, msg, fields = rig.alerts.seen[0]
    assert fields["from_tactic"] == "MEDIUM:limit-fair" and fields["to_tactic"] == "HIGH:limit-aggressive"
    assert fields["position_id"] == PID and fields["priority"] == "MEDIUM" and "escalating" in msg
    (ex,) = ExitRepository(store).exits_for(PID)
    assert ex.tactic == "HIGH:limit-aggressive" and ex.status is ExitStatus.EXECUTED


async def test_partial_fills_are_kept_and_the_rest_is_worked_by_the_same_ladder(store: Store) -> None:
    rig = _rig(store, faults=Faults(partial_fill_ratio=0.5))

    def move_away(r: Rig) -> None:  # after the first partial fill the market runs away
        r.market.set(P480, 2.40, 2.60, 1000)

    rig.moves[0.5] = move_away
    out = await rig.run(ExitAction.CLOSE, Priority.HIGH)
    assert out.filled and out.filled_quantity == 4
    first, second = out.attempts
    assert (first.quantity, first.filled_quantity, first.status) == (4, 2, OrderStatus.CANCELLED)
    assert (second.quantity, second.filled_quantity, second.status) == (2, 2, OrderStatus.FILLED)
    # 2 at the first mid 1.05, 2 at the new mid 1.45 (2 then 1 + 1 under the partial-fill fault).
    assert out.avg_fill_price == pytest.approx((2 * 1.05 + 2 * 1.45) / 4)
    assert second.limit_price == pytest.approx(1.30 + 0.9 * 0.30)  # walk 1 on the new 1.30/1.60


async def test_partial_close_decision_leaves_the_rest_open(store: Store) -> None:
    rig = _rig(store)
    out = await rig.run(ExitAction.PARTIAL_CLOSE, Priority.MEDIUM, quantity=2)
    assert out.filled and out.requested_quantity == 2
    (ex,) = ExitRepository(store).exits_for(PID)
    assert ex.is_partial and ex.quantity == 2
    stored = PositionRepository(store).get(PID).position
    assert stored.quantity == 2 and stored.status is PositionStatus.OPEN


async def test_place_timeouts_resend_the_same_order_and_never_duplicate_it(store: Store) -> None:
    rig = _rig(store, faults=Faults(timeout_rate=1.0))
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.filled and len(out.attempts) == 1
    assert rig.broker.snapshot()["orders"] == {"FILLED": 1}
    assert rig.broker.api_calls["place_order"] == 2  # the timed-out call and its idempotent re-send


async def test_disconnect_mid_exit_is_survived_without_a_second_live_order(store: Store) -> None:
    rig = _rig(store, model=FillModel(SpreadShareSlippage(0.85)))

    def drop(r: Rig) -> None:
        r.broker.faults = Faults(disconnected=True)

    def restore(r: Rig) -> None:
        r.broker.faults = Faults()

    rig.moves[3.0] = drop
    rig.moves[25.0] = restore
    out = await rig.run(ExitAction.CLOSE, Priority.HIGH)
    assert out.filled
    # The first order could only be cancelled once the line was back (25 s), and only then
    # was the walk sent: one order cancelled, one filled, never two working.
    assert rig.broker.snapshot()["orders"] == {"CANCELLED": 1, "FILLED": 1}
    assert out.attempts[1].sent_at >= T0 + timedelta(seconds=25)


async def test_broker_down_past_the_outage_limit_suspends_and_a_retry_resends_the_same_id(store: Store) -> None:
    rig = _rig(store, faults=Faults(disconnected=True), max_outage_seconds=5)
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.status is ExitOutcomeStatus.SUSPENDED and out.filled_quantity == 0
    (ex,) = ExitRepository(store).exits_for(PID)
    assert ex.status is ExitStatus.WORKING
    (att,) = ExitRepository(store).attempts_for(ex.id)
    assert att.status is OrderStatus.PENDING_SUBMIT and att.client_order_id == coid(1)
    assert rig.alerts.kinds() == ["exit_suspended"]
    rig.broker.faults = Faults()
    again = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert again.filled and again.resumed and again.exit_id == ex.id
    assert [a.client_order_id for a in again.attempts] == [coid(1)]
    assert rig.broker.snapshot()["orders"] == {"FILLED": 1}


async def test_stale_quotes_never_price_a_limit_and_the_exit_escalates_to_market(store: Store) -> None:
    rig = _rig(store, faults=Faults(stale_quotes_seconds=600))
    out = await rig.run(ExitAction.CLOSE, Priority.MEDIUM)
    assert out.filled
    assert all(a.order_type is OrderType.MARKET for a in out.attempts) and len(out.attempts) == 1
    assert len(out.skipped_steps) == 7  # MEDIUM's six limit steps and HIGH's one
    assert rig.alerts.kinds() == ["exit_escalated", "exit_executed"]


async def test_a_crossed_leg_quote_never_prices_a_limit(store: Store) -> None:
    rig = _rig(store)
    mark = rig.mark()
    rig.market.set(P475, 1.30, 1.10, 1000)  # crossed from the start of the exit

    def uncross(r: Rig) -> None:
        r.market.set(P475, 1.00, 1.10, 1000)

    rig.moves[12.0] = uncross
    dec = ExitDecision(PID, ExitAction.CLOSE, "trail", rule="trailing_stop", priority=Priority.HIGH, quantity=4)
    out = await rig.executor.execute(rig.position, dec, mark)
    assert out.filled
    assert out.skipped_steps == ("HIGH:limit-aggressive#0",)
    # The walk was priced on the good quote only: 0.90 + 0.9 * 0.30.
    assert [a.limit_price for a in out.attempts] == pytest.approx([1.17])


@pytest.mark.parametrize("problem", [QuoteProblem.CROSSED, QuoteProblem.STALE])
async def test_a_bad_mark_never_starts_an_exit(store: Store, problem: QuoteProblem) -> None:
    rig = _rig(store)
    good = rig.mark()
    bad = Mark(good.premium, good.bid, good.ask, good.timestamp, problem)
    dec = ExitDecision(PID, ExitAction.CLOSE, "stop", rule="stop_loss", priority=Priority.CRITICAL, quantity=4)
    out = await rig.executor.execute(rig.position, dec, bad)
    assert out.status is ExitOutcomeStatus.REFUSED and problem.value in (out.reason or "").lower()
    old = Mark(good.premium, good.bid, good.ask, T0 - timedelta(minutes=5))
    out = await rig.executor.execute(rig.position, dec, old)
    assert out.status is ExitOutcomeStatus.REFUSED and "old" in (out.reason or "")
    assert ExitRepository(store).exits_for(PID) == []
    assert rig.broker.api_calls["place_order"] == 0


async def test_restart_mid_exit_resumes_the_same_order_and_never_duplicates_it(store: Store) -> None:
    rig = _rig(store, model=FillModel(SpreadShareSlippage(0.85)))

    def kill(r: Rig) -> None:
        raise Killed

    rig.moves[4.0] = kill
    with pytest.raises(Killed):
        await rig.run(ExitAction.CLOSE, Priority.HIGH)
    (ex,) = ExitRepository(store).exits_for(PID)
    assert ex.status is ExitStatus.WORKING
    # A new process: a paper broker and an executor loaded from the same store.
    rig.broker = PaperBroker(StorePaperBook(store), rig.market, fill_model=FillModel(SpreadShareSlippage(0.85)),
                             clock=rig.clock)
    assert rig.broker.snapshot()["orders"] == {"SUBMITTED": 1}
    rig.executor = rig.new_executor()
    outs = await rig.executor.resume_all()
    (out,) = outs
    assert out.resumed and out.filled and out.exit_id == ex.id
    assert [a.client_order_id for a in out.attempts] == [coid(1), coid(2)]
    assert rig.broker.snapshot()["orders"] == {"CANCELLED": 1, "FILLED": 1}
    # The first order kept its deadline across the restart: cancelled at 10 s, not 14 s.
    assert out.attempts[1].sent_at == T0 + timedelta(seconds=10)
    assert [a.attempt_no for a in ExitRepository(store).attempts_for(ex.id)] == [1, 2]


async def test_a_failing_alert_channel_does_not_stop_an_exit(store: Store) -> None:
    rig = _rig(store)

    async def broken(kind: str, message: str, **fields: Any) -> None:
        raise ConnectionError("webhook down")

    rig.executor = ExitExecutor(rig.broker, StoreLedger(store), RiskPilotConfig(), rig.clock, broken)
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.filled


async def test_hold_and_priorityless_decisions_are_refused_loudly(store: Store) -> None:
    rig = _rig(store)
    with pytest.raises(ValueError, match="HOLD"):
        await rig.executor.execute(rig.position, ExitDecision.hold(PID, "fine"), rig.mark())
    with pytest.raises(ValueError, match="no priority"):
        await rig.executor.execute(rig.position, ExitDecision(PID, ExitAction.CLOSE, "x"), rig.mark())


async def test_a_second_execute_for_a_position_in_flight_is_refused(store: Store) -> None:
    rig = _rig(store, model=FillModel(SpreadShareSlippage(0.85)))
    first, second = await asyncio.gather(
        rig.run(ExitAction.CLOSE, Priority.HIGH), rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    )
    assert first.filled
    assert second.status is ExitOutcomeStatus.REFUSED and "already being worked" in (second.reason or "")
    assert len(ExitRepository(store).exits_for(PID)) == 1


async def test_an_order_sent_but_never_recorded_before_a_crash_is_picked_up_with_its_fills(store: Store) -> None:
    rig = _rig(store)
    exits = ExitRepository(store)
    # The crash came after the order reached the broker (and filled there), before the
    # executor could record the broker's answer or the fill.
    eid = exits.begin_exit(PID, reason="stop", priority=Priority.CRITICAL, quantity=4, tactic="CRITICAL:market",
                           triggered_at=T0, rule="stop_loss")
    order = Order(coid(1), rig.position.legs, Side.SELL, 4, OrderType.MARKET, T0, position_id=PID,
                  purpose=OrderPurpose.CLOSE)
    exits.record_attempt(eid, order, tactic="CRITICAL:market#0")
    assert (await rig.broker.place_order(order)).status is OrderStatus.FILLED
    (out,) = await rig.new_executor().resume_all()
    assert out.resumed and out.filled and out.exit_id == eid
    assert [a.client_order_id for a in out.attempts] == [coid(1)]
    assert rig.broker.snapshot()["orders"] == {"FILLED": 1}
    assert PositionRepository(store).get(PID).position.status is PositionStatus.CLOSED


async def test_a_stop_loss_during_a_working_low_exit_cancels_it_and_goes_critical(store: Store) -> None:
    rig = _rig(store, model=FillModel(SpreadShareSlippage(0.85)))

    def kill(r: Rig) -> None:
        raise Killed

    rig.moves[20.0] = kill
    with pytest.raises(Killed):  # a LOW exit is working (its conservative limit is not reached)
        await rig.run(ExitAction.CLOSE, Priority.LOW)
    rig.broker = PaperBroker(StorePaperBook(store), rig.market, fill_model=FillModel(SpreadShareSlippage(0.85)),
                             clock=rig.clock)
    rig.executor = rig.new_executor()
    out = await rig.run(ExitAction.CLOSE, Priority.CRITICAL)
    assert out.filled and out.resumed and out.tactic == "CRITICAL:market"
    assert [(a.order_type, a.status) for a in out.attempts] == [
        (OrderType.LIMIT, OrderStatus.CANCELLED), (OrderType.MARKET, OrderStatus.FILLED),
    ]
    # The LOW limit was cancelled at once (20 s in), not after its 60 s.
    assert out.attempts[1].sent_at == T0 + timedelta(seconds=20)
    assert out.escalations == ("CRITICAL:market",) and "exit_escalated" in rig.alerts.kinds()
