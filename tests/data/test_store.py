"""The Parquet chain store: import, idempotent merge, day/contract reads, iteration, info."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from chain_paths import CBOE, ORATS, SPX_2017, SPX_2019, SPY_2021, shared_file

from riskpilot.data.readers import read_chain
from riskpilot.data.schema import CHAIN_SCHEMA, Quality
from riskpilot.data.store import ChainStore, ChainStoreError

GAPS_2019 = (date(2019, 5, 10), date(2019, 5, 17), date(2019, 6, 14), date(2019, 6, 17),
             date(2019, 6, 18))


@pytest.fixture(scope="module")
def spx_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChainStore, pa.Table]:
    table = read_chain(shared_file(SPX_2019), "historicaloptiondata")
    store = ChainStore(tmp_path_factory.mktemp("spx_store"))
    result = store.import_table(table)
    assert result.rows_in == 781_952 and result.rows_replaced == 0
    assert result.partitions == (("SPX", 2019),)
    return store, table


def test_day_when_2019_05_13_then_whole_chain_of_that_day_with_readme_close(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, table = spx_store
    day = store.day("SPX", date(2019, 5, 13))
    expected = table.filter(pc.equal(table["quote_date"], pa.scalar(date(2019, 5, 13),
                                                                    pa.date32())))
    assert day.schema == CHAIN_SCHEMA
    assert day.num_rows == expected.num_rows > 10_000
    assert pc.unique(day["underlying_price"]).to_pylist() == [pytest.approx(2812.98)]
    assert pc.unique(day["quote_date"]).to_pylist() == [date(2019, 5, 13)]
    assert store.day("SPX", date(2019, 5, 10)).num_rows == 0  # a gap in the data
    assert store.day("spx", date(2020, 1, 2)).num_rows == 0  # no such partition


def test_days_when_span_has_data_gaps_then_only_present_days_listed(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, _ = spx_store
    days = store.days("SPX")
    assert len(days) == 56 and days[0] == date(2019, 4, 25) and days[-1] == date(2019, 7, 22)
    assert not set(GAPS_2019) & set(days)
    assert store.days("SPX", date(2019, 5, 9), date(2019, 5, 14)) == [
        date(2019, 5, 9), date(2019, 5, 13), date(2019, 5, 14)]


def test_contract_history_when_monthly_put_then_one_row_per_day_in_date_order(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, table = spx_store
    hist = store.contract_history("SPX", "SPX", date(2019, 7, 19), 2800.0, "P")
    mask = pc.and_(pc.and_(pc.equal(table["root"], "SPX"),
                           pc.equal(table["expiration"], pa.scalar(date(2019, 7, 19),
                                                                    pa.date32()))),
                   pc.and_(pc.equal(table["strike"], 2800.0), pc.equal(table["right"], "P")))
    assert hist.num_rows == table.filter(mask).num_rows > 40
    dates = hist["quote_date"].to_pylist()
    assert dates == sorted(set(dates))
    assert pc.unique(hist["root"]).to_pylist() == ["SPX"]
    assert store.contract_history("SPX", "SPX", date(2019, 7, 19), 2801.0, "P").num_rows == 0
    with pytest.raises(ChainStoreError, match="'C' or 'P'"):
        store.contract_history("SPX", "SPX", date(2019, 7, 19), 2800.0, "X")


def test_iter_days_when_whole_span_then_same_rows_as_day_by_day(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, _ = spx_store
    seen = list(store.iter_days("SPX", date(2019, 5, 1), date(2019, 6, 30), batch_days=7))
    assert [d for d, _ in seen] == store.days("SPX", date(2019, 5, 1), date(2019, 6, 30))
    for d, chunk in seen[::9]:
        assert chunk.equals(store.day("SPX", d))
    total = sum(t.num_rows for _, t in store.iter_days("SPX"))
    assert total == 781_952


def test_info_when_spx_2019_imported_then_span_rows_expirations_gaps_and_quality(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, _ = spx_store
    info = store.info().underlyings["SPX"]
    assert (info.first_day, info.last_day, info.days) == (date(2019, 4, 25),
                                                         date(2019, 7, 22), 56)
    assert info.rows == 781_952 and info.expirations == 74
    assert info.roots == ("SPX", "SPXW") and not info.model_priced
    assert info.quality.gap_days == GAPS_2019
    assert info.quality.flag_counts["CROSSED"] == 0
    assert info.quality.flag_counts["BAD_IV"] == pytest.approx(0.086 * 781_952, rel=0.01)


def test_by_day_dataset_when_queried_with_duckdb_then_same_rows(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, _ = spx_store
    glob = str(store.root / "by_day" / "*" / "*" / "*.parquet")
    n, close = duckdb.sql(
        f"SELECT count(*), max(underlying_price) FILTER (WHERE quote_date = DATE '2019-05-13') "
        f"FROM read_parquet('{glob}', hive_partitioning = true) WHERE underlying = 'SPX'"
    ).fetchall()[0]
    assert n == 781_952 and close == pytest.approx(2812.98)


def test_day_file_when_written_then_one_row_group_per_quote_date(
    spx_store: tuple[ChainStore, pa.Table],
) -> None:
    store, _ = spx_store
    meta = pq.ParquetFile(store.root / "by_day" / "underlying=SPX" / "year=2019" /
                          "data.parquet").metadata
    assert meta.num_row_groups == 56


# -- merging ----------------------------------------------------------------------------------


def test_import_when_same_file_imported_twice_then_rows_not_duplicated(tmp_path: Path) -> None:
    table = read_chain(shared_file(SPY_2021), "historicaloptiondata")
    store = ChainStore(tmp_path)
    first = store.import_table(table)
    before = store.read_all("SPY")
    again = store.import_table(table)
    after = store.read_all("SPY")
    assert (first.rows_new, first.rows_replaced) == (5_040, 0)
    assert (again.rows_new, again.rows_replaced) == (0, 5_040)
    assert after.equals(before)
    assert store.info().underlyings["SPY"].quality.flag_counts["CROSSED"] == 17


def test_import_when_a_quote_is_corrected_then_it_replaces_the_stored_row(tmp_path: Path) -> None:
    table = read_chain(ORATS, "orats")
    store = ChainStore(tmp_path)
    store.import_table(table)
    corrected = table.slice(0, 1).set_column(
        CHAIN_SCHEMA.get_field_index("bid"), CHAIN_SCHEMA.field("bid"), pa.array([10.50]))
    result = store.import_table(corrected)
    assert result.rows_replaced == 1
    day = store.day("SPY", date(2020, 1, 2))
    assert day.num_rows == 12
    hist = store.contract_history("SPY", "SPY", date(2020, 1, 17), 315.0, "C")
    next_day = table.filter(pc.and_(
        pc.and_(pc.equal(table["quote_date"], pa.scalar(date(2020, 1, 3), pa.date32())),
                pc.equal(table["expiration"], pa.scalar(date(2020, 1, 17), pa.date32()))),
        pc.and_(pc.equal(table["strike"], 315.0), pc.equal(table["right"], "C"))))
    assert hist["bid"].to_pylist() == [10.50, next_day["bid"][0].as_py()]


def test_import_when_years_differ_then_partitioned_by_year_and_history_spans_them(
    tmp_path: Path,
) -> None:
    table = read_chain(shared_file(SPX_2017), "historicaloptiondata", greek_units="drop")
    store = ChainStore(tmp_path)
    result = store.import_table(table)
    assert result.partitions == (("SPX", 2017), ("SPX", 2018))
    # A contract quoted across New Year: the history stitches both partitions.
    exp = date(2018, 1, 19)
    hist = store.contract_history("SPX", "SPX", exp, 2000.0, "C")
    assert {d.year for d in hist["quote_date"].to_pylist()} == {2017, 2018}
    assert hist["quote_date"].to_pylist() == sorted(hist["quote_date"].to_pylist())
    assert len(store.days("SPX")) == 500


def test_import_when_model_rows_would_replace_vendor_rows_then_refused_unless_allowed(
    tmp_path: Path,
) -> None:
    vendor = read_chain(ORATS, "orats")
    model = vendor.set_column(CHAIN_SCHEMA.get_field_index("source"),
                              CHAIN_SCHEMA.field("source"),
                              pa.array(["model"] * vendor.num_rows)).set_column(
        CHAIN_SCHEMA.get_field_index("model_priced"), CHAIN_SCHEMA.field("model_priced"),
        pa.array([True] * vendor.num_rows))
    store = ChainStore(tmp_path)
    store.import_table(vendor)
    with pytest.raises(ChainStoreError, match="replace_sources=True"):
        store.import_table(model)
    assert store.info().underlyings["SPY"].sources == ("orats",)
    store.import_table(model, replace_sources=True)
    info = store.info().underlyings["SPY"]
    assert info.model_priced and info.sources == ("model",)


def test_import_when_model_priced_underlying_then_info_labels_it(tmp_path: Path) -> None:
    t = read_chain(CBOE, "cboe")
    n = t.num_rows
    t = t.set_column(CHAIN_SCHEMA.get_field_index("source"), CHAIN_SCHEMA.field("source"),
                     pa.array(["model"] * n))
    t = t.set_column(CHAIN_SCHEMA.get_field_index("model_priced"),
                     CHAIN_SCHEMA.field("model_priced"), pa.array([True] * n))
    t = t.set_column(CHAIN_SCHEMA.get_field_index("quality"), CHAIN_SCHEMA.field("quality"),
                     pa.array([0] * n, pa.int32()))
    store = ChainStore(tmp_path)
    store.import_table(t)
    info = store.info().underlyings["SPX"]
    assert info.model_priced and info.model_priced_rows == n
    # Flags are recomputed on import even when the producer left them at 0.
    assert info.quality.flag_counts["HOLIDAY_RESCRAPE"] == 1
    assert info.quality.flag_counts["DUPLICATE"] == 1
    assert store.day("SPX", date(2020, 1, 1))["quality"][0].as_py() & Quality.HOLIDAY_RESCRAPE


def test_import_when_table_lacks_columns_or_has_bad_values_then_clear_errors(
    tmp_path: Path,
) -> None:
    store = ChainStore(tmp_path)
    t = read_chain(ORATS, "orats")
    with pytest.raises(ChainStoreError, match="lacks column"):
        store.import_table(t.drop_columns(["source"]))
    bad_right = t.set_column(CHAIN_SCHEMA.get_field_index("right"), CHAIN_SCHEMA.field("right"),
                             pa.array(["X"] * t.num_rows))
    with pytest.raises(ChainStoreError, match="'C' or 'P'"):
        store.import_table(bad_right)
    assert store.import_table(CHAIN_SCHEMA.empty_table()).rows_in == 0
    assert store.info().underlyings == {}
