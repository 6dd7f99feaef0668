"""Pricing the listed rows of a model chain: the IV surface, Black-Scholes-Merton prices and
greeks, spreads on the tick grid, and the ``CHAIN_SCHEMA`` table."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from riskpilot.data.model_chain.params import ModelChainParams
from riskpilot.data.schema import CHAIN_SCHEMA
from riskpilot.data.surface import atm_vol, model_spread, smile_vol, smile_z
from riskpilot.pricing import bsm_price_greeks

FloatArray = npt.NDArray[np.float64]

SOURCE = "model"


def labels(codes: npt.NDArray[np.integer], labels: list[str]) -> pa.Array:
    """A plain string array of ``labels[code]`` per row, with no Python object per row. A
    single label, or one-character labels, are laid out directly as offsets and bytes
    (several times faster than the dictionary cast used otherwise)."""
    encoded = [text.encode() for text in labels]
    c = np.asarray(codes, dtype=np.intp)
    n = c.size
    if len(encoded) == 1 or all(len(b) == 1 for b in encoded):
        width = len(encoded[0]) if len(encoded) == 1 else 1
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if width else np.zeros(n + 1, np.int32)
        if len(encoded) == 1:
            data = np.frombuffer(encoded[0] * n, dtype=np.uint8)
        else:
            data = np.frombuffer(b"".join(encoded), dtype=np.uint8)[c]
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    indices = pa.array(c.astype(np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def price_rows(
    underlying: str,
    root: pa.Array,
    quote_day: npt.NDArray[np.datetime64],
    expiration: npt.NDArray[np.datetime64],
    strike: FloatArray,
    is_call: npt.NDArray[np.bool_],
    spot: FloatArray,
    rate: FloatArray,
    div: FloatArray,
    s9: FloatArray,
    s30: FloatArray,
    s93: FloatArray,
    p: ModelChainParams,
    sigma_atm: FloatArray | None = None,
) -> pa.Table:
    """Price rows whose per-row inputs are given; vols s9/s30/s93 already include vol_scale;
    ``root`` is a string array of the rows' roots. ``sigma_atm``, the ATM volatility of each
    row's (day, expiration), may be given when the caller has it per pair (the same numbers
    as :func:`~riskpilot.data.surface.atm_vol` of the rows, at a fraction of the work)."""
    dte = (expiration - quote_day).astype(np.int64).astype(np.float64)
    t = dte / 365.0
    if sigma_atm is None:
        sigma_atm = atm_vol(t, s9, s30, s93)
    log_m = np.log(strike / spot) - (rate - div) * t
    z = smile_z(log_m, t, sigma_atm)
    iv = smile_vol(sigma_atm, log_m, t, p.smile(), z)
    mid, greeks = bsm_price_greeks(spot, strike, t, rate, div, iv, is_call)
    abs_z = np.abs(z)
    spread = model_spread(mid, spot, dte, s30, abs_z, p.spread())
    tick = p.tick
    bid = np.maximum(np.floor((mid - spread / 2.0) / tick + 1e-9) * tick, 0.0)
    ask = np.maximum(np.ceil((mid + spread / 2.0) / tick - 1e-9) * tick, tick)
    bid = np.round(bid, 6)
    ask = np.round(ask, 6)
    n = strike.size
    null_float = pa.nulls(n, pa.float64())
    null_int = pa.nulls(n, pa.int64())
    columns = {
        "quote_date": pa.array(quote_day, type=pa.date32()),
        "underlying": labels(np.zeros(n, dtype=np.intp), [underlying]),
        "underlying_price": pa.array(spot, type=pa.float64()),
        "root": root,
        "expiration": pa.array(expiration, type=pa.date32()),
        "strike": pa.array(strike, type=pa.float64()),
        "right": labels(np.where(is_call, 0, 1), ["C", "P"]),
        "bid": pa.array(bid, type=pa.float64()),
        "ask": pa.array(ask, type=pa.float64()),
        "last": null_float,
        "volume": null_int,
        "open_interest": null_int,
        "iv": pa.array(iv, type=pa.float64()),
        "delta": pa.array(greeks.delta, type=pa.float64()),
        "gamma": pa.array(greeks.gamma, type=pa.float64()),
        "theta": pa.array(greeks.theta, type=pa.float64()),
        "vega": pa.array(greeks.vega, type=pa.float64()),
        "quality": pa.array(np.zeros(n, dtype=np.int32), type=pa.int32()),
        "source": labels(np.zeros(n, dtype=np.intp), [SOURCE]),
        "model_priced": pa.array(np.ones(n, dtype=np.bool_), type=pa.bool_()),
    }
    return pa.Table.from_pydict(columns, schema=CHAIN_SCHEMA)
