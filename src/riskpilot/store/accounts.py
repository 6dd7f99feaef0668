"""Which broker account a store belongs to: bound by the first live run or adoption, checked
by every later one, so one store never mixes the positions of two accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from riskpilot.store.database import Store
from riskpilot.store.models import BrokerAccountRow
from riskpilot.store.records import StoreError
from riskpilot.store.rows import utc


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    broker: str
    account: str
    bound_at: datetime
    bound_by: str | None


class AccountMismatchError(StoreError):
    """The broker is logged in to another account than the one the store belongs to."""

    def __init__(self, bound: BrokerAccount, connected: str) -> None:
        self.bound = bound
        self.connected = connected
        super().__init__(
            f"this store belongs to {bound.broker} account {bound.account} (since {bound.bound_at:%Y-%m-%d %H:%M} "
            f"UTC, {bound.bound_by or 'first use'}), but the broker is logged in to {connected}: log in to "
            f"{bound.account}, or give {connected} a store of its own (--db)"
        )


class AccountRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def bound(self, broker: str) -> BrokerAccount | None:
        with self.store.read() as s:
            row = s.get(BrokerAccountRow, broker)
            return None if row is None else BrokerAccount(row.broker, row.account, row.bound_at, row.bound_by)

    def check(self, broker: str, account: str) -> BrokerAccount | None:
        """The binding of ``broker`` (None: not bound yet); raises :class:`AccountMismatchError`
        when it names another account than ``account``."""
        bound = self.bound(broker)
        if bound is not None and bound.account != account:
            raise AccountMismatchError(bound, account)
        return bound

    def bind(self, broker: str, account: str, at: datetime, *, by: str | None = None) -> BrokerAccount:
        """Bind the store to ``account`` of ``broker`` (nothing changes when it is already);
        raises :class:`AccountMismatchError` when it is bound to another one."""
        if not account:
            raise ValueError(f"cannot bind the store to an empty {broker} account id")
        with self.store.transaction() as s:
            row = s.get(BrokerAccountRow, broker, with_for_update=True)
            if row is None:
                row = BrokerAccountRow(broker=broker, account=account, bound_at=utc(at, "at"),
                                       bound_by=None if by is None else by[:128])
                s.add(row)
            elif row.account != account:
                raise AccountMismatchError(BrokerAccount(row.broker, row.account, row.bound_at, row.bound_by),
                                           account)
            return BrokerAccount(row.broker, row.account, row.bound_at, row.bound_by)


__all__ = ["AccountMismatchError", "AccountRepository", "BrokerAccount"]
