"""Throw-away stores for tests: a SQLite file in a directory, or a fresh PostgreSQL schema
that is dropped afterwards, so runs are isolated and repeatable.

PostgreSQL is found at ``$RISKPILOT_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from riskpilot.store.database import Store, make_engine, upgrade

TEST_PG_ENV = "RISKPILOT_TEST_PG"
DEFAULT_TEST_PG = "postgresql://postgres@127.0.0.1:5432/test"


def pg_test_url() -> str:
    return os.environ.get(TEST_PG_ENV) or DEFAULT_TEST_PG


def postgres_unreachable_reason() -> str | None:
    """None when the test PostgreSQL answers, else why not (for ``pytest.skip``)."""
    url = pg_test_url()
    try:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any failure to connect means "not available here"
        return f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {exc}); set {TEST_PG_ENV}"
    return None


@contextmanager
def pg_schema(prefix: str = "rp_test") -> Iterator[str]:
    """Create a uniquely named schema in the test database; drop it (CASCADE) on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_test_url())
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield name
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@contextmanager
def temporary_store(
    backend: str, directory: Path, *, migrate: bool = True, durable_commits: bool = True
) -> Iterator[Store]:
    """An empty store on ``backend`` ('sqlite' or 'postgresql'), migrated to head unless
    ``migrate`` is false (then the database is empty, with no schema at all)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'riskpilot-test.db'}"
        store = Store.open(url) if migrate else Store(make_engine(url))
        try:
            yield store
        finally:
            store.close()
    elif backend == "postgresql":
        with pg_schema() as schema:
            engine = make_engine(pg_test_url(), schema=schema, durable_commits=durable_commits)
            if migrate:
                upgrade(engine)
            store = Store(engine)
            try:
                yield store
            finally:
                store.close()
    else:
        raise ValueError(f"backend must be 'sqlite' or 'postgresql', got {backend!r}")
