"""Defaults that fit short premium: partial stages that must still lock in profit after the
spread, no trailing stop on credit premium unless asked, the liquidity rule judging the legs
that matter to the close (not the long wings), and zero-bid short legs unusable for closing
fills."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riskpilot.config.loader import config_from_dict
from riskpilot.execution.fills import FillModel, SpreadShareSlippage, combo_market, simulate_fill
from riskpilot.model import Leg, Mark, OptionContract, Right, Side
from riskpilot.model.enums import OrderType
from riskpilot.risk.manager import RiskManager
from riskpilot.rules.trailing_stop import TrailingStopAction
from riskpilot.testing import NOW, make_context, make_position, make_quote, make_vertical, run_rule
from riskpilot.trading.marking import mark_for_rules


def _mark(bid: float, ask: float) -> Mark:
    return Mark(premium=(bid + ask) / 2, bid=bid, ask=ask, timestamp=NOW)


def test_partial_stage_at_the_mid_does_not_fire_when_the_natural_side_is_a_loss() -> None:
    pos = make_vertical(1.00, quantity=4)
    # Mid 0.84 is +16% (past the 15% stage), but buying back at the ask (1.08) loses.
    assert run_rule("partial_exit_target", make_context(mark=_mark(0.60, 1.08), position=pos)) is None


def test_partial_stage_fires_when_the_natural_side_still_locks_in_profit() -> None:
    pos = make_vertical(1.00, quantity=4)
    firing = run_rule("partial_exit_target", make_context(mark=_mark(0.80, 0.88), position=pos))
    assert firing is not None and firing.quantity == 2


def test_partial_stage_without_the_lock_in_fires_on_the_mid_alone() -> None:
    pos = make_vertical(1.00, quantity=4)
    ctx = make_context(mark=_mark(0.60, 1.08), position=pos)
    assert run_rule("partial_exit_target", ctx, lock_in_profit=False) is not None


def _trail_actions(credit: bool, **trailing: object) -> list[TrailingStopAction]:
    cfg = config_from_dict({"trailing_stop": {"activation_pct": 20, "trailing_pct": 25, "min_move_pct": 1, **trailing},
                            "exit_rules": {"profit_target": {"enabled": False}}, "partial_exits": {"enabled": False}})
    rm = RiskManager(cfg, equity=100_000)
    pos = make_position(1.00, credit=credit)
    path = [0.90, 0.70, 0.50, 0.55, 0.64] if credit else [1.10, 1.30, 1.50, 1.45, 1.10]
    actions = []
    for i, prem in enumerate(path):
        at = NOW + timedelta(minutes=i)  # each mark stamped at its check (an older one is stale)
        [c] = rm.check_position_exits([pos], {pos.id: Mark.from_premium(prem, at)}, at)
        pos = c.position
        actions.append(c.trail_action)
    return actions


def test_credit_premium_is_not_trailed_by_default() -> None:
    assert set(_trail_actions(credit=True)) == {TrailingStopAction.HOLD}


def test_credit_premium_is_trailed_when_the_method_asks() -> None:
    assert _trail_actions(credit=True, trail_credit=True)[-1] is TrailingStopAction.TRIGGER


def test_debit_premium_is_trailed_by_default() -> None:
    assert _trail_actions(credit=False)[-1] is TrailingStopAction.TRIGGER


def _condor_quotes(wing: tuple[float, float], short: tuple[float, float] = (1.00, 1.04), *,
                   wing_volume: int = 0, short_volume: int = 500) -> tuple[object, dict[OptionContract, object]]:
    exp = (NOW + timedelta(days=30)).date()
    k = {"sp": (400.0, Right.PUT, -1), "lp": (390.0, Right.PUT, 1), "sc": (440.0, Right.CALL, -1),
         "lc": (450.0, Right.CALL, 1)}
    legs = tuple(Leg(OptionContract("SPY", exp, strike, right), q) for strike, right, q in k.values())
    pos = make_position(1.20, legs=legs)
    quotes = {}
    for leg in legs:
        bid, ask = short if leg.quantity < 0 else wing
        quotes[leg.contract] = make_quote(bid, ask, volume=short_volume if leg.quantity < 0 else wing_volume)
    return pos, quotes


def test_liquidity_ignores_the_wide_long_wings_of_an_iron_condor() -> None:
    # Wings quoted 0.05 x 0.15 (100% of their mid) and untraded; the short legs 1.00 x 1.04.
    pos, quotes = _condor_quotes((0.05, 0.15))
    mark = mark_for_rules(pos, quotes, NOW)  # type: ignore[arg-type]
    assert mark.leg_relative_spread == pytest.approx(0.04 / 1.02)
    assert mark.min_volume == 500
    assert run_rule("liquidity_dried_up", make_context(mark=mark, position=pos)) is None  # type: ignore[arg-type]


def test_liquidity_still_fires_on_a_wide_short_leg() -> None:
    pos, quotes = _condor_quotes((0.05, 0.15), short=(0.50, 1.20))
    mark = mark_for_rules(pos, quotes, NOW)  # type: ignore[arg-type]
    assert run_rule("liquidity_dried_up", make_context(mark=mark, position=pos)) is not None  # type: ignore[arg-type]


def _spread_legs() -> tuple[Leg, Leg]:
    exp = (NOW + timedelta(days=30)).date()
    return (Leg(OptionContract("SPY", exp, 300.0, Right.PUT), -1), Leg(OptionContract("SPY", exp, 295.0, Right.PUT), 1))


def test_a_zero_bid_on_a_short_leg_to_buy_back_is_no_price_to_close_at() -> None:
    short, long = _spread_legs()
    quotes = {short.contract: make_quote(0.0, 0.05), long.contract: make_quote(0.0, 0.05)}
    model = FillModel(SpreadShareSlippage())
    res = simulate_fill((short, long), Side.SELL, 1, OrderType.MARKET, None, quotes, model)
    assert not res.filled and "zero bid on short leg" in (res.reason or "")
    assert isinstance(combo_market((short, long), Side.SELL, quotes), str)


def test_a_zero_bid_long_wing_can_still_be_bought_at_entry() -> None:
    short, long = _spread_legs()
    quotes = {short.contract: make_quote(0.40, 0.45), long.contract: make_quote(0.0, 0.05)}
    res = simulate_fill((short, long), Side.BUY, 1, OrderType.MARKET, None, quotes, FillModel(SpreadShareSlippage()))
    assert res.filled
