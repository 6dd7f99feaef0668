"""Data that cannot be true is never usable (issue #14, item 4): every reader flags impossible
values per row (kept, counted, unusable for pricing), refuses quote dates that cannot be read
or be real, and names the file, line and column of every parse error (ragged rows, bytes that
are not UTF-8, blank lines counted); the Parquet path names rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chain_paths import CBOE, OPTIONSDX, ORATS
from typer.testing import CliRunner

from riskpilot.cli import app
from riskpilot.data.quality import (
    ABSURD_STRIKE_RATIO,
    MAX_STRIKE,
    MAX_TERM_DAYS,
    flag_rows,
    quality_report,
)
from riskpilot.data.readers import ChainFormatError, GreekUnits, read_chain
from riskpilot.data.schema import CHAIN_SCHEMA, UNUSABLE_FOR_PRICING, Quality

#: Two rows of each layout that has no sample file beside the tests, as the vendors write them.
HOD_LINES = (
    "underlying,underlying_last,optionroot,type,expiration,quotedate,strike,last,bid,ask,volume,"
    "openinterest,impliedvol,delta,gamma,theta,vega,optionalias",
    "SPY,368.79,SPY210129P00345000,put,2021-01-29,2021-01-04,345.0,2.71,2.76,2.78,7424,48199,"
    "0.28804,-0.17798,0.00937,-0.1447,0.25147,SPY210129P00345000",
    "SPY,368.79,SPY210129P00355000,put,2021-01-29,2021-01-04,355.0,4.36,4.27,4.3,9954,27983,"
    "0.25877,-0.27509,0.01336,-0.16644,0.3221,SPY210129P00355000",
)
IVOL_LINES = (
    "symbol,exchange,company_name,date,stock_price_close,option_symbol,option_expiration,strike,"
    "call/put,style,ask,bid,mean_price,settlement,iv,volume,open_interest,stock_price_for_iv,"
    "forward_price,isinterpolated,delta,vega,gamma,theta,rho",
    "SPX,CBOE,S&P 500 Index (SPX),2011-01-03,1271.87,SPXW  110107C01050000,2011-01-07,1050.0,C,"
    "E,220.6,217.1,218.85,0.0,0.395491,0,11,1271.87,1271.629,*,0.99978,1.1e-05,0.0,0.0,0.115",
    "SPX,CBOE,S&P 500 Index (SPX),2011-01-03,1271.87,SPXW  110107P01050000,2011-01-07,1050.0,P,"
    "E,0.05,0.0,0.0,0.0,0.395491,0,6454,1271.87,1271.629,*,-2e-06,1.1e-05,0.0,-5.4e-05,0.0",
)


@dataclass(frozen=True)
class Layout:
    fmt: str
    file_name: str
    lines: tuple[str, ...]
    sep: str
    quote_date: str  # the vendor's quote date column
    columns: dict[str, str]  # schema column -> a vendor column that feeds it (the call's)
    pair: bool = False  # one row per strike: a shared column feeds the call and the put row
    greek_units: GreekUnits = "auto"  # two rows are too few to detect historicaloptiondata's units

    def read(self, path: Path) -> pa.Table:
        return read_chain(path, self.fmt, greek_units=self.greek_units)


def _lines(path: Path) -> tuple[str, ...]:
    return tuple(path.read_text(encoding="utf-8").splitlines())


LAYOUTS = {
    "historicaloptiondata": Layout("historicaloptiondata", "hod.csv", HOD_LINES, ",", "quotedate", {
        "bid": "bid", "ask": "ask", "last": "last", "strike": "strike",
        "expiration": "expiration", "volume": "volume", "open_interest": "openinterest",
        "underlying_price": "underlying_last"}, greek_units="per_day"),
    "ivolatility": Layout("ivolatility", "ivol.csv", IVOL_LINES, ",", "date", {
        "bid": "bid", "ask": "ask", "strike": "strike", "expiration": "option_expiration",
        "volume": "volume", "open_interest": "open_interest",
        "underlying_price": "stock_price_close"}),
    "orats": Layout("orats", "orats.csv", _lines(ORATS), ",", "tradeDate", {
        "bid": "cBidPx", "ask": "cAskPx", "strike": "strike", "expiration": "expirDate",
        "volume": "cVolu", "open_interest": "cOi", "underlying_price": "stkPx"}, pair=True),
    "cboe": Layout("cboe", "cboe.csv", _lines(CBOE), ",", "quote_date", {
        "bid": "bid_eod", "ask": "ask_eod", "last": "close", "strike": "strike",
        "expiration": "expiration", "volume": "trade_volume", "open_interest": "open_interest",
        "underlying_price": "underlying_bid_eod"}),
    "optionsdx": Layout("optionsdx", "spy_eod_test.txt", _lines(OPTIONSDX), ", ", "QUOTE_DATE", {
        "bid": "C_BID", "ask": "C_ASK", "last": "C_LAST", "strike": "STRIKE",
        "expiration": "EXPIRE_DATE", "volume": "C_VOLUME",
        "underlying_price": "UNDERLYING_LAST"}, pair=True),
}


def _write(tmp: Path, layout: Layout, edits: dict[tuple[int, str], str] | None = None,
           extra: dict[int, str] | None = None) -> Path:
    """The layout's file with ``edits`` (line number, vendor column) -> value and ``extra``
    line number -> raw replacement line; line 1 is the header."""
    lines = list(layout.lines)
    header = [h.strip().strip("[]") for h in lines[0].split(layout.sep)]
    for (line, column), value in (edits or {}).items():
        fields = lines[line - 1].split(layout.sep)
        fields[header.index(column)] = (" " if layout.sep == ", " else "") + value
        lines[line - 1] = layout.sep.join(fields)
    for line, raw in (extra or {}).items():
        lines[line - 1] = raw
    path = tmp / layout.file_name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _base_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "quote_date": date(2019, 7, 3), "underlying": "SPX", "underlying_price": 2995.82,
        "root": "SPX", "expiration": date(2019, 7, 19), "strike": 3000.0, "right": "C",
        "bid": 20.0, "ask": 21.0, "last": 20.5, "volume": 10, "open_interest": 100,
        "iv": 0.12, "delta": 0.5, "gamma": 0.003, "theta": -1.0, "vega": 2.5, "quality": 0,
        "source": "test", "model_priced": False,
    }
    return {**row, **over}


# -- flags --------------------------------------------------------------------------------------

INF = float("inf")


@pytest.mark.parametrize(("override", "flag"), [
    ({"bid": -0.05}, Quality.BAD_PRICE),
    ({"ask": INF}, Quality.BAD_PRICE),
    ({"last": -1.0}, Quality.BAD_PRICE),
    ({"last": -INF}, Quality.BAD_PRICE),
    ({"underlying_price": -2995.82}, Quality.BAD_PRICE),
    ({"strike": -50.0}, Quality.BAD_STRIKE),
    ({"strike": 0.0}, Quality.BAD_STRIKE),
    ({"strike": 1e300}, Quality.BAD_STRIKE),
    ({"strike": INF}, Quality.BAD_STRIKE),
    ({"strike": 2995.82 * ABSURD_STRIKE_RATIO * 1.01}, Quality.BAD_STRIKE),
    ({"strike": 2995.82 / ABSURD_STRIKE_RATIO / 1.01}, Quality.BAD_STRIKE),
    ({"strike": MAX_STRIKE * 2, "underlying_price": None}, Quality.BAD_STRIKE),
    ({"expiration": date(2019, 7, 2)}, Quality.BAD_EXPIRATION),
    ({"expiration": date(9999, 12, 31)}, Quality.BAD_EXPIRATION),
    ({"volume": -5}, Quality.BAD_VOLUME),
    ({"open_interest": -1}, Quality.BAD_VOLUME),
])
def test_flag_rows_when_a_value_cannot_be_true_then_its_flag_makes_the_row_unusable(
    override: dict[str, object], flag: Quality,
) -> None:
    t = flag_rows(pa.Table.from_pylist([_base_row(**override)], schema=CHAIN_SCHEMA))

    q = t["quality"][0].as_py()
    assert q & flag
    assert q & UNUSABLE_FOR_PRICING


@pytest.mark.parametrize("override", [
    {"bid": 0.0, "ask": 0.05},                       # no bid is still a market
    {"last": None, "volume": None},                  # not sent is not impossible
    {"strike": 100.0},                               # deep in the money, 1/30 of spot (SPX 2019)
    {"strike": 4.0 * ABSURD_STRIKE_RATIO * 0.99, "underlying_price": 4.0},
    {"strike": 50_000.0, "underlying_price": None},  # no spot: only the hard ceiling applies
    {"expiration": date(2019, 7, 3)},                # expires on the quote date (0 DTE)
    {"expiration": date.fromordinal(date(2019, 7, 3).toordinal() + MAX_TERM_DAYS)},
    {"volume": 0, "open_interest": 0},
])
def test_flag_rows_when_a_value_is_unusual_but_possible_then_no_impossible_flag(
    override: dict[str, object],
) -> None:
    t = flag_rows(pa.Table.from_pylist([_base_row(**override)], schema=CHAIN_SCHEMA))

    impossible = (Quality.BAD_PRICE | Quality.BAD_STRIKE | Quality.BAD_EXPIRATION
                  | Quality.BAD_VOLUME)
    assert t["quality"][0].as_py() & impossible == 0


# -- every reader -------------------------------------------------------------------------------

IMPOSSIBLE = [
    ("bid", "-1", Quality.BAD_PRICE),
    ("ask", "inf", Quality.BAD_PRICE),
    ("last", "-0.5", Quality.BAD_PRICE),
    ("underlying_price", "-1e300", Quality.BAD_PRICE),
    ("strike", "-50", Quality.BAD_STRIKE),
    ("strike", "0", Quality.BAD_STRIKE),
    ("strike", "1e300", Quality.BAD_STRIKE),
    ("expiration", "2000-01-03", Quality.BAD_EXPIRATION),
    ("expiration", "9999-12-31", Quality.BAD_EXPIRATION),
    ("volume", "-5", Quality.BAD_VOLUME),
    ("open_interest", "-3", Quality.BAD_VOLUME),
]


@pytest.mark.parametrize(("fmt", "schema_column", "value", "flag"), [
    (fmt, column, value, flag) for fmt, layout in sorted(LAYOUTS.items())
    for column, value, flag in IMPOSSIBLE if column in layout.columns  # (no OI in optionsdx...)
])
def test_reader_when_a_row_holds_an_impossible_value_then_it_is_kept_flagged_and_unusable(
    tmp_path: Path, fmt: str, schema_column: str, value: str, flag: Quality,
) -> None:
    layout = LAYOUTS[fmt]
    path = _write(tmp_path, layout, {(2, layout.columns[schema_column]): value})

    t = layout.read(path)

    base = tmp_path / "unedited"
    base.mkdir()
    assert t.num_rows == layout.read(_write(base, layout)).num_rows  # kept, not dropped
    q = t["quality"][0].as_py()  # line 2 is the first row (the call's, in strike layouts)
    assert q & flag and q & UNUSABLE_FOR_PRICING
    shared = layout.pair and schema_column in ("strike", "expiration", "underlying_price")
    assert quality_report(t["quote_date"], t["quality"]).flag_counts[flag.name or ""] == (
        2 if shared else 1)


@pytest.mark.parametrize("fmt", sorted(LAYOUTS))
@pytest.mark.parametrize(("value", "why"), [
    ("9999-12-31", "after .* the last session the NYSE calendar knows"),
    ("1900-01-02", "before 1973-04-26, when listed options began"),
    ("garbage", "cannot parse 'garbage' as a date"),
    ("2019-02-30", "cannot parse '2019-02-30' as a date"),
])
def test_reader_when_the_quote_date_cannot_be_true_then_error_names_file_line_and_column(
    tmp_path: Path, fmt: str, value: str, why: str,
) -> None:
    layout = LAYOUTS[fmt]
    path = _write(tmp_path, layout, {(3, layout.quote_date): value})

    with pytest.raises(ChainFormatError, match=why) as err:
        layout.read(path)

    assert (err.value.line, err.value.column) == (3, layout.quote_date)
    assert str(err.value).startswith(f"{path}, line 3, column '{layout.quote_date}': ")


def test_cboe_when_close_or_underlying_quote_is_negative_then_flagged_not_hidden(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["cboe"]
    path = _write(tmp_path, layout, {(2, "close"): "-2.5", (3, "underlying_ask_eod"): "-1",
                                     (4, "close"): "0"})

    t = read_chain(path, "cboe")

    assert t["last"][0].as_py() == -2.5 and t["quality"][0].as_py() & Quality.BAD_PRICE
    assert t["quality"][1].as_py() & Quality.BAD_PRICE  # the mid is not taken; the row is bad
    assert t["last"][2].as_py() is None and not t["quality"][2].as_py() & Quality.BAD_PRICE


def test_reader_when_a_count_is_infinite_or_beyond_any_volume_then_error_names_the_line(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["historicaloptiondata"]
    for value in ("inf", "1e300"):
        path = _write(tmp_path, layout, {(3, "volume"): value})
        with pytest.raises(ChainFormatError, match="expected a whole number of contracts") as err:
            layout.read(path)
        assert (err.value.line, err.value.column) == (3, "volume")


def test_reader_when_a_number_has_unicode_digits_then_error_names_that_line(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["orats"]
    path = _write(tmp_path, layout, {(9, "cAskPx"): "\uff11\uff12"})

    with pytest.raises(ChainFormatError) as err:
        read_chain(path, "orats")

    assert (err.value.line, err.value.column) == (9, "cAskPx")


# -- parse errors name the line -------------------------------------------------------------------


def test_ragged_row_with_an_extra_field_when_read_then_error_names_line_and_last_column(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["historicaloptiondata"]
    path = _write(tmp_path, layout, extra={3: HOD_LINES[2].replace("4.27", "4,27")})

    with pytest.raises(ChainFormatError, match="19 fields where the header has 18") as err:
        read_chain(path, "historicaloptiondata")

    assert (err.value.line, err.value.column) == (3, "optionalias")
    assert "12,5 for 12.5" in str(err.value)


def test_ragged_row_with_a_missing_field_when_read_then_error_names_the_first_missing_column(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["cboe"]
    short = ",".join(layout.lines[6].split(",")[:9])
    path = _write(tmp_path, layout, extra={7: short})

    with pytest.raises(ChainFormatError, match="9 field") as err:
        read_chain(path, "cboe")

    assert (err.value.line, err.value.column) == (7, "close")


def test_blank_lines_before_a_bad_value_when_read_then_the_physical_line_is_named(
    tmp_path: Path,
) -> None:
    lines = list(LAYOUTS["orats"].lines)
    header = lines[0].split(",")
    fields = lines[5].split(",")
    fields[header.index("cBidPx")] = "1.2.3"
    lines[5] = ",".join(fields)  # line 6 of the original file
    lines[2:2] = ["", ""]         # two blank lines before it: now line 8
    path = tmp_path / "orats.csv"
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(ChainFormatError) as err:
        read_chain(path, "orats")

    assert (err.value.line, err.value.column) == (8, "cBidPx")
    assert "'1.2.3'" in str(err.value)


def test_bytes_that_are_not_utf8_when_read_then_error_names_line_and_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spy.csv"
    data = "\n".join(HOD_LINES).encode().replace(b"SPY210129P00355000,put",
                                                 b"SPY210129P00355000,p\xffut")
    path.write_bytes(data + b"\n")

    with pytest.raises(ChainFormatError, match="not UTF-8") as err:
        read_chain(path, "historicaloptiondata")

    assert (err.value.line, err.value.column) == (3, "type")


def test_a_column_mixing_dates_and_date_times_when_read_then_each_keeps_its_date(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS["historicaloptiondata"]
    path = _write(tmp_path, layout, {(2, "quotedate"): "2021-01-04 16:00:00"})

    t = layout.read(path)

    assert t["quote_date"].to_pylist() == [date(2021, 1, 4), date(2021, 1, 4)]


# -- the Parquet path (the SPX 2019 chain's layout) -----------------------------------------------


def _parquet(tmp: Path, **over: list[object]) -> Path:
    cols: dict[str, list[object]] = {
        "underlying": ["SPX"] * 3, "underlying_last": [2919.04] * 3,
        "root": ["SPXW"] * 3,
        "optionroot": ["SPXW190426C02900000", "SPXW190426C02905000", "SPXW190426C02910000"],
        "type": ["call"] * 3,
        "expiration": [datetime(2019, 4, 26)] * 3, "quotedate": [datetime(2019, 4, 25)] * 3,
        "strike": [2900.0, 2905.0, 2910.0], "last": [25.0, 21.0, 17.5],
        "bid": [24.9, 20.8, 17.1], "ask": [25.6, 21.4, 17.7], "volume": [10, 20, 30],
        "openinterest": [100, 200, 300], "impliedvol": [0.1, 0.1, 0.1],
        "delta": [0.55, 0.5, 0.45], "gamma": [0.01, 0.01, 0.01],
    }
    cols.update(over)
    path = tmp / "spx.parquet"
    pq.write_table(pa.table(cols), path)
    return path


def test_parquet_when_values_cannot_be_true_then_rows_are_flagged_unusable(
    tmp_path: Path,
) -> None:
    path = _parquet(tmp_path, ask=[25.6, INF, 17.7], strike=[2900.0, 2905.0, -50.0],
                    volume=[-1, 20, 30])

    t = read_chain(path, "historicaloptiondata")

    flags = t["quality"].to_pylist()
    assert flags[0] & Quality.BAD_VOLUME and flags[1] & Quality.BAD_PRICE
    assert flags[2] & Quality.BAD_STRIKE
    assert all(f & UNUSABLE_FOR_PRICING for f in flags)


def test_parquet_when_a_quote_date_is_9999_12_31_then_error_names_the_row(tmp_path: Path) -> None:
    path = _parquet(tmp_path, quotedate=[datetime(2019, 4, 25), datetime(9999, 12, 31),
                                         datetime(2019, 4, 25)])

    with pytest.raises(ChainFormatError, match="quote date 9999-12-31 is after") as err:
        read_chain(path, "historicaloptiondata")

    assert str(err.value).startswith(f"{path}, row 2, column 'quotedate': ")


@pytest.mark.parametrize(("column", "values", "message"), [
    ("bid", [True, False, True], "true/false values where numbers are expected"),
    ("strike", [[1.0], [2.0], [3.0]], "holds list<"),
])
def test_parquet_when_a_column_has_the_wrong_type_then_error_names_the_column(
    tmp_path: Path, column: str, values: list[object], message: str,
) -> None:
    path = _parquet(tmp_path, **{column: values})

    with pytest.raises(ChainFormatError, match=message) as err:
        read_chain(path, "historicaloptiondata")

    assert err.value.column == column


def test_parquet_when_a_number_is_text_then_error_names_the_row_and_column(
    tmp_path: Path,
) -> None:
    path = _parquet(tmp_path, strike=["2900", "2905", "n/a"])

    with pytest.raises(ChainFormatError, match="cannot parse 'n/a' as a number") as err:
        read_chain(path, "historicaloptiondata")

    assert str(err.value).startswith(f"{path}, row 3, column 'strike': ")


# -- data info ----------------------------------------------------------------------------------


def test_data_info_when_rows_are_impossible_then_each_reason_is_counted(tmp_path: Path) -> None:
    layout = LAYOUTS["historicaloptiondata"]
    lines = [HOD_LINES[0]]
    for i, (column, value) in enumerate([("bid", "-1"), ("strike", "0"),
                                         ("expiration", "2020-12-31"), ("volume", "-4"),
                                         ("ask", "inf"), (None, None)]):
        fields = HOD_LINES[1].split(",")
        fields[6] = str(300 + i)  # distinct strikes: no duplicates
        if column is not None:
            fields[HOD_LINES[0].split(",").index(column)] = value or ""
        lines.append(",".join(fields))
    source = tmp_path / "spy.csv"
    source.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    runner = CliRunner()
    imported = runner.invoke(app, ["data", "import", "-f", layout.fmt, str(source),
                                   "--store", str(store), "--greek-units", "per_day"])
    assert imported.exit_code == 0, imported.output

    info = runner.invoke(app, ["data", "info", "--store", str(store)])

    assert info.exit_code == 0, info.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in info.output.splitlines() if line.count("│") >= 4}
    assert rows["bad price (negative or infinite)"] == ["yes", "2"]
    assert rows["bad strike (<= 0, infinite or absurd)"] == ["yes", "1"]
    assert rows["bad expiration (before the quote date or > 15 years out)"] == ["yes", "1"]
    assert rows["bad volume/OI (negative)"] == ["yes", "1"]
    assert rows["rows unusable for pricing"] == ["", "5"]
