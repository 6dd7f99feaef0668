"""TrailingStopManager: one stop per position; add, update all (async; positions without a
price skipped), get, remove (on close), reset, get_all; state survives a restart."""

from __future__ import annotations

import json

import pytest

from riskpilot import TrailingStop, TrailingStopAction, TrailingStopConfig, TrailingStopManager
from riskpilot.testing import NOW, make_quote

HOLD, ACTIVATE, UPDATE, TRIGGER = (
    TrailingStopAction.HOLD,
    TrailingStopAction.ACTIVATE,
    TrailingStopAction.UPDATE,
    TrailingStopAction.TRIGGER,
)


def _manager() -> TrailingStopManager:
    mgr = TrailingStopManager()
    mgr.add_trailing_stop("long-1", 10.00)
    mgr.add_trailing_stop("credit-1", 2.00, credit=True)
    return mgr


def test_manager_when_stop_added_then_get_returns_it() -> None:
    mgr = TrailingStopManager()

    added = mgr.add_trailing_stop("p1", 1.00)

    assert mgr.get_stop("p1") is added
    assert isinstance(added, TrailingStop)
    assert len(mgr) == 1


def test_manager_when_get_unknown_position_then_returns_none() -> None:
    assert TrailingStopManager().get_stop("nope") is None


def test_manager_when_stop_added_twice_then_the_second_replaces_the_first() -> None:
    mgr = TrailingStopManager()
    mgr.add_trailing_stop("p1", 1.00)

    second = mgr.add_trailing_stop("p1", 2.00, credit=True)

    assert mgr.get_stop("p1") is second
    assert len(mgr) == 1


def test_manager_when_stop_has_its_own_config_then_it_is_used_instead_of_the_default() -> None:
    mgr = TrailingStopManager(TrailingStopConfig(activation_pct=50.0))
    default = mgr.add_trailing_stop("p1", 1.00)
    custom = mgr.add_trailing_stop("p2", 1.00, TrailingStopConfig(activation_pct=5.0))

    assert default.update(1.10)[1] is HOLD
    assert custom.update(1.10)[1] is ACTIVATE


async def test_manager_update_stops_when_all_positions_priced_then_each_stop_steps() -> None:
    mgr = _manager()

    result = await mgr.update_stops({"long-1": 10.20, "credit-1": 1.90})

    assert result["long-1"] == (pytest.approx(10.20 * 0.985), ACTIVATE)
    assert result["credit-1"] == (pytest.approx(1.90 * 1.015), ACTIVATE)


async def test_manager_update_stops_when_a_position_has_no_price_then_it_is_skipped() -> None:
    mgr = _manager()
    before = mgr.get_stop("credit-1")
    assert before is not None
    state_before = before.state

    result = await mgr.update_stops({"long-1": 10.20, "credit-1": None})

    assert set(result) == {"long-1"}
    assert before.state == state_before


async def test_manager_update_stops_when_a_price_is_for_an_unknown_position_then_it_is_ignored() -> None:
    mgr = _manager()

    result = await mgr.update_stops({"ghost": 1.0, "long-1": 10.0})

    assert set(result) == {"long-1"}
    assert mgr.get_stop("ghost") is None


async def test_manager_update_stops_when_a_quote_is_stale_then_that_stop_holds_untouched() -> None:
    mgr = _manager()
    await mgr.update_stops({"long-1": 10.50})
    long_stop = mgr.get_stop("long-1")
    assert long_stop is not None
    placed = long_stop.stop_premium

    result = await mgr.update_stops({"long-1": make_quote(5.0, 5.1, age_seconds=300)}, NOW)

    assert result["long-1"] == (placed, HOLD)


async def test_manager_update_stops_when_premium_crosses_a_stop_then_reports_trigger() -> None:
    mgr = _manager()
    await mgr.update_stops({"long-1": 10.50, "credit-1": 1.50})

    result = await mgr.update_stops({"long-1": 10.00, "credit-1": 1.60})

    assert result["long-1"][1] is TRIGGER
    assert result["credit-1"][1] is TRIGGER


def test_manager_when_stop_removed_then_it_is_gone() -> None:
    mgr = _manager()

    mgr.remove_stop("long-1")

    assert mgr.get_stop("long-1") is None
    assert set(mgr.get_all_stops()) == {"credit-1"}


def test_manager_when_removing_a_missing_id_then_it_is_not_an_error() -> None:
    mgr = _manager()

    mgr.remove_stop("never-added")
    mgr.remove_stop("long-1")
    mgr.remove_stop("long-1")

    assert len(mgr) == 1


async def test_manager_when_stop_reset_then_it_is_inactive_and_returns_true() -> None:
    mgr = _manager()
    await mgr.update_stops({"long-1": 10.50})

    assert mgr.reset_stop("long-1") is True

    stop = mgr.get_stop("long-1")
    assert stop is not None and not stop.is_active and stop.stop_premium is None


def test_manager_when_resetting_a_missing_id_then_returns_false() -> None:
    assert _manager().reset_stop("nope") is False


def test_manager_get_all_stops_when_mutated_then_the_manager_is_unaffected() -> None:
    mgr = _manager()

    everything = mgr.get_all_stops()
    everything.clear()

    assert set(mgr.get_all_stops()) == {"long-1", "credit-1"}


async def test_manager_when_serialized_through_json_and_restored_then_behaves_identically() -> None:
    # Arrange: both stops active with history, one with its own config.
    mgr = TrailingStopManager(TrailingStopConfig(activation_pct=3.0, tick_size=0.05))
    mgr.add_trailing_stop("long-1", 10.00)
    mgr.add_trailing_stop("credit-1", 2.00, TrailingStopConfig(trailing_pct=5.0), credit=True)
    await mgr.update_stops({"long-1": 10.60, "credit-1": 1.80})
    await mgr.update_stops({"long-1": 10.90, "credit-1": 1.70})

    # Act: a restart.
    restored = TrailingStopManager.from_dict(json.loads(json.dumps(mgr.to_dict())))

    # Assert: same state, same config, and the same answers to the same future prices.
    assert restored.default_config == mgr.default_config
    for pid in ("long-1", "credit-1"):
        a, b = mgr.get_stop(pid), restored.get_stop(pid)
        assert a is not None and b is not None
        assert b.state == a.state and b.config == a.config
    path = [{"long-1": 11.40, "credit-1": 1.60}, {"long-1": 11.20, "credit-1": 1.66}, {"long-1": 10.0, "credit-1": 1.9}]
    for prices in path:
        assert await restored.update_stops(prices) == await mgr.update_stops(prices)


def test_trailing_stop_when_round_tripped_then_preserves_state_and_next_action() -> None:
    stop = TrailingStop(1.00, credit=True)
    stop.update(0.80)

    copy = TrailingStop.from_dict(json.loads(json.dumps(stop.to_dict())))

    assert copy.state == stop.state
    assert copy.credit and copy.is_active
    assert copy.update(0.95) == stop.update(0.95)


def test_trailing_stop_when_record_is_malformed_then_error_says_so() -> None:
    with pytest.raises(ValueError, match="malformed"):
        TrailingStop.from_dict({"state": {"entry_premium": 1.0}})
    with pytest.raises(ValueError, match="entry_premium"):
        TrailingStop.from_dict({"config": {}, "state": {"active": True}})
