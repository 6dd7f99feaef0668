"""Alembic environment for riskpilot's store. Run through riskpilot.store.database.upgrade()
(or `riskpilot db upgrade`), which hands the engine over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from riskpilot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError(
            "riskpilot migrations run through riskpilot.store.database.upgrade() or "
            "`riskpilot db upgrade --db URL`, which supply the engine; plain `alembic` "
            "invocations are not supported"
        )
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection if sqlite else None
        if raw is not None:
            # Batch mode rebuilds a table (create, copy, drop, rename). With foreign keys on,
            # dropping a referenced table (positions) would cascade-delete its legs or refuse
            # its orders, so, as Alembic's batch documentation advises, they are off for the
            # migration (set outside any transaction: inside one the pragma does nothing) and
            # every reference is checked once it is done.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if raw is not None:
                connection.commit()
                raw.execute("PRAGMA foreign_keys=ON")
        if raw is not None:
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose references are broken: {broken[:5]}")


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
