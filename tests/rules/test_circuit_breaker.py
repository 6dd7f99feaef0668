"""circuit_breaker (CRITICAL): the day's realized + unrealized loss reaches the daily loss
limit; every position closes. Silent without a limit."""

from __future__ import annotations

import math

import pytest

from riskpilot import ExitAction, PortfolioView, Priority
from riskpilot.testing import make_context, make_evaluator, make_vertical, run_rule


def test_circuit_breaker_when_day_loss_exceeds_limit_then_fires_critical_close_of_everything() -> None:
    ctx = make_context(
        1.00,
        position=make_vertical(1.00, quantity=3),
        portfolio=PortfolioView(equity=100_000.0, day_pnl=-5_000.0, daily_loss_limit=3_000.0),
    )

    firing = run_rule("circuit_breaker", ctx)

    assert firing is not None
    assert firing.priority is Priority.CRITICAL
    assert firing.action is ExitAction.CLOSE
    assert firing.quantity == 3
    assert firing.inputs["day_pnl"] == pytest.approx(-5_000.0)
    assert firing.inputs["daily_loss_limit"] == pytest.approx(3_000.0)


def test_circuit_breaker_when_day_loss_exactly_reaches_limit_then_fires() -> None:
    ctx = make_context(
        1.00, portfolio=PortfolioView(equity=100_000.0, day_pnl=-3_000.0, daily_loss_limit=3_000.0)
    )

    assert run_rule("circuit_breaker", ctx) is not None


def test_circuit_breaker_when_day_loss_is_one_dollar_short_of_limit_then_holds() -> None:
    ctx = make_context(
        1.00, portfolio=PortfolioView(equity=100_000.0, day_pnl=-2_999.0, daily_loss_limit=3_000.0)
    )

    assert run_rule("circuit_breaker", ctx) is None


def test_circuit_breaker_when_day_is_profitable_then_holds() -> None:
    ctx = make_context(
        1.00, portfolio=PortfolioView(equity=100_000.0, day_pnl=4_000.0, daily_loss_limit=3_000.0)
    )

    assert run_rule("circuit_breaker", ctx) is None


def test_circuit_breaker_without_a_daily_loss_limit_then_stays_silent() -> None:
    ctx = make_context(1.00, portfolio=PortfolioView(equity=100_000.0, day_pnl=-90_000.0))

    assert run_rule("circuit_breaker", ctx) is None


def test_circuit_breaker_when_this_position_is_profitable_then_still_closes_it() -> None:
    # The breaker is about the portfolio's day, not this position: every position closes.
    ctx = make_context(
        0.20,
        position=make_vertical(1.00),
        portfolio=PortfolioView(equity=100_000.0, day_pnl=-3_500.0, daily_loss_limit=3_000.0),
    )

    assert run_rule("circuit_breaker", ctx) is not None


def test_circuit_breaker_when_day_pnl_is_nan_then_the_portfolio_view_is_refused() -> None:
    # A NaN day P&L used to close every position ("daily loss $nan reached the limit").
    with pytest.raises(ValueError, match="day_pnl must be a finite number"):
        PortfolioView(equity=100_000.0, day_pnl=math.nan, daily_loss_limit=3_000.0)


def test_circuit_breaker_when_limit_is_zero_then_the_portfolio_view_is_refused() -> None:
    with pytest.raises(ValueError, match="daily_loss_limit must be a positive dollar amount"):
        PortfolioView(equity=100_000.0, day_pnl=0.0, daily_loss_limit=0.0)


def test_circuit_breaker_when_disabled_then_never_fires() -> None:
    ev = make_evaluator({"circuit_breaker": {"enabled": False}})
    ctx = make_context(
        1.00, portfolio=PortfolioView(equity=100_000.0, day_pnl=-9_000.0, daily_loss_limit=3_000.0)
    )

    assert ev.evaluate(ctx).is_hold
