"""`riskpilot data import` and `riskpilot data info` through typer's CliRunner."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from chain_paths import CBOE, OPTIONSDX, ORATS, SPY_2021, shared_file
from typer.testing import CliRunner

from riskpilot.cli import app
from riskpilot.data.store import ChainStore

runner = CliRunner()


def test_data_import_when_run_twice_then_second_run_replaces_and_adds_nothing(
    tmp_path: Path,
) -> None:
    source = shared_file(SPY_2021)
    store = tmp_path / "store"
    args = ["data", "import", "--format", "historicaloptiondata", str(source), "--store",
            str(store)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "imported 5040 rows from 1 file(s)" in first.output and "5040 new" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "(0 new, 5040 replaced)" in second.output
    assert ChainStore(store).info().underlyings["SPY"].rows == 5_040


def test_data_import_when_source_is_a_directory_then_every_file_is_imported(
    tmp_path: Path,
) -> None:
    src = tmp_path / "orats"
    src.mkdir()
    shutil.copy(ORATS, src / "a.csv")
    text = ORATS.read_text().replace("2020-01-02", "2020-01-06").replace("2020-01-03",
                                                                         "2020-01-07")
    (src / "b.csv").write_text(text)
    (src / "notes.md").write_text("not a chain")
    store = tmp_path / "store"
    result = runner.invoke(app, ["data", "import", "-f", "orats", str(src), "--store",
                                 str(store)])
    assert result.exit_code == 0, result.output
    assert "imported 48 rows from 2 file(s)" in result.output
    assert ChainStore(store).days("SPY") == [date(2020, 1, 2), date(2020, 1, 3),
                                             date(2020, 1, 6), date(2020, 1, 7)]


def test_data_info_when_store_has_two_underlyings_then_table_shows_span_and_quality(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    for fmt, path in (("cboe", CBOE), ("optionsdx", OPTIONSDX)):
        result = runner.invoke(app, ["data", "import", "--format", fmt, str(path), "--store",
                                     str(store)])
        assert result.exit_code == 0, result.output
    info = runner.invoke(app, ["data", "info", "--store", str(store)])
    assert info.exit_code == 0, info.output
    out = info.output
    assert "SPX" in out and "SPY" in out
    assert "2020-01-01" in out and "2020-01-03" in out  # SPX span includes the re-scrape
    assert "cboe" in out and "optionsdx" in out
    assert "holiday re-scrape" in out and "Data quality" in out


def test_data_import_when_file_malformed_then_exit_2_naming_file_line_and_column(
    tmp_path: Path,
) -> None:
    lines = CBOE.read_text().splitlines()
    lines[4] = lines[4].replace("2020-01-17", "2020-01-32", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["data", "import", "--format", "cboe", str(bad), "--store",
                                 str(tmp_path / "store")])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "line 5, column 'expiration'" in flat and "2020-01-32" in flat


def test_data_import_when_format_unknown_then_usage_error_lists_formats(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "import", "--format", "bloomberg", str(CBOE),
                                 "--store", str(tmp_path)])
    assert result.exit_code == 2
    assert "historicaloptiondata" in " ".join(result.output.split())


def test_data_info_when_store_missing_then_exit_2_with_hint(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "info", "--store", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "riskpilot data import" in " ".join(result.output.split())
