"""historicaloptiondata.com (DeltaNeutral) end-of-day layout.

Columns: ``underlying, underlying_last, [exchange], optionroot, [optionext], type, expiration,
quotedate, strike, last, bid, ask, volume, openinterest, impliedvol, delta, gamma, theta,
vega, optionalias, [dte]``; a Parquet variant (the 2019 SPX chain) carries ``root`` instead of
deriving it, ``quotedate``/``expiration`` as timestamps, and no theta/vega.

Units and assumptions:

- ``impliedvol`` is a decimal (0.18 = 18%); values <= 0 are stored as null (BAD_IV).
- Dates ISO ``YYYY-MM-DD`` (the vendor's own ``MM/DD/YYYY`` is accepted too).
- ``root`` is the ``root`` column when present, otherwise the letters before the six-digit
  date in ``optionroot`` (``SPXW180131C01200000`` -> ``SPXW``), otherwise the underlying.
- ``underlying`` is normalized: ``SPXW`` -> ``SPX`` (see ``UNDERLYING_ALIASES``).
- Greeks: files in this layout do not agree on units. SPY 2021 files carry theta per calendar
  day and vega per vol point (the schema's units), SPXW 2018 files theta per year and vega per
  1.00 of volatility. With ``greek_units='auto'`` the reader compares the file's theta, vega
  and gamma with Black-Scholes near the money and converts, or refuses the file with the
  evidence when they match neither (as in a 2017-18 SPX subset whose gamma/theta/vega are off
  by unrelated factors: import it with ``greek_units='drop'``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.readers import _units
from riskpilot.data.readers._common import (
    ReadOptions,
    assemble,
    load_any,
    normalize_underlying,
    positive_or_null,
)

SOURCE = "historicaloptiondata"
REQUIRED = ("underlying", "underlying_last", "type", "expiration", "quotedate", "strike",
            "bid", "ask")


def read(path: Path, options: ReadOptions) -> pa.Table:
    raw = load_any(path)
    raw.require(REQUIRED)
    quote_date = raw.quote_dates("quotedate")
    expiration = raw.dates("expiration")
    strike = raw.floats("strike", required=True)
    if options.underlying is not None:
        underlying = pa.array([options.underlying.upper()] * raw.num_rows, pa.string())
    else:
        underlying = normalize_underlying(raw.strings("underlying", required=True))
    if raw.has("root"):
        root = pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("root", required=True)))
    elif raw.has("optionroot"):
        symbols = pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("optionroot",
                                                                     required=True)))
        parts = pc.extract_regex(symbols, r"^(?P<root>[A-Z.]+?)\s*\d{6}[CP]")
        root = pc.struct_field(parts, "root")
        if root.null_count:
            bad = int(pc.index(pc.is_null(root), True).as_py())
            raise raw.error(
                f"cannot find the option root in {symbols[bad].as_py()!r}; expected an OSI "
                "symbol such as SPXW180131C01200000",
                index=bad, column="optionroot",
            )
    else:
        root = pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("underlying", required=True)))

    iv = positive_or_null(raw.floats("impliedvol")) if raw.has("impliedvol") else None
    delta = raw.floats("delta") if raw.has("delta") else None
    greeks = _units.GreekColumns(
        gamma=raw.floats("gamma") if raw.has("gamma") else None,
        theta=raw.floats("theta") if raw.has("theta") else None,
        vega=raw.floats("vega") if raw.has("vega") else None,
    )
    units = options.greek_units
    if units == "auto":
        ev = None
        if iv is not None and delta is not None:
            ev = _units.evidence(
                spot=raw.floats("underlying_last"), strike=strike, quote_date=quote_date,
                expiration=expiration, iv=iv, delta=delta, greeks=greeks,
            )
        units = "per_day" if ev is None else _units.detect(ev, path=path)
    greeks = _units.convert(greeks, units)

    columns: dict[str, pa.Array] = {
        "quote_date": quote_date,
        "underlying": underlying,
        "underlying_price": raw.floats("underlying_last"),
        "root": root,
        "expiration": expiration,
        "strike": strike,
        "right": raw.rights("type"),
        "bid": raw.floats("bid"),
        "ask": raw.floats("ask"),
    }
    if raw.has("last"):
        columns["last"] = raw.floats("last")
    if raw.has("volume"):
        columns["volume"] = raw.ints("volume")
    if raw.has("openinterest"):
        columns["open_interest"] = raw.ints("openinterest")
    for name, arr in (("iv", iv), ("delta", delta), ("gamma", greeks.gamma),
                      ("theta", greeks.theta), ("vega", greeks.vega)):
        if arr is not None:
            columns[name] = arr
    return assemble(raw, columns, source=SOURCE)
