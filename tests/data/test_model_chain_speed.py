"""The faster model-chain generation gives the numbers of the previous one, and the on-disk
cache of generated years gives back exactly what generation gives.

``samples/model_chain_reference_rows.csv`` holds rows of four spans (SPY in the March 2020
crash, SPX, IWM 2009, QQQ) as the generator before the speed work wrote them (every 1/60th
row, floats as ``repr``); the generator now prices each (day, expiration) pair's ATM vol once
and prices and greeks from one Black-Scholes state. A second check reprices generated rows one
formula at a time with the public pieces, the way the old code did.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from riskpilot.data.model_chain import (
    ChainCacheError,
    ModelChainCache,
    ModelChainParams,
    default_chain_cache,
    generate_model_chain,
    market_history,
)
from riskpilot.data.model_chain.disk_cache import year_key
from riskpilot.data.model_chain.inputs import day_vols, div_yield_of
from riskpilot.data.surface import atm_vol, model_spread, smile_vol, smile_z
from riskpilot.pricing import bsm_greeks, bsm_price

SAMPLES = Path(__file__).parent / "samples" / "model_chain_reference_rows.csv"
FLOATS = ("underlying_price", "bid", "ask", "iv", "delta", "gamma", "theta", "vega", "strike")


def _reference_rows() -> dict[tuple[str, date, date], list[dict[str, str]]]:
    spans: dict[tuple[str, date, date], list[dict[str, str]]] = {}
    with SAMPLES.open(newline="") as f:
        for row in csv.DictReader(f):
            key = (row["underlying"], date.fromisoformat(row["start"]), date.fromisoformat(row["end"]))
            spans.setdefault(key, []).append(row)
    return spans


def test_generation_gives_the_previous_generators_rows_to_float_tolerance() -> None:
    for (symbol, start, end), rows in _reference_rows().items():
        table = generate_model_chain(symbol, start, end, cache=None)
        columns = {c: table.column(c).to_pylist() for c in (*FLOATS, "quote_date", "expiration", "right", "root")}
        for row in rows:
            r = int(row["row"])
            where = f"{symbol} {start}..{end} row {r}"
            assert str(columns["quote_date"][r]) == row["quote_date"], where
            assert str(columns["expiration"][r]) == row["expiration"], where
            assert columns["right"][r] == row["right"] and columns["root"][r] == row["root"], where
            for name in FLOATS:
                want = float(row[name])
                assert columns[name][r] == pytest.approx(want, rel=1e-12, abs=1e-15), f"{where} {name}"
            # Quotes sit on the tick grid: equal, not merely close.
            assert columns["bid"][r] == float(row["bid"]) and columns["ask"][r] == float(row["ask"]), where


def test_generated_rows_equal_the_formulas_applied_row_by_row() -> None:
    symbol, start, end = "SPY", date(2020, 3, 9), date(2020, 3, 13)
    p = ModelChainParams.for_underlying(symbol)
    table = generate_model_chain(symbol, start, end, p, cache=None)
    mh = market_history(symbol)
    sl = slice(0, mh.dates.size)
    s9, s30, s93 = day_vols(mh, p, sl)
    div = div_yield_of(mh, p, sl)
    qd = table.column("quote_date").to_numpy().astype("datetime64[D]")
    ex = table.column("expiration").to_numpy().astype("datetime64[D]")
    k = table.column("strike").to_numpy()
    call = np.asarray(table.column("right").to_pylist()) == "C"
    at = np.searchsorted(mh.dates, qd)
    spot, rate, q = mh.spot[at], mh.rate[at], div[at]
    dte = (ex - qd).astype(np.int64).astype(np.float64)
    t = dte / 365.0
    sigma = atm_vol(t, s9[at], s30[at], s93[at])
    log_m = np.log(k / spot) - (rate - q) * t
    iv = smile_vol(sigma, log_m, t, p.smile())
    mid = bsm_price(spot, k, t, rate, q, iv, call)
    greeks = bsm_greeks(spot, k, t, rate, q, iv, call)
    spread = model_spread(mid, spot, dte, s30[at], np.abs(smile_z(log_m, t, sigma)), p.spread())
    bid = np.round(np.maximum(np.floor((mid - spread / 2.0) / p.tick + 1e-9) * p.tick, 0.0), 6)
    ask = np.round(np.maximum(np.ceil((mid + spread / 2.0) / p.tick - 1e-9) * p.tick, p.tick), 6)
    for name, want in (("iv", iv), ("bid", bid), ("ask", ask), ("delta", greeks.delta), ("gamma", greeks.gamma),
                       ("theta", greeks.theta), ("vega", greeks.vega)):
        np.testing.assert_array_equal(table.column(name).to_numpy(), want, err_msg=name)


# --- the on-disk cache ---------------------------------------------------------------------------


def test_a_cached_span_equals_generation_and_the_second_read_comes_from_the_file(tmp_path: Path) -> None:
    cache = ModelChainCache(tmp_path)
    # Across the end of 2009 into SPY's first weeklies (2010-01-08): two cached years, sliced.
    start, end = date(2009, 12, 21), date(2010, 1, 12)
    plain = generate_model_chain("SPY", start, end, cache=None)
    first = generate_model_chain("SPY", start, end, cache=cache)
    files = sorted(p.name[:4] for p in (tmp_path / "SPY").glob("*.arrow"))
    assert files == ["2009", "2010"]
    again = generate_model_chain("SPY", start, end, cache=cache)
    assert first.equals(plain) and again.equals(plain)
    # A day inside a cached year is a slice of the file.
    one_day = generate_model_chain("SPY", date(2010, 1, 8), date(2010, 1, 8), cache=cache)
    assert one_day.equals(generate_model_chain("SPY", date(2010, 1, 8), date(2010, 1, 8), cache=None))
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_key_changes_with_every_input() -> None:
    p = ModelChainParams.for_underlying("SPY")
    base = year_key("SPY", 2019, p)
    assert base == year_key("SPY", 2019, ModelChainParams.for_underlying("SPY"))
    others = {
        year_key("SPY", 2018, p),
        year_key("QQQ", 2019, ModelChainParams.for_underlying("QQQ")),
        year_key("SPY", 2019, ModelChainParams.for_underlying("SPY", max_dte=90)),
        year_key("SPY", 2019, ModelChainParams.for_underlying("SPY", skew=-0.25)),
    }
    assert base not in others and len(others) == 4


def test_a_year_under_a_new_key_replaces_the_old_file(tmp_path: Path) -> None:
    cache = ModelChainCache(tmp_path)
    day = date(2012, 6, 1)
    generate_model_chain("IWM", day, day, cache=cache)
    generate_model_chain("IWM", day, day, ModelChainParams.for_underlying("IWM", max_dte=60), cache=cache)
    assert len(list((tmp_path / "IWM").glob("2012-*.arrow"))) == 1


def test_an_unreadable_cache_file_names_itself_and_the_fix(tmp_path: Path) -> None:
    cache = ModelChainCache(tmp_path)
    path = cache.path_of("SPY", 2011, ModelChainParams.for_underlying("SPY"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(ChainCacheError, match=r"cannot be read .*delete it"):
        generate_model_chain("SPY", date(2011, 3, 1), date(2011, 3, 4), cache=cache)


def test_the_environment_moves_or_turns_off_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RISKPILOT_CHAIN_CACHE", str(tmp_path / "chains"))
    found = default_chain_cache()
    assert found is not None and found.root == tmp_path / "chains"
    assert str(tmp_path / "chains") in found.describe() and "safe to delete" in found.describe()
    for off in ("off", "0", "no", ""):
        monkeypatch.setenv("RISKPILOT_CHAIN_CACHE", off)
        assert default_chain_cache() is None
    monkeypatch.delenv("RISKPILOT_CHAIN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    found = default_chain_cache()
    assert found is not None and found.root == tmp_path / "xdg" / "riskpilot" / "model-chains"


def test_cache_argument_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="ModelChainCache"):
        generate_model_chain("SPY", date(2019, 1, 2), date(2019, 1, 3), cache="yes")  # type: ignore[arg-type]

