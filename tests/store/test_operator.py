"""Operator actions through the store (riskpilot.store.operator, shared by the CLI and the
dashboard) and the record of dashboard actions, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskpilot.model import PositionStatus, Priority, TradingState
from riskpilot.model.contract import exchange_date
from riskpilot.store import ActionRepository, ExitRepository, PositionRepository, StateRepository, Store, operator
from riskpilot.store.models import ActionOutcome, ExitStatus

NOW = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def test_halt_then_resume_record_the_states_and_reasons(store: Store) -> None:
    change = operator.halt(store, "broker maintenance", NOW)
    assert change.changed and change.before.state is TradingState.ACTIVE
    assert change.after.state is TradingState.HALTED and change.after.reason == "manual halt: broker maintenance"
    change = operator.resume(store, NOW + timedelta(minutes=5))
    assert change.after.state is TradingState.ACTIVE and change.after.reason.startswith("manual resume (was HALTED")
    assert not operator.resume(store, NOW).changed  # already ACTIVE: nothing to do


def test_resume_refuses_a_circuit_breaker_halt_on_its_own_day_unless_forced(store: Store) -> None:
    StateRepository(store).set_trading_state(TradingState.HALTED, "circuit breaker", NOW, halted_on=exchange_date(NOW))
    with pytest.raises(operator.ResumeRefusedError, match="has not rolled yet"):
        operator.resume(store, NOW)
    assert StateRepository(store).trading_state().state is TradingState.HALTED
    assert operator.resume(store, NOW, force=True).after.reason.startswith("manual resume (forced, ")
    StateRepository(store).set_trading_state(TradingState.HALTED, "circuit breaker", NOW, halted_on=exchange_date(NOW))
    assert operator.resume(store, NOW + timedelta(days=1)).changed  # the day rolled: no force needed


def test_queue_closes_skips_pending_and_closing_positions_and_refuses_an_empty_selection(
        store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    repo.open_position(spread.put_spread("a", quantity=4))
    repo.open_position(spread.put_spread("b", quantity=2))
    repo.open_position(replace(spread.put_spread("c", quantity=1), status=PositionStatus.PENDING))
    out = operator.queue_closes(store, position="a", priority=Priority.HIGH, tactic="HIGH:aggressive_limit",
                                reason="test", at=NOW)
    assert [(q.position_id, q.quantity) for q in out.queued] == [("a", 4)] and out.skipped == []
    (ex,) = ExitRepository(store).exits_for("a")
    assert (ex.status, ex.rule, ex.reason, ex.priority) == (ExitStatus.WORKING, "manual_close", "manual close: test",
                                                            Priority.HIGH)
    out = operator.queue_closes(store, underlying="spy", priority=Priority.CRITICAL, tactic="CRITICAL:market",
                                reason="all SPY", at=NOW)
    assert [q.position_id for q in out.queued] == ["b"]
    assert dict(out.skipped) == {"a": "an exit is already working", "c": "its entry order is still working"}
    with pytest.raises(operator.NothingToCloseError, match="no open position in QQQ"):
        operator.queue_closes(store, underlying="QQQ", priority=Priority.HIGH, tactic="x", reason="r", at=NOW)
    with pytest.raises(operator.NothingToCloseError, match="'zz'"):
        operator.queue_closes(store, position="zz", priority=Priority.HIGH, tactic="x", reason="r", at=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        operator.queue_closes(store, position="a", close_all=True, priority=Priority.HIGH, tactic="x", reason="r",
                              at=NOW)


def test_an_action_is_recorded_pending_then_finished_with_secrets_redacted(store: Store) -> None:
    repo = ActionRepository(store)
    aid = repo.begin(operator="alice", client="127.0.0.1", action="close-underlying", target="SPY", at=NOW,
                     reason="see discord://123/s3cret", priority=Priority.HIGH)
    [rec] = repo.recent()
    assert (rec.id, rec.operator, rec.outcome, rec.finished_at) == (aid, "alice", ActionOutcome.PENDING, None)
    assert "s3cret" not in (rec.reason or "")
    repo.finish(aid, ActionOutcome.DONE, "1 exit(s) queued", NOW + timedelta(seconds=1))
    rec = repo.get(aid)
    assert rec.outcome is ActionOutcome.DONE and rec.detail == "1 exit(s) queued" and rec.priority is Priority.HIGH
    assert rec.requested_at == NOW and rec.finished_at == NOW + timedelta(seconds=1)
    with pytest.raises(ValueError, match="not PENDING"):
        repo.finish(aid, ActionOutcome.PENDING, "x", NOW)
    with pytest.raises(ValueError, match="operator's name"):
        repo.begin(operator=" ", action="halt", at=NOW)
