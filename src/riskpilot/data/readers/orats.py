"""ORATS strikes layout (near-end-of-day "one minute before close" files and the strikes
history): one row per strike with the call and the put side by side.

Columns used: ``ticker, tradeDate`` (or ``trade_date``), ``expirDate, strike, stkPx``
(``spot_px`` preferred when present), ``cBidPx, cAskPx, pBidPx, pAskPx, cVolu, pVolu, cOi,
pOi, cMidIv, pMidIv`` (or ``smvVol``), ``delta, gamma, theta, vega``, and, when present,
``iRate, divRate, yte``.

Units and assumptions (ORATS documentation):

- IVs are decimals. Each side's ``iv`` is its mid-market IV (``cMidIv``/``pMidIv``); a file
  without those uses the smoothed ``smvVol`` for both sides.
- ``delta, gamma, theta, vega`` are the call's: theta per calendar day, vega per vol point,
  per share. The put's gamma and vega equal the call's. The put's delta is
  ``delta - exp(-divRate * yte)`` when ``divRate`` and ``yte`` are present, else
  ``delta - 1``. The put's theta follows from put-call parity,
  ``theta + (iRate*K*exp(-iRate*yte) - divRate*S*exp(-divRate*yte)) / 365``, when ``iRate``,
  ``divRate`` and ``yte`` are present; otherwise it is null rather than guessed.
- ``cValue``/``pValue`` are ORATS' theoretical values, not trades: ``last`` is null.
- ``root`` is the ticker (the layout has no option root); two roots listing the same
  expiration and strike (an AM and a PM series) collide and are flagged DUPLICATE.
- Dates ``YYYY-MM-DD`` or ``M/D/YYYY``.
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
    load_any,
    normalize_underlying,
    positive_or_null,
    strike_rows_to_contract_rows,
)

SOURCE = "orats"
REQUIRED = ("ticker", "expirDate", "strike", "stkPx", "cBidPx", "cAskPx", "pBidPx", "pAskPx",
            "delta")


def read(path: Path, options: ReadOptions) -> pa.Table:
    raw = load_any(path)
    raw.require(REQUIRED)
    date_col = raw.first_present("tradeDate", "trade_date")
    ticker = pc.utf8_upper(pc.utf8_trim_whitespace(raw.strings("ticker", required=True)))
    underlying = (pa.array([options.underlying.upper()] * raw.num_rows, pa.string())
                  if options.underlying is not None else normalize_underlying(ticker))
    spot = raw.floats("spot_px") if raw.has("spot_px") else raw.floats("stkPx")
    strike = raw.floats("strike", required=True)
    shared: dict[str, pa.Array] = {
        "quote_date": raw.quote_dates(date_col),
        "underlying": underlying,
        "underlying_price": spot,
        "root": ticker,
        "expiration": raw.dates("expirDate"),
        "strike": strike,
    }

    def iv(side: str) -> pa.Array:
        name = raw.first_present(f"{side}MidIv", "smvVol")
        return positive_or_null(raw.floats(name))

    def optional_int(name: str) -> pa.Array:
        return raw.ints(name) if raw.has(name) else pa.nulls(raw.num_rows, pa.int64())

    greeks = _units.GreekColumns(
        gamma=raw.floats("gamma") if raw.has("gamma") else None,
        theta=raw.floats("theta") if raw.has("theta") else None,
        vega=raw.floats("vega") if raw.has("vega") else None,
    )
    greeks = _units.convert(greeks, "per_day" if options.greek_units == "auto"
                            else options.greek_units)
    call_delta = raw.floats("delta")
    np_delta = call_delta.to_numpy(zero_copy_only=False)
    has_carry = raw.has("divRate") and raw.has("yte")
    if has_carry:
        q = raw.floats("divRate").to_numpy(zero_copy_only=False)
        t = raw.floats("yte").to_numpy(zero_copy_only=False)
        put_delta = np_delta - np.exp(-q * t)
    else:
        put_delta = np_delta - 1.0
    nulls = pa.nulls(raw.num_rows, pa.float64())
    put_theta: pa.Array = nulls
    if greeks.theta is not None and has_carry and raw.has("iRate"):
        r = raw.floats("iRate").to_numpy(zero_copy_only=False)
        k = strike.to_numpy(zero_copy_only=False)
        s = spot.to_numpy(zero_copy_only=False)
        carry = (r * k * np.exp(-r * t) - q * s * np.exp(-q * t)) / _units.DAYS_PER_YEAR
        put_theta = pa.array(greeks.theta.to_numpy(zero_copy_only=False) + carry,
                             pa.float64(), from_pandas=True)

    calls: dict[str, pa.Array] = {
        "bid": raw.floats("cBidPx"), "ask": raw.floats("cAskPx"),
        "volume": optional_int("cVolu"), "open_interest": optional_int("cOi"),
        "iv": iv("c"), "delta": call_delta,
        "gamma": greeks.gamma if greeks.gamma is not None else nulls,
        "theta": greeks.theta if greeks.theta is not None else nulls,
        "vega": greeks.vega if greeks.vega is not None else nulls,
    }
    puts: dict[str, pa.Array] = {
        "bid": raw.floats("pBidPx"), "ask": raw.floats("pAskPx"),
        "volume": optional_int("pVolu"), "open_interest": optional_int("pOi"),
        "iv": iv("p"), "delta": pa.array(put_delta, pa.float64(), from_pandas=True),
        "gamma": calls["gamma"], "theta": put_theta, "vega": calls["vega"],
    }
    return assemble(raw, strike_rows_to_contract_rows(shared, calls, puts), source=SOURCE)
