"""Entries into event markets (riskpilot.trading.events.EventEntryPlanner): the edge threshold,
the markets passed over (held, too close to the close, illiquid, no fair value), the size
capped by the ask's contracts and by validate_order with the binary max loss, and settlement
at the result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from riskpilot.config import RiskPilotConfig
from riskpilot.config.loader import config_from_dict
from riskpilot.data.events import EventSnapshots
from riskpilot.model import ContractSide, EventContract, Leg, MarketResult, Position, PremiumType, TradingState
from riskpilot.risk.manager import RiskManager
from riskpilot.trading.entry import EntryPlan, EntryRefused
from riskpilot.trading.events import EVENT_SETTLEMENT, EventCandidate, EventEntryPlanner, EventResults
from riskpilot.trading.fair_value import FeedFairValues
from riskpilot.trading.step import run_sync

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CLOSE = T0 + timedelta(hours=3)


def _snaps(*markets: tuple[str, float, float, int, int, datetime]) -> EventSnapshots:
    """One row per market at T0: (ticker, yes_bid, yes_ask, ask size, volume, close)."""
    rows = [{"timestamp": T0.isoformat(), "market": m, "event": f"{m}-EV", "series": "KXT", "yes_bid": b,
             "yes_ask": a, "yes_bid_size": 100, "yes_ask_size": size, "volume": vol, "close_time": close.isoformat(),
             "result": ""} for m, b, a, size, vol, close in markets]
    return EventSnapshots(pd.DataFrame(rows))


def _fair(**p: float) -> FeedFairValues:
    frame = pd.DataFrame({"timestamp": [T0 - timedelta(minutes=1)] * len(p), "market": list(p),
                          "fair_probability": list(p.values())})
    return FeedFairValues(frame, max_age_seconds=300)


def _cfg(**entries: object) -> RiskPilotConfig:
    return config_from_dict({"event_entries": {"min_edge": 0.05, **entries},
                             "methods": {"ev": {"sizing": {"max_contracts": 100}}}})


def _planner(fair: FeedFairValues, **entries: object) -> EventEntryPlanner:
    return EventEntryPlanner(_cfg(**entries), "ev", fair)


def test_candidate_when_one_side_clears_the_threshold_then_it_is_offered_with_its_edge() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 500, 1000, CLOSE))
    cand = _planner(_fair(A=0.46)).candidate(snaps.at(T0), frozenset())
    assert cand is not None and str(cand.contract) == "A YES"
    assert cand.edge == pytest.approx(0.05) and cand.ask == 0.41 and cand.ask_size == 500


def test_candidate_when_no_side_clears_the_threshold_then_none_and_the_reasons_are_counted() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 500, 1000, CLOSE))
    planner = _planner(_fair(A=0.45))
    assert planner.candidate(snaps.at(T0), frozenset()) is None
    assert planner.passed_over == {"edge_below_threshold": 2}


def test_candidate_when_the_no_side_is_cheap_then_the_no_side_is_bought() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 500, 1000, CLOSE))
    cand = _planner(_fair(A=0.30)).candidate(snaps.at(T0), frozenset())  # NO fair 0.70, NO ask 0.60
    assert cand is not None and cand.contract.side is ContractSide.NO and cand.edge == pytest.approx(0.10)


def test_candidates_when_several_clear_then_the_best_edge_first_and_held_markets_are_skipped() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 500, 1000, CLOSE), ("B", 0.20, 0.21, 500, 1000, CLOSE))
    planner = _planner(_fair(A=0.47, B=0.30))
    best = planner.candidate(snaps.at(T0), frozenset())
    assert best is not None and best.contract.ticker == "B"
    nxt = planner.candidate(snaps.at(T0), frozenset({"B"}))
    assert nxt is not None and nxt.contract.ticker == "A"


@pytest.mark.parametrize(
    ("market", "why"),
    [
        (("A", 0.40, 0.41, 500, 1000, T0 + timedelta(minutes=20)), "near_close"),
        (("A", 0.38, 0.42, 500, 1000, CLOSE), "illiquid"),  # 4 cents wide: liquidity_dried_up would fire
        (("A", 0.40, 0.41, 500, 10, CLOSE), "illiquid"),  # volume 10 < 50
    ],
)
def test_candidate_when_the_market_would_be_exited_at_once_then_passed_over(
    market: tuple[str, float, float, int, int, datetime], why: str,
) -> None:
    planner = _planner(_fair(A=0.60))
    assert planner.candidate(_snaps(market).at(T0), frozenset()) is None
    assert planner.passed_over == {why: 2}


def test_candidate_when_the_fair_value_is_stale_or_missing_then_passed_over() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 500, 1000, CLOSE), ("B", 0.20, 0.21, 500, 1000, CLOSE))
    stale = FeedFairValues(pd.DataFrame({"timestamp": [T0 - timedelta(hours=1)], "market": ["A"],
                                         "fair_probability": [0.9]}), max_age_seconds=300)
    planner = EventEntryPlanner(_cfg(), "ev", stale)
    assert planner.candidate(snaps.at(T0), frozenset()) is None
    assert planner.passed_over == {"no_fair_value": 4}


def test_size_when_the_ask_offers_fewer_than_max_contracts_then_capped_by_it() -> None:
    snaps = _snaps(("A", 0.40, 0.41, 30, 1000, CLOSE))
    planner = _planner(_fair(A=0.50))
    cand = planner.candidate(snaps.at(T0), frozenset())
    assert cand is not None
    quotes = snaps.at(T0).quotes([cand.contract])
    plan = planner.size(cand, 0.41, "p1", day=snaps.at(T0), at=T0, quotes=quotes, risk=RiskManager(_cfg(), equity=1e6),
                        regime=None)
    assert isinstance(plan, EntryPlan) and plan.quantity == 30
    assert plan.request.max_loss_per_unit == pytest.approx(0.41) and plan.request.multiplier == 1


def test_size_when_the_position_limit_binds_then_validate_order_cuts_it_by_the_binary_max_loss() -> None:
    snaps = _snaps(("A", 0.40, 0.50, 500, 1000, CLOSE))
    planner = _planner(_fair(A=0.60), min_edge=0.05)
    cfg = _cfg()
    cand = EventCandidate(snaps.contract("A"), 0.60, 0.50, 0.10, 500)
    # sizing.max_risk_per_trade_pct 2% of 500 dollars is 10 dollars: 20 contracts at 0.50 (not 100 x 0.50)
    risk = RiskManager(cfg, equity=500.0)
    plan = planner.size(cand, 0.50, "p1", day=snaps.at(T0), at=T0, quotes={}, risk=risk, regime=None)
    assert isinstance(plan, EntryPlan) and plan.quantity == 20
    assert plan.verdict.binding_limit == "method_risk_per_trade"


def test_signal_when_trading_is_halted_then_entries_are_refused_by_the_trading_state() -> None:
    risk = RiskManager(_cfg(), equity=10_000)
    risk.halt("manual")
    refused = _planner(_fair(A=0.5)).signal(T0.date(), None, None, risk)
    assert isinstance(refused, EntryRefused) and refused.reason == "trading_state"
    assert risk.trading_state is TradingState.HALTED


def test_price_when_the_ask_moved_past_the_edge_then_refused() -> None:
    planner = _planner(_fair(A=0.50))
    cand = EventCandidate(EventContract("KXT", "A-EV", "A", ContractSide.YES, CLOSE, CLOSE), 0.50, 0.41, 0.09, 100)
    moved = _snaps(("A", 0.46, 0.47, 500, 1000, CLOSE)).at(T0).quotes([cand.contract])
    refused = planner.price(cand, moved, T0)
    assert isinstance(refused, EntryRefused) and refused.reason == "edge_below_threshold"


@pytest.mark.parametrize(("result", "side", "price"), [("yes", ContractSide.YES, 1.0), ("yes", ContractSide.NO, 0.0),
                                                        ("void", ContractSide.YES, 0.42)])
def test_results_when_known_then_the_position_settles_at_the_payout_and_never_before(
    result: str, side: ContractSide, price: float,
) -> None:
    c = EventContract("KXT", "A-EV", "A", side, CLOSE, CLOSE)
    pos = Position("p", (Leg(c, 1),), PremiumType.DEBIT, 0.42, 10, T0, "ev")
    settler = EventResults(lambda m, now: MarketResult.parse(result) if now >= CLOSE else None)
    assert run_sync(settler.settles(pos, CLOSE.date(), CLOSE - timedelta(seconds=1), skipped_only=True)) is None
    got = run_sync(settler.settles(pos, CLOSE.date(), CLOSE, skipped_only=True))
    assert got is not None and got[0] == price and got[1] == EVENT_SETTLEMENT


def test_edge_features_when_the_fair_value_is_stale_then_no_edge_and_one_warning_while_it_lasts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from riskpilot.model import Mark
    from riskpilot.trading.fair_value import EdgeFeatures

    c = EventContract("KXT", "A-EV", "A", ContractSide.YES, CLOSE, CLOSE)
    pos = Position("p", (Leg(c, 1),), PremiumType.DEBIT, 0.40, 10, T0, "ev")
    stale = FeedFairValues(pd.DataFrame({"timestamp": [T0 - timedelta(hours=1)], "market": ["A"],
                                         "fair_probability": [0.9]}), max_age_seconds=300)
    edges = EdgeFeatures(stale)
    mark = {"p": Mark(0.405, 0.40, 0.41, T0)}
    with caplog.at_level("WARNING", logger="riskpilot.trading.fair_value"):
        assert edges([pos], mark, T0) == {} and edges([pos], mark, T0 + timedelta(seconds=30)) == {}
    assert "is stale" in edges.last.problems["p"]
    assert sum("no edge for p" in r.getMessage() for r in caplog.records) == 1
    fresh = EdgeFeatures(_fair(A=0.46))
    assert fresh([pos], mark, T0)["p"]["edge"] == pytest.approx(0.06)
