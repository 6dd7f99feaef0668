"""Where the model chain keeps what it computes once (see :mod:`~riskpilot.data.model_chain.disk_cache`),
and writing a file there so that no reader ever sees it half-written."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

#: The environment variable naming the cache directory (or turning the cache off).
ENV_VAR = "RISKPILOT_CHAIN_CACHE"
_OFF = frozenset({"off", "0", "no", "false", "none"})


def cache_root() -> Path | None:
    """The directory ``$RISKPILOT_CHAIN_CACHE`` names (None for ``off``, ``0``, ``no``, ``false``,
    ``none`` or empty), else ``$XDG_CACHE_HOME/riskpilot/model-chains`` (``~/.cache`` without
    XDG)."""
    env = os.environ.get(ENV_VAR)
    if env is not None:
        if env.strip().lower() in _OFF or not env.strip():
            return None
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "riskpilot" / "model-chains"


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` a file next to ``path`` and rename it into place: readers see the old file
    or the whole new one, and two writers of the same content both succeed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
