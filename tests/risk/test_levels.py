"""Exit levels (riskpilot.risk.levels): where each premium rule fires, the distance to it, and
the monitor's near-trigger band; checked against the rules themselves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskpilot.config import RiskPilotConfig
from riskpilot.config.schema import ExitRulesConfig, UrgentConditions
from riskpilot.risk.levels import Triggers, exit_levels, near_trigger
from riskpilot.rules import profit_target, stop_loss
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.testing import make_context, make_position

DEFAULTS = Triggers.from_rules(RiskPilotConfig().exit_rules)


def test_credit_levels_sit_where_the_rules_fire_and_distances_shrink_toward_them() -> None:
    pos = make_position(1.00, credit=True, quantity=4)
    lv = exit_levels(pos, None, DEFAULTS)
    assert lv.stop_loss is not None and lv.stop_loss.premium == 2.25 and lv.stop_loss.fires_above
    assert lv.profit_target is not None and lv.profit_target.premium == 0.65 and not lv.profit_target.fires_above
    assert abs(lv.stop_loss.distance(1.80) - 0.45) < 1e-12 and abs(lv.stop_loss.distance_pct(1.80) - 0.25) < 1e-12
    assert abs(lv.profit_target.distance(0.80) - 0.15) < 1e-12
    assert lv.stop_loss.distance(2.40) < 0  # past it
    assert lv.time_exit_dte == 14


def test_debit_levels_mirror_the_credit_ones() -> None:
    pos = make_position(2.00, credit=False)
    lv = exit_levels(pos, None, DEFAULTS)
    assert lv.stop_loss is not None and lv.stop_loss.premium == 1.00 and not lv.stop_loss.fires_above
    assert lv.profit_target is not None and lv.profit_target.premium == 2.70 and lv.profit_target.fires_above
    assert lv.trailing_stop is not None and not lv.trailing_stop.armed and lv.trailing_stop.premium == 2.04


def test_an_active_trailing_stop_is_its_stored_stop_and_the_next_partial_skips_done_stages() -> None:
    pos = make_position(1.00, credit=True, quantity=4, stages_done=("first_target",))
    trail = TrailState(entry_premium=1.00, credit=True, active=True, stop=0.70, best=0.69)
    lv = exit_levels(pos, trail, DEFAULTS)
    assert lv.trailing_stop is not None and lv.trailing_stop.armed and lv.trailing_stop.premium == 0.70
    assert lv.next_partial is not None and lv.next_partial.label.startswith("second_target")
    assert lv.next_partial.premium == 0.75 and lv.next_partial.quantity == 1  # 25% of 4


def test_disabled_rules_have_no_level() -> None:
    rules = ExitRulesConfig.model_validate({"stop_loss": {"enabled": False}, "trailing_stop": {"enabled": False},
                                            "partial_exit_target": {"enabled": False},
                                            "time_exit_dte": {"enabled": False}})
    lv = exit_levels(make_position(1.00), None, Triggers.from_rules(rules))
    assert (lv.stop_loss, lv.trailing_stop, lv.next_partial, lv.time_exit_dte) == (None, None, None, None)
    assert lv.profit_target is not None


@given(entry=st.floats(0.05, 20.0), move=st.floats(-0.99, 3.0), credit=st.booleans())
def test_a_level_is_reached_exactly_when_its_rule_fires(entry: float, move: float, credit: bool) -> None:
    pos = make_position(entry, credit=credit)
    premium = entry * (1 + move)
    lv = exit_levels(pos, None, DEFAULTS)
    assert lv.stop_loss is not None and lv.profit_target is not None
    ctx = make_context(premium, position=pos)
    fired_stop = stop_loss.evaluate(ctx, stop_loss.StopLossParams()) is not None
    fired_target = profit_target.evaluate(ctx, profit_target.ProfitTargetParams()) is not None
    # Within float slack of the boundary the rules' EPS decides; away from it the level agrees.
    if abs(lv.stop_loss.distance(premium)) > 1e-6 * entry:
        assert fired_stop == (lv.stop_loss.distance(premium) < 0)
    if abs(lv.profit_target.distance(premium)) > 1e-6 * entry:
        assert fired_target == (lv.profit_target.distance(premium) < 0)


@given(premium=st.floats(0.01, 5.0))
def test_near_trigger_is_the_band_around_the_stop_then_the_target(premium: float) -> None:
    pos = make_position(1.00, credit=True)
    cond = UrgentConditions()
    near = near_trigger(pos, premium, None, DEFAULTS, cond)
    in_stop = abs(premium - 2.25) <= 0.02 * 2.25
    in_target = abs(premium - 0.65) <= 0.02 * 0.65
    assert near == ("stop_loss" if in_stop else "profit_target" if in_target else None)
