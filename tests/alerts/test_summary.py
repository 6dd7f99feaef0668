"""End-of-day summary: P&L, open positions, trade statistics and market context, checked by hand
against a small book on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from riskpilot.alerts import build_summary, market_context
from riskpilot.config.schema import RegimeConfig
from riskpilot.data import history
from riskpilot.model import PositionStatus, Priority
from riskpilot.store import ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import PositionRow

DAY = date(2024, 3, 4)  # a Monday; the book opens on Friday 2024-03-01


def _close(store: Store, pid: str, qty: int, price: float, at: datetime, commission: float) -> None:
    ExitRepository(store).record_exit(
        pid,
        reason="test close",
        priority=Priority.MEDIUM,
        quantity=qty,
        fill_price=price,
        tactic="MEDIUM",
        triggered_at=at,
        executed_at=at,
        commission=commission,
    )


def _book(store: Store, spread: Any) -> None:
    """p1 open (4 x credit 1.00, marked 0.60 on DAY); p2 closed on DAY at 0.50 (2 units, $2
    commission); p3 closed on 2024-03-01 at 1.80 (1 unit, $1 commission); the 2024-03-01 close
    recorded an open unrealized P&L of $40."""
    repo = PositionRepository(store)
    for pid, qty in (("p1", 4), ("p2", 2), ("p3", 1)):
        repo.open_position(spread.put_spread(pid, quantity=qty, entry=1.00))
    _close(store, "p3", 1, 1.80, datetime(2024, 3, 1, 19, 0, tzinfo=UTC), 1.0)
    StateRepository(store).set_unrealized(date(2024, 3, 1), 40.0, datetime(2024, 3, 1, 21, 0, tzinfo=UTC))
    repo.apply_mark("p1", 0.60, datetime(2024, 3, 4, 20, 0, tzinfo=UTC))
    _close(store, "p2", 2, 0.50, datetime(2024, 3, 4, 19, 0, tzinfo=UTC), 2.0)


def test_summary_of_a_day_reconciles_by_hand(store: Store, spread: Any) -> None:
    _book(store, spread)
    s = build_summary(store, DAY)
    # p2: (1.00 - 0.50) x 100 x 2 = 100 realized, 2 commission.
    assert s.realized_pnl == pytest.approx(100.0)
    assert s.commissions == pytest.approx(2.0)
    assert s.realized_net == pytest.approx(98.0)
    # p1: (1.00 - 0.60) x 100 x 4 = 160 unrealized; previous close 40.
    assert s.open_unrealized_pnl == pytest.approx(160.0)
    assert s.previous_unrealized_pnl == pytest.approx(40.0)
    assert s.day_pnl == pytest.approx(98.0 + 160.0 - 40.0)
    assert s.day_pnl_note is None

    [p1] = s.positions
    assert (p1.id, p1.quantity, p1.entry_premium, p1.current_premium) == ("p1", 4, 1.00, 0.60)
    assert p1.profit_pct == pytest.approx(0.40)
    assert p1.dte == (date(2024, 4, 19) - DAY).days == 46

    assert (s.today.count, s.today.wins, s.today.win_rate) == (1, 1, 1.0)
    assert s.today.pnl == pytest.approx(98.0)
    # p3: (1.00 - 1.80) x 100 x 1 = -80, less $1 commission.
    assert (s.all_time.count, s.all_time.wins, s.all_time.win_rate) == (2, 1, 0.5)
    assert s.all_time.pnl == pytest.approx(98.0 - 81.0)
    assert s.trading_state == "ACTIVE"

    text = s.to_text()
    assert "Day P&L: +$218.00" in text
    assert "p1 SPY put-spread-moderate x4: +40.0%, 46 DTE" in text
    assert "Today: 1 trades, win rate 100%, P&L +$98.00" in text
    assert "All time: 2 trades, win rate 50%, P&L +$17.00" in text
    assert json.loads(json.dumps(s.to_dict()))["positions"][0]["expiration"] == "2024-04-19"


def test_day_pnl_is_unknown_not_zero_without_the_previous_close(store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    repo.open_position(spread.put_spread("p1", quantity=1))  # opened 2024-03-01
    repo.apply_mark("p1", 0.80, datetime(2024, 3, 4, 20, 0, tzinfo=UTC))
    s = build_summary(store, DAY)
    assert s.day_pnl is None and s.previous_unrealized_pnl is None
    assert s.day_pnl_note is not None and "1 position(s) were open when the day began" in s.day_pnl_note
    assert "Day P&L: unknown" in s.to_text()
    # On its opening day nothing was open before: the day P&L is the whole unrealized P&L.
    first = build_summary(store, date(2024, 3, 1))
    assert first.previous_unrealized_pnl == 0.0
    assert first.day_pnl == pytest.approx(20.0)


def test_empty_store_summary_has_no_trades_and_no_win_rate(store: Store) -> None:
    s = build_summary(store, DAY)
    assert s.positions == () and s.day_pnl == 0.0
    assert (s.all_time.count, s.all_time.win_rate, s.all_time.pnl) == (0, None, 0.0)
    assert "win rate n/a" in s.to_text()


def test_market_context_uses_only_closes_on_or_before_the_day() -> None:
    cfg = RegimeConfig()
    m = market_context(date(2024, 3, 2), "SPY", cfg)  # a Saturday: Friday's closes
    assert m.as_of == date(2024, 3, 1) and not m.stale
    vix = history.load_index("VIX")["close"]
    px = history.load_underlying("SPY")["close"]
    assert m.vix_close == pytest.approx(float(vix.loc["2024-03-01"]))
    upto = px[px.index <= "2024-03-01"]
    assert m.close == pytest.approx(float(upto.iloc[-1]))
    assert m.trend_average == pytest.approx(float(upto.iloc[-cfg.trend_sma_days :].mean()))
    expected = ("bull" if m.close >= (m.trend_average or 0) else "bear") + (
        "_high_vol" if m.vix_close >= cfg.vix_high_threshold else "_low_vol"
    )
    assert m.regime == expected == "bull_low_vol"


def test_market_context_after_the_bundled_history_is_flagged_stale_and_before_it_refused() -> None:
    late = market_context(date(2100, 1, 1))
    assert late.stale and late.as_of < date(2100, 1, 1)
    with pytest.raises(LookupError, match="starts after 1980-01-02"):
        market_context(date(1980, 1, 2))
    with pytest.raises(LookupError, match="no bundled underlying symbol 'XYZ'"):
        market_context(DAY, "XYZ")


def test_summary_carries_market_context_into_text_and_json(store: Store) -> None:
    s = build_summary(store, DAY, market_context(DAY))
    assert s.market is not None and s.market.as_of == DAY
    assert f"Market 2024-03-04: VIX {s.market.vix_close:.2f}" in s.to_text()
    assert s.to_dict()["market"]["regime"] == s.market.regime


def test_an_entry_that_never_filled_is_not_a_trade(store: Store, spread: Any) -> None:
    _book(store, spread)
    PositionRepository(store).open_position(spread.put_spread("p4", quantity=3))
    with store.transaction() as s:  # as an unfilled entry ends: CLOSED at quantity 0, no exit
        row = s.get(PositionRow, "p4")
        assert row is not None
        row.quantity, row.status, row.closed_at = 0, PositionStatus.CLOSED, datetime(2024, 3, 4, 15, tzinfo=UTC)
    s4 = build_summary(store, DAY)
    assert (s4.today.count, s4.all_time.count) == (1, 2)
