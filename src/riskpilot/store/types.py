"""Column types shared by the relational store.

Timestamps: every timestamp is stored in UTC. PostgreSQL keeps them in ``timestamptz``;
SQLite has no time-zone type, so the value is normalized to UTC before it is written and the
UTC zone is re-attached when it is read. Naive datetimes are refused on write: a naive
timestamp is ambiguous and would silently shift by the host's offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC, read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime for a timestamp column, got {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value!r} refused: pass a timezone-aware datetime "
                "(e.g. datetime.now(UTC))"
            )
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME storage drops the offset; store the UTC wall time.
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"timestamp column returned {value!r}, not a datetime")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
