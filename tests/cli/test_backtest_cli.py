"""`riskpilot backtest run` end to end on the bundled model-priced chain: the JSON document
field by field (P&L recomputed from prices and commissions), the trades CSV, the
self-contained HTML report, and each bad flag's message."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from riskpilot.backtest.export import CSV_COLUMNS, METRIC_KEYS
from riskpilot.backtest.report import CHART_IDS
from riskpilot.cli import app

runner = CliRunner()

RUN = ["backtest", "run", "--ticker", "SPY", "--start", "2020-01-01", "--end", "2020-04-30",
       "--min-delta", "0.05", "--max-delta", "0.15", "--profit-target", "50", "--stop-loss", "125",
       "--slippage", "orats", "--seed", "7"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("bt")
    paths = {"json": d / "run.json", "csv": d / "trades.csv", "html": d / "report.html"}
    result = runner.invoke(app, [*RUN, "--json", str(paths["json"]), "--trades", str(paths["csv"]),
                                 "--report", str(paths["html"])], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return {"stdout": result.stdout, "doc": json.loads(paths["json"].read_text()), **paths}


def _is_iso(s: object) -> bool:
    return isinstance(s, str) and date.fromisoformat(s).isoformat() == s


def _number_or_null(x: object) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x))


def test_the_table_prints_the_metrics_and_says_model_priced(outputs: dict[str, Any]) -> None:
    out = outputs["stdout"]
    assert "MODEL-PRICED" in out
    for label in ("CAGR", "Sharpe", "Sortino", "max drawdown", "Calmar", "trades", "win rate", "profit factor",
                  "avg days held"):
        assert label in out


def test_json_top_level_config_and_data(outputs: dict[str, Any]) -> None:
    doc = outputs["doc"]
    assert {"config", "data", "metrics", "exit_reasons", "trades", "equity"} <= set(doc)
    cfg = doc["config"]
    assert cfg["ticker"] == "SPY" and cfg["start"] == "2020-01-01" and cfg["end"] == "2020-04-30"
    assert cfg["min_delta"] == 0.05 and cfg["max_delta"] == 0.15 and cfg["seed"] == 7
    assert cfg["profit_target"] == 50 and cfg["stop_loss"] == 125 and cfg["slippage"] == "orats"
    method = cfg["effective"]["methods"][cfg["method"]]
    assert method["exit_rules"]["profit_target"]["profit_target_pct"] == 0.5
    assert method["exit_rules"]["stop_loss"]["stop_loss_pct"] == 1.25
    data = doc["data"]
    assert data["model_priced"] is True and "model prices, not market quotes" in data["source"]
    assert isinstance(data["source"], str) and data["kind"] == "model"


def test_json_metrics_and_exit_reasons(outputs: dict[str, Any]) -> None:
    doc = outputs["doc"]
    m = doc["metrics"]
    for key in ("cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate",
                "profit_factor", "avg_days_held"):
        assert key in m and _number_or_null(m[key]), key
    assert set(METRIC_KEYS) <= set(m)
    assert isinstance(m["trade_count"], int) and m["trade_count"] == len(doc["trades"]) > 0
    assert 0 <= m["max_drawdown"] < 1 and 0 <= m["win_rate"] <= 1
    reasons = doc["exit_reasons"]
    assert sum(r["count"] for r in reasons.values()) == len(doc["trades"])
    for name, r in reasons.items():
        mine = [t["pnl"] for t in doc["trades"] if t["exit_reason"] == name]
        assert r["count"] == len(mine) and r["pnl"] == pytest.approx(sum(mine), abs=1e-3)
    assert m["total_pnl"] == pytest.approx(sum(t["pnl"] for t in doc["trades"]), abs=1e-3)


def test_json_trades_legs_per_unit_and_pnl_from_prices(outputs: dict[str, Any]) -> None:
    trades = outputs["doc"]["trades"]
    assert len({t["id"] for t in trades}) == len(trades)
    for t in trades:
        for key in ("id", "underlying", "strategy", "legs", "quantity", "entry_date", "entry_price",
                    "exit_date", "exit_price", "exit_reason", "pnl"):
            assert key in t, key
        assert t["underlying"] == "SPY" and t["strategy"] == "put_credit_spread"
        assert _is_iso(t["entry_date"]) and _is_iso(t["exit_date"]) and t["entry_date"] <= t["exit_date"]
        assert isinstance(t["quantity"], int) and t["quantity"] >= 1
        assert t["entry_price"] > 0 and t["exit_price"] >= 0  # per share, positive, after slippage
        legs = t["legs"]
        assert sorted(leg["quantity"] for leg in legs) == [-1, 1]  # per ONE unit of a vertical
        short = next(leg for leg in legs if leg["quantity"] == -1)
        long_ = next(leg for leg in legs if leg["quantity"] == 1)
        assert short["right"] == long_["right"] == "P" and short["strike"] > long_["strike"]
        assert short["expiration"] == long_["expiration"] and _is_iso(short["expiration"])
        assert short["expiration"] >= t["exit_date"]
        # Credit: the spread was sold at entry_price and bought back at exit_price, per share.
        gross = (t["entry_price"] - t["exit_price"]) * t["multiplier"] * t["quantity"]
        assert t["pnl"] == pytest.approx(gross - t["commission"], abs=1e-4)
        # Commissions: 0.65 per contract per leg, both legs, opening and (except at settlement) closing.
        sides = 1 if t["exit_reason"] in ("expiration_settlement", "assignment") else 2
        assert t["commission"] == pytest.approx(0.65 * 2 * t["quantity"] * sides, abs=1e-6)


def test_json_equity_curve_is_daily_and_iso(outputs: dict[str, Any]) -> None:
    doc = outputs["doc"]
    eq = doc["equity"]
    assert len(eq) > 70
    dates = [p["date"] for p in eq]
    assert all(_is_iso(d) for d in dates) and dates == sorted(set(dates))
    assert dates[0] >= "2020-01-01" and dates[-1] <= "2020-04-30"
    assert all(isinstance(p["equity"], float) and p["equity"] > 0 for p in eq)
    assert doc["metrics"]["end_equity"] == pytest.approx(eq[-1]["equity"], abs=1e-3)


def test_trades_csv_has_the_columns_and_a_row_per_trade(outputs: dict[str, Any]) -> None:
    with outputs["csv"].open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    trades = outputs["doc"]["trades"]
    assert len(rows) == len(trades)
    assert rows[0]["id"] == trades[0]["id"] and float(rows[0]["pnl"]) == pytest.approx(trades[0]["pnl"])
    assert re.fullmatch(r"-1 SPY \S+ [\d.]+P / \+1 SPY \S+ [\d.]+P", rows[0]["legs"])


def test_html_report_is_self_contained_with_every_chart(outputs: dict[str, Any]) -> None:
    page = outputs["html"].read_text()
    # No script is loaded from anywhere: every <script> carries its code inline ...
    opening_tags = re.findall(r"<script\b[^>]*>", page, flags=re.I)
    assert opening_tags and not any(re.search(r"\bsrc\s*=", tag, flags=re.I) for tag in opening_tags)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.I | re.S)
    assert max(len(body) for body in scripts) > 1_000_000  # plotly.js itself, inline
    # ... and the markup outside the scripts references nothing remote (no CDN, stylesheet, image).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.I | re.S)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", markup, flags=re.I)
    assert "<link" not in markup.lower() and "@import" not in markup
    for cid in CHART_IDS:
        assert f'id="{cid}"' in page
    assert page.count("Plotly.newPlot(") == len(CHART_IDS)
    assert "MODEL-PRICED" in page


def test_html_report_has_the_sortable_trades_the_attribution_and_trader_money(outputs: dict[str, Any]) -> None:
    page = outputs["html"].read_text()
    trades = outputs["doc"]["trades"]
    assert page.count('<th onclick="sortTable(this)">') == 16 and "function sortTable" in page
    body = page[page.index('id="trades"'):]
    assert body.count("<tr><td") == len(trades)
    assert "What each exit rule earned" in page and "if held to next rule" in page
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.I | re.S)
    assert not re.search(r"\$-\d", markup)  # -$2,548, never $-2,548
    assert "-$" in markup
    assert "buy and hold" in page and "Capital at risk" in page and "Monthly returns" in page


def test_the_console_shows_timing_attribution_and_refusals(outputs: dict[str, Any]) -> None:
    out = " ".join(outputs["stdout"].split())
    assert "timing: fills at the closing quotes of the day that decided (--fill close)" in out
    assert "expiries settle at the official SPY close" in out
    assert "against holding on" in out and "if held to expiry" in out
    assert "Entries refused" in out


def test_json_timing_attribution_and_refusals_in_words(outputs: dict[str, Any]) -> None:
    doc = outputs["doc"]
    assert doc["timing"]["fill"] == "close" and "official SPY close" in doc["timing"]["settlement"]
    att = doc["exit_attribution"]
    assert sum(r["trades"] for r in att.values()) == len(doc["trades"])
    for reason, r in att.items():
        assert r["edge_vs_expiration"] == pytest.approx(r["pnl"] - r["pnl_if_held_to_expiration"], abs=1e-5)
        assert r["edge_vs_next_rule"] == pytest.approx(r["pnl"] - r["pnl_if_held_to_next_rule"], abs=1e-5)
        mine = [t for t in doc["trades"] if t["exit_reason"] == reason]
        assert r["pnl"] == pytest.approx(sum(t["pnl"] for t in mine), abs=1e-4)
        if reason not in ("expiration_settlement", "assignment"):
            assert all(t["attribution"] is not None for t in mine)
            assert r["pnl_if_held_to_expiration"] == pytest.approx(
                sum(t["attribution"]["if_held_to_expiration"]["pnl"] for t in mine), abs=1e-4)
    assert set(doc["entries_refused_why"]) == set(doc["entries_refused"])
    assert doc["metrics"]["exit_edge_vs_next_rule"] == pytest.approx(
        sum(r["edge_vs_next_rule"] for k, r in att.items() if k not in ("expiration_settlement", "assignment")),
        abs=1e-4)


def test_a_run_without_trades_says_why_and_what_to_change() -> None:
    result = runner.invoke(app, ["backtest", "run", "--ticker", "SPY", "--start", "2020-01-02", "--end",
                                 "2020-02-28", "--min-dte", "400", "--max-dte", "420"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "No trade: entries were refused" in out
    assert re.search(r"no put_credit_spread with its short strike in 0.05-0.15 \|delta\| and 400-420 DTE, "
                     r"1% of spot wide \(--width-pct\), on \d+ days: widen --min-delta/--max-delta or "
                     r"--min-dte/--max-dte", out), out


def test_help_prints_the_defaults_of_the_effective_configuration(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backtest", "run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())
    assert "Percent of the entry premium (default: 35)" in out  # the built-in profit target, 0.35
    assert "Short strike |delta|, low end (default: 0.05)" in out
    assert "(default: 1% of spot)" in out and "(default: close)" in out and "(default: orats)" in out
    assert "trailing stop 2%/1.5% (debit positions only; off for credit)" in out
    assert "{cfg:" not in out and "{spec:" not in out
    cfg = tmp_path / "c.yaml"
    cfg.write_text("methods:\n  m: {exit_rules: {profit_target: {profit_target_pct: 0.65}},"
                   " strategy: {kind: iron_condor, width_points: 10}}\n")
    result = runner.invoke(app, ["backtest", "run", "--config", str(cfg), "--help"], env={"COLUMNS": "200"})
    out = " ".join(result.stdout.split())
    assert "Percent of the entry premium (default: 65)" in out
    assert "(default: 10 points)" in out and "(default: iron_condor)" in out
    assert f"Defaults shown: {cfg}, method m" in out


def test_fill_next_runs_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "next.json"
    result = runner.invoke(app, [*RUN, "--fill", "next", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "filled at the next day's quotes (--fill next)" in " ".join(result.stdout.split())
    doc = json.loads(out.read_text())
    assert doc["timing"]["fill"] == "next"
    assert all(t["entry_date"] > doc["equity"][0]["date"] for t in doc["trades"])  # nothing fills on day one


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ticker", "XYZ"],
         r"--ticker XYZ: unknown ticker; the bundled model-priced chain covers IWM, QQQ, SPX, SPY"),
        (["--start", "1985-01-01", "--end", "1990-01-01"],
         r"--start 1985-01-01 is before the data: the bundled model-priced SPY chain covers \d{4}-\d\d-\d\d \.\. "),
        (["--start", "2020-01-01", "--end", "2200-01-01"], r"--end 2200-01-01 is after the data: .* covers "),
        (["--min-delta", "0.3", "--max-delta", "0.1"], r"--min-delta 0.3 is above --max-delta 0.1"),
        (["--slippage", "bogus"], r"--slippage: Input should be 'none', 'pct', 'spread', 'orats' or 'volume'"),
        (["--strategy", "butterfly"], r"--strategy: Input should be 'put_credit_spread'"),
        (["--fill", "open"], r"--fill: Input should be 'close' or 'next'"),
        (["--width", "5", "--width-pct", "1"], r"give one of --width \(points\), --width-pct \(percent of spot\) "
         r"or --long-delta, not --width and --width-pct"),
    ],
)
def test_bad_flags_get_clear_errors(flags: list[str], message: str) -> None:
    result = runner.invoke(app, ["backtest", "run", *flags])
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert re.search(message, text), text


def test_config_file_and_method_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("methods:\n  a: {}\n  b: {}\n")
    result = runner.invoke(app, ["backtest", "run", "--config", str(cfg)])
    assert result.exit_code == 2 and "choose one with --method" in result.stderr
    cfg.write_text("methods:\n  a: {entry: {max_delta: 0.1}}\n")
    result = runner.invoke(app, ["backtest", "run", "--config", str(cfg), "--min-delta", "0.2",
                                 "--start", "2020-01-02", "--end", "2020-01-10"])
    assert result.exit_code == 2
    assert "min_delta (0.2) is above max_delta (0.1)" in " ".join(result.stderr.split())


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_the_readme_main_command_prints_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text()
    command = re.search(r"pip install \. && riskpilot (backtest run [^\n]*)", text)
    assert command is not None
    out = tmp_path / "main.json"
    result = runner.invoke(app, [*command.group(1).split(), "--json", str(out)])
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())["metrics"]
    shown = dict(re.findall(r"│ (CAGR|trades|max drawdown|win rate) +│ +([^ ]+) │", text))
    assert shown["trades"] == f"{m['trade_count']:,}"
    assert shown["CAGR"] == f"{m['cagr']:.2%}"
    assert shown["max drawdown"] == f"{m['max_drawdown']:.2%}"
    assert shown["win rate"] == f"{m['win_rate']:.2%}"
