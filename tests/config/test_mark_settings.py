"""monitoring.marks (docs/marks.md): strict, bounded, refused by a message naming the path."""

from __future__ import annotations

import pytest

from riskpilot.config import ConfigError, parse_config
from riskpilot.model.mark import MarkChecks


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="test.yaml")
    return info.value.errors


@pytest.mark.parametrize(("text", "expected"), [
    ("monitoring: {marks: {jump_multiple: 0.5}}",
     "monitoring.marks.jump_multiple: Input should be greater than or equal to 1 (got 0.5)"),
    ("monitoring: {marks: {max_clock_skew_seconds: 600}}",
     "monitoring.marks.max_clock_skew_seconds: Input should be less than or equal to 300 (got 600)"),
    ("monitoring: {marks: {max_clock_skew_seconds: true}}",
     "monitoring.marks.max_clock_skew_seconds: expected a number, got the boolean true"),
    ("monitoring: {marks: {one_sided_error_pct: \"0.1\"}}",
     "monitoring.marks.one_sided_error_pct: expected a number, got the text '0.1'"),
    ("monitoring: {marks: {one_sided_error_pct: 0}}",
     "monitoring.marks.one_sided_error_pct: Input should be greater than 0 (got 0)"),
    ("monitoring: {marks: {carry_rate: 1.5}}",
     "monitoring.marks.carry_rate: Input should be less than or equal to 1 (got 1.5)"),
    ("monitoring: {marks: {jump_lookback_marks: 2.5}}",
     "monitoring.marks.jump_lookback_marks: Input should be a valid integer"),
    ("monitoring: {marks: {jump_min_range_pct: -0.1}}",
     "monitoring.marks.jump_min_range_pct: Input should be greater than 0 (got -0.1)"),
    ("monitoring: {marks: {confirm_jumps: sometimes}}",
     "monitoring.marks.confirm_jumps: Input should be 'live', 'always' or 'never' (got 'sometimes')"),
    ("monitoring: {marks: {confirm_jumps: true}}", "monitoring.marks.confirm_jumps: "),
    ("monitoring: {marks: {jump_multipel: 3}}",
     "monitoring.marks.jump_multipel: unknown key 'jump_multipel'; did you mean 'jump_multiple'?"),
])
def test_a_mark_setting_that_cannot_be_meant_when_parsed_then_refused_naming_its_path(text: str, expected: str) -> None:
    errors = _errors(text)

    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_mark_settings_when_given_then_they_reach_the_mark_checks() -> None:
    cfg = parse_config("monitoring:\n  max_quote_age_seconds: 20\n  marks: {max_clock_skew_seconds: 2, "
                       "one_sided_error_pct: 0.2, one_sided_min_ask: 0.10, carry_rate: 0.05, jump_multiple: 8, "
                       "jump_lookback_marks: 20, jump_min_range_pct: 0.25, confirm_jumps: always}")

    assert cfg.monitoring.mark_checks() == MarkChecks(20, 2, 0.2, 0.10, 0.05)
    m = cfg.monitoring.marks
    assert (m.jump_multiple, m.jump_lookback_marks, m.jump_min_range_pct) == (8, 20, 0.25)
    assert cfg.monitoring.confirms_jumps(end_of_day=True)


def test_mark_checks_when_built_with_nonsense_then_refused() -> None:
    with pytest.raises(ValueError, match=r"MarkChecks\.carry_rate must be a finite number >= 0, got -1"):
        MarkChecks(carry_rate=-1)
