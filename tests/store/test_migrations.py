"""Migrations: up from empty, up from each earlier revision, down and up again, and the
models match what the migrations build, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from riskpilot.model import TradingState
from riskpilot.store import (
    SchemaNotCurrentError,
    StateRepository,
    Store,
    StoreConfigError,
    current_revision,
    downgrade,
    head_revision,
    normalize_url,
    upgrade,
)
from riskpilot.store.database import alembic_config_without_engine
from riskpilot.store.models import Base
from riskpilot.store.testing import temporary_store

REVISIONS = [
    r.revision for r in reversed(list(ScriptDirectory.from_config(alembic_config_without_engine()).walk_revisions()))
]


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_revisions_form_one_linear_history() -> None:
    assert REVISIONS[0] == "0001"
    assert REVISIONS[-1] == head_revision()
    assert len(REVISIONS) >= 2


def test_upgrade_from_empty_creates_every_table(backend: str, tmp_path: Path) -> None:
    with temporary_store(backend, tmp_path) as store:
        assert current_revision(store.engine) == head_revision()
        assert _tables(store) == set(Base.metadata.tables)


def test_models_match_migrated_schema_without_diff(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


@pytest.mark.parametrize("start", REVISIONS[:-1])
def test_upgrade_from_each_earlier_revision_reaches_head(backend: str, tmp_path: Path, start: str) -> None:
    with temporary_store(backend, tmp_path, migrate=False) as store:
        upgrade(store.engine, start)
        assert current_revision(store.engine) == start
        # Data written at the earlier revision survives the upgrade. Written with SQL, not the
        # repository: today's models may name columns that the earlier revision lacks.
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE trading_state SET state = 'HALTED', reason = 'circuit breaker', changed_at = :at"),
                {"at": datetime.now(UTC)},
            )
        upgrade(store.engine)
        assert current_revision(store.engine) == head_revision()
        assert StateRepository(store).trading_state().state is TradingState.HALTED


def test_downgrade_to_base_then_upgrade_round_trips(store: Store) -> None:
    downgrade(store.engine, "base")
    assert current_revision(store.engine) is None
    assert _tables(store) == set()
    upgrade(store.engine)
    assert _tables(store) == set(Base.metadata.tables)
    assert StateRepository(store).trading_state().state is TradingState.ACTIVE


def test_open_without_migrate_on_empty_database_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SchemaNotCurrentError, match="riskpilot db upgrade"):
        Store.open(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    with temporary_store("sqlite", tmp_path) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_postgresql_url_maps_to_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported backend 'mysql'"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("", "empty"),
        ("not a url", "not a valid URL"),
    ],
)
def test_bad_database_url_is_refused_with_how_to_fix(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        normalize_url(url)
