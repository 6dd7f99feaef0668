"""liquidity_dried_up (HIGH): spread wider than max_spread (3 cents, event contracts) or the
relative spread limit (options), or volume below min_volume (50)."""

from __future__ import annotations

import pytest

from riskpilot import ExitAction, Priority
from riskpilot.model import Leg, Position
from riskpilot.testing import make_context, make_contract, make_evaluator, make_mark, make_position, run_rule


def _event_position() -> Position:
    contract = make_contract(50.0, "C", underlying="EVT", dte=3, multiplier=1)
    return make_position(0.45, credit=False, legs=[Leg(contract, 1)])


def test_liquidity_dried_up_when_option_spread_is_60_pct_of_mid_then_fires_high_close() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.60, volume=500), position=make_position(1.00, quantity=2))

    firing = run_rule("liquidity_dried_up", ctx)

    assert firing is not None
    assert firing.priority is Priority.HIGH
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 2
    assert firing.inputs["relative_spread"] == pytest.approx(0.60)


def test_liquidity_dried_up_when_option_spread_is_exactly_50_pct_of_mid_then_holds() -> None:
    # "wider than": at the limit is still acceptable.
    ctx = make_context(mark=make_mark(1.00, spread=0.50, volume=500))

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_option_spread_is_tight_then_holds() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.05, volume=500))

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_volume_is_49_then_fires() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.02, volume=49))

    firing = run_rule("liquidity_dried_up", ctx)

    assert firing is not None
    assert firing.inputs["volume"] == 49


def test_liquidity_dried_up_when_volume_is_exactly_50_then_holds() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.02, volume=50))

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_feed_reports_no_volume_then_skips_the_volume_test() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.02, volume=None))

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_min_volume_is_zero_then_never_fires_on_volume() -> None:
    ctx = make_context(mark=make_mark(1.00, spread=0.02, volume=0))

    assert run_rule("liquidity_dried_up", ctx, min_volume=0) is None


def test_liquidity_dried_up_when_event_contract_spread_is_4_cents_then_fires() -> None:
    ctx = make_context(mark=make_mark(0.45, spread=0.04, volume=500), position=_event_position())

    firing = run_rule("liquidity_dried_up", ctx)

    assert firing is not None
    assert firing.inputs["spread"] == pytest.approx(0.04)


def test_liquidity_dried_up_when_event_contract_spread_is_exactly_3_cents_then_holds() -> None:
    ctx = make_context(mark=make_mark(0.45, spread=0.03, volume=500), position=_event_position())

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_event_contract_is_cheap_then_judges_the_absolute_not_relative_spread() -> None:
    # 2 cents wide on a 2-cent contract is 100% of the mid, but within the 3-cent limit.
    ctx = make_context(mark=make_mark(0.02, spread=0.02, volume=500), position=_event_position())

    assert run_rule("liquidity_dried_up", ctx) is None


def test_liquidity_dried_up_when_credit_spread_mark_is_wide_then_fires_for_the_combo() -> None:
    ctx = make_context(mark=make_mark(0.50, spread=0.40, volume=500), position=make_position(1.00))

    assert run_rule("liquidity_dried_up", ctx) is not None


def test_liquidity_dried_up_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"liquidity_dried_up": {"enabled": False}})

    assert ev.evaluate(make_context(mark=make_mark(1.00, spread=0.90, volume=1))).is_hold


# --- leg quotes: the options' own liquidity, not the combo's ---------------------------------
def _spx_spread_mark(short: tuple[float, float, int], long: tuple[float, float, int]) -> tuple[Position, object]:
    """A 2620/2615 SPX put credit spread marked from its legs' (bid, ask, volume)."""
    from riskpilot.model import Quote, mark_position
    from riskpilot.testing import NOW

    k_short = make_contract(2620.0, "P", underlying="SPX", dte=37)
    k_long = make_contract(2615.0, "P", underlying="SPX", dte=37)
    pos = make_position(0.35, legs=[Leg(k_short, -1), Leg(k_long, 1)], underlying="SPX")
    quotes = {
        k_short: Quote(bid=short[0], ask=short[1], timestamp=NOW, volume=short[2]),
        k_long: Quote(bid=long[0], ask=long[1], timestamp=NOW, volume=long[2]),
    }
    return pos, mark_position(pos, quotes, NOW)


def test_liquidity_when_legs_are_quoted_tight_but_the_combo_is_wide_and_untraded_then_holds() -> None:
    # Real SPX 2019-05-15 quotes: legs 3.3% and 2.3% wide, 0 and 3 contracts traded today.
    pos, mark = _spx_spread_mark((8.90, 9.20, 0), (8.60, 8.80, 3))
    assert mark.relative_spread == pytest.approx(0.50 / 0.35)  # 143% of the combo's mid
    assert mark.leg_relative_spread == pytest.approx(0.30 / 9.05)
    assert run_rule("liquidity_dried_up", make_context(position=pos, mark=mark)) is None


def test_liquidity_when_one_leg_market_blows_out_then_fires_on_that_legs_spread() -> None:
    pos, mark = _spx_spread_mark((8.00, 14.00, 400), (8.60, 8.80, 400))  # short leg 55% wide
    firing = run_rule("liquidity_dried_up", make_context(position=pos, mark=mark))
    assert firing is not None
    assert firing.inputs["relative_spread"] == pytest.approx(6.00 / 11.00)


def test_liquidity_when_a_leg_is_thin_and_not_tight_then_fires_on_volume() -> None:
    pos, mark = _spx_spread_mark((0.40, 0.48, 12), (0.30, 0.34, 900))  # short leg 18% wide, 12 traded
    firing = run_rule("liquidity_dried_up", make_context(position=pos, mark=mark))
    assert firing is not None
    assert firing.inputs["volume"] == 12


def test_liquidity_with_no_tightness_gate_then_volume_alone_fires() -> None:
    pos, mark = _spx_spread_mark((8.90, 9.20, 0), (8.60, 8.80, 3))
    firing = run_rule("liquidity_dried_up", make_context(position=pos, mark=mark), thin_market_relative_spread=0)
    assert firing is not None
    assert firing.reason == "liquidity dried up: volume 0 < 50"
