"""Fill timing (``--fill close`` / ``--fill next``) on a hand-made chain whose every price is
checked by hand (tests/backtest/scenario.py), and on the real SPX 2019 chain in
tests/backtest/test_golden_spx2019.py."""

from __future__ import annotations

from datetime import date

import pytest
from tests.backtest.scenario import (
    COMMISSION,
    D1,
    D2,
    D3,
    D4,
    D5,
    DAYS,
    Leg,
    chain,
    config,
    entry_credit,
    exit_debit,
    short_long,
)

from riskpilot.backtest.engine import run_backtest
from riskpilot.backtest.result import BacktestResult


def _run(fill: str, days: dict[date, tuple[float, list[Leg]]] | None = None) -> BacktestResult:
    return run_backtest(chain(days), config(), method="default", underlying="XYZ", equity=100_000.0,
                        fill=fill)  # type: ignore[arg-type]


def test_fill_close_enters_and_exits_at_the_deciding_days_quotes() -> None:
    r = _run("close")
    [t] = r.trades
    assert (t.opened, t.closed, t.exit_reason, t.quantity) == (D1, D3, "profit_target", 10)
    assert t.entry_premium == pytest.approx(entry_credit((1.00, 1.10), (0.40, 0.50)), abs=1e-12)
    assert t.exit_premium == pytest.approx(exit_debit((0.30, 0.34), (0.10, 0.12)), abs=1e-12)


def test_fill_next_fills_each_decision_at_the_next_days_quotes() -> None:
    r = _run("next")
    [t] = r.trades
    # Decided on D1's close, filled at D2's quotes; the 50% target seen on D3 fills on D4.
    assert (t.opened, t.closed, t.exit_reason) == (D2, D4, "profit_target")
    assert t.entry_premium == pytest.approx(entry_credit((0.90, 1.00), (0.35, 0.45)), abs=1e-12)
    assert t.exit_premium == pytest.approx(exit_debit((0.20, 0.24), (0.05, 0.07)), abs=1e-12)
    assert t.pnl == pytest.approx((t.entry_premium - t.exit_premium) * 100 * 10 - 4 * COMMISSION * 10, abs=1e-9)
    # Exposed until the fill: D4's mark went into the trade's MFE (mid 0.22 - 0.06 = 0.16).
    assert t.mfe == pytest.approx((t.entry_premium - 0.16) * 100 * 10, abs=1e-9)
    # On D1 nothing is booked yet: equity is the starting cash.
    assert r.equity[0] == 100_000.0


def test_fill_next_exit_keeps_working_while_a_leg_is_unquoted_then_fills() -> None:
    days = dict(DAYS)
    spot, legs = days[D4]
    days[D4] = (spot, legs[:1])  # the 98 put has no row on D4
    r = _run("next", days)
    [t] = r.trades
    assert (t.closed, t.exit_reason) == (D5, "profit_target")  # decided on D3, filled at D5's quotes
    assert t.exit_premium == pytest.approx(exit_debit((1.50, 1.60), (0.20, 0.30)), abs=1e-12)
    assert any("decided on 2024-03-06 unfilled" in w and "keeps working" in w for w in r.warnings)


def test_fill_next_entry_is_cancelled_when_the_next_day_lacks_a_leg() -> None:
    days = dict(DAYS)
    spot, legs = days[D2]
    days[D2] = (spot, legs[:1])
    r = _run("next", days)
    assert r.entries_refused.get("next_day_unfillable") == 1
    assert not r.trades and not r.open_positions


def test_fill_next_entry_is_cancelled_when_the_credit_is_gone() -> None:
    days = dict(DAYS)
    days[D2] = (109.0, short_long((0.40, 0.60), (0.45, 0.55)))  # buying the wing costs more than the short pays
    r = _run("next", days)
    assert r.entries_refused.get("next_day_no_credit") == 1
    assert not r.trades


def test_a_second_entry_into_a_held_expiration_is_refused_by_name() -> None:
    r = _run("close")
    assert r.entries_refused.get("expirations_held") == 1  # D2: the one expiration is held
    assert r.entries_refused.get("no_candidate", 0) >= 1  # D3..: no short strike in the delta range
