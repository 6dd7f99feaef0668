"""The trailing stop's whole lifecycle through the public API (SPEC section 2): HOLD before
activation, ACTIVATE at activation_pct, UPDATE only on a move of at least min_move_pct, TRIGGER
at or through the stop, reset(); whipsaw protection (one tick, bad quotes, None/NaN)."""

from __future__ import annotations

import math

import pytest

from riskpilot import Quote, TrailingStop, TrailingStopAction, TrailingStopConfig
from riskpilot.testing import NOW, make_quote

HOLD, ACTIVATE, UPDATE, TRIGGER = (
    TrailingStopAction.HOLD,
    TrailingStopAction.ACTIVATE,
    TrailingStopAction.UPDATE,
    TrailingStopAction.TRIGGER,
)

#: Round numbers: activate at +100%, trail 50% behind the best, move only by 10% of the stop.
ROUND = TrailingStopConfig(activation_pct=100.0, trailing_pct=50.0, min_move_pct=10.0, tick_size=0.01)


# --- long premium (debit) -----------------------------------------------------------------
def test_trailing_stop_when_long_premium_is_below_activation_then_holds_inactive() -> None:
    stop = TrailingStop(10.00)

    result = stop.update(10.19)  # +1.9%, activation is +2%

    assert result == (None, HOLD)
    assert not stop.is_active
    assert stop.highest_premium == pytest.approx(10.19)


def test_trailing_stop_when_long_premium_gains_exactly_activation_pct_then_activates_below_the_peak() -> None:
    stop = TrailingStop(10.00)

    price, action = stop.update(10.20)

    assert action is ACTIVATE
    assert stop.is_active
    assert price == pytest.approx(10.20 * (1 - 0.015))
    assert stop.stop_premium == price


def test_trailing_stop_when_long_activation_is_off_by_float_rounding_then_still_activates() -> None:
    # (2.55 - 2.50) / 2.50 * 100 is 1.9999999999999927 in binary floating point.
    stop = TrailingStop(2.50)

    assert stop.update(2.55)[1] is ACTIVATE


def test_trailing_stop_when_long_peak_rises_less_than_min_move_then_stop_stays() -> None:
    stop = TrailingStop(10.00)
    placed, _ = stop.update(10.20)  # stop 10.047; a move needs 0.5% of it = 0.0502

    price, action = stop.update(10.25)  # candidate 10.09625: moved 0.049

    assert action is HOLD
    assert price == placed


def test_trailing_stop_when_long_peak_rises_at_least_min_move_then_updates() -> None:
    stop = TrailingStop(10.00)
    placed, _ = stop.update(10.20)

    price, action = stop.update(10.26)  # candidate 10.1061: moved 0.059

    assert action is UPDATE
    assert price == pytest.approx(10.26 * 0.985)
    assert price is not None and placed is not None and price > placed


def test_trailing_stop_when_move_is_exactly_min_move_pct_then_updates_and_just_below_holds() -> None:
    below = TrailingStop(1.00, ROUND)
    exact = TrailingStop(1.00, ROUND)
    for s in (below, exact):
        assert s.update(2.00) == (pytest.approx(1.00), ACTIVATE)

    assert below.update(2.19)[1] is HOLD  # candidate 1.095: a 9.5% move
    assert exact.update(2.20) == (pytest.approx(1.10), UPDATE)  # candidate 1.10: exactly 10%


def test_trailing_stop_when_long_premium_falls_to_exactly_the_stop_then_triggers() -> None:
    stop = TrailingStop(1.00, ROUND)
    stop.update(2.00)  # stop 1.00

    assert stop.update(1.01)[1] is HOLD
    assert stop.update(1.00) == (pytest.approx(1.00), TRIGGER)


def test_trailing_stop_when_long_premium_gaps_through_the_stop_then_triggers_without_moving_it() -> None:
    stop = TrailingStop(10.00)
    placed, _ = stop.update(10.50)

    price, action = stop.update(8.00)

    assert action is TRIGGER
    assert price == placed


def test_trailing_stop_when_long_premium_falls_back_then_stop_never_moves_down() -> None:
    stop = TrailingStop(10.00)
    stop.update(11.00)
    high = stop.stop_premium
    seen = []

    for p in (10.95, 10.90, 10.87, 10.86):
        seen.append(stop.update(p))

    assert all(action is HOLD for _, action in seen)
    assert stop.stop_premium == high


# --- credit (premium falls in the position's favour) --------------------------------------
def test_trailing_stop_when_credit_premium_falls_short_of_activation_then_holds() -> None:
    stop = TrailingStop(10.00, credit=True)

    assert stop.update(9.81) == (None, HOLD)
    assert stop.update(10.50) == (None, HOLD)  # a loss does not trigger an inactive stop
    assert not stop.is_active


def test_trailing_stop_when_credit_premium_falls_activation_pct_then_activates_above_the_trough() -> None:
    stop = TrailingStop(10.00, credit=True)

    price, action = stop.update(9.80)

    assert action is ACTIVATE
    assert price == pytest.approx(9.80 * 1.015)
    assert stop.lowest_premium == pytest.approx(9.80)
    assert stop.best_premium == pytest.approx(9.80)


def test_trailing_stop_when_credit_trough_deepens_enough_then_updates_downward() -> None:
    stop = TrailingStop(10.00, credit=True)
    placed, _ = stop.update(9.80)  # 9.947; a move needs 0.0497

    small = stop.update(9.76)  # candidate 9.9064: moved 0.0406
    big = stop.update(9.75)  # candidate 9.89625: moved 0.0507

    assert small == (placed, HOLD)
    assert big[1] is UPDATE
    assert big[0] == pytest.approx(9.75 * 1.015)


def test_trailing_stop_when_credit_premium_rises_past_stop_then_triggers() -> None:
    config = TrailingStopConfig(activation_pct=50.0, trailing_pct=50.0, min_move_pct=10.0)
    stop = TrailingStop(1.00, config, credit=True)
    assert stop.update(0.50) == (pytest.approx(0.75), ACTIVATE)  # -50%: stop 50% above the trough

    assert stop.update(0.74)[1] is HOLD
    assert stop.update(0.75)[1] is TRIGGER  # at the stop
    assert stop.update(0.90) == (pytest.approx(0.75), TRIGGER)  # through it


def test_trailing_stop_when_credit_premium_rises_then_stop_never_moves_up() -> None:
    stop = TrailingStop(10.00, credit=True)
    stop.update(9.00)
    placed = stop.stop_premium

    for p in (9.02, 9.05, 9.08):
        assert stop.update(p)[1] is HOLD

    assert stop.stop_premium == placed


# --- whipsaw protection -------------------------------------------------------------------
def test_trailing_stop_when_long_premium_is_20_cents_then_stop_is_placed_a_full_tick_below() -> None:
    # A 1.5% trail on 0.21 would sit 0.003 below: one tick of noise would fire it.
    stop = TrailingStop(0.20)

    price, action = stop.update(0.21)

    assert action is ACTIVATE
    assert price is not None
    assert 0.21 - price >= 0.01 - 1e-12


def test_trailing_stop_when_cheap_long_premium_wobbles_half_a_tick_then_does_not_trigger() -> None:
    stop = TrailingStop(0.20)
    stop.update(0.21)

    assert stop.update(0.205)[1] is HOLD


def test_trailing_stop_when_credit_premium_is_20_cents_then_stop_is_placed_a_full_tick_above() -> None:
    stop = TrailingStop(0.20, credit=True)

    price, action = stop.update(0.19)

    assert action is ACTIVATE
    assert price is not None
    assert price - 0.19 >= 0.01 - 1e-12
    assert stop.update(0.195)[1] is HOLD


def test_trailing_stop_with_a_5_cent_tick_then_keeps_a_5_cent_gap() -> None:
    stop = TrailingStop(3.00, TrailingStopConfig(tick_size=0.05))

    price, action = stop.update(3.10)

    assert action is ACTIVATE
    assert price == pytest.approx(3.05)


@pytest.mark.parametrize("bad", [None, math.nan, -0.5, math.inf])
def test_trailing_stop_when_premium_is_none_nan_negative_or_infinite_then_ignored(bad: float | None) -> None:
    stop = TrailingStop(10.00)
    stop.update(10.50)
    before = stop.state

    price, action = stop.update(bad)

    assert action is HOLD
    assert price == before.stop
    assert (stop.is_active, stop.best_premium, stop.highest_premium, stop.lowest_premium) == (
        before.active, before.best, before.highest, before.lowest,
    )


def _active_long() -> TrailingStop:
    stop = TrailingStop(10.00)
    stop.update(10.50)  # stop 10.3425
    return stop


@pytest.mark.parametrize(
    ("label", "quote"),
    [
        ("crossed", make_quote(5.10, 5.00)),
        ("stale", make_quote(5.00, 5.10, age_seconds=120)),
        ("missing bid", make_quote(None, 5.10)),
        ("missing ask", make_quote(5.00, None)),
        ("both sides zero", make_quote(0.0, 0.0)),
    ],
)
def test_trailing_stop_when_quote_is_bad_then_neither_triggers_nor_moves(label: str, quote: Quote) -> None:
    # Every one of these quotes' mid (about 5.05) is far through the 10.34 stop.
    stop = _active_long()
    before = stop.state

    price, action = stop.update(quote, NOW)

    assert action is HOLD, label
    assert price == before.stop
    assert stop.highest_premium == before.highest and stop.lowest_premium == before.lowest


def test_trailing_stop_when_quote_is_good_then_its_mid_is_the_premium() -> None:
    stop = _active_long()

    _, action = stop.update(make_quote(5.00, 5.10), NOW)

    assert action is TRIGGER
    assert stop.lowest_premium == pytest.approx(5.05)


def test_trailing_stop_when_quote_age_limit_is_tightened_then_a_30s_quote_is_stale() -> None:
    stop = _active_long()
    quote = make_quote(5.00, 5.10, age_seconds=30)

    assert stop.update(quote, NOW, max_quote_age_seconds=10)[1] is HOLD
    assert stop.update(quote, NOW)[1] is TRIGGER  # within the default 60 s


# --- reset --------------------------------------------------------------------------------
def test_trailing_stop_when_reset_then_deactivates_and_forgets_the_old_peak() -> None:
    # Arrange: active long stop trailing a 1.50 peak (stop 1.4775).
    stop = TrailingStop(1.00)
    stop.update(1.50)

    # Act
    stop.reset()

    # Assert: inactive, no stop; the next price re-arms from itself, so 1.46 (below the old
    # stop) activates a new stop instead of triggering on the forgotten peak.
    assert not stop.is_active
    assert stop.stop_premium is None
    assert stop.best_premium == pytest.approx(1.00)
    price, action = stop.update(1.46)
    assert action is ACTIVATE
    assert price == pytest.approx(1.46 * 0.985)


def test_trailing_stop_when_credit_stop_is_reset_then_stays_credit() -> None:
    stop = TrailingStop(1.00, credit=True)
    stop.update(0.50)

    stop.reset()

    assert stop.credit
    assert stop.update(0.60)[1] is ACTIVATE  # still -40% from entry: re-arms above 0.60
    # 1.5% above 0.60 is 0.609, less than a tick away: the one-tick floor puts it at 0.61.
    assert stop.stop_premium == pytest.approx(0.61)


# --- construction -------------------------------------------------------------------------
@pytest.mark.parametrize("entry", [0.0, -1.0, math.nan])
def test_trailing_stop_when_entry_premium_is_not_positive_then_refused(entry: float) -> None:
    with pytest.raises(ValueError, match="entry_premium"):
        TrailingStop(entry)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("trailing_pct", 100.0, "below 100"),
        ("tick_size", 0.0, "tick_size"),
        ("activation_pct", -1.0, "activation_pct"),
        ("min_move_pct", math.nan, "min_move_pct"),
    ],
)
def test_trailing_stop_config_when_setting_is_out_of_range_then_refused_by_name(
    field: str, value: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        TrailingStopConfig(**{field: value})
