"""CBOE DataShop "Option EOD Summary" layout (with or without Calcs).

Columns: ``underlying_symbol, quote_date, root, expiration, strike, option_type, open, high,
low, close, trade_volume, bid_size_1545, bid_1545, ask_size_1545, ask_1545,
underlying_bid_1545, underlying_ask_1545, [implied_underlying_price_1545,
active_underlying_price_1545, implied_volatility_1545, delta_1545, gamma_1545, theta_1545,
vega_1545, rho_1545], bid_size_eod, bid_eod, ask_size_eod, ask_eod, underlying_bid_eod,
underlying_ask_eod, vwap, open_interest, [delivery_code]``.

Units and assumptions:

- ``bid``/``ask`` are the end-of-day NBBO (``bid_eod``/``ask_eod``), the schema's end-of-day
  quote; the 15:45 snapshot is not stored.
- IV and greeks exist only at 15:45 (the Calcs columns) and are stored as they are: IV decimal,
  theta per calendar day, vega per vol point, per share (CBOE LiveVol conventions). Without
  the Calcs columns they are null.
- ``last`` is ``close``; CBOE writes 0 when the series did not trade, stored as null (a negative
  or infinite close is kept, and flagged BAD_PRICE).
- ``underlying_price`` is the mid of ``underlying_bid_eod``/``underlying_ask_eod`` when both are
  positive, else ``active_underlying_price_1545`` when present, else null. A negative or
  infinite underlying quote flags the row BAD_PRICE.
- ``underlying_symbol``'s index caret is dropped (``^SPX`` -> ``SPX``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.readers import _units
from riskpilot.data.readers._common import (
    ReadOptions,
    assemble,
    impossible_price,
    load_any,
    normalize_underlying,
    positive_or_null,
)
from riskpilot.data.schema import Quality

SOURCE = "cboe"
REQUIRED = ("underlying_symbol", "quote_date", "root", "expiration", "strike", "option_type",
            "close", "trade_volume", "bid_eod", "ask_eod", "underlying_bid_eod",
            "underlying_ask_eod", "open_interest")


def read(path: Path, options: ReadOptions) -> pa.Table:
    raw = load_any(path)
    raw.require(REQUIRED)
    if options.underlying is not None:
        underlying = pa.array([options.underlying.upper()] * raw.num_rows, pa.string())
    else:
        underlying = normalize_underlying(raw.strings("underlying_symbol", required=True))
    ub = raw.floats("underlying_bid_eod")
    ua = raw.floats("underlying_ask_eod")
    both = pc.fill_null(pc.and_(pc.greater(ub, 0.0), pc.greater(ua, 0.0)), False)
    mid = pc.divide(pc.add(ub, ua), 2.0)
    underlying_price = pc.if_else(both, mid, pa.scalar(None, pa.float64()))
    # The underlying's quotes do not reach the schema as they are: flag impossible ones here.
    bad_underlying = impossible_price(ub) | impossible_price(ua)
    if raw.has("active_underlying_price_1545"):
        active = raw.floats("active_underlying_price_1545")
        bad_underlying |= impossible_price(active)
        active = pc.if_else(pc.greater(active, 0.0), active, pa.scalar(None, pa.float64()))
        underlying_price = pc.coalesce(underlying_price, active)
    close = raw.floats("close")
    columns: dict[str, pa.Array] = {
        "quote_date": raw.quote_dates("quote_date"),
        "underlying": underlying,
        "underlying_price": underlying_price,
        "root": pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("root", required=True))),
        "expiration": raw.dates("expiration"),
        "strike": raw.floats("strike", required=True),
        "right": raw.rights("option_type"),
        "bid": raw.floats("bid_eod"),
        "ask": raw.floats("ask_eod"),
        "last": pc.if_else(pc.equal(close, 0.0), pa.scalar(None, pa.float64()), close),
        "volume": raw.ints("trade_volume"),
        "open_interest": raw.ints("open_interest"),
    }
    if raw.has("implied_volatility_1545"):
        columns["iv"] = positive_or_null(raw.floats("implied_volatility_1545"))
    if raw.has("delta_1545"):
        columns["delta"] = raw.floats("delta_1545")
    greeks = _units.GreekColumns(
        gamma=raw.floats("gamma_1545") if raw.has("gamma_1545") else None,
        theta=raw.floats("theta_1545") if raw.has("theta_1545") else None,
        vega=raw.floats("vega_1545") if raw.has("vega_1545") else None,
    )
    greeks = _units.convert(greeks, "per_day" if options.greek_units == "auto"
                            else options.greek_units)
    for name, arr in (("gamma", greeks.gamma), ("theta", greeks.theta), ("vega", greeks.vega)):
        if arr is not None:
            columns[name] = arr
    preset = np.where(bad_underlying, np.int32(Quality.BAD_PRICE), np.int32(0))
    return assemble(raw, columns, source=SOURCE, flags=preset)
