"""Generated model-chain years kept on disk, so a backtest generates each year once.

Generating SPY's 2006-2024 chain costs about 2 s of CPU a run; reading the same years back
from uncompressed Arrow IPC files, memory-mapped, costs about 0.01 s (the pages come from the
OS's page cache; lz4 or zstd files are a third of the size but cost 0.2-0.8 s to decompress,
more than they save). A year of SPY is 10-60 MB on disk, 2006-2024 about 640 MB.

- **Where**: ``$RISKPILOT_CHAIN_CACHE`` when set (``off``, ``0`` or ``no`` turn the cache off),
  else ``$XDG_CACHE_HOME/riskpilot/model-chains`` (``~/.cache/...`` without XDG). One file per
  underlying and calendar year: ``<root>/<SYMBOL>/<year>-<key>.arrow``.
- **Key**: a SHA-256 of everything the year's rows depend on: the underlying and year, every
  field of :class:`~riskpilot.data.model_chain.ModelChainParams`, the bundled market history
  the chain is computed from, the source of the generating modules (so any change to the
  generator's code gives new files; old ones are simply never read again), and the versions
  of numpy, scipy, pandas, pyarrow and exchange_calendars (which shape the numbers and the
  calendar). A file is only ever read under the key it was written with.
- **Safe to delete**: the directory holds nothing else (the years, and the exchange calendar
  under ``calendar/``); a deleted file is generated again on next use. Writing a year drops
  the files of the same underlying and year under other keys, so the cache holds one version
  of each year. Files are written to a temporary name in the same directory and renamed into
  place, so a reader never sees a partial file, and two processes generating the same year
  (a sweep's workers) both end with the same complete file.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from riskpilot.data.model_chain.cache_dir import ENV_VAR, cache_root, write_atomically
from riskpilot.data.model_chain.inputs import market_history
from riskpilot.data.model_chain.params import ModelChainParams
from riskpilot.data.schema import CHAIN_SCHEMA

#: The layout of the files; bump it when the way a year is stored changes.
_FORMAT = 1

#: Modules whose source decides the rows of a generated year.
_GENERATOR_MODULES = (
    "riskpilot.data.model_chain.expirations",
    "riskpilot.data.model_chain.params",
    "riskpilot.data.model_chain.inputs",
    "riskpilot.data.model_chain.grid",
    "riskpilot.data.model_chain.pricing",
    "riskpilot.data.model_chain.generate",
    "riskpilot.data.model_chain.disk_cache",
    "riskpilot.data.model_chain.cache_dir",
    "riskpilot.data.surface",
    "riskpilot.data.schema",
    "riskpilot.data.history",
    "riskpilot.pricing.bsm",
    "riskpilot.pricing._inputs",
)
_LIBRARIES = ("numpy", "scipy", "pandas", "pyarrow", "exchange_calendars")


class ChainCacheError(RuntimeError):
    """A cache file that cannot be read (the message names it and the fix)."""


@dataclass(frozen=True, slots=True)
class ModelChainCache:
    """Model-chain years on disk under ``root`` (see the module doc)."""

    root: Path

    def year(self, underlying: str, year: int, params: ModelChainParams,
             make: Callable[[], pa.Table]) -> pa.Table:
        """``underlying``'s chain for ``year`` under ``params``: read from its file, or made by
        ``make()`` (the whole year of the history) and written for next time."""
        path = self.path_of(underlying, year, params)
        if path.exists():
            return _read(path)
        table = make()
        _write_atomically(path, table)
        # One file per underlying and year: a year written under another key (older code,
        # other data or parameters) is dropped, so the cache does not grow with each version.
        for stale in path.parent.glob(f"{year}-*.arrow"):
            if stale != path:
                stale.unlink(missing_ok=True)
        return table

    def path_of(self, underlying: str, year: int, params: ModelChainParams) -> Path:
        return self.root / underlying / f"{year}-{year_key(underlying, year, params)[:24]}.arrow"

    def describe(self) -> str:
        """One line for a user: where the cache is, its size, and how to drop or skip it."""
        files = list(self.root.glob("*/*.arrow")) if self.root.is_dir() else []
        mb = sum(f.stat().st_size for f in files) / 1e6
        return (f"model-chain cache: {self.root} ({len(files)} years, {mb:,.0f} MB; safe to delete; "
                f"{ENV_VAR}=off or --no-chain-cache skips it)")


def default_chain_cache() -> ModelChainCache | None:
    """The cache the environment asks for: ``$RISKPILOT_CHAIN_CACHE`` (a directory, or ``off``),
    else the user's cache directory. None when turned off."""
    root = cache_root()
    return ModelChainCache(root) if root is not None else None


def year_key(underlying: str, year: int, params: ModelChainParams) -> str:
    """The hex SHA-256 naming ``underlying``'s ``year`` under ``params`` (module doc, "Key")."""
    h = hashlib.sha256()
    for part in (f"format={_FORMAT}", underlying, str(year), repr(params), _history_digest(underlying),
                 _code_digest()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@cache
def _history_digest(underlying: str) -> str:
    mh = market_history(underlying)
    h = hashlib.sha256()
    for a in (mh.dates.astype(np.int64), mh.spot, mh.vix, mh.vix9d, mh.vix3m, mh.rate, mh.div_yield,
              mh.realized_vol_ratio):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@cache
def _code_digest() -> str:
    h = hashlib.sha256()
    for name in _GENERATOR_MODULES:
        module = importlib.import_module(name)
        if module.__file__ is None:
            raise ChainCacheError(f"cannot key the model-chain cache: module {name} has no source file")
        h.update(Path(module.__file__).read_bytes())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={version(lib)}".encode())
        except PackageNotFoundError:
            h.update(f"{lib}=absent".encode())
    return h.hexdigest()


def _read(path: Path) -> pa.Table:
    try:
        # Memory-mapped: the columns a reader never touches are never read from disk.
        table = ipc.open_file(pa.memory_map(str(path))).read_all()
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChainCacheError(
            f"model-chain cache file {path} cannot be read ({exc}); delete it (the cache directory "
            f"{path.parent.parent} is safe to delete) or run with {ENV_VAR}=off / --no-chain-cache"
        ) from exc
    if not table.schema.equals(CHAIN_SCHEMA):
        raise ChainCacheError(
            f"model-chain cache file {path} does not hold a chain (schema {table.schema}); delete it"
        )
    return table


def _write_atomically(path: Path, table: pa.Table) -> None:
    def write(tmp: Path) -> None:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    write_atomically(path, write)


__all__ = ["ENV_VAR", "ChainCacheError", "ModelChainCache", "default_chain_cache", "year_key"]
