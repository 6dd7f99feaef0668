"""The recorded event-market snapshot format (riskpilot.data.events): as-of reads that never look
ahead, the NO side as the YES book turned around, closed and settled markets without quotes,
and every bad file refused with the rows at fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from riskpilot.data.events import EventSnapshots, SnapshotFormatError
from riskpilot.model import ContractSide, EventContract, Leg, MarketResult, OptionContract, Right

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "kalshi_synthetic_snapshots.csv"
T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CLOSE = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def _rows(**over: object) -> pd.DataFrame:
    base = {
        "timestamp": ["2026-12-02T15:00:00Z", "2026-12-02T15:10:00Z", "2026-12-02T16:05:00Z"],
        "market": ["KXT-26DEC02-A"] * 3, "event": ["KXT-26DEC02"] * 3, "series": ["KXT"] * 3,
        "yes_bid": [0.40, 0.44, None], "yes_ask": [0.42, 0.45, None], "yes_bid_size": [10, 20, 0],
        "yes_ask_size": [30, 40, 0], "volume": [500, 600, 600], "close_time": ["2026-12-02T16:00:00Z"] * 3,
        "result": ["", "", "yes"],
    }
    base.update(over)  # type: ignore[arg-type]
    return pd.DataFrame(base)


def test_snapshots_when_read_as_of_an_instant_then_the_last_row_at_or_before_it_and_never_a_later_one() -> None:
    snaps = EventSnapshots(_rows())
    yes = snaps.contract("KXT-26DEC02-A")
    assert snaps.quotes([yes], T0 - timedelta(seconds=1)) == {}
    early = snaps.quotes([yes], T0 + timedelta(minutes=9, seconds=59))[yes]
    assert (early.bid, early.ask, early.timestamp, early.volume) == (0.40, 0.42, T0, 500)
    later = snaps.quotes([yes], T0 + timedelta(minutes=10))[yes]
    assert (later.bid, later.ask) == (0.44, 0.45)


def test_no_side_when_quoted_then_it_is_the_yes_book_turned_around_with_its_sizes_swapped() -> None:
    snaps = EventSnapshots(_rows())
    no = snaps.contract("KXT-26DEC02-A", ContractSide.NO)
    q = snaps.quotes([no], T0)[no]
    assert (q.bid, q.ask) == (0.58, 0.60)  # 1 - 0.42, 1 - 0.40
    assert snaps.at(T0).sizes(no) == (30, 10)


def test_market_when_closed_or_settled_then_no_quote_and_the_result_is_known_from_its_first_row() -> None:
    snaps = EventSnapshots(_rows())
    yes = snaps.contract("KXT-26DEC02-A")
    assert snaps.quotes([yes], CLOSE) == {}  # trading has stopped
    assert snaps.result("KXT-26DEC02-A", CLOSE + timedelta(minutes=4)) is None
    assert snaps.result("KXT-26DEC02-A", CLOSE + timedelta(minutes=5)) is MarketResult.YES
    assert snaps.at(CLOSE).size == 0 and snaps.at(T0).size == 1


def test_snapshot_when_asked_for_contracts_then_both_sides_of_each_market_trading_and_options_are_absent() -> None:
    snaps = EventSnapshots(_rows())
    snap = snaps.at(T0)
    assert [str(c) for c in snap.contracts()] == ["KXT-26DEC02-A YES", "KXT-26DEC02-A NO"]
    option = OptionContract("SPY", datetime(2027, 1, 15).date(), 500.0, Right.PUT)
    assert snap.quotes([option]) == {}
    assert snap.quote_date.isoformat() == "2026-12-02" and snap.timestamp == T0
    assert Leg(snap.contracts()[0], 1).contract == EventContract(
        "KXT", "KXT-26DEC02", "KXT-26DEC02-A", ContractSide.YES, CLOSE, CLOSE)


def test_fixture_when_loaded_then_it_is_labelled_synthetic_and_spans_one_afternoon() -> None:
    snaps = EventSnapshots.from_path(FIXTURE)
    assert snaps.synthetic is True
    assert len(snaps.markets) == 9 and len(snaps.times) == 25
    assert snaps.first == T0 and snaps.last == T0 + timedelta(hours=2)
    assert EventSnapshots(_rows()).synthetic is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": ["2026-12-02T15:00:00", "2026-12-02T15:10:00", "2026-12-02T16:05:00"]}, "no time zone"),
        ({"yes_bid": [0.40, 1.20, None]}, r"yes_bid outside 0.01-0.99 dollars at line\(s\) 3"),
        ({"yes_bid": [0.46, 0.44, None]}, r"crossed book\) at line\(s\) 2"),
        ({"yes_ask_size": [30, -1, 0]}, r"yes_ask_size must be a whole number >= 0; line\(s\) 3"),
        ({"close_time": ["2026-12-02T16:00:00Z", "2026-12-02T17:00:00Z", "2026-12-02T16:00:00Z"]},
         "changes its close_time"),
        ({"timestamp": ["2026-12-02T15:00:00Z", "2026-12-02T15:00:00Z", "2026-12-02T16:05:00Z"]},
         "two rows at one timestamp"),
        ({"result": ["", "no", "yes"]}, "result changes or disappears at line 4"),
        ({"result": ["", "", "maybe"]}, r"result must be empty, yes, no or void; line\(s\) 4"),
        ({"market": ["KXT-26DEC02-A", "", "KXT-26DEC02-A"]}, r"empty market at line\(s\) 3"),
    ],
)
def test_bad_snapshot_file_is_refused_naming_the_rows_and_the_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(SnapshotFormatError, match=message):
        EventSnapshots(_rows(**change))


def test_snapshot_file_without_a_column_or_of_another_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFormatError, match=r"missing column\(s\) \['volume'\]"):
        EventSnapshots(_rows().drop(columns=["volume"]))
    bad = tmp_path / "book.json"
    bad.write_text("{}")
    with pytest.raises(SnapshotFormatError, match=r"must be a \.csv or \.parquet file"):
        EventSnapshots.from_path(bad)
    with pytest.raises(SnapshotFormatError, match="not found"):
        EventSnapshots.from_path(tmp_path / "absent.csv")


def test_parquet_recording_reads_as_the_csv_does(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
    path = tmp_path / "rec.parquet"
    frame.to_parquet(path)
    a, b = EventSnapshots.from_path(FIXTURE), EventSnapshots.from_path(path)
    t = T0 + timedelta(minutes=45)
    contracts = a.at(t).contracts()
    assert a.quotes(contracts, t) == b.quotes(contracts, t) and len(contracts) == 16  # H is listed at 16:20
