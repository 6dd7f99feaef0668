"""A fill, the position change it causes, the partial-exit stage it completes and the alert it
raises commit together (issue 14, item 2): a kill after the fill's commit can lose none of
them, and raising the alert again delivers the stored row once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from riskpilot.alerts import Alerter
from riskpilot.model import Fill, Order, OrderPurpose, OrderType, Priority, Side
from riskpilot.model.order import client_order_id
from riskpilot.model.status import OrderStatus
from riskpilot.store import ExitRepository, OrderRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import ExitStatus


def _stage_exit(store: Store, spread: type, *, qty: int, stage: str | None) -> tuple[int, str]:
    pos = spread.put_spread("p1", quantity=4)
    PositionRepository(store).open_position(pos)
    exits = ExitRepository(store)
    exit_id = exits.begin_exit("p1", reason="stage first_target", priority=Priority.MEDIUM, quantity=qty,
                               tactic="MEDIUM:limit-fair", triggered_at=spread.t0, rule="partial_exit_target",
                               stage=stage)
    coid = client_order_id("p1", OrderPurpose.CLOSE, 1)
    order = Order(coid, pos.legs, Side.SELL, qty, OrderType.LIMIT, spread.t0, 0.50, "p1", OrderPurpose.CLOSE)
    exits.record_attempt(exit_id, order, tactic="MEDIUM:limit-fair#0")
    OrderRepository(store).record_order(coid, broker_order_id="b1", status=OrderStatus.SUBMITTED, at=spread.t0)
    return exit_id, coid


def test_the_fill_that_fills_a_stage_marks_it_done_and_stores_its_alert_in_one_commit(
    store: Store, spread: type
) -> None:
    exit_id, coid = _stage_exit(store, spread, qty=2, stage="first_target")
    at = spread.t0 + timedelta(seconds=5)
    OrderRepository(store).record_fill(Fill("f1", coid, 2, 0.50, at, Side.SELL, "p1", 1.30))
    # Nothing else ran after the fill's commit (a kill here): all of it is already there.
    sp = PositionRepository(store).get("p1")
    assert sp.position.quantity == 2 and sp.position.state.stages_done == frozenset({"first_target"})
    ex = ExitRepository(store).get_exit(exit_id)
    assert ex.status is ExitStatus.EXECUTED and ex.stage == "first_target"
    (alert,) = StateRepository(store).undelivered_alerts()
    assert alert.kind == "exit_executed" and alert.position_id == "p1"
    assert alert.message == "exit of p1 filled: 2 at 0.5000 with MEDIUM:limit-fair"
    assert alert.payload is not None and alert.payload["exit_id"] == exit_id and alert.payload["filled_quantity"] == 2


def test_a_partly_filled_stage_is_done_on_its_first_fill_and_alerts_only_when_complete(
    store: Store, spread: type
) -> None:
    _, coid = _stage_exit(store, spread, qty=2, stage="first_target")
    OrderRepository(store).record_fill(Fill("f1", coid, 1, 0.50, spread.t0, Side.SELL, "p1", 0.65))
    assert PositionRepository(store).get("p1").position.state.stages_done == frozenset({"first_target"})
    assert StateRepository(store).undelivered_alerts() == []
    OrderRepository(store).record_fill(Fill("f2", coid, 1, 0.60, spread.t0, Side.SELL, "p1", 0.65))
    (alert,) = StateRepository(store).undelivered_alerts()
    assert alert.message == "exit of p1 filled: 2 at 0.5500 with MEDIUM:limit-fair"


def test_raising_the_stored_exit_alert_again_delivers_that_row_once(store: Store, spread: type, tmp_path) -> None:
    exit_id, coid = _stage_exit(store, spread, qty=4, stage=None)
    OrderRepository(store).record_fill(Fill("f1", coid, 4, 0.50, spread.t0, Side.SELL, "p1", 2.60))
    log = tmp_path / "alerts.log"
    alerter = Alerter(store, [f"rpfile://{log}"])

    async def go() -> None:
        # The restart's outbox delivery, then the executor raising the same alert again.
        (outcome,) = await alerter.deliver_pending()
        assert outcome.delivered
        await alerter("exit_executed", "exit of p1 filled: 4 at 0.5000 with MEDIUM:limit-fair", position_id="p1",
                      exit_id=exit_id, priority="MEDIUM")
        await alerter.drain()

    asyncio.run(go())
    alerts = StateRepository(store).recent_alerts()
    assert [a.kind for a in alerts] == ["exit_executed"] and alerts[0].delivered_at is not None
    assert log.read_text().count("exit of p1 filled") == 1


def test_the_restart_rebuilds_stages_from_filled_exits_of_an_older_store(store: Store, spread: type) -> None:
    _, coid = _stage_exit(store, spread, qty=2, stage="first_target")
    OrderRepository(store).record_fill(Fill("f1", coid, 2, 0.50, spread.t0, Side.SELL, "p1", 1.30))
    with store.transaction() as s:  # as an older version left it: the stage not recorded
        from riskpilot.store.models import PositionRow

        row = s.get(PositionRow, "p1")
        assert row is not None
        row.stages_done = []
    assert PositionRepository(store).rebuild_stages() == {"p1": ["first_target"]}
    assert PositionRepository(store).get("p1").position.state.stages_done == frozenset({"first_target"})
    assert PositionRepository(store).rebuild_stages() == {}
