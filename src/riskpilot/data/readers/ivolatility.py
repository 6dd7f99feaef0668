"""iVolatility end-of-day option layout.

Columns: ``symbol, exchange, company_name, date, stock_price_close, option_symbol,
option_expiration, strike, call/put, style, ask, bid, mean_price, settlement, iv, volume,
open_interest, stock_price_for_iv, forward_price, isinterpolated, delta, vega, gamma, theta,
rho``.

Units and assumptions (checked against Black-Scholes on the 2011 SPX sample):

- ``iv`` decimal; ``theta`` per calendar day; ``vega`` per vol point; per share.
- ``underlying_price`` is ``stock_price_close``.
- ``root`` is the first token of ``option_symbol`` (``SPXW  110107C01050000`` -> ``SPXW``).
- ``last``: the layout has no last trade price (``mean_price`` is the bid/ask mid and
  ``settlement`` a settlement value), so it is null.
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

SOURCE = "ivolatility"
REQUIRED = ("symbol", "date", "stock_price_close", "option_symbol", "option_expiration",
            "strike", "call/put", "ask", "bid")


def read(path: Path, options: ReadOptions) -> pa.Table:
    raw = load_any(path)
    raw.require(REQUIRED)
    symbols = pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("option_symbol",
                                                                 required=True)))
    root = pc.struct_field(pc.extract_regex(symbols, r"^(?P<root>[A-Z.]+)"), "root")
    if root.null_count:
        bad = int(pc.index(pc.is_null(root), True).as_py())
        raise raw.error(f"cannot find the option root in {symbols[bad].as_py()!r}",
                        index=bad, column="option_symbol")
    if options.underlying is not None:
        underlying = pa.array([options.underlying.upper()] * raw.num_rows, pa.string())
    else:
        underlying = normalize_underlying(raw.strings("symbol", required=True))
    greeks = _units.GreekColumns(
        gamma=raw.floats("gamma") if raw.has("gamma") else None,
        theta=raw.floats("theta") if raw.has("theta") else None,
        vega=raw.floats("vega") if raw.has("vega") else None,
    )
    greeks = _units.convert(greeks, "per_day" if options.greek_units == "auto"
                            else options.greek_units)
    columns: dict[str, pa.Array] = {
        "quote_date": raw.quote_dates("date"),
        "underlying": underlying,
        "underlying_price": raw.floats("stock_price_close"),
        "root": root,
        "expiration": raw.dates("option_expiration"),
        "strike": raw.floats("strike", required=True),
        "right": raw.rights("call/put"),
        "bid": raw.floats("bid"),
        "ask": raw.floats("ask"),
    }
    if raw.has("volume"):
        columns["volume"] = raw.ints("volume")
    if raw.has("open_interest"):
        columns["open_interest"] = raw.ints("open_interest")
    if raw.has("iv"):
        columns["iv"] = positive_or_null(raw.floats("iv"))
    if raw.has("delta"):
        columns["delta"] = raw.floats("delta")
    for name, arr in (("gamma", greeks.gamma), ("theta", greeks.theta), ("vega", greeks.vega)):
        if arr is not None:
            columns[name] = arr
    return assemble(raw, columns, source=SOURCE)
