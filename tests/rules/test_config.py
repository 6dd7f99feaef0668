"""Configuration rejections, each checked by its message (SPEC section 8; DESIGN practice 4):
unknown keys with a suggestion and the dotted path, out-of-range numbers, cross-field errors;
and the sample configurations load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from riskpilot import ConfigError, Priority, RiskPilotConfig, load_config
from riskpilot.config import parse_config

REPO = Path(__file__).resolve().parents[2]

#: SPEC section 8's example configuration, verbatim.
SPEC_EXAMPLE = """
monitoring:
  normal_frequency: 30
  urgent_frequency: 5
  urgent_conditions: {near_stop_loss_pct: 0.02, near_profit_target_pct: 0.02, near_trailing_stop_pct: 0.02}
  price_cache_ttl_seconds: 10
  max_api_calls_per_minute: 60
exit_priorities:
  CRITICAL: [stop_loss, circuit_breaker]
  HIGH: [trailing_stop, time_based_urgent, liquidity_dried_up]
  MEDIUM: [profit_target, partial_exit_target]
  LOW: [early_exit, edge_disappeared, rebalance]
exit_execution:
  CRITICAL: {order_type: market, timeout_seconds: 5, retry_strategy: immediate_market}
  HIGH: {order_type: limit, price_strategy: aggressive, timeout_seconds: 10, retry_strategy: walk_then_market, max_walks: 2}
  MEDIUM: {order_type: limit, price_strategy: fair, timeout_seconds: 30, retry_strategy: walk_price, max_walks: 5}
  LOW: {order_type: limit, price_strategy: conservative, timeout_seconds: 60, retry_strategy: walk_slowly, max_walks: 10}
partial_exits:
  enabled: true
  stages:
    - {name: first_target, profit_threshold: 0.15, exit_percentage: 50}
    - {name: second_target, profit_threshold: 0.25, exit_percentage: 25}
liquidity: {max_spread: 0.03, min_volume: 50}
"""  # noqa: E501


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="test.yaml")
    assert str(info.value).startswith("test.yaml: ")
    return info.value.errors


def _one_error_starting(text: str, path: str) -> str:
    errors = _errors(text)
    matching = [e for e in errors if e.startswith(path)]
    assert matching, f"no error under {path!r} in {errors}"
    return matching[0]


# --- unknown keys -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "path", "wrong", "right"),
    [
        ("monitoring: {normal_frequncy: 30}", "monitoring.normal_frequncy", "normal_frequncy", "normal_frequency"),
        ("exit_rules: {stop_loss: {stop_loss_pc: 1.0}}", "exit_rules.stop_loss.stop_loss_pc", "stop_loss_pc",
         "stop_loss_pct"),
        ("tralling_stop: {trailing_pct: 1.0}", "tralling_stop", "tralling_stop", "trailing_stop"),
        ("monitoring: {urgent_conditions: {near_stop_los_pct: 0.1}}",
         "monitoring.urgent_conditions.near_stop_los_pct", "near_stop_los_pct", "near_stop_loss_pct"),
        ("methods: {safe: {entry: {min_delte: 0.1}}}", "methods.safe.entry.min_delte", "min_delte", "min_delta"),
        ("partial_exits: {enabled: true, stagez: []}", "partial_exits.stagez", "stagez", "stages"),
        ("liquidity: {max_sprad: 0.05}", "liquidity.max_sprad", "max_sprad", "max_spread"),
        ("trailing_stop: {activation_pc: 2}", "trailing_stop.activation_pc", "activation_pc", "activation_pct"),
    ],
)
def test_config_when_a_key_is_misspelled_then_error_names_dotted_path_and_suggests_the_key(
    text: str, path: str, wrong: str, right: str
) -> None:
    message = _one_error_starting(text, path + ":")

    assert f"unknown key {wrong!r}" in message
    assert f"did you mean {right!r}?" in message
    assert "known keys:" in message


def test_config_when_a_partial_stage_key_is_misspelled_then_path_includes_the_stage_index() -> None:
    message = _one_error_starting(
        "partial_exits: {stages: [{name: a, profit_treshold: 0.1, exit_percentage: 10}]}",
        "partial_exits.stages.0.profit_treshold:",
    )

    assert "did you mean 'profit_threshold'?" in message


def test_config_when_an_unknown_key_resembles_nothing_then_it_is_refused_without_a_guess() -> None:
    message = _one_error_starting("monitoring: {zzzzzz: 1}", "monitoring.zzzzzz:")

    assert "unknown key 'zzzzzz'" in message
    assert "did you mean" not in message


# --- out-of-range numbers -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "path", "bound"),
    [
        ("monitoring: {normal_frequency: -1}", "monitoring.normal_frequency", "greater than 0"),
        ("monitoring: {max_api_calls_per_minute: 0}", "monitoring.max_api_calls_per_minute",
         "greater than or equal to 1"),
        ("exit_rules: {stop_loss: {stop_loss_pct: 0}}", "exit_rules.stop_loss.stop_loss_pct", "greater than 0"),
        ("trailing_stop: {trailing_pct: 150}", "trailing_stop.trailing_pct", "less than 100"),
        ("liquidity: {min_volume: -1}", "liquidity.min_volume", "greater than or equal to 0"),
        ("exit_rules: {profit_target: {profit_target_pct: -0.5}}", "exit_rules.profit_target.profit_target_pct",
         "greater than 0"),
        ("exit_execution: {HIGH: {order_type: limit, price_strategy: aggressive, timeout_seconds: 10, "
         "retry_strategy: walk_then_market, max_walks: 1000}}", "exit_execution.HIGH.max_walks",
         "less than or equal to 100"),
        ("risk: {max_portfolio_heat_pct: 1.5}", "risk.max_portfolio_heat_pct", "less than or equal to 1"),
    ],
)
def test_config_when_a_number_is_out_of_range_then_error_names_path_bound_and_value(
    text: str, path: str, bound: str
) -> None:
    message = _one_error_starting(text, path + ":")

    assert bound in message
    assert "(got " in message


# --- cross-field errors -------------------------------------------------------------------
def test_config_when_min_delta_exceeds_max_delta_then_refused_under_the_methods_entry() -> None:
    message = _one_error_starting("methods: {safe: {entry: {min_delta: 0.30, max_delta: 0.10}}}", "methods.safe.entry:")

    assert "min_delta (0.3) is above max_delta (0.1)" in message


def test_config_when_urgent_frequency_is_slower_than_normal_then_refused_under_monitoring() -> None:
    message = _one_error_starting("monitoring: {normal_frequency: 5, urgent_frequency: 30}", "monitoring:")

    assert "urgent_frequency (30s) must not be slower than normal_frequency (5s)" in message


def test_config_when_partial_stage_thresholds_do_not_increase_then_refused_under_partial_exits() -> None:
    errors = _errors(
        "partial_exits: {stages: [{name: a, profit_threshold: 0.30, exit_percentage: 25}, "
        "{name: b, profit_threshold: 0.20, exit_percentage: 25}]}"
    )

    assert errors[0] == "partial_exits: stage profit_threshold values must strictly increase, got [0.3, 0.2]"


def test_config_when_partial_stages_close_more_than_everything_then_refused_under_partial_exits() -> None:
    errors = _errors(
        "partial_exits: {stages: [{name: a, profit_threshold: 0.1, exit_percentage: 60}, "
        "{name: b, profit_threshold: 0.2, exit_percentage: 60}]}"
    )

    assert errors[0] == "partial_exits: stage exit_percentage values add up to 120%, more than 100%"


def test_config_when_partial_exits_has_one_mistake_then_exactly_one_error_is_reported() -> None:
    errors = _errors(
        "partial_exits: {stages: [{name: a, profit_threshold: 0.30, exit_percentage: 25}, "
        "{name: b, profit_threshold: 0.20, exit_percentage: 25}]}"
    )

    assert errors == ["partial_exits: stage profit_threshold values must strictly increase, got [0.3, 0.2]"]


def test_config_when_a_limit_tactic_has_no_price_strategy_then_refused_under_its_priority() -> None:
    message = _one_error_starting(
        "exit_execution: {HIGH: {order_type: limit, timeout_seconds: 10, retry_strategy: walk_then_market, "
        "max_walks: 2}}",
        "exit_execution.HIGH:",
    )

    assert "a limit tactic needs a price_strategy" in message


def test_config_when_a_market_tactic_has_a_price_strategy_then_refused() -> None:
    message = _one_error_starting(
        "exit_execution: {CRITICAL: {order_type: market, price_strategy: fair, timeout_seconds: 5, "
        "retry_strategy: immediate_market}}",
        "exit_execution.CRITICAL:",
    )

    assert "a market tactic takes no price_strategy" in message


def test_config_when_exit_priorities_name_an_unknown_rule_then_refused_with_a_suggestion() -> None:
    errors = _errors("exit_priorities: {CRITICAL: [stop_los]}")

    assert errors == ["exit_priorities.CRITICAL: unknown rule 'stop_los'; did you mean 'stop_loss'?"]


def test_config_when_a_rule_is_under_two_priorities_then_refused() -> None:
    errors = _errors("exit_priorities: {CRITICAL: [stop_loss], HIGH: [stop_loss]}")

    assert errors == ["exit_priorities: rule 'stop_loss' is under both CRITICAL and HIGH"]


def test_config_when_a_top_level_section_and_exit_rules_configure_the_same_rule_then_refused() -> None:
    errors = _errors("partial_exits: {enabled: true}\nexit_rules: {partial_exit_target: {enabled: false}}")

    assert errors == ["partial_exits and exit_rules.partial_exit_target configure the same rule; keep one"]


def test_config_when_a_regime_override_is_out_of_range_then_refused_naming_the_regime() -> None:
    message = _one_error_starting(
        "regimes: {exit_rules: {bear_high_vol: {stop_loss: {stop_loss_pct: -1}}}}",
        "regimes.exit_rules.bear_high_vol.stop_loss.stop_loss_pct:",
    )

    assert "greater than 0 (got -1)" in message


def test_config_when_several_keys_are_wrong_then_every_problem_is_listed() -> None:
    errors = _errors("monitoring: {normal_frequncy: 30, urgent_frequency: 999999}")

    assert len(errors) == 2
    assert any(e.startswith("monitoring.urgent_frequency:") for e in errors)
    assert any(e.startswith("monitoring.normal_frequncy:") for e in errors)


def test_config_when_yaml_is_malformed_then_error_gives_line_and_column() -> None:
    errors = _errors("monitoring: [1")

    assert errors[0].startswith("not valid YAML at line 1, column")


def test_config_when_top_level_is_not_a_mapping_then_refused() -> None:
    assert _errors("- a\n- b") == ["the top level must be a mapping of sections, got list"]


def test_config_when_file_is_missing_then_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError, match="file not found"):
        load_config(missing)


# --- what loads ---------------------------------------------------------------------------
def test_config_when_empty_then_every_default_applies() -> None:
    cfg = parse_config("")

    assert cfg == RiskPilotConfig()
    assert cfg.exit_rules.stop_loss.stop_loss_pct == pytest.approx(1.25)
    assert cfg.priority_of()["stop_loss"] is Priority.CRITICAL


def test_config_spec_example_loads_and_its_settings_reach_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "riskpilot.yaml"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")

    cfg = load_config(path)

    rules = cfg.exit_rules_for("default")
    assert [(s.name, s.profit_threshold, s.exit_percentage) for s in rules.partial_exit_target.stages] == [
        ("first_target", 0.15, 50), ("second_target", 0.25, 25),
    ]
    assert rules.liquidity_dried_up.max_spread == pytest.approx(0.03)
    assert cfg.priority_of()["liquidity_dried_up"] is Priority.HIGH
    assert cfg.tie_break_order()[:2] == ["stop_loss", "circuit_breaker"]
    assert cfg.exit_execution["HIGH"].max_walks == 2


def test_config_when_top_level_rule_settings_and_no_methods_then_they_reach_the_default_method() -> None:
    # Regression: the implicit default method used to skip the layering.
    cfg = parse_config("exit_rules: {stop_loss: {stop_loss_pct: 2.0}}\nliquidity: {min_volume: 10}")

    rules = cfg.exit_rules_for("default")

    assert rules.stop_loss.stop_loss_pct == pytest.approx(2.0)
    assert rules.liquidity_dried_up.min_volume == 10


def test_config_when_a_method_overrides_a_rule_then_it_layers_over_the_top_level_settings() -> None:
    cfg = parse_config(
        "exit_rules: {stop_loss: {stop_loss_pct: 2.0}}\n"
        "methods: {aggressive: {exit_rules: {profit_target: {profit_target_pct: 0.65}}}}\n"
        "regimes: {exit_rules: {bear_high_vol: {stop_loss: {stop_loss_pct: 1.0}}}}"
    )

    normal = cfg.exit_rules_for("aggressive")
    stressed = cfg.exit_rules_for("aggressive", "bear_high_vol")

    assert (normal.stop_loss.stop_loss_pct, normal.profit_target.profit_target_pct) == (2.0, 0.65)
    assert (stressed.stop_loss.stop_loss_pct, stressed.profit_target.profit_target_pct) == (1.0, 0.65)


def test_config_when_loaded_then_it_is_frozen() -> None:
    from pydantic import ValidationError

    cfg = parse_config("")

    with pytest.raises(ValidationError):
        cfg.monitoring.normal_frequency = 1  # type: ignore[misc]


def test_config_sample_position_management_yaml_loads() -> None:
    sample = Path(os.environ.get("RISKPILOT_SAMPLE_CONFIG", REPO / "examples" / "position_management.yaml"))
    if not sample.exists():
        pytest.skip(f"{sample} does not exist yet (the sample configuration is another deliverable)")

    cfg = load_config(sample)

    assert cfg.methods
    assert set(cfg.exit_execution) == {"CRITICAL", "HIGH", "MEDIUM", "LOW"}
