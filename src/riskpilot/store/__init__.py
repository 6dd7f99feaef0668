"""The relational store (SQLite or PostgreSQL): tables, migrations and repositories by
aggregate (positions, orders and fills, exits, state and alerts). Every write is one
transaction that keeps the store's invariants.

- A position is opened together with its legs (and its method row, created on first use).
- A mark updates the monitoring fields from :meth:`riskpilot.model.Position.marked`, the one
  place where peak, trough, MFE and MAE are computed.
- An order intent exists before its order: :meth:`OrderRepository.record_order` refuses a
  client order id that has no intent (:class:`MissingIntentError`).
- A fill is applied once: a second fill with the same ``fill_id`` raises
  :class:`DuplicateFillError` and changes nothing. In the same transaction a fill updates
  its order, its position (quantity, status, realized P&L) and, for an exit's order, the
  exit and its attempt.
- A position and its exit move together: recording an executed exit reduces the position's
  quantity and closes it at zero in the same transaction.

Concurrency: one writer and any number of readers. Rows that a write reads and then changes
are locked with ``SELECT ... FOR UPDATE`` (PostgreSQL; SQLite writers are serialized by the
database lock, taken at BEGIN).

P&L units: realized P&L and commissions in dollars; prices are net premium per share.

Names are loaded on first use (``riskpilot.store.urls`` needs no SQLAlchemy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "AccountMismatchError": "riskpilot.store.accounts",
    "AccountRepository": "riskpilot.store.accounts",
    "StorePaperBook": "riskpilot.store.paper_book",
    "StoreLedger": "riskpilot.store.ledger",
    "ActionRecord": "riskpilot.store.actions",
    "ActionRepository": "riskpilot.store.actions",
    "DEFAULT_TTL_SECONDS": "riskpilot.store.lease",
    "HeldLease": "riskpilot.store.lease",
    "LeaseHeldError": "riskpilot.store.lease",
    "LeaseHolder": "riskpilot.store.lease",
    "LeaseLostError": "riskpilot.store.lease",
    "LeaseRecord": "riskpilot.store.lease",
    "LeaseRepository": "riskpilot.store.lease",
    "AlertRecord": "riskpilot.store.records",
    "AttemptRecord": "riskpilot.store.records",
    "DB_URL_ENV": "riskpilot.store.urls",
    "DEFAULT_DB_URL": "riskpilot.store.urls",
    "DailyPnl": "riskpilot.store.records",
    "DuplicateError": "riskpilot.store.records",
    "DuplicateFillError": "riskpilot.store.records",
    "ExitRecord": "riskpilot.store.records",
    "ExitRepository": "riskpilot.store.exits",
    "FillOutcome": "riskpilot.store.records",
    "InvariantError": "riskpilot.store.records",
    "MissingIntentError": "riskpilot.store.records",
    "Monitoring": "riskpilot.store.records",
    "NotFoundError": "riskpilot.store.records",
    "OPEN_STATUSES": "riskpilot.store.records",
    "OrderRecord": "riskpilot.store.records",
    "OrderRepository": "riskpilot.store.orders",
    "PositionRepository": "riskpilot.store.positions",
    "SchemaNotCurrentError": "riskpilot.store.database",
    "StateRepository": "riskpilot.store.state",
    "Store": "riskpilot.store.database",
    "StoreConfigError": "riskpilot.store.database",
    "StoreError": "riskpilot.store.records",
    "StoredPosition": "riskpilot.store.records",
    "TradingStateRecord": "riskpilot.store.records",
    "TrailingSnapshot": "riskpilot.store.records",
    "current_revision": "riskpilot.store.database",
    "default_url": "riskpilot.store.urls",
    "downgrade": "riskpilot.store.database",
    "head_revision": "riskpilot.store.database",
    "make_engine": "riskpilot.store.database",
    "normalize_url": "riskpilot.store.database",
    "upgrade": "riskpilot.store.database",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'riskpilot.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:
    from riskpilot.store.accounts import AccountMismatchError, AccountRepository
    from riskpilot.store.actions import ActionRecord, ActionRepository
    from riskpilot.store.database import (
        SchemaNotCurrentError,
        Store,
        StoreConfigError,
        current_revision,
        downgrade,
        head_revision,
        make_engine,
        normalize_url,
        upgrade,
    )
    from riskpilot.store.exits import (
        ExitRepository,
    )
    from riskpilot.store.lease import (
        DEFAULT_TTL_SECONDS,
        HeldLease,
        LeaseHeldError,
        LeaseHolder,
        LeaseLostError,
        LeaseRecord,
        LeaseRepository,
    )
    from riskpilot.store.ledger import StoreLedger
    from riskpilot.store.orders import (
        OrderRepository,
    )
    from riskpilot.store.paper_book import StorePaperBook
    from riskpilot.store.positions import (
        PositionRepository,
    )
    from riskpilot.store.records import (
        OPEN_STATUSES,
        AlertRecord,
        AttemptRecord,
        DailyPnl,
        DuplicateError,
        DuplicateFillError,
        ExitRecord,
        FillOutcome,
        InvariantError,
        MissingIntentError,
        Monitoring,
        NotFoundError,
        OrderRecord,
        StoredPosition,
        StoreError,
        TradingStateRecord,
        TrailingSnapshot,
    )
    from riskpilot.store.state import (
        StateRepository,
    )
    from riskpilot.store.urls import (
        DB_URL_ENV,
        DEFAULT_DB_URL,
        default_url,
    )

__all__ = [
    "DB_URL_ENV",
    "DEFAULT_DB_URL",
    "DEFAULT_TTL_SECONDS",
    "OPEN_STATUSES",
    "AccountMismatchError",
    "AccountRepository",
    "ActionRecord",
    "ActionRepository",
    "AlertRecord",
    "AttemptRecord",
    "DailyPnl",
    "DuplicateError",
    "DuplicateFillError",
    "ExitRecord",
    "ExitRepository",
    "FillOutcome",
    "HeldLease",
    "InvariantError",
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "LeaseRecord",
    "LeaseRepository",
    "MissingIntentError",
    "Monitoring",
    "NotFoundError",
    "OrderRecord",
    "OrderRepository",
    "PositionRepository",
    "SchemaNotCurrentError",
    "StateRepository",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreLedger",
    "StorePaperBook",
    "StoredPosition",
    "TradingStateRecord",
    "TrailingSnapshot",
    "current_revision",
    "default_url",
    "downgrade",
    "head_revision",
    "make_engine",
    "normalize_url",
    "upgrade",
]
