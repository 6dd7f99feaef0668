"""Vendor readers on real files (../shared/data) and hand-made samples in each vendor's
documented layout (tests/data/samples)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from chain_paths import (
    CBOE,
    IVOL_2011,
    OPTIONSDX,
    ORATS,
    SPX_2017,
    SPX_2019,
    SPXW_2018,
    SPY_2021,
    shared_file,
)

from riskpilot.data.quality import quality_report
from riskpilot.data.readers import FORMATS, ChainFormatError, read_chain
from riskpilot.data.schema import CHAIN_SCHEMA, Quality


def flag_count(table: pa.Table, flag: Quality) -> int:
    return int(pc.sum(pc.not_equal(pc.bit_wise_and(table["quality"], int(flag)), 0)).as_py())


def underlying_on(table: pa.Table, day: date) -> float:
    rows = table.filter(pc.equal(table["quote_date"], pa.scalar(day, pa.date32())))
    prices = pc.unique(rows["underlying_price"]).to_pylist()
    assert len(prices) == 1
    return float(prices[0])


@pytest.fixture(scope="module")
def spx_2019() -> pa.Table:
    return read_chain(shared_file(SPX_2019), "historicaloptiondata")


# -- historicaloptiondata ---------------------------------------------------------------------


def test_historicaloptiondata_parquet_2019_spx_when_read_then_matches_readme_figures(
    spx_2019: pa.Table,
) -> None:
    t = spx_2019
    assert t.schema == CHAIN_SCHEMA
    assert t.num_rows == 781_952
    assert underlying_on(t, date(2019, 5, 13)) == pytest.approx(2812.98)
    assert set(pc.unique(t["root"]).to_pylist()) == {"SPX", "SPXW"}
    assert pc.unique(t["underlying"]).to_pylist() == ["SPX"]
    assert len(pc.unique(t["expiration"])) == 74
    calls = t.filter(pc.equal(t["right"], "C"))
    puts = t.filter(pc.equal(t["right"], "P"))
    assert pc.min(calls["delta"]).as_py() >= 0 and pc.max(calls["delta"]).as_py() <= 1
    assert pc.min(puts["delta"]).as_py() >= -1 and pc.max(puts["delta"]).as_py() <= 0
    # README: IV missing or <= 0 on 8.6% of rows; bid = ask = 0 on 0.15%; no crossed rows.
    assert flag_count(t, Quality.BAD_IV) / t.num_rows == pytest.approx(0.086, abs=0.001)
    assert flag_count(t, Quality.NO_MARKET) / t.num_rows == pytest.approx(0.0015, abs=0.0002)
    assert flag_count(t, Quality.CROSSED) == 0
    # The layout has no theta/vega: null, never zero.
    assert t["theta"].null_count == t.num_rows and t["vega"].null_count == t.num_rows


def test_historicaloptiondata_spxw_2018_when_greeks_per_year_then_converted_to_per_day() -> None:
    t = read_chain(shared_file(SPXW_2018), "historicaloptiondata")
    assert t.num_rows == 14_438
    assert underlying_on(t, date(2018, 2, 5)) == pytest.approx(2648.98)
    assert pc.unique(t["underlying"]).to_pylist() == ["SPX"]  # SPXW is a root of SPX
    assert pc.unique(t["root"]).to_pylist() == ["SPXW"]
    # 2018-01-02, 2670 call, 29 days, iv 7.43%: the file says theta -149.29/yr, vega 261.2.
    row = t.filter(pc.and_(pc.and_(pc.equal(t["strike"], 2670.0), pc.equal(t["right"], "C")),
                           pc.equal(t["quote_date"], pa.scalar(date(2018, 1, 2), pa.date32()))))
    assert row.num_rows == 1
    assert row["theta"][0].as_py() == pytest.approx(-149.2861 / 365)
    assert row["vega"][0].as_py() == pytest.approx(2.612012)


def test_historicaloptiondata_spy_2021_when_read_then_17_crossed_rows_are_flagged_not_dropped(
) -> None:
    t = read_chain(shared_file(SPY_2021), "historicaloptiondata")
    assert t.num_rows == 5_040
    assert flag_count(t, Quality.CROSSED) == 17
    crossed = t.filter(pc.not_equal(pc.bit_wise_and(t["quality"], int(Quality.CROSSED)), 0))
    assert pc.all(pc.greater(crossed["bid"], crossed["ask"])).as_py()
    assert underlying_on(t, date(2021, 1, 4)) == pytest.approx(368.79)
    # Already in schema units (per day, per vol point): kept as they are.
    first = t.slice(0, 1).to_pylist()[0]
    assert first["theta"] == pytest.approx(-0.1447) and first["vega"] == pytest.approx(0.25147)


def test_historicaloptiondata_2017_subset_when_greeks_in_no_known_units_then_refused_with_advice(
) -> None:
    path = shared_file(SPX_2017)
    with pytest.raises(ChainFormatError) as err:
        read_chain(path, "historicaloptiondata")
    message = str(err.value)
    assert str(path) in message and "column 'theta'" in message
    assert "greek_units='drop'" in message


def test_historicaloptiondata_2017_subset_when_greeks_dropped_then_delta_and_quotes_kept() -> None:
    t = read_chain(shared_file(SPX_2017), "historicaloptiondata", greek_units="drop")
    assert t.num_rows == 18_820
    for name in ("gamma", "theta", "vega"):
        assert t[name].null_count == t.num_rows
    assert t["delta"].null_count == 0
    assert flag_count(t, Quality.BAD_IV) == 0 and flag_count(t, Quality.CROSSED) == 0


# -- ivolatility ------------------------------------------------------------------------------


def test_ivolatility_2011_when_read_then_roots_and_quality_match_readme() -> None:
    t = read_chain(shared_file(IVOL_2011), "ivolatility")
    assert t.num_rows == 9_832
    assert set(pc.unique(t["root"]).to_pylist()) == {"SPX", "SPXW", "SPXPM"}
    assert pc.unique(t["underlying"]).to_pylist() == ["SPX"]
    assert len(pc.unique(t["expiration"])) == 16
    assert flag_count(t, Quality.BAD_IV) / t.num_rows == pytest.approx(0.022, abs=0.001)
    assert flag_count(t, Quality.NO_MARKET) == 1
    assert t["last"].null_count == t.num_rows
    report = quality_report(t["quote_date"], t["quality"])
    assert report.days_present == 5 and report.gap_days == ()


# -- hand-made samples: orats, cboe, optionsdx ------------------------------------------------


def test_orats_sample_when_read_then_one_row_per_contract_with_put_greeks_from_parity() -> None:
    from vollib.black_scholes_merton.greeks.analytical import delta, theta

    t = read_chain(ORATS, "orats")
    assert t.num_rows == 24  # 12 strikes x call and put
    assert t.schema == CHAIN_SCHEMA
    put = t.filter(pc.and_(pc.equal(t["right"], "P"), pc.equal(t["strike"], 325.0))).slice(0, 1)
    p = put.to_pylist()[0]
    assert p["quote_date"] == date(2020, 1, 2) and p["expiration"] == date(2020, 1, 17)
    t_years = 15 / 365
    ref_theta = theta("p", 324.87, 325.0, t_years, 0.0155, p["iv"], 0.018)
    ref_delta = delta("p", 324.87, 325.0, t_years, 0.0155, p["iv"], 0.018)
    assert p["theta"] == pytest.approx(ref_theta, abs=2e-4)
    assert p["delta"] == pytest.approx(ref_delta, abs=2e-4)
    assert p["bid"] == 3.74 and p["ask"] == 3.78 and p["open_interest"] == 5625
    assert flag_count(t, Quality.CROSSED) == 1 and flag_count(t, Quality.NO_MARKET) == 1


def test_orats_when_rates_absent_then_put_theta_is_null_not_guessed(tmp_path: Path) -> None:
    lines = ORATS.read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("iRate", "divRate", "yte")]
    trimmed = [",".join(line.split(",")[i] for i in keep) for line in lines]
    path = tmp_path / "orats.csv"
    path.write_text("\n".join(trimmed) + "\n")
    t = read_chain(path, "orats")
    puts = t.filter(pc.equal(t["right"], "P"))
    calls = t.filter(pc.equal(t["right"], "C"))
    assert puts["theta"].null_count == puts.num_rows
    assert calls["theta"].null_count == 0
    assert pc.all(pc.equal(pc.subtract(calls["delta"], puts["delta"]), 1.0)).as_py()


def test_cboe_sample_when_read_then_eod_quotes_and_holiday_and_duplicate_flagged() -> None:
    t = read_chain(CBOE, "cboe")
    assert t.num_rows == 26
    assert pc.unique(t["underlying"]).to_pylist() == ["SPX"]  # ^SPX
    assert set(pc.unique(t["root"]).to_pylist()) == {"SPX", "SPXW"}
    holiday = t.filter(pc.equal(t["quote_date"], pa.scalar(date(2020, 1, 1), pa.date32())))
    assert holiday.num_rows == 1
    assert holiday["quality"][0].as_py() & Quality.HOLIDAY_RESCRAPE
    assert flag_count(t, Quality.DUPLICATE) == 1
    assert t["quality"][t.num_rows - 1].as_py() == Quality.DUPLICATE  # the second copy only
    first = t.slice(1, 1).to_pylist()[0]
    assert first["bid"] == 72.4 and first["ask"] == 73.0  # bid_eod / ask_eod
    assert first["last"] is None  # close 0 = no trade
    assert first["underlying_price"] == pytest.approx((3257.55 + 3258.15) / 2)
    assert first["theta"] == pytest.approx(-1.0023) and first["vega"] == pytest.approx(2.1557)


def test_optionsdx_sample_when_read_then_underlying_from_file_name_and_blank_iv_flagged() -> None:
    t = read_chain(OPTIONSDX, "optionsdx")
    assert t.num_rows == 24
    assert pc.unique(t["underlying"]).to_pylist() == ["SPY"]
    assert t["open_interest"].null_count == t.num_rows
    assert flag_count(t, Quality.BAD_IV) == 1
    call = t.slice(0, 1).to_pylist()[0]
    assert call["right"] == "C" and call["strike"] == 315.0 and call["bid"] == 10.51
    assert call["theta"] == pytest.approx(-0.06869)


def test_optionsdx_when_file_name_has_no_symbol_then_error_asks_for_underlying(
    tmp_path: Path,
) -> None:
    path = tmp_path / "2020-01.txt"
    shutil.copy(OPTIONSDX, path)
    with pytest.raises(ChainFormatError, match="--underlying"):
        read_chain(path, "optionsdx")
    t = read_chain(path, "optionsdx", underlying="qqq")
    assert pc.unique(t["underlying"]).to_pylist() == ["QQQ"]


@pytest.mark.parametrize(("fmt", "path"), [("orats", ORATS), ("cboe", CBOE),
                                           ("optionsdx", OPTIONSDX)])
def test_every_sample_reader_when_read_then_schema_is_chain_schema(fmt: str, path: Path) -> None:
    t = read_chain(path, fmt)
    assert t.schema == CHAIN_SCHEMA
    assert t["quality"].null_count == 0
    assert set(pc.unique(t["right"]).to_pylist()) == {"C", "P"}


# -- malformed files --------------------------------------------------------------------------


def _edit(src: Path, dst: Path, line: int, column: str, value: str, sep: str = ",") -> Path:
    lines = src.read_text().splitlines()
    header = [h.strip().strip("[]") for h in lines[0].split(sep)]
    fields = lines[line - 1].split(sep)
    fields[header.index(column)] = value
    lines[line - 1] = sep.join(fields)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def test_malformed_number_when_read_then_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = _edit(CBOE, tmp_path / "cboe.csv", 5, "bid_eod", "12,5".replace(",", "x"))
    with pytest.raises(ChainFormatError) as err:
        read_chain(path, "cboe")
    assert err.value.line == 5 and err.value.column == "bid_eod"
    assert f"{path}, line 5, column 'bid_eod'" in str(err.value)
    assert "'12x5'" in str(err.value)


def test_malformed_date_when_read_then_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = _edit(ORATS, tmp_path / "orats.csv", 9, "expirDate", "2020-02-30")
    with pytest.raises(ChainFormatError, match=r"line 9, column 'expirDate'.*2020-02-30"):
        read_chain(path, "orats")


def test_missing_column_when_read_then_error_names_column_and_suggests_format(
    tmp_path: Path,
) -> None:
    lines = CBOE.read_text().splitlines()
    path = tmp_path / "cboe.csv"
    path.write_text("\n".join(line.replace("bid_eod", "bid_end", 1) if i == 0 else line
                              for i, line in enumerate(lines)) + "\n")
    with pytest.raises(ChainFormatError, match=r"column 'bid_eod'.*--format"):
        read_chain(path, "cboe")


def test_bad_option_type_when_read_then_error_names_line(tmp_path: Path) -> None:
    path = _edit(CBOE, tmp_path / "cboe.csv", 3, "option_type", "X")
    with pytest.raises(ChainFormatError, match=r"line 3, column 'option_type'.*'X'"):
        read_chain(path, "cboe")


def test_optionsdx_bad_number_when_read_then_line_counts_the_header(tmp_path: Path) -> None:
    path = _edit(OPTIONSDX, tmp_path / "spy_eod_bad.txt", 4, "P_ASK", " n/a", sep=", ")
    with pytest.raises(ChainFormatError, match=r"line 4, column 'P_ASK'.*'n/a'"):
        read_chain(path, "optionsdx")


def test_unknown_format_when_read_then_value_error_lists_formats() -> None:
    with pytest.raises(ValueError, match="choose one of cboe, historicaloptiondata"):
        read_chain(CBOE, "bloomberg")
    assert set(FORMATS) == {"historicaloptiondata", "ivolatility", "orats", "cboe", "optionsdx"}


def test_missing_file_when_read_then_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ChainFormatError, match="no such file"):
        read_chain(tmp_path / "nope.csv", "cboe")


def test_the_cli_format_names_are_the_readers() -> None:
    # riskpilot.data.formats lists them without loading the readers (a quick --help).
    from riskpilot.data.formats import FORMAT_NAMES
    from riskpilot.data.readers import FORMATS

    assert tuple(FORMATS) == FORMAT_NAMES
