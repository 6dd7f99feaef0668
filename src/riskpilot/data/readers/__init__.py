"""Vendor chain readers: each turns one vendor layout into a :data:`CHAIN_SCHEMA` table with
the quality bitmask computed. Units per vendor are stated in each module's docstring.

    >>> table = read_chain(Path("spy_2021.csv"), "historicaloptiondata")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa

from riskpilot.data.formats import GREEK_UNITS, GreekUnits
from riskpilot.data.readers import cboe, historicaloptiondata, ivolatility, optionsdx, orats
from riskpilot.data.readers._common import (
    ChainFormatError,
    ReadOptions,
)

Reader = Callable[[Path, ReadOptions], pa.Table]

FORMATS: Mapping[str, Reader] = MappingProxyType({
    "historicaloptiondata": historicaloptiondata.read,
    "ivolatility": ivolatility.read,
    "orats": orats.read,
    "cboe": cboe.read,
    "optionsdx": optionsdx.read,
})
"""Format name -> reader."""


def read_chain(path: Path | str, format: str, *, underlying: str | None = None,
               greek_units: GreekUnits = "auto") -> pa.Table:
    """Read one vendor file into a CHAIN_SCHEMA table (rows in file order, flags computed).

    Raises :class:`ChainFormatError` naming the file, line and column for a malformed file,
    and ValueError for an unknown ``format`` or ``greek_units``.
    """
    reader = FORMATS.get(format)
    if reader is None:
        raise ValueError(
            f"unknown chain format {format!r}; choose one of {', '.join(sorted(FORMATS))}"
        )
    return reader(Path(path), ReadOptions(underlying=underlying, greek_units=greek_units))


__all__ = ["FORMATS", "GREEK_UNITS", "ChainFormatError", "GreekUnits", "ReadOptions",
           "read_chain"]
