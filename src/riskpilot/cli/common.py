"""What several commands share: the ``--db`` help text, error exits, option parsers, and the
store and configuration openers. Light at import (typer and the standard library only): every
heavy dependency is imported inside the function that needs it, so `riskpilot --help` stays
quick."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from riskpilot.store.urls import DB_URL_ENV, DEFAULT_DB_URL, default_url

if TYPE_CHECKING:
    from riskpilot.config import RiskPilotConfig
    from riskpilot.store import Store

DB_HELP = (
    f"Database URL: sqlite:///file.db or postgresql://user@host:5432/dbname "
    f"(default: ${DB_URL_ENV} or {DEFAULT_DB_URL})"
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned Exit (exit code ``code``)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{flag} {value!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-01") from None


def load_cfg(config: Path | None) -> RiskPilotConfig:
    """The configuration at ``config`` (built-in defaults when None); a bad file exits with
    the loader's message."""
    from riskpilot.config import ConfigError, RiskPilotConfig, load_config

    if config is None:
        return RiskPilotConfig()
    try:
        return load_config(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@contextmanager
def open_store(db: str | None) -> Iterator[Store]:
    """The store at ``db`` (default: $RISKPILOT_DB or sqlite:///riskpilot.db), which must
    exist and be at the latest schema revision."""
    from sqlalchemy.exc import OperationalError

    from riskpilot.store import SchemaNotCurrentError, Store, StoreConfigError, normalize_url

    raw = db or default_url()
    try:
        url = normalize_url(raw)
        if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
            raise fail(
                f"database file {url.database} does not exist: create it with `riskpilot db upgrade --db {raw}` "
                "(or pass --db / set RISKPILOT_DB to the store you meant)"
            )
        store = Store.open(raw, migrate=False)
    except (StoreConfigError, SchemaNotCurrentError) as exc:
        raise fail(str(exc)) from None
    except OperationalError as exc:
        raise fail(f"cannot connect to {url.render_as_string(hide_password=True)}: {exc.orig}") from None
    try:
        yield store
    finally:
        store.close()


__all__ = ["DB_HELP", "DB_URL_ENV", "fail", "load_cfg", "open_store", "parse_date"]
