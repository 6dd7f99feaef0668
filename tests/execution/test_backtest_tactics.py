"""The backtest executes each exit with its priority's tactic (SPEC section 3 on EOD bars)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from riskpilot.backtest.engine import run_backtest
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.schema import CHAIN_SCHEMA

D1, D2, D3 = date(2021, 3, 15), date(2021, 3, 16), date(2021, 3, 19)


def _row(day: date, strike: float, right: str, bid: float, ask: float, delta: float, exp: date = D3) -> dict[str, Any]:
    return {
        "quote_date": day, "underlying": "SPY", "underlying_price": 100.0 if day != D3 else 101.0, "root": "SPY",
        "expiration": exp, "strike": strike, "right": right, "bid": bid, "ask": ask, "last": None,
        "volume": 1000, "open_interest": 1000, "iv": 0.2, "delta": delta, "gamma": None, "theta": None,
        "vega": None, "quality": 0, "source": "test", "model_priced": False,
    }


def _days() -> list[tuple[date, pa.Table]]:
    day1 = [_row(D1, 95.0, "P", 1.00, 1.10, -0.10), _row(D1, 90.0, "P", 0.20, 0.30, -0.04)]
    # Day 2: the short put jumps; closing costs far more than 125% of the credit (stop loss).
    day2 = [_row(D2, 95.0, "P", 3.00, 3.20, -0.40), _row(D2, 90.0, "P", 0.50, 0.60, -0.10)]
    day3 = [_row(D3, 150.0, "C", 0.01, 0.02, 0.01, exp=date(2021, 4, 16))]
    return [(d, pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)) for d, rows in ((D1, day1), (D2, day2), (D3, day3))]


def _config(**execution: Any) -> RiskPilotConfig:
    return RiskPilotConfig.model_validate({
        "methods": {"default": {
            "entry": {"min_delta": 0.05, "max_delta": 0.15, "min_dte": 0, "max_dte": 10},
            "sizing": {"max_contracts": 1, "max_risk_per_trade_pct": 1.0},
        }},
        **({"exit_execution": execution} if execution else {}),
    })


def test_stop_loss_exit_goes_out_at_market_on_the_day_it_fires() -> None:
    r = run_backtest(_days(), _config(), method="default", underlying="SPY", equity=1e6, slippage=0.5)
    (t,) = r.trades
    assert (t.closed, t.exit_reason, t.priority) == (D2, "stop_loss", "CRITICAL")
    # 50% off the mid: buy 95P at 3.10 * 1.5, sell 90P at 0.55 * 0.5 (no limit reaches that).
    assert t.exit_premium == pytest.approx(3.10 * 1.5 - 0.55 * 0.5)


def test_an_all_limit_ladder_that_the_day_never_reaches_leaves_the_exit_unfilled() -> None:
    limit = {"order_type": "limit", "price_strategy": "aggressive", "timeout_seconds": 5,
             "retry_strategy": "walk_price", "max_walks": 1}
    cfg = _config(CRITICAL=limit, HIGH=limit, MEDIUM=limit, LOW=limit)
    r = run_backtest(_days(), cfg, method="default", underlying="SPY", equity=1e6, slippage=0.5)
    (t,) = r.trades
    # Aggressive (0.8) then one walk to the natural side (1.0): neither reaches a fill 50% off
    # the mid, so the stop loss stays unfilled on day 2 and the spread expires worthless.
    assert t.exit_reason == "expiration_settlement" and t.closed == D3
    (warning,) = [w for w in r.warnings if "unfilled" in w]
    assert "stop_loss" in warning and "after 2 attempts" in warning
