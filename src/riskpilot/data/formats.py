"""Names of the vendor layouts and greek-unit choices, dependency-free so the command line can
list them without loading the readers (:mod:`riskpilot.data.readers` maps each name to its
reader; a test checks the two agree)."""

from __future__ import annotations

from typing import Literal

FORMAT_NAMES: tuple[str, ...] = ("historicaloptiondata", "ivolatility", "orats", "cboe", "optionsdx")

GreekUnits = Literal["auto", "per_day", "per_year", "drop"]
GREEK_UNITS: tuple[str, ...] = ("auto", "per_day", "per_year", "drop")

__all__ = ["FORMAT_NAMES", "GREEK_UNITS", "GreekUnits"]
