"""check_position_exits and record_fill: the book, the day's P&L and the circuit breaker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from riskpilot.config import config_from_dict
from riskpilot.model import (
    ExitAction,
    Fill,
    Leg,
    Mark,
    OptionContract,
    Position,
    PremiumType,
    Priority,
    Right,
    Side,
    TradingState,
)
from riskpilot.risk import OrderRequest, RiskManager, UnknownPositionError
from riskpilot.rules import TrailingStopAction

DAY1 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def spread(pid: str, qty: int = 2, entry: float = 1.00, underlying: str = "SPY") -> Position:
    exp = date(2026, 4, 17)
    return Position(
        id=pid,
        legs=(
            Leg(OptionContract(underlying, exp, 500, Right.PUT), -1),
            Leg(OptionContract(underlying, exp, 495, Right.PUT), 1),
        ),
        premium_type=PremiumType.CREDIT,
        entry_premium=entry,
        quantity=qty,
        opened_at=DAY1 - timedelta(days=3),
        method="default",
    )


def make_rm(**risk: object) -> RiskManager:
    cfg = config_from_dict({"risk": {"max_delta_pct": None, "max_gamma_pct": None, **risk},
                            "liquidity": {"min_volume": 0}})
    return RiskManager(cfg, equity=100_000)


def opened(rm: RiskManager, pos: Position, at: datetime = DAY1) -> None:
    rm.validate_order(OrderRequest(pos.underlying, pos.quantity, 400.0, position_id=pos.id))
    rm.record_fill(Fill(f"open-{pos.id}", f"o-{pos.id}", pos.quantity, pos.entry_premium, at, Side.BUY,
                        position_id=pos.id))


def test_record_fill_applies_a_fill_once() -> None:
    rm = make_rm()
    pos = spread("p1")
    opened(rm, pos)
    dup = Fill(f"open-{pos.id}", "o-p1", 2, 1.0, DAY1, Side.BUY, position_id="p1")
    assert rm.record_fill(dup) is False
    assert rm.open_quantity("p1") == 2 and rm.heat == pytest.approx(800.0)


def test_record_fill_for_unknown_position_names_the_fix() -> None:
    rm = make_rm()
    with pytest.raises(UnknownPositionError, match="call validate_order or register_position first"):
        rm.record_fill(Fill("f", "o", 1, 1.0, DAY1, Side.SELL, position_id="ghost"))


def test_record_fill_closing_realizes_pnl_after_commission() -> None:
    rm = make_rm()
    opened(rm, spread("p1", qty=2, entry=1.00))
    rm.record_fill(Fill("c1", "oc", 1, 0.40, DAY1, Side.SELL, position_id="p1", commission=1.30))
    assert rm.realized_pnl == pytest.approx(60.0 - 1.30)
    assert rm.open_quantity("p1") == 1 and rm.heat == pytest.approx(400.0)
    with pytest.raises(ValueError, match="closes 2 of position p1 but only 1 open"):
        rm.record_fill(Fill("c2", "oc", 2, 0.40, DAY1, Side.SELL, position_id="p1"))


def test_check_position_exits_without_a_quote_holds_and_says_so() -> None:
    rm = make_rm()
    [c] = rm.check_position_exits([spread("p1")], {}, DAY1)
    assert c.decision.action is ExitAction.HOLD and c.decision.reason == "no quote"


def test_check_position_exits_updates_tracked_state_from_good_marks_only() -> None:
    rm = make_rm()
    pos = spread("p1", entry=1.00)
    [c] = rm.check_position_exits([pos], {"p1": Mark.from_premium(0.80, DAY1)}, DAY1)
    assert c.position.state.mfe == pytest.approx(0.20) and c.position.state.trough_premium == pytest.approx(0.80)
    bad = Mark(premium=0.10, bid=0.2, ask=0.1, timestamp=DAY1, problem=None)
    crossed = Mark(bad.premium, bad.bid, bad.ask, DAY1, problem=__import__("riskpilot").model.QuoteProblem.CROSSED)
    [c2] = rm.check_position_exits([c.position], {"p1": crossed}, DAY1 + timedelta(minutes=1))
    assert c2.decision.action is ExitAction.HOLD and "crossed" in c2.decision.reason
    assert c2.position.state.trough_premium == pytest.approx(0.80)  # the bad quote moved nothing


def test_check_position_exits_trailing_stop_on_credit_triggers_high() -> None:
    cfg = config_from_dict({"trailing_stop": {"activation_pct": 20, "trailing_pct": 25, "min_move_pct": 1,
                                              "trail_credit": True},
                            "exit_rules": {"profit_target": {"profit_target_pct": 0.9}},
                            "partial_exits": {"enabled": False}, "liquidity": {"min_volume": 0}})
    rm = RiskManager(cfg, equity=100_000)
    pos = spread("p1", entry=1.00)
    path = [0.90, 0.70, 0.50, 0.55, 0.64]
    actions = []
    for i, prem in enumerate(path):
        at = DAY1 + timedelta(minutes=i)
        [c] = rm.check_position_exits([pos], {"p1": Mark.from_premium(prem, at)}, at)
        pos = c.position
        actions.append(c.trail_action)
    assert actions == [TrailingStopAction.HOLD, TrailingStopAction.ACTIVATE, TrailingStopAction.UPDATE,
                       TrailingStopAction.HOLD, TrailingStopAction.TRIGGER]
    assert c.decision.rule == "trailing_stop" and c.decision.priority is Priority.HIGH
    assert rm.trails["p1"].stop == pytest.approx(0.625)


def test_circuit_breaker_halts_entries_closes_everything_and_resets_next_day() -> None:
    rm = make_rm(daily_loss_limit_pct=0.01)  # $1,000
    a, b = spread("a", qty=5), spread("b", qty=5, underlying="QQQ")
    opened(rm, a)
    opened(rm, b)
    # a loses 1.10 x 100 x 5 = 550 and b 1.00 x 500 = 500: 1,050 >= 1,000
    marks = {"a": Mark.from_premium(2.10, DAY1), "b": Mark.from_premium(2.00, DAY1)}
    checks = rm.check_position_exits([a, b], marks, DAY1)
    assert rm.trading_state is TradingState.HALTED and "circuit breaker" in rm.state_reason
    for c in checks:
        fired = {c.decision.rule, *(f.rule for f in c.decision.also_fired)}
        assert "circuit_breaker" in fired and c.decision.priority is Priority.CRITICAL
    assert not rm.validate_order(OrderRequest("IWM", 1, 100.0)).approved
    assert rm.validate_order(OrderRequest("IWM", 1, 100.0, reduces_risk=True)).approved
    # The next trading day the breaker re-arms and entries pass again.
    rm.check_position_exits([a, b], marks, DAY1 + timedelta(days=1))
    assert rm.trading_state is TradingState.ACTIVE


def test_circuit_breaker_below_the_limit_does_not_fire() -> None:
    rm = make_rm(daily_loss_limit_pct=0.01)
    a = spread("a", qty=5)
    opened(rm, a)
    [c] = rm.check_position_exits([a], {"a": Mark.from_premium(2.98, DAY1)}, DAY1)  # 990 loss
    assert rm.trading_state is TradingState.ACTIVE
    assert c.decision.rule != "circuit_breaker"


def test_day_pnl_counts_only_todays_change_of_unrealized() -> None:
    rm = make_rm(daily_loss_limit_pct=0.01)
    a = spread("a", qty=5)
    opened(rm, a)
    rm.check_position_exits([a], {"a": Mark.from_premium(2.50, DAY1)}, DAY1)  # -750 on day 1
    assert rm.trading_state is TradingState.ACTIVE
    # Day 2: from 2.50 to 3.00 is -250 today, though -1,000 since entry.
    day2 = DAY1 + timedelta(days=1)
    rm.check_position_exits([a], {"a": Mark.from_premium(3.00, day2)}, day2)
    assert rm.trading_state is TradingState.ACTIVE


def test_snapshot_restore_keeps_state_and_trailing_stops() -> None:
    rm = make_rm()
    pos = spread("p1")
    rm.check_position_exits([pos], {"p1": Mark.from_premium(0.90, DAY1)}, DAY1)
    rm.halt("manual", DAY1.date())
    snap = rm.snapshot()
    rm2 = make_rm()
    rm2.restore(snap)
    assert rm2.trading_state is TradingState.HALTED and rm2.trails == rm.trails


def test_marking_copy_keeps_every_field_of_the_position() -> None:
    # Position._with_state copies fields one by one for speed; a new field must be added there.
    pos = spread("p1", qty=3)
    marked = pos.marked(0.8, DAY1)
    for name in Position.__dataclass_fields__:
        if name != "state":
            assert getattr(marked, name) == getattr(pos, name), name
    assert marked.state.last_premium == 0.8


def test_record_fill_follows_the_order_side_convention_for_credit_and_debit() -> None:
    # BUY of the held combo opens (a credit spread is bought as [-1 short, +1 long] for a credit),
    # SELL closes: the same convention as model.Order, execution.fills and the paper broker.
    rm = make_rm()
    for pid, kind in (("c", PremiumType.CREDIT), ("d", PremiumType.DEBIT)):
        rm.register_position(pid, OrderRequest("SPY", 2, 300.0, premium_type=kind))
        rm.record_fill(Fill(f"o-{pid}", "o", 2, 1.0, DAY1, Side.BUY, position_id=pid))
        assert rm.open_quantity(pid) == 2
        rm.record_fill(Fill(f"c-{pid}", "c", 2, 1.5, DAY1, Side.SELL, position_id=pid))
        assert rm.open_quantity(pid) == 0
    # credit sold at 1.00 and bought back at 1.50 loses 100; debit paid 1.00 sold 1.50 gains 100
    assert rm.realized_pnl == pytest.approx(0.0)
