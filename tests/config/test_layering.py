"""How exit-rule settings layer: top-level defaults -> method overrides -> regime overrides."""

from __future__ import annotations

from pathlib import Path

from riskpilot.config import config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_settings_reach_the_implicit_default_method() -> None:
    # Regression: without a methods section the default method kept the built-in defaults.
    cfg = config_from_dict({"trailing_stop": {"activation_pct": 20}, "exit_rules": {"stop_loss": {"stop_loss_pct": 2}}})
    m = cfg.method("default").exit_rules
    assert m.trailing_stop.activation_pct == 20 and m.stop_loss.stop_loss_pct == 2


def test_method_overrides_one_key_and_inherits_the_rest() -> None:
    cfg = config_from_dict(
        {
            "exit_rules": {"stop_loss": {"stop_loss_pct": 2.0, "debit_stop_loss_pct": 0.4}},
            "methods": {"m": {"exit_rules": {"stop_loss": {"stop_loss_pct": 1.5}}}},
        }
    )
    sl = cfg.method("m").exit_rules.stop_loss
    assert sl.stop_loss_pct == 1.5 and sl.debit_stop_loss_pct == 0.4


def test_regime_overrides_apply_only_in_that_regime() -> None:
    override = {"bear_high_vol": {"profit_target": {"profit_target_pct": 0.25}}}
    cfg = config_from_dict({"regimes": {"exit_rules": override}})
    assert cfg.exit_rules_for("default", "bear_high_vol").profit_target.profit_target_pct == 0.25
    assert cfg.exit_rules_for("default", "bull_low_vol").profit_target.profit_target_pct == 0.35
    assert cfg.exit_rules_for("default").profit_target.profit_target_pct == 0.35


def test_shipped_example_is_the_packaged_sample_and_loads() -> None:
    example = ROOT / "examples" / "position_management.yaml"
    packaged = ROOT / "src" / "riskpilot" / "samples" / "position_management.yaml"
    assert example.read_text() == packaged.read_text(), "examples/ and the packaged sample drifted apart"
    cfg = load_config(example)
    assert set(cfg.methods) == {"conservative", "moderate", "aggressive"}
    assert cfg.method("aggressive").exit_rules.partial_exit_target.enabled is False
    assert cfg.exit_rules_for("moderate", "bear_high_vol").stop_loss.stop_loss_pct == 1.0
