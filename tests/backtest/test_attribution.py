"""Exit attribution, checked by hand on a hand-made chain (tests/backtest/scenario.py): the
profit target closes the spread on D3; held to expiration it would have expired worthless;
held until the next rule (the target switched off) the stop loss would have closed it on D5.
The real SPX 2019 chain's attribution is re-priced from raw rows in test_golden_spx2019.py."""

from __future__ import annotations

import pytest
from tests.backtest.scenario import (
    COMMISSION,
    D3,
    D5,
    DAYS,
    EXPIRATION,
    chain,
    config,
    entry_credit,
    exit_debit,
)

from riskpilot.backtest.attribution import OPEN_AT_END, summarize
from riskpilot.backtest.engine import run_backtest
from riskpilot.backtest.result import BacktestResult

UNITS = 10
OPEN_COMMISSION = 2 * COMMISSION * UNITS  # two legs, ten spreads


def _run(fill: str = "close", days: dict | None = None) -> BacktestResult:  # type: ignore[type-arg]
    return run_backtest(chain(days), config(), method="default", underlying="XYZ", equity=100_000.0,
                        fill=fill)  # type: ignore[arg-type]


def test_profit_target_trade_against_expiry_and_the_next_rule_by_hand() -> None:
    r = _run()
    [t] = r.trades
    [a] = r.attribution
    credit = entry_credit((1.00, 1.10), (0.40, 0.50))
    assert (t.exit_reason, t.closed) == ("profit_target", D3)
    assert t.pnl == pytest.approx((credit - exit_debit((0.30, 0.34), (0.10, 0.12))) * 100 * UNITS
                                  - 2 * OPEN_COMMISSION, abs=1e-9)
    # Held to expiration: XYZ closes at 105 on the expiration day, above both strikes: worth 0.
    exp = a.held_to_expiration
    assert (exp.how, exp.exit_date, exp.exit_price) == ("expiration_settlement", EXPIRATION, 0.0)
    assert exp.pnl == pytest.approx(credit * 100 * UNITS - OPEN_COMMISSION, abs=1e-9)
    # Held to the next rule: D4 is a 72% profit (nothing else fires), D5 a loss of 129% >= the
    # 125% stop, closed by a market order at the ORATS price of D5's quotes.
    nxt = a.held_to_next_rule
    stop_price = exit_debit((1.50, 1.60), (0.20, 0.30))
    assert (nxt.how, nxt.exit_date) == ("stop_loss", D5)
    assert nxt.exit_price == pytest.approx(stop_price, abs=1e-12)
    assert nxt.pnl == pytest.approx((credit - stop_price) * 100 * UNITS - 2 * OPEN_COMMISSION, abs=1e-9)
    # The rule's edges, per rule and in the metrics.
    [(rule, row)] = r.exit_attribution().items()
    assert rule == "profit_target" and row.trades == 1
    assert row.edge_vs_expiration == pytest.approx(t.pnl - exp.pnl)
    assert row.edge_vs_next_rule == pytest.approx(t.pnl - nxt.pnl)
    m = r.metrics()
    assert m.exit_edge_vs_expiration == pytest.approx(t.pnl - exp.pnl)
    assert m.exit_edge_vs_next_rule == pytest.approx(t.pnl - nxt.pnl)


def test_the_settlement_without_an_official_series_is_the_chains_close_with_a_warning() -> None:
    r = _run()
    assert any("no official XYZ series is bundled" in w for w in r.warnings)


def test_under_fill_next_the_paths_fill_at_the_next_days_quotes() -> None:
    r = _run("next")
    [t] = r.trades
    [a] = r.attribution
    # The stop the path decides on D5 would fill on the expiration day, where the short put is
    # bid at 0: no fill (a zero bid on a leg to buy back), so the units settle worthless.
    assert a.held_to_next_rule.how == "expiration_settlement"
    assert a.held_to_next_rule.pnl == pytest.approx(t.entry_premium * 100 * UNITS - OPEN_COMMISSION, abs=1e-9)


def test_a_path_still_open_at_the_end_is_valued_at_its_last_mark() -> None:
    days = {d: v for d, v in DAYS.items() if d <= D3 or d.day == 7}  # the run ends on D4
    r = _run("close", days)
    [a] = r.attribution
    assert a.held_to_expiration.how == OPEN_AT_END == a.held_to_next_rule.how
    credit = r.trades[0].entry_premium
    mid = 0.22 - 0.06  # D4's mid
    assert a.held_to_expiration.exit_price == pytest.approx(mid)
    assert a.held_to_expiration.pnl == pytest.approx((credit - mid) * 100 * UNITS - OPEN_COMMISSION, abs=1e-9)
    assert r.exit_attribution()["profit_target"].open_at_end == 1


def test_settled_trades_are_their_own_counterfactual() -> None:
    days = {d: v for d, v in DAYS.items() if d not in (D3,)}
    cfg = config(profit_target={"enabled": False}, stop_loss={"enabled": False}, time_exit_dte={"enabled": False},
                 gamma_protection={"enabled": False})
    r = run_backtest(chain(days), cfg, method="default", underlying="XYZ", equity=100_000.0)
    [t] = r.trades
    assert t.exit_reason == "expiration_settlement" and not r.attribution
    [(reason, row)] = summarize(r.trades, r.attribution).items()
    assert reason == "expiration_settlement"
    assert row.edge_vs_expiration == 0.0 == row.edge_vs_next_rule
