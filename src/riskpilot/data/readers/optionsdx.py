"""OptionsDX end-of-day layout: one row per strike with the call and the put side by side,
bracketed headers (``[QUOTE_DATE]``) and ``", "``-separated values.

Columns used: ``QUOTE_DATE, UNDERLYING_LAST, EXPIRE_DATE, STRIKE`` and per side ``C_``/``P_``
``BID, ASK, LAST, VOLUME, IV, DELTA, GAMMA, THETA, VEGA``. ``QUOTE_READTIME``, sizes, rho and
strike distances are not stored.

Units and assumptions:

- IVs decimal; theta per calendar day; vega per vol point; per share (OptionsDX conventions,
  consistent with its published samples).
- The layout carries no underlying symbol and no open interest: the underlying is taken from
  ``ReadOptions.underlying`` or else the file name's prefix (``spx_eod_202001.txt`` -> SPX);
  ``open_interest`` is null; ``root`` is the underlying, so an AM and a PM series with the same
  expiration and strike collide and are flagged DUPLICATE.
- Blank fields mean "not sent" (null).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from riskpilot.data.readers import _units
from riskpilot.data.readers._common import (
    ChainFormatError,
    ReadOptions,
    assemble,
    load_any,
    normalize_underlying,
    positive_or_null,
    strike_rows_to_contract_rows,
)

SOURCE = "optionsdx"
REQUIRED = ("QUOTE_DATE", "UNDERLYING_LAST", "EXPIRE_DATE", "STRIKE", "C_BID", "C_ASK",
            "P_BID", "P_ASK")
_NAME_RE = re.compile(r"^([A-Za-z]+)_")


def read(path: Path, options: ReadOptions) -> pa.Table:
    symbol = options.underlying
    if symbol is None:
        match = _NAME_RE.match(path.name)
        if match is None:
            raise ChainFormatError(
                path,
                "OptionsDX files carry no underlying symbol and this file name does not start "
                "with one (e.g. spx_eod_202001.txt); pass the underlying (CLI: --underlying)",
            )
        symbol = match.group(1)
    raw = load_any(path, strip_brackets=True)
    raw.require(REQUIRED)
    n = raw.num_rows
    name = normalize_underlying(pa.array([symbol.upper()], pa.string()))[0].as_py()
    shared: dict[str, pa.Array] = {
        "quote_date": raw.quote_dates("QUOTE_DATE"),
        "underlying": pa.array([name] * n, pa.string()),
        "underlying_price": raw.floats("UNDERLYING_LAST"),
        "root": pa.array([symbol.upper()] * n, pa.string()),
        "expiration": raw.dates("EXPIRE_DATE"),
        "strike": raw.floats("STRIKE", required=True),
    }
    units = "per_day" if options.greek_units == "auto" else options.greek_units

    def side(prefix: str) -> dict[str, pa.Array]:
        def opt(col: str) -> pa.Array:
            full = f"{prefix}_{col}"
            return raw.floats(full) if raw.has(full) else pa.nulls(n, pa.float64())

        greeks = _units.convert(
            _units.GreekColumns(gamma=opt("GAMMA"), theta=opt("THETA"), vega=opt("VEGA")),
            units,
        )
        nulls = pa.nulls(n, pa.float64())
        volume = (raw.ints(f"{prefix}_VOLUME") if raw.has(f"{prefix}_VOLUME")
                  else pa.nulls(n, pa.int64()))
        return {
            "bid": raw.floats(f"{prefix}_BID"), "ask": raw.floats(f"{prefix}_ASK"),
            "last": opt("LAST"), "volume": volume,
            "iv": positive_or_null(opt("IV")), "delta": opt("DELTA"),
            "gamma": greeks.gamma if greeks.gamma is not None else nulls,
            "theta": greeks.theta if greeks.theta is not None else nulls,
            "vega": greeks.vega if greeks.vega is not None else nulls,
        }

    return assemble(raw, strike_rows_to_contract_rows(shared, side("C"), side("P")),
                    source=SOURCE)
