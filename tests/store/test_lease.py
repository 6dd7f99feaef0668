"""One live monitor per account: the lease refuses a second holder while the first lives,
hands over at once when it dies (its lock goes with it), and says who holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskpilot.store import LeaseHeldError, LeaseHolder, LeaseLostError, LeaseRepository, Store

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _holder(command: str = "monitor --broker paper") -> LeaseHolder:
    return LeaseHolder.this_process(command=command, broker="paper", clock="wall")



def test_a_second_holder_is_refused_with_who_holds_the_account(store: Store) -> None:
    repo = LeaseRepository(store)
    first = repo.acquire("paper", _holder(), NOW)
    try:
        with pytest.raises(LeaseHeldError, match=r"already monitored by monitor --broker paper \(pid \d+ on "):
            repo.acquire("paper", _holder("monitor --replay"), NOW + timedelta(seconds=1))
        held = repo.current("paper")
        assert held is not None and held.holder_id == first.holder.holder_id and held.held(NOW)
        # Another account is another lease.
        other = repo.acquire("ib-U123", _holder(), NOW)
        other.release(NOW)
    finally:
        first.release(NOW + timedelta(seconds=2))
    after = repo.current("paper")
    assert after is not None and after.released_at is not None and not after.held(NOW + timedelta(seconds=3))


def test_a_released_lease_is_taken_at_once_and_the_old_holder_has_lost_it(store: Store) -> None:
    repo = LeaseRepository(store)
    first = repo.acquire("paper", _holder(), NOW)
    first.release(NOW)
    second = repo.acquire("paper", _holder("monitor --replay"), NOW + timedelta(seconds=1))
    try:
        with pytest.raises(LeaseLostError):
            first.heartbeat(NOW + timedelta(seconds=2))
        second.heartbeat(NOW + timedelta(seconds=2), last_cycle_at=datetime(2019, 5, 1, 20, tzinfo=UTC),
                         broker_connected=True)
        rec = repo.current("paper")
        assert rec is not None and rec.command == "monitor --replay"
        assert rec.last_cycle_at == datetime(2019, 5, 1, 20, tzinfo=UTC) and rec.broker_connected is True
        assert rec.expires_at == NOW + timedelta(seconds=2 + 30)
    finally:
        second.release(NOW + timedelta(seconds=3))


def test_the_lock_not_the_row_decides_a_dead_holders_expired_lease_is_no_obstacle(store: Store) -> None:
    # The row of a holder that died still says "held" until it expires; the lock went with the
    # process, so the next monitor takes over at once. Simulated here by releasing only the lock.
    repo = LeaseRepository(store)
    first = repo.acquire("paper", _holder(), NOW)
    first._lock.release()  # the process died: its advisory session / file lock is gone
    second = repo.acquire("paper", _holder("monitor --replay"), NOW + timedelta(seconds=1))
    try:
        rec = repo.current("paper")
        assert rec is not None and rec.holder_id == second.holder.holder_id
    finally:
        second.release(NOW + timedelta(seconds=2))


def test_an_account_name_is_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="account must be a non-empty name"):
        LeaseRepository(store).acquire("", _holder(), NOW)
