"""One live monitor per account: a lease row that says who holds the account, guarded by a lock
that dies with its holder.

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock`` on a key derived from the
  account), held on a connection of its own for the lease's lifetime. The server drops it the
  moment the holder's connection dies, so a monitor killed with SIGKILL is replaced at once.
- SQLite: an exclusive ``flock`` on a file beside the database (``<db>.lease-<account>``),
  which the operating system drops when the holder's process dies. SQLite stores are local, so
  a file lock covers every process that can open the store.

The ``monitor_leases`` row says who holds the lease (host, pid, command, since), when it last
beat and when it expires, the monitor's clock at its last cycle and whether its broker was
connected: what a second monitor's refusal, ``riskpilot positions`` and the dashboard show.
The lock decides; the row informs. ``close``, ``halt`` and ``resume`` never take the lease:
they write the store, and the running monitor picks their changes up.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Literal

from sqlalchemy import Connection, select, text

from riskpilot.store.database import Store
from riskpilot.store.models import MonitorLeaseRow
from riskpilot.store.records import StoreError
from riskpilot.store.rows import utc

#: Seconds a lease lasts without a heartbeat (the monitor beats every cycle, at most every
#: urgent-frequency seconds while idle); past it the dashboard shows the holder as stale.
DEFAULT_TTL_SECONDS = 30.0


class LeaseHeldError(StoreError):
    """Another live monitor holds the account; the message names it and how to take over."""


class LeaseLostError(StoreError):
    """The lease was lost while held (its lock's connection dropped, or the row was taken):
    the monitor must stop acting."""


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who asks for a lease: this process, by default."""

    host: str
    pid: int
    command: str | None
    broker: str | None
    clock: Literal["wall", "simulated"]
    holder_id: str

    @classmethod
    def this_process(cls, *, command: str | None, broker: str | None,
                     clock: Literal["wall", "simulated"]) -> LeaseHolder:
        return cls(socket.gethostname(), os.getpid(), command, broker, clock, uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    account: str
    holder_id: str
    host: str
    pid: int
    command: str | None
    broker: str | None
    clock: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    released_at: datetime | None
    last_cycle_at: datetime | None
    broker_connected: bool | None

    def held(self, now: datetime) -> bool:
        """Held and beating: not released and not past its expiry at ``now``."""
        return self.released_at is None and self.expires_at > now

    def describe(self) -> str:
        who = f"{self.command or 'a monitor'} (pid {self.pid} on {self.host}, since {self.acquired_at.isoformat()})"
        return f"{who}, last heartbeat {self.heartbeat_at.isoformat()}"


def _record(row: MonitorLeaseRow) -> LeaseRecord:
    return LeaseRecord(row.account, row.holder_id, row.host, row.pid, row.command, row.broker, row.clock,
                       row.acquired_at, row.heartbeat_at, row.expires_at, row.released_at, row.last_cycle_at,
                       row.broker_connected)


def _advisory_key(schema: str, account: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock`` from the store's schema and the account
    (advisory locks are database-wide; two stores in two schemas are two stores)."""
    digest = hashlib.blake2b(f"riskpilot-monitor|{schema}|{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Lock:
    """The lock behind a lease: a PostgreSQL advisory lock or a file lock (module docstring)."""

    def __init__(self, store: Store, account: str) -> None:
        self.store = store
        self.account = account
        self._conn: Connection | None = None
        self._key = 0
        self._file: IO[bytes] | None = None

    def lock_path(self) -> Path:
        db = self.store.engine.url.database
        if not db or db == ":memory:":
            raise StoreError("a monitor lease needs a SQLite store in a file (not :memory:)")
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.account)
        return Path(f"{db}.lease-{safe}")

    def try_acquire(self) -> bool:
        if self.store.dialect == "postgresql":
            conn = self.store.engine.connect()
            schema = str(conn.execute(text("SELECT current_schema()")).scalar())
            self._key = _advisory_key(schema, self.account)
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
            conn.commit()  # end the implicit transaction; the session lock stays
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        import fcntl  # POSIX: the lock dies with the process that holds it

        fh = open(self.lock_path(), "ab")  # noqa: SIM115 - held open for the lease's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._file = fh
        return True

    def check(self) -> None:
        """Raise :class:`LeaseLostError` when the lock is no longer held."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1")).scalar()
                self._conn.commit()
            except Exception as exc:  # the session that held the advisory lock is gone
                raise LeaseLostError(f"the lease's database session for {self.account!r} dropped ({exc}): "
                                     "another monitor may take the account; this one must stop") from exc
        elif self._file is None:
            raise LeaseLostError(f"the lease of {self.account!r} is not held by this process")

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            import fcntl

            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file = None


class HeldLease:
    """A lease this process holds: beat it every cycle, release it on the way out."""

    def __init__(self, repo: LeaseRepository, lock: _Lock, holder: LeaseHolder, record: LeaseRecord,
                 ttl_seconds: float, previous: LeaseRecord | None = None) -> None:
        self._repo = repo
        self._lock = lock
        self.holder = holder
        self.record = record
        self.ttl_seconds = ttl_seconds
        #: The row as the last holder left it (its clock and last cycle say where a replay got
        #: to), None for the account's first lease.
        self.previous = previous

    @property
    def account(self) -> str:
        return self.record.account

    def heartbeat(self, now: datetime, *, last_cycle_at: datetime | None = None,
                  broker_connected: bool | None = None) -> None:
        self._lock.check()
        self.record = self._repo._beat(self.account, self.holder.holder_id, now, self.ttl_seconds,
                                       clock=self.holder.clock, last_cycle_at=last_cycle_at,
                                       broker_connected=broker_connected)

    def release(self, now: datetime) -> None:
        try:
            self._repo._release(self.account, self.holder.holder_id, now)
        finally:
            self._lock.release()


class LeaseRepository:
    """The ``monitor_leases`` rows and the locks behind them (module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def current(self, account: str) -> LeaseRecord | None:
        with self.store.read() as s:
            row = s.get(MonitorLeaseRow, account)
            return _record(row) if row is not None else None

    def all(self) -> list[LeaseRecord]:
        with self.store.read() as s:
            return [_record(r) for r in s.execute(select(MonitorLeaseRow).order_by(MonitorLeaseRow.account))
                    .scalars()]

    def market_now(self, wall: datetime) -> datetime:
        """The store's "now": the last monitor's clock at its last cycle when that monitor
        was a replay (a store a replay wrote lives at the replay's market time, so DTE and
        "today" are counted there), else ``wall``."""
        latest = max(self.all(), key=lambda r: r.heartbeat_at, default=None)
        if latest is not None and latest.clock == "simulated" and latest.last_cycle_at is not None:
            return latest.last_cycle_at
        return wall

    def acquire(self, account: str, holder: LeaseHolder, now: datetime, *,
                ttl_seconds: float = DEFAULT_TTL_SECONDS) -> HeldLease:
        """Take the lease of ``account`` for ``holder``, or raise :class:`LeaseHeldError` when a
        live monitor holds it. A lease whose holder died (its lock went with it) is taken over
        at once, whatever its row says."""
        if not account or len(account) > 64:
            raise ValueError(f"account must be a non-empty name of at most 64 characters, got {account!r}")
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds!r}")
        now = utc(now, "now")
        lock = _Lock(self.store, account)
        if not lock.try_acquire():
            held = self.current(account)
            who = held.describe() if held is not None else "another process (no lease row yet)"
            raise LeaseHeldError(
                f"account {account!r} is already monitored by {who}. Stop that monitor first "
                f"(SIGTERM lets it finish its exits); once it is gone its lease is taken over at once"
            )
        try:
            with self.store.transaction() as s:
                row = s.get(MonitorLeaseRow, account, with_for_update=True)
                previous = _record(row) if row is not None else None
                if row is None:
                    row = MonitorLeaseRow(account=account)
                    s.add(row)
                row.holder_id = holder.holder_id
                row.host = holder.host
                row.pid = holder.pid
                row.command = holder.command
                row.broker = holder.broker
                row.acquired_at = now
                row.heartbeat_at = now
                row.expires_at = now + timedelta(seconds=ttl_seconds)
                row.released_at = None
                row.broker_connected = None
                # ``clock`` and ``last_cycle_at`` stay the last cycling monitor's until this one
                # cycles (a run refused before its first cycle leaves a replay's progress intact).
                if row.clock is None:
                    row.clock = holder.clock
                s.flush()
                record = _record(row)
        except BaseException:
            lock.release()
            raise
        return HeldLease(self, lock, holder, record, ttl_seconds, previous)

    def _beat(self, account: str, holder_id: str, now: datetime, ttl_seconds: float, *, clock: str,
              last_cycle_at: datetime | None, broker_connected: bool | None) -> LeaseRecord:
        now = utc(now, "now")
        with self.store.transaction() as s:
            row = s.get(MonitorLeaseRow, account, with_for_update=True)
            if row is None or row.holder_id != holder_id or row.released_at is not None:
                raise LeaseLostError(f"the lease of {account!r} is no longer this monitor's: stop acting")
            row.heartbeat_at = now
            row.expires_at = now + timedelta(seconds=ttl_seconds)
            if last_cycle_at is not None:
                row.last_cycle_at = utc(last_cycle_at, "last_cycle_at")
                row.clock = clock
            if broker_connected is not None:
                row.broker_connected = broker_connected
            s.flush()
            return _record(row)

    def _release(self, account: str, holder_id: str, now: datetime) -> None:
        with self.store.transaction() as s:
            row = s.get(MonitorLeaseRow, account, with_for_update=True)
            if row is not None and row.holder_id == holder_id and row.released_at is None:
                row.released_at = utc(now, "now")


def take_lease(store: Store, account: str, *, command: str, broker: str, simulated: bool,
               ttl_seconds: float = DEFAULT_TTL_SECONDS) -> HeldLease:
    """The account's monitor lease for this process, or :class:`LeaseHeldError` naming the
    monitor that holds it. Taken first, before anything is wired, so a second monitor is
    refused at once and changes nothing."""
    holder = LeaseHolder.this_process(command=command, broker=broker, clock="simulated" if simulated else "wall")
    return LeaseRepository(store).acquire(account, holder, datetime.now(UTC), ttl_seconds=ttl_seconds)


__all__ = [
    "DEFAULT_TTL_SECONDS",
    "HeldLease",
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "LeaseRecord",
    "LeaseRepository",
    "take_lease",
]
