"""Fair values and the edge features: the feed's as-of lookup (never a future row, stale after
max_age), the callable named in YAML, bad files refused by line, and the edge rules acting on
good fair values only."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from riskpilot.config import ConfigError, parse_config
from riskpilot.model import ContractSide, EventContract, ExitAction, Leg, Mark, Position, PremiumType, Quote
from riskpilot.risk import RiskManager
from riskpilot.trading.fair_value import (
    CallableFairValues,
    FairValueError,
    FeedFairValues,
    edge_features,
    load_fair_values,
)

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CLOSE = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)


def contract(ticker: str, side: ContractSide = ContractSide.YES) -> EventContract:
    return EventContract("KXHIGHNY", "KXHIGHNY-26DEC03", ticker, side, CLOSE, CLOSE)


A, B, C = "KXHIGHNY-26DEC03-T45", "KXHIGHNY-26DEC03-T50", "KXHIGHNY-26DEC03-T55"

FEED = pd.DataFrame({
    "timestamp": pd.to_datetime(["2026-12-02T14:50:00Z", "2026-12-02T14:58:00Z", "2026-12-02T15:05:00Z",
                                 "2026-12-02T14:00:00Z", "2026-12-02T14:59:00Z"]),
    "market": [A, A, A, B, C],
    "fair_probability": [0.50, 0.47, 0.90, 0.30, 0.80],
})


def position(pid: str, c: EventContract, entry: float) -> Position:
    return Position(pid, (Leg(c, 1),), PremiumType.DEBIT, entry, 10, T0 - timedelta(hours=2), "default")


def mark(bid: float, ask: float) -> Mark:
    return Mark((bid + ask) / 2, bid, ask, T0, min_volume=1_000)


# --- the feed ---------------------------------------------------------------------------------


def test_feed_lookup_when_a_later_row_exists_then_uses_the_last_row_at_or_before_now() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    got = feed.lookup(A, T0)
    assert got.value is not None and got.value.probability == 0.47  # the 15:05 row is in the future
    assert got.value.as_of == datetime(2026, 12, 2, 14, 58, tzinfo=UTC)


def test_feed_lookup_when_older_than_max_age_then_stale_and_no_value() -> None:
    got = FeedFairValues(FEED, max_age_seconds=600).lookup(B, T0)  # 60 minutes old
    assert got.value is None and "stale: 3600 s old > max_age 600 s" in (got.problem or "")


def test_feed_lookup_when_before_the_first_row_or_unknown_market_then_missing() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    assert "at or before" in (feed.lookup(A, T0 - timedelta(hours=1)).problem or "")
    assert "no fair value for XYZ" in (feed.lookup("XYZ", T0).problem or "")


def test_feed_when_read_from_csv_and_parquet_then_both_answer_alike(tmp_path: Path) -> None:
    csv = tmp_path / "fair.csv"
    FEED.assign(timestamp=FEED["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv, index=False)
    pq = tmp_path / "fair.parquet"
    FEED.to_parquet(pq)
    for path in (csv, pq):
        got = FeedFairValues.from_path(path, max_age_seconds=600).lookup(C, T0)
        assert got.value is not None and got.value.probability == 0.80


def test_feed_when_timestamps_have_no_time_zone_then_refused(tmp_path: Path) -> None:
    csv = tmp_path / "fair.csv"
    csv.write_text("timestamp,market,fair_probability\n2026-12-02T14:50:00,A,0.5\n")
    with pytest.raises(FairValueError, match="carry no time zone"):
        FeedFairValues.from_path(csv, max_age_seconds=60)


def test_feed_when_a_probability_is_out_of_range_then_refused_naming_the_line(tmp_path: Path) -> None:
    csv = tmp_path / "fair.csv"
    csv.write_text("timestamp,market,fair_probability\n2026-12-02T14:50:00Z,A,0.5\n2026-12-02T14:51:00Z,A,1.7\n")
    with pytest.raises(FairValueError, match=r"line\(s\) 3 are not"):
        FeedFairValues.from_path(csv, max_age_seconds=60)


def test_feed_when_a_column_is_missing_or_a_row_is_duplicated_then_refused(tmp_path: Path) -> None:
    with pytest.raises(FairValueError, match=r"missing column\(s\) \['fair_probability'\]"):
        FeedFairValues(FEED.drop(columns="fair_probability"), max_age_seconds=60)
    dup = pd.concat([FEED, FEED.iloc[[0]]])
    with pytest.raises(FairValueError, match="two rows with one timestamp"):
        FeedFairValues(dup, max_age_seconds=60)
    with pytest.raises(FairValueError, match="not found"):
        FeedFairValues.from_path(tmp_path / "absent.csv", max_age_seconds=60)


# --- the callable ------------------------------------------------------------------------------


def test_callable_when_named_in_yaml_then_loaded_and_its_answers_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_fair_model.py").write_text(textwrap.dedent("""
        from datetime import timedelta

        def fair_yes(market, now):
            if market == "OLD":
                return 0.4, now - timedelta(hours=1)
            if market == "BAD":
                return 1.5
            if market == "NONE":
                return None
            return 0.61
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = parse_config("fair_value:\n  callable: my_fair_model:fair_yes\n  max_age_seconds: 120\n")
    assert cfg.fair_value is not None
    source = load_fair_values(cfg.fair_value)
    assert isinstance(source, CallableFairValues)
    ok = source.lookup(A, T0)
    assert ok.value is not None and ok.value.probability == 0.61 and ok.value.as_of == T0
    assert "stale" in (source.lookup("OLD", T0).problem or "")
    assert "not a probability" in (source.lookup("BAD", T0).problem or "")
    assert "has no fair value" in (source.lookup("NONE", T0).problem or "")


def test_callable_when_the_module_is_missing_then_refused_with_the_fix() -> None:
    with pytest.raises(FairValueError, match=r"cannot be imported.*PYTHONPATH"):
        CallableFairValues.from_spec("no_such_module_here:fn", max_age_seconds=60)


def test_config_when_both_or_neither_source_given_then_refused() -> None:
    with pytest.raises(ConfigError, match="exactly one of feed"):
        parse_config("fair_value:\n  feed: a.csv\n  callable: m:f\n")
    with pytest.raises(ConfigError, match="not module:function"):
        parse_config("fair_value:\n  callable: just_a_name\n")


def test_config_when_feed_is_relative_then_read_from_the_config_folder(tmp_path: Path) -> None:
    FEED.to_parquet(tmp_path / "fair.parquet")
    cfg = parse_config("fair_value: {feed: fair.parquet, max_age_seconds: 600}")
    assert cfg.fair_value is not None
    source = load_fair_values(cfg.fair_value, base_dir=tmp_path)
    assert source.lookup(A, T0).value is not None


# --- edge features and the edge rules ------------------------------------------------------------


def test_edge_when_fair_value_is_fresh_then_fair_minus_the_closing_bid_for_yes_and_no() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    yes = position("y", contract(A), 0.40)
    no = position("n", contract(C, ContractSide.NO), 0.25)
    report = edge_features([yes, no], {"y": mark(0.45, 0.47), "n": mark(0.21, 0.24)}, feed, T0)
    assert report.features["y"]["edge"] == pytest.approx(0.47 - 0.45)
    assert report.features["n"]["edge"] == pytest.approx((1 - 0.80) - 0.21)
    assert report.problems == {}


def test_edge_when_fair_value_is_stale_or_the_mark_is_bad_then_no_features_and_a_reason() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    stale = position("s", contract(B), 0.30)
    unquoted = position("u", contract(A), 0.40)
    report = edge_features([stale, unquoted], {"s": mark(0.20, 0.22)}, feed, T0)
    assert report.features == {}
    assert "stale" in report.problems["s"] and "no quote" in report.problems["u"]


def test_alternative_edge_when_another_market_is_cheap_then_reported_excluding_the_own_market() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    held = position("y", contract(A), 0.40)
    candidates = {
        contract(A): Quote(0.30, 0.31, T0),  # own market: never an alternative
        contract(C): Quote(0.60, 0.62, T0),  # fair 0.80: buying at 0.62 is an edge of 0.18
        contract(C, ContractSide.NO): Quote(0.38, 0.40, T0),  # fair 0.20: negative
    }
    report = edge_features([held], {"y": mark(0.45, 0.47)}, feed, T0, candidates=candidates)
    assert report.features["y"]["alternative_edge"] == pytest.approx(0.18)


def _decide(features: dict[str, dict[str, float]] | None) -> tuple[ExitAction, str | None]:
    action, fired = _fired(features)
    return action, fired[0] if fired else None


def _fired(features: dict[str, dict[str, float]] | None) -> tuple[ExitAction, list[str]]:
    pos = position("y", contract(A), 0.46)
    rm = RiskManager(equity=100_000)
    d = rm.check_position_exits([pos], {"y": mark(0.45, 0.47)}, T0, features=features)[0].decision
    return d.action, ([d.rule] if d.rule else []) + [f.rule for f in d.also_fired]


@pytest.mark.parametrize(
    ("fair", "fired"),
    [
        (0.44, ["early_exit", "edge_disappeared"]),  # edge -0.01: negative, and below 2%
        (0.46, ["early_exit"]),  # edge 0.01: below 2%
        (0.60, []),  # edge 0.15
    ],
)
def test_edge_rules_when_fed_by_the_source_then_fire_on_the_edge_they_read(fair: float, fired: list[str]) -> None:
    feed = FeedFairValues(
        pd.DataFrame({"timestamp": [T0 - timedelta(seconds=30)], "market": [A], "fair_probability": [fair]}),
        max_age_seconds=120,
    )
    report = edge_features([position("y", contract(A), 0.46)], {"y": mark(0.45, 0.47)}, feed, T0)
    assert report.features["y"]["edge"] == pytest.approx(fair - 0.45)
    action, got = _fired(report.features)
    assert got == fired
    assert action is (ExitAction.CLOSE if fired else ExitAction.HOLD)


def test_rebalance_when_an_alternative_beats_the_edge_by_the_margin_then_fires() -> None:
    feed = FeedFairValues(FEED, max_age_seconds=600)
    report = edge_features(
        [position("y", contract(A), 0.46)], {"y": mark(0.40, 0.42)}, feed, T0,
        candidates={contract(C): Quote(0.60, 0.62, T0)},
    )
    assert report.features["y"] == pytest.approx({"edge": 0.07, "alternative_edge": 0.18})
    assert _decide(report.features) == (ExitAction.CLOSE, "rebalance")


def test_edge_rules_when_the_fair_value_is_stale_then_none_acts() -> None:
    feed = FeedFairValues(
        pd.DataFrame({"timestamp": [T0 - timedelta(minutes=10)], "market": [A], "fair_probability": [0.10]}),
        max_age_seconds=120,
    )
    report = edge_features([position("y", contract(A), 0.46)], {"y": mark(0.45, 0.47)}, feed, T0)
    assert report.features == {} and "stale" in report.problems["y"]
    assert _decide(report.features) == (ExitAction.HOLD, None)
