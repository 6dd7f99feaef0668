"""The core commands: evaluate and config validate."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from riskpilot.cli import app

runner = CliRunner()


def test_evaluate_sample_prints_a_decision_per_position() -> None:
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 0, result.output
    for pid in ("spy-moderate-1", "qqq-moderate-2", "iwm-conservative-3", "spx-aggressive-4"):
        assert pid in result.output
    assert "stop_loss" in result.output and "quote crossed" in result.output


def test_evaluate_json_lists_every_other_rule_that_fired() -> None:
    out = json.loads(runner.invoke(app, ["evaluate", "--json"]).output)
    qqq = next(d for d in out["decisions"] if d["id"] == "qqq-moderate-2")
    assert qqq["rule"] == "profit_target" and "partial_exit_target" in qqq["also_fired"]
    iwm = next(d for d in out["decisions"] if d["id"] == "iwm-conservative-3")
    assert iwm["action"] == "PARTIAL_CLOSE" and iwm["close_quantity"] == 2


def test_config_validate_ok_on_the_example() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "position_management.yaml"
    result = runner.invoke(app, ["config", "validate", str(example)])
    assert result.exit_code == 0 and result.output.startswith("OK:")


def test_config_validate_lists_every_error_with_its_path_and_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitoring:\n  normal_frequncy: 30\nrisk:\n  max_portfolio_heat_pct: 2\n")
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    text = result.output
    assert "monitoring.normal_frequncy: unknown key 'normal_frequncy'; did you mean 'normal_frequency'?" in text
    assert "risk.max_portfolio_heat_pct: Input should be less than or equal to 1" in text


def test_evaluate_refuses_a_portfolio_whose_method_the_config_lacks(tmp_path: Path) -> None:
    pf = tmp_path / "pf.yaml"
    pf.write_text(
        "as_of: '2026-03-02T15:30:00-05:00'\nequity: 1000\npositions:\n"
        "  - {id: x, method: nope, premium_type: CREDIT, entry_premium: 1, quantity: 1,"
        " opened_at: '2026-03-01T10:00:00-05:00', legs: [{underlying: SPY, expiration: '2026-04-17',"
        " strike: 500, right: P, quantity: -1}]}\n"
    )
    result = runner.invoke(app, ["evaluate", "--portfolio", str(pf)])
    assert result.exit_code == 1 and "methods ['nope']" in result.output
