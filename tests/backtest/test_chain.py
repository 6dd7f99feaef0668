"""DayChain: the per-day and the bulk conversions against a plain-Python reference, contract
lookups against a scan, and the store's projected and dictionary reads."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.data.daychain import (
    AM_SETTLED_ROOTS,
    BACKTEST_COLUMNS,
    DayChain,
    as_day_chain,
    iter_store_days,
    split_days,
)
from riskpilot.data.schema import CHAIN_SCHEMA, UNUSABLE_FOR_PRICING, Quality
from riskpilot.data.store import ChainStore, ChainStoreError
from riskpilot.model.contract import OptionContract
from riskpilot.model.enums import Right

SPX_2019 = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
D1, D2, D3 = date(2019, 6, 3), date(2019, 6, 4), date(2019, 6, 5)
E1, E2, E3 = date(2019, 6, 21), date(2019, 7, 19), date(2019, 8, 16)

Key = tuple[date, float, str]


def _row(qd: date, exp: date, strike: float, right: str, bid: float | None, ask: float | None, *,
         root: str = "SPXW", quality: int = 0, und: float | None = 2800.0, delta: float | None = -0.2,
         volume: int | None = 10, underlying: str = "SPX", model: bool = False) -> dict[str, Any]:
    return {
        "quote_date": qd, "underlying": underlying, "underlying_price": und, "root": root, "expiration": exp,
        "strike": strike, "right": right, "bid": bid, "ask": ask, "last": None, "volume": volume,
        "open_interest": None, "iv": 0.2, "delta": delta, "gamma": None, "theta": None, "vega": None,
        "quality": quality, "source": "test", "model_priced": model,
    }


def _table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=CHAIN_SCHEMA)


def _reference(rows: Sequence[dict[str, Any]], day: date) -> tuple[float, dict[Key, tuple[float, float, float, int]]]:
    """The day's chain by the documented rules, one row at a time, in table order."""
    todays = [r for r in rows if r["quote_date"] == day]
    und = next((r["underlying_price"] for r in todays
                if r["underlying_price"] is not None and math.isfinite(r["underlying_price"])), math.nan)
    chosen: dict[Key, tuple[bool, dict[str, Any]]] = {}
    for r in todays:
        if r["quality"] & int(UNUSABLE_FOR_PRICING) or r["bid"] is None or r["ask"] is None:
            continue
        if not (math.isfinite(r["bid"]) and math.isfinite(r["ask"])):
            continue
        key = (r["expiration"], r["strike"], r["right"])
        am = r["root"] in AM_SETTLED_ROOTS
        if key not in chosen or (chosen[key][0] and not am):  # first PM row wins, else first row
            chosen[key] = (am, r)
    out = {
        k: (r["bid"], r["ask"], math.nan if r["delta"] is None else r["delta"],
            -1 if r["volume"] is None else r["volume"])
        for k, (_, r) in chosen.items()
    }
    return und, out


def _as_dict(day: DayChain) -> dict[Key, tuple[float, float, float, int]]:
    out: dict[Key, tuple[float, float, float, int]] = {}
    for i in range(day.size):
        key = (day.expiration_date(int(day.expiration[i])), float(day.strike[i]), "C" if day.is_call[i] else "P")
        assert key not in out, f"{key} appears twice in {day.quote_date}'s chain"
        out[key] = (float(day.bid[i]), float(day.ask[i]), float(day.delta[i]), int(day.volume[i]))
    return out


def _same(a: dict[Key, tuple[float, float, float, int]], b: dict[Key, tuple[float, float, float, int]]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        assert x[0] == y[0] and x[1] == y[1] and x[3] == y[3], k
        assert (math.isnan(x[2]) and math.isnan(y[2])) or x[2] == y[2], k


def _check_day(day: DayChain, rows: Sequence[dict[str, Any]], probe_every: int = 1) -> None:
    und, ref = _reference(rows, day.quote_date)
    assert (math.isnan(und) and math.isnan(day.underlying_price)) or day.underlying_price == und
    _same(_as_dict(day), ref)
    assert np.all(np.diff(day.expiration) >= 0), "rows must be grouped by expiration"
    for (exp, strike, right), (bid, ask, _, volume) in list(ref.items())[::probe_every]:
        contract = OptionContract("SPX", exp, strike, Right.CALL if right == "C" else Right.PUT)
        q = day.quotes([contract])[contract]
        assert (q.bid, q.ask, q.volume) == (bid, ask, volume if volume >= 0 else None)
        assert q.timestamp == day.timestamp


# -- the rules on hand-made chains -------------------------------------------------------------


def test_third_friday_listed_by_spx_and_spxw_keeps_the_pm_settled_spxw_row() -> None:
    rows = [
        _row(D1, E1, 2800.0, "P", 10.0, 10.5, root="SPX"),
        _row(D1, E1, 2800.0, "P", 10.2, 10.6, root="SPXW"),
        _row(D1, E1, 2800.0, "C", 30.0, 31.0, root="SPX"),
        _row(D1, E2, 2800.0, "P", 20.0, 21.0, root="SPX"),
    ]
    day = DayChain.from_table(D1, _table(rows), "SPX")
    assert day.size == 3
    put = OptionContract("SPX", E1, 2800.0, Right.PUT)
    q = day.quotes([put])[put]
    assert (q.bid, q.ask) == (10.2, 10.6)  # SPXW's, though SPX's row came first
    _check_day(day, rows)


def test_rows_unusable_for_pricing_leave_the_contract_without_a_quote() -> None:
    rows = [
        _row(D1, E1, 2800.0, "P", 12.0, 11.0, quality=int(Quality.CROSSED)),
        _row(D1, E1, 2790.0, "P", None, 9.0),
        _row(D1, E1, 2780.0, "P", 8.0, 8.5, quality=int(Quality.BAD_IV)),  # BAD_IV alone is usable
        _row(D1, E1, 2770.0, "P", float("nan"), 7.5),
    ]
    day = DayChain.from_table(D1, _table(rows), "SPX")
    assert [float(k) for k in day.strike] == [2780.0]
    assert day.index_of(OptionContract("SPX", E1, 2800.0, Right.PUT)) is None
    assert day.index_of(OptionContract("SPX", E1, 2780.0, Right.PUT)) == 0


def test_day_with_only_unusable_rows_is_an_empty_chain_that_still_knows_the_close() -> None:
    rows = [_row(D1, E1, 2800.0, "P", 0.0, 0.0, quality=int(Quality.NO_MARKET), und=2811.5)]
    (day,) = split_days(_table(rows), "SPX")
    assert day.size == 0 and day.underlying_price == 2811.5
    assert day.quotes([OptionContract("SPX", E1, 2800.0, Right.PUT)]) == {}
    assert day.expirations.size == 0


def test_underlying_close_is_the_first_finite_one_of_the_day_in_table_order() -> None:
    rows = [_row(D1, E1, 2800.0, "P", 1.0, 1.1, und=None), _row(D1, E1, 2805.0, "P", 1.2, 1.3, und=2801.0),
            _row(D1, E1, 2810.0, "P", 1.4, 1.5, und=2802.0)]
    assert DayChain.from_table(D1, _table(rows), "SPX").underlying_price == 2801.0
    no_close = [_row(D1, E1, 2800.0, "P", 1.0, 1.1, und=None)]
    assert math.isnan(DayChain.from_table(D1, _table(no_close), "SPX").underlying_price)


def test_missing_volume_and_delta_read_as_minus_one_and_nan() -> None:
    rows = [_row(D1, E1, 2800.0, "P", 1.0, 1.1, volume=None, delta=None)]
    day = DayChain.from_table(D1, _table(rows), "SPX")
    assert int(day.volume[0]) == -1 and math.isnan(day.delta[0])
    assert day.quote_at(0).volume is None
    slim = _table(rows).drop_columns(["volume", "delta", "root", "underlying", "model_priced"])
    day2 = DayChain.from_table(D1, slim, "SPX")
    assert int(day2.volume[0]) == -1 and math.isnan(day2.delta[0]) and not day2.model_priced


def test_model_priced_flag_carries_to_the_day() -> None:
    rows = [_row(D1, E1, 2800.0, "P", 1.0, 1.1, model=True), _row(D2, E1, 2800.0, "P", 1.0, 1.1)]
    first, second = split_days(_table(rows), "SPX")
    assert first.model_priced and not second.model_priced


def test_expiration_blocks_answer_rows_of_each_expiration() -> None:
    rows = [_row(D1, e, k, r, 1.0, 1.1) for e in (E3, E1, E2) for k in (2800.0, 2700.0) for r in "PC"]
    day = DayChain.from_table(D1, _table(rows), "SPX")
    assert [day.expiration_date(int(e)) for e in day.expirations] == [E1, E2, E3]
    for e in day.expirations:
        block = day.rows_of(int(e))
        assert block.stop - block.start == 4
        assert np.all(day.expiration[block] == e)
    assert day.rows_of(0) == slice(0, 0)


# -- refusals ----------------------------------------------------------------------------------


def test_a_table_of_another_underlying_is_refused_by_name() -> None:
    rows = [_row(D1, E1, 300.0, "P", 1.0, 1.1, underlying="SPY", root="SPY")]
    with pytest.raises(ValueError, match=r"is for \['SPY'\], but the backtest trades 'SPX'"):
        DayChain.from_table(D1, _table(rows), "SPX")
    with pytest.raises(ValueError, match="but the backtest trades 'SPX'"):
        list(split_days(_table(rows), "SPX"))


def test_a_table_holding_another_day_is_refused_with_its_dates() -> None:
    rows = [_row(D1, E1, 2800.0, "P", 1.0, 1.1), _row(D2, E1, 2800.0, "P", 1.0, 1.1)]
    with pytest.raises(ValueError, match=r"holds quote dates .*one \(date, table\) pair per trading day"):
        DayChain.from_table(D1, _table(rows), "SPX")


def test_a_table_without_chain_columns_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['bid', 'ask'\]"):
        DayChain.from_table(D1, _table([_row(D1, E1, 2800.0, "P", 1.0, 1.1)]).drop_columns(["bid", "ask"]), "SPX")


def test_a_day_chain_not_ordered_by_expiration_is_refused() -> None:
    f = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="ordered by expiration"):
        DayChain(D1, "SPX", 1.0, np.array([5, 4]), f, np.array([True, True]), f, f, f, np.array([1, 1]))
    with pytest.raises(ValueError, match="equally long"):
        DayChain(D1, "SPX", 1.0, np.array([4]), f, np.array([True, True]), f, f, f, np.array([1, 1]))


def test_as_day_chain_takes_pairs_and_ready_chains_of_the_traded_underlying() -> None:
    table = _table([_row(D1, E1, 2800.0, "P", 1.0, 1.1)])
    day = as_day_chain((D1, table), "SPX")
    assert as_day_chain(day, "SPX") is day
    with pytest.raises(ValueError, match="backtest trades 'SPY'"):
        as_day_chain(day, "SPY")
    with pytest.raises(TypeError, match=r"DayChain or a \(date, pyarrow\.Table\) pair"):
        as_day_chain(table, "SPX")


# -- properties: bulk == per day == reference --------------------------------------------------

_rows = st.lists(
    st.builds(
        _row,
        qd=st.sampled_from([D1, D2, D3]),
        exp=st.sampled_from([E1, E2, E3]),
        strike=st.sampled_from([2700.0, 2750.0, 2800.0]),
        right=st.sampled_from("CP"),
        bid=st.one_of(st.none(), st.just(float("nan")), st.floats(0.0, 50.0)),
        ask=st.one_of(st.none(), st.floats(0.0, 60.0)),
        root=st.sampled_from(["SPX", "SPXW"]),
        quality=st.sampled_from([0, 0, 0, int(Quality.CROSSED), int(Quality.BAD_IV), int(Quality.DUPLICATE)]),
        und=st.one_of(st.none(), st.floats(2000.0, 3000.0)),
        delta=st.one_of(st.none(), st.floats(-1.0, 1.0)),
        volume=st.one_of(st.none(), st.integers(0, 1000)),
    ),
    min_size=1, max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(rows=_rows, store_order=st.booleans())
def test_bulk_and_per_day_chains_match_the_row_by_row_reference(rows: list[dict[str, Any]],
                                                                store_order: bool) -> None:
    table = _table(rows)
    if store_order:  # as ChainStore's by_day files hold them: (quote_date, root, expiration, strike, right)
        table = table.sort_by([(c, "ascending") for c in ("quote_date", "root", "expiration", "strike", "right")])
        rows = table.to_pylist()
    bulk = list(split_days(table, "SPX"))
    assert [d.quote_date for d in bulk] == sorted({r["quote_date"] for r in rows})
    for day in bulk:
        _check_day(day, rows)
        one = DayChain.from_table(day.quote_date, table.filter(pc.equal(table["quote_date"], day.quote_date)),
                                  "SPX")
        _same(_as_dict(one), _as_dict(day))
        assert one.underlying_price == day.underlying_price or (
            math.isnan(one.underlying_price) and math.isnan(day.underlying_price))


@settings(max_examples=60, deadline=None)
@given(strikes=st.lists(st.sampled_from([95.0, 100.0, 100.5, 105.0, 110.0]), min_size=1, max_size=12),
       probe=st.sampled_from([95.0, 100.0, 100.5, 101.0, 110.0]), exp=st.sampled_from([E1, E2, E3]),
       right=st.sampled_from([Right.CALL, Right.PUT]))
def test_index_of_finds_the_same_row_as_a_full_scan(strikes: list[float], probe: float, exp: date,
                                                    right: Right) -> None:
    rows = [_row(D1, e, k, r, 1.0, 1.1) for e in (E1, E3) for k in strikes for r in "CP"]
    day = DayChain.from_table(D1, _table(rows), "SPX")
    c = OptionContract("SPX", exp, probe, right)
    scan = np.flatnonzero((day.expiration == (exp - date(1970, 1, 1)).days) & (day.strike == probe)
                          & (day.is_call == (right is Right.CALL)))
    assert day.index_of(c) == (int(scan[0]) if scan.size else None)


# -- the store's read path ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def spx_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainStore]:
    """Three days of the real SPX 2019 chain (with a third Friday listed by SPX and SPXW)."""
    from riskpilot.data.readers import read_chain

    env = os.environ.get("RISKPILOT_SHARED_DATA")
    path = (Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data") / SPX_2019
    if not path.is_file():
        pytest.skip(f"{path} is absent (set RISKPILOT_SHARED_DATA to the shared data folder)")
    days = [datetime(2019, 6, 20), datetime(2019, 6, 21), datetime(2019, 6, 24)]
    raw = pq.read_table(path, filters=[("quotedate", "in", days)])
    tmp = tmp_path_factory.mktemp("spx")
    pq.write_table(raw, tmp / "three_days.parquet")
    store = ChainStore(tmp / "store")
    store.import_table(read_chain(tmp / "three_days.parquet", "historicaloptiondata"))
    yield store


def test_real_spx_days_from_the_store_match_the_reference_on_every_path(spx_store: ChainStore) -> None:
    store = spx_store
    pairs = list(store.iter_days("SPX"))
    projected = list(store.iter_days("SPX", columns=BACKTEST_COLUMNS, strings_as_dictionary=True))
    bulk = list(iter_store_days(store, "SPX", batch_days=2))
    assert len(bulk) == 3
    assert [d for d, _ in pairs] == [d for d, _ in projected] == [c.quote_date for c in bulk]
    for (d, table), (_, slim), day in zip(pairs, projected, bulk, strict=True):
        assert slim.column_names == list(BACKTEST_COLUMNS)
        _check_day(day, table.to_pylist(), probe_every=25)
        _same(_as_dict(DayChain.from_table(d, table, "SPX")), _as_dict(day))
        _same(_as_dict(DayChain.from_table(d, slim, "SPX")), _as_dict(day))
    # The 2019-07-19 monthly expiration is listed by both SPX (AM-settled) and SPXW (PM): the
    # reference above keeps the SPXW rows.
    friday = pairs[1][1]
    monthly = friday.filter(pc.equal(friday["expiration"], date(2019, 7, 19)))
    assert set(monthly.column("root").to_pylist()) == {"SPX", "SPXW"}
    assert not bulk[0].model_priced


def test_store_reads_strings_as_dictionaries_with_the_same_values(spx_store: ChainStore) -> None:
    (plain,) = spx_store.iter_day_batches("SPX", batch_days=5)
    (coded,) = spx_store.iter_day_batches("SPX", batch_days=5, strings_as_dictionary=True)
    assert pa.types.is_dictionary(coded.schema.field("root").type)
    for name in ("underlying", "root", "right", "source"):
        assert coded.column(name).cast(pa.string()).equals(plain.column(name))
    assert coded.num_rows == plain.num_rows


def test_store_refuses_unknown_columns_by_name(tmp_path: Path) -> None:
    store = ChainStore(tmp_path)
    store.import_table(_table([_row(D1, E1, 2800.0, "P", 1.0, 1.1)]))
    with pytest.raises(ChainStoreError, match=r"unknown column\(s\) \['bidd'\]"):
        list(store.iter_days("SPX", columns=["bid", "bidd"]))
    with pytest.raises(ChainStoreError, match="not the string"):
        list(store.iter_days("SPX", columns="bid"))
    ((d, t),) = store.iter_days("SPX", columns=["bid"])
    assert d == D1 and t.column_names == ["quote_date", "bid"]


def test_iter_days_yields_each_stored_day_once_across_batches(tmp_path: Path) -> None:
    store = ChainStore(tmp_path)
    days = [D1 + timedelta(days=i) for i in range(7)]
    store.import_table(_table([_row(d, E3, k, "P", 1.0, 1.1) for d in days for k in (2700.0, 2800.0)]))
    for batch_days in (1, 3, 16):
        got = list(store.iter_days("SPX", batch_days=batch_days))
        assert [d for d, _ in got] == days
        assert all(t.num_rows == 2 for _, t in got)
