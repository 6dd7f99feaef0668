"""Configuration that means what it says (issue #14, item 6): duplicate keys, coerced scalars,
settings that can never act and runaway nesting are refused, each by a message naming the
dotted path (and the line, for YAML)."""

from __future__ import annotations

import pytest

from riskpilot.config import ConfigError, config_from_dict, parse_config
from riskpilot.config.schema import CREDIT_STRATEGIES
from riskpilot.config.strict import MAX_DEPTH, MAX_VALUES


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="test.yaml")
    return info.value.errors


# -- duplicate keys -----------------------------------------------------------------------------


def test_duplicate_top_level_key_when_parsed_then_refused_naming_key_and_both_lines() -> None:
    errors = _errors("monitoring:\n  normal_frequency: 30\nrisk: {}\nmonitoring:\n  urgent_frequency: 5\n")

    assert errors == ["monitoring: duplicate key 'monitoring' at line 4 (first at line 1); YAML would "
                      "silently keep only the last: remove one"]


def test_duplicate_nested_key_when_parsed_then_refused_with_its_dotted_path() -> None:
    errors = _errors(
        "methods:\n"
        "  safe:\n"
        "    exit_rules:\n"
        "      stop_loss:\n"
        "        stop_loss_pct: 1.0\n"
        "        stop_loss_pct: 2.0\n"
    )

    assert errors[0].startswith("methods.safe.exit_rules.stop_loss.stop_loss_pct: duplicate key "
                                "'stop_loss_pct' at line 6 (first at line 5)")


def test_duplicate_key_in_a_flow_mapping_inside_a_list_when_parsed_then_refused_with_the_index() -> None:
    errors = _errors("partial_exits:\n  stages:\n    - {name: a, name: b, profit_threshold: 0.1, "
                     "exit_percentage: 10}\n")

    assert errors[0].startswith("partial_exits.stages.0.name: duplicate key 'name' at line 3")


def test_yaml_merge_key_when_a_merged_key_is_overridden_then_accepted() -> None:
    cfg = parse_config(
        "exit_rules:\n"
        "  stop_loss: &sl {stop_loss_pct: 1.0, debit_stop_loss_pct: 0.4}\n"
        "methods:\n"
        "  m:\n"
        "    exit_rules:\n"
        "      stop_loss:\n"
        "        <<: *sl\n"
        "        stop_loss_pct: 2.0\n"
    )

    assert cfg.method("m").exit_rules.stop_loss.stop_loss_pct == 2.0
    assert cfg.method("m").exit_rules.stop_loss.debit_stop_loss_pct == 0.4


# -- strict scalars -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("exit_rules: {stop_loss: {stop_loss_pct: true}}",
     "exit_rules.stop_loss.stop_loss_pct: expected a number, got the boolean true"),
    ("trailing_stop: {activation_pct: \"2\"}",
     "trailing_stop.activation_pct: expected a number, got the text '2'; write the number without "
     "quotes"),
    ("monitoring: {max_api_calls_per_minute: yes}",
     "monitoring.max_api_calls_per_minute: expected a whole number, got the boolean true"),
    ("partial_exits: {enabled: 1}", "partial_exits.enabled: expected true or false, got 1"),
    ("partial_exits: {enabled: \"yes\"}", "partial_exits.enabled: expected true or false, got 'yes'"),
    ("methods: {m: {sizing: {max_contracts: \"5\"}}}",
     "methods.m.sizing.max_contracts: expected a whole number, got the text '5'"),
    ("regimes: {exit_rules: {bear_high_vol: {stop_loss: {stop_loss_pct: off}}}}",
     "regimes.exit_rules.bear_high_vol.stop_loss.stop_loss_pct: expected a number, got the boolean "
     "false"),
    ("risk: {max_delta_pct: \"1.0\"}", "risk.max_delta_pct: expected a number, got the text '1.0'"),
    ("regimes: {multipliers: {bull_low_vol: true, bull_high_vol: 0.75, bear_low_vol: 0.5, "
     "bear_high_vol: 0.4}}", "regimes.multipliers.bull_low_vol: expected a number, got the boolean"),
    ("partial_exits: {stages: [{name: a, profit_threshold: \"0.1\", exit_percentage: 10}]}",
     "partial_exits.stages.0.profit_threshold: expected a number, got the text '0.1'"),
])
def test_scalar_of_the_wrong_kind_when_parsed_then_refused_naming_the_path(text: str, expected: str) -> None:
    errors = _errors(text)

    assert any(e.startswith(expected) for e in errors), errors
    assert len(errors) == 1  # reported once, under the path the user wrote


def test_exponent_that_yaml_reads_as_text_when_parsed_then_the_hint_says_how_to_write_it() -> None:
    (error,) = _errors("exit_rules: {profit_target: {profit_target_pct: 5e-1}}")

    assert error.startswith("exit_rules.profit_target.profit_target_pct: expected a number, got the text "
                            "'5e-1'; PyYAML reads exponent notation as a number only with a dot")


def test_a_python_mapping_when_a_boolean_stands_for_a_number_then_refused_too() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"exit_rules": {"stop_loss": {"stop_loss_pct": True}}}, source="flags")

    assert info.value.errors[0].startswith("exit_rules.stop_loss.stop_loss_pct: expected a number")


def test_whole_numbers_for_float_settings_and_enum_text_when_parsed_then_accepted() -> None:
    cfg = parse_config("exit_rules: {stop_loss: {stop_loss_pct: 2}}\nmonitoring: {mark_basis: natural, "
                       "max_api_calls_per_minute: 30}\nmethods: {m: {description: hello}}")

    assert cfg.method("m").exit_rules.stop_loss.stop_loss_pct == 2.0
    assert cfg.monitoring.max_api_calls_per_minute == 30


@pytest.mark.parametrize(("text", "expected"), [
    ("methods: {1: {}}", "methods: key 1 is not text; quote it"),
    ("on: 1", "(top level): key True is not text; quote it"),
    ("exit_rules: {stop_loss: {stop_loss_pct: .nan}}", "exit_rules.stop_loss.stop_loss_pct: nan is not a "
     "finite number"),
    ("exit_rules: {stop_loss: {stop_loss_pct: -.inf}}", "exit_rules.stop_loss.stop_loss_pct: -inf is not a "
     "finite number"),
    ("methods: !!set {a, b}", "methods: a set is not a configuration value"),
    ("monitoring: {normal_frequency: 2020-13-45}", "not valid YAML at line 1, column 32: cannot read "
     "'2020-13-45' as timestamp"),
    ("monitoring: {normal_frequency: !!int abc}", "not valid YAML at line 1, column 32: cannot read 'abc' "
     "as int"),
    ("methods: &m {a: *m}", "methods.a: a YAML alias refers to the value that contains it"),
])
def test_input_that_is_not_plain_configuration_when_parsed_then_refused_naming_where(
    text: str, expected: str,
) -> None:
    errors = _errors(text)

    assert errors[0].startswith(expected), errors


def test_aliases_that_expand_past_the_value_budget_when_parsed_then_refused() -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 7):  # 10**7 values once expanded, in a few hundred bytes of YAML
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")

    errors = _errors("\n".join(lines))

    assert errors == [f"more than {MAX_VALUES:,} values once YAML aliases are expanded: a configuration "
                      "has a few hundred; check the aliases (*name)"]


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000,
    "a: " + "{b: " * 5000 + "1" + "}" * 5000,
    "\n".join(" " * i + f"k{i}:" for i in range(5000)) + " 1",
])
def test_a_5000_deep_yaml_when_parsed_then_a_clean_error_not_a_recursion_error(text: str) -> None:
    errors = _errors(text)

    assert len(errors) == 1
    assert errors[0].startswith(f"nesting deeper than {MAX_DEPTH} levels at line ")


def test_a_5000_deep_python_mapping_when_validated_then_a_clean_error() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        child: dict[str, object] = {}
        node["k"] = child
        node = child

    with pytest.raises(ConfigError) as info:
        config_from_dict({"methods": deep})

    assert info.value.errors[0].endswith(f"nesting deeper than {MAX_DEPTH} levels")


# -- settings that can never act ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("exit_rules: {profit_target: {profit_target_pct: 1.5}}",
     "exit_rules.profit_target.profit_target_pct: 1.5 can never fire: a credit position's profit is at "
     "most 100% of the credit"),
    ("methods: {m: {exit_rules: {profit_target: {profit_target_pct: 1.0}}}}",
     "methods.m.exit_rules.profit_target.profit_target_pct: 1 can never fire"),
    ("partial_exits: {stages: [{name: a, profit_threshold: 1.2, exit_percentage: 50}]}\n"
     "exit_rules: {profit_target: {enabled: false}}",
     "partial_exits.stages.0.profit_threshold: 1.2 can never fire"),
    ("exit_rules: {gamma_protection: {gamma_protection_pnl: 1.0}}",
     "exit_rules.gamma_protection.gamma_protection_pnl: 1 can never fire"),
    ("trailing_stop: {activation_pct: 100, trail_credit: true}",
     "trailing_stop.activation_pct: 100 can never activate: a credit premium can fall at most 100%"),
    ("partial_exits: {stages: [{name: late, profit_threshold: 0.5, exit_percentage: 50}]}\n"
     "exit_rules: {profit_target: {profit_target_pct: 0.5}}",
     "partial_exits.stages.0.profit_threshold: stage 'late' at 0.5 can never fire: the profit target at "
     "0.5 fires first"),
    ("regimes: {exit_rules: {bear_high_vol: {profit_target: {profit_target_pct: 2.0}}}}",
     "regimes.exit_rules.bear_high_vol.profit_target.profit_target_pct: 2 can never fire"),
])
def test_a_setting_that_can_never_act_when_parsed_then_refused_naming_its_path(text: str, expected: str) -> None:
    errors = _errors(text)

    assert any(e.startswith(expected) for e in errors), errors
    assert all("(put_credit_spread))" in e for e in errors if "can never" in e)  # names the method


def test_trailing_stop_whose_min_move_is_not_below_its_trail_when_parsed_then_refused() -> None:
    for text in ("trailing_stop: {trailing_pct: 1.5, min_move_pct: 1.5}",
                 "methods: {m: {exit_rules: {trailing_stop: {trailing_pct: 1.0, min_move_pct: 2.0}}}}"):
        (error,) = _errors(text)
        assert "min_move_pct (" in error and "must be below trailing_pct (" in error
        assert error.startswith(("trailing_stop:", "methods.m.exit_rules.trailing_stop:"))


@pytest.mark.parametrize("text", [
    # A debit position can make more than 100%: a long call's target of 150% fires.
    "methods: {calls: {strategy: {kind: long_call, width_points: null}, exit_rules: "
    "{profit_target: {profit_target_pct: 1.5}, partial_exit_target: {enabled: false}}}}",
    # A disabled rule never acts, whatever its setting.
    "exit_rules: {profit_target: {enabled: false, profit_target_pct: 1.5}}",
    # A stage placed after the target, but ranked before it, can still fire.
    "exit_priorities: {CRITICAL: [stop_loss, volatility_scaled_stop, circuit_breaker], "
    "HIGH: [trailing_stop, time_based_urgent, liquidity_dried_up], "
    "MEDIUM: [partial_exit_target, profit_target, time_exit_dte, gamma_protection], "
    "LOW: [early_exit, edge_disappeared, rebalance, max_holding_period]}\n"
    "exit_rules: {profit_target: {profit_target_pct: 0.25}}",
    # A regime whose lower target takes the whole position: stages idle there, not everywhere.
    "regimes: {exit_rules: {bear_high_vol: {profit_target: {profit_target_pct: 0.10}}}}",
    "trailing_stop: {activation_pct: 99.0}",
])
def test_an_unusual_but_reachable_setting_when_parsed_then_accepted(text: str) -> None:
    assert parse_config(text).methods


def test_credit_strategies_when_compared_with_the_builders_then_they_agree() -> None:
    from riskpilot.model.enums import PremiumType
    from riskpilot.trading.strategies import PREMIUM_TYPES

    assert {k for k, t in PREMIUM_TYPES.items() if t is PremiumType.CREDIT} == CREDIT_STRATEGIES
