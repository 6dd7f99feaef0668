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
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
