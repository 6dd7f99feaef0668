"""Connecting to the relational store and migrating it.

Two backends, one schema: SQLite (embedded default, one file, WAL mode) and PostgreSQL
(psycopg 3). URLs:

- ``sqlite:///riskpilot.db`` (relative path) or ``sqlite:////abs/path.db``;
- ``postgresql://user@host:5432/db`` (mapped to the ``postgresql+psycopg`` driver).

The default URL is ``$RISKPILOT_DB`` or ``sqlite:///riskpilot.db`` in the working directory.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from riskpilot.store.urls import default_url

#: PostgreSQL connections older than this many seconds are replaced at checkout (guards
#: against servers, proxies and firewalls that drop long-idle connections silently).
PG_POOL_RECYCLE_S = 1800

#: How long a SQLite connection waits for another writer's lock before failing (ms).
SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "riskpilot_write"


class StoreConfigError(ValueError):
    """A database URL or store option that cannot be used; the message says how to fix it."""


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the schema revision this code expects."""


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick the driver: ``postgresql://`` and ``postgres://`` use psycopg 3;
    ``sqlite://`` uses the standard library. Anything else is refused."""
    if not isinstance(url, str) or not url.strip():
        raise StoreConfigError(
            "database URL is empty: pass --db sqlite:///riskpilot.db or --db "
            "postgresql://user@host:5432/dbname (or set RISKPILOT_DB)"
        )
    raw = url.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise StoreConfigError(
            f"database URL {url!r} is not a valid URL ({exc}); expected sqlite:///file.db or "
            "postgresql://user@host:5432/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "postgresql":
        if driver not in ("psycopg", "psycopg2") or "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StoreConfigError(
                f"database URL {url!r} names no file: the store is one SQLite file, e.g. "
                "sqlite:///riskpilot.db (an in-memory database would vanish with its connection)"
            )
        return parsed
    raise StoreConfigError(
        f"database URL {url!r} uses the unsupported backend {backend!r}: use sqlite:///file.db "
        "or postgresql://user@host:5432/dbname"
    )


def _install_sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy own the transactions (the sqlite3 module's implicit BEGIN handling
        # breaks SAVEPOINTs and starts transactions late); see the begin hook below.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        # WAL: readers never block the writer and the writer never blocks readers.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction takes the write lock up front (IMMEDIATE), so it waits for
        # another writer at BEGIN (busy timeout) instead of failing when it upgrades a read
        # lock mid-transaction. Readers use a deferred BEGIN and never block the writer.
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(
    url: str | None = None,
    *,
    schema: str | None = None,
    echo: bool = False,
    durable_commits: bool = True,
) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`). ``schema`` (PostgreSQL only)
    sets the search path, so every table lives in that schema (used to isolate test runs).

    ``durable_commits=False`` (PostgreSQL only) sets ``synchronous_commit=off``: a commit
    returns before its WAL record reaches the disk, which takes the disk flush (about 1.4 ms
    on the development machine) out of every write. A server crash can then lose the last
    few hundred milliseconds of commits, never corrupt the database. That is acceptable
    for fills, because on restart the engine reconciles with the broker's executions and
    re-applies missing fills (a known fill id is refused, so nothing applies twice); keep
    the default for anything the broker cannot give back."""
    parsed = normalize_url(url if url is not None else default_url())
    if parsed.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401  (the driver SQLAlchemy loads for postgresql+psycopg)
        except ImportError:
            raise StoreConfigError(
                "a PostgreSQL store needs the psycopg driver: pip install 'riskpilot[postgres]' "
                "(or use a SQLite store: --db sqlite:///riskpilot.db)"
            ) from None
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise StoreConfigError("schema= is for PostgreSQL; a SQLite store is one file")
        if not durable_commits:
            raise StoreConfigError(
                "durable_commits=False is for PostgreSQL; SQLite in WAL mode already syncs "
                "only at checkpoints (synchronous=NORMAL)"
            )
        db_path = Path(str(parsed.database))
        if not db_path.parent.exists():
            raise StoreConfigError(
                f"directory {db_path.parent} for SQLite file {db_path} does not exist: create "
                "it or choose another path"
            )
        engine = create_engine(parsed, **kwargs)
        _install_sqlite_events(engine)
        return engine
    options: list[str] = []
    if schema is not None:
        if not schema.replace("_", "").isalnum():
            raise StoreConfigError(f"schema name {schema!r} must be letters, digits and '_'")
        options.append(f"-csearch_path={schema}")
    if not durable_commits:
        options.append("-csynchronous_commit=off")
    if options:
        kwargs["connect_args"] = {"options": " ".join(options)}
    # No pool_pre_ping: it costs a round trip ("SELECT 1") on every checkout, as much as a
    # whole fill. Instead (see _install_pg_liveness_check): connections are replaced after
    # PG_POOL_RECYCLE_S, a connection the server has closed is discarded at checkout
    # without a round trip, and one that dies in use raises a DBAPIError with
    # ``connection_invalidated`` set, after which the pool reconnects (record_fill retries
    # once on it; other callers see that one error and succeed on their next call).
    kwargs["pool_recycle"] = PG_POOL_RECYCLE_S
    engine = create_engine(parsed, **kwargs)
    _install_pg_liveness_check(engine)
    return engine


def _install_pg_liveness_check(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # An idle connection has nothing to say (the store uses no LISTEN/NOTIFY). If its
        # socket is readable, the server sent its goodbye (shutdown, restart, terminated
        # backend, idle_session_timeout) or closed it: discard it, and the pool hands out
        # another (DisconnectionError makes the pool retry the checkout). A zero-timeout
        # select() is a system call, not a round trip.
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is None:  # not psycopg 3 (psycopg2 URL): no cheap check available
            return
        try:
            fd = pgconn.socket
        except Exception as exc:  # psycopg raises OperationalError on a closed connection
            raise DisconnectionError(f"connection is closed ({exc})") from exc
        readable, _, _ = select.select([fd], [], [], 0)
        if readable:
            raise DisconnectionError("the server closed this pooled connection")


# --- migrations ---------------------------------------------------------------------------


def migrations_dir() -> Path:
    return Path(str(resources.files("riskpilot.store").joinpath("migrations")))


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs the package's migrations on ``engine`` (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("the package ships no migrations (broken install?)")
    return head


def alembic_config_without_engine() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema up to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- the store ----------------------------------------------------------------------------


class Store:
    """One database: an engine and a session factory. Repositories take a Store.

    Concurrency: one writer plus any number of readers. On SQLite the WAL journal lets
    readers run while the writer writes; a second writer waits up to the busy timeout. On
    PostgreSQL the repositories lock the rows they change (``SELECT ... FOR UPDATE``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        schema: str | None = None,
        migrate: bool = True,
        echo: bool = False,
        durable_commits: bool = True,
    ) -> Store:
        """Connect to ``url``. With ``migrate`` the schema is created or upgraded to the
        head revision; without it, a database not at head is refused with how to fix it."""
        engine = make_engine(url, schema=schema, echo=echo, durable_commits=durable_commits)
        if migrate:
            upgrade(engine)
        else:
            have = current_revision(engine)
            want = head_revision()
            if have != want:
                engine.dispose()
                raise SchemaNotCurrentError(
                    f"database {engine.url.render_as_string(hide_password=True)} is at schema "
                    f"revision {have or 'none (empty)'}, this riskpilot needs {want}: run "
                    "`riskpilot db upgrade --db URL`"
                )
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for a write that is one statement (its own
        transaction: no BEGIN/COMMIT round trips). PostgreSQL only: on SQLite the writers
        must take the write lock with BEGIN IMMEDIATE, so use :meth:`transaction`."""
        if self.dialect != "postgresql":
            raise StoreConfigError("single_statement() is for PostgreSQL; use transaction() on SQLite")
        with self._autocommit.connect() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (its transaction is rolled back at the end)."""
        with self._sessions() as session:
            yield session
            session.rollback()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()
