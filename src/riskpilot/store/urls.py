"""Where the store is: the default URL and the environment variable that overrides it.
Dependency-free, so the command line can name them without loading SQLAlchemy."""

from __future__ import annotations

import os

DEFAULT_DB_URL = "sqlite:///riskpilot.db"
DB_URL_ENV = "RISKPILOT_DB"


def default_url() -> str:
    """``$RISKPILOT_DB`` when set, else ``sqlite:///riskpilot.db``."""
    return os.environ.get(DB_URL_ENV) or DEFAULT_DB_URL


__all__ = ["DB_URL_ENV", "DEFAULT_DB_URL", "default_url"]
