"""gamma_protection (MEDIUM): DTE <= gamma_protection_dte (21) and profit >=
gamma_protection_pnl (0.50)."""

from __future__ import annotations

from riskpilot import ExitAction, Priority
from riskpilot.testing import make_context, make_evaluator, make_position, run_rule


def test_gamma_protection_when_10_dte_and_60_pct_profit_then_fires_medium_close() -> None:
    firing = run_rule("gamma_protection", make_context(0.40, position=make_position(1.00, dte=10)))

    assert firing is not None
    assert firing.priority is Priority.MEDIUM
    assert firing.action is ExitAction.CLOSE
    assert firing.inputs["dte"] == 10


def test_gamma_protection_when_exactly_21_dte_and_exactly_50_pct_profit_then_fires() -> None:
    assert run_rule("gamma_protection", make_context(0.50, position=make_position(1.00, dte=21))) is not None


def test_gamma_protection_when_22_dte_then_holds_even_at_90_pct_profit() -> None:
    assert run_rule("gamma_protection", make_context(0.10, position=make_position(1.00, dte=22))) is None


def test_gamma_protection_when_49_pct_profit_then_holds_even_near_expiry() -> None:
    assert run_rule("gamma_protection", make_context(0.51, position=make_position(1.00, dte=3))) is None


def test_gamma_protection_when_losing_near_expiry_then_holds() -> None:
    assert run_rule("gamma_protection", make_context(1.80, position=make_position(1.00, dte=3))) is None


def test_gamma_protection_when_debit_doubles_near_expiry_then_fires() -> None:
    pos = make_position(2.00, credit=False, dte=20)

    assert run_rule("gamma_protection", make_context(3.00, position=pos)) is not None
    assert run_rule("gamma_protection", make_context(2.90, position=pos)) is None


def test_gamma_protection_with_custom_settings_then_uses_them() -> None:
    ctx = make_context(0.70, position=make_position(1.00, dte=30))

    assert run_rule("gamma_protection", ctx, gamma_protection_dte=30, gamma_protection_pnl=0.30) is not None
    assert run_rule("gamma_protection", ctx, gamma_protection_dte=29, gamma_protection_pnl=0.30) is None


def test_gamma_protection_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"gamma_protection": {"enabled": False}})

    assert ev.evaluate(make_context(0.10, position=make_position(1.00, dte=5))).is_hold
