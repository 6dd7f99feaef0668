"""Per-row quality flags and dataset-level quality reports."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskpilot.data.quality import flag_rows, quality_report, trading_days
from riskpilot.data.schema import CHAIN_SCHEMA, Quality


def chain(rows: list[dict[str, object]]) -> pa.Table:
    base: dict[str, object] = {
        "quote_date": date(2019, 7, 3), "underlying": "SPX", "underlying_price": 2995.82,
        "root": "SPX", "expiration": date(2019, 7, 19), "strike": 3000.0, "right": "C",
        "bid": 20.0, "ask": 21.0, "last": None, "volume": 10, "open_interest": 100,
        "iv": 0.12, "delta": 0.5, "gamma": 0.003, "theta": -1.0, "vega": 2.5, "quality": 0,
        "source": "test", "model_priced": False,
    }
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=CHAIN_SCHEMA)


def test_flag_rows_when_each_problem_present_then_each_row_carries_its_flag() -> None:
    t = flag_rows(chain([
        {},                                                   # clean
        {"strike": 3005.0, "bid": 22.0, "ask": 21.0},         # crossed
        {"strike": 3010.0, "bid": None},                      # no market (bid missing)
        {"strike": 3015.0, "bid": 0.0, "ask": 0.0},           # no market (both zero)
        {"strike": 3020.0, "bid": 0.0, "ask": 0.05},          # no bid is still a market
        {"strike": 3025.0, "iv": None},                       # bad iv
        {"strike": 3030.0, "iv": float("nan")},               # bad iv
        {"strike": 3035.0, "iv": -0.1},                       # bad iv
        {"bid": 20.5},                                        # duplicate of row 0
        {"quote_date": date(2019, 7, 4)},                     # Independence Day re-scrape
    ]))
    assert t["quality"].to_pylist() == [
        0, Quality.CROSSED, Quality.NO_MARKET, Quality.NO_MARKET, 0, Quality.BAD_IV,
        Quality.BAD_IV, Quality.BAD_IV, Quality.DUPLICATE, Quality.HOLIDAY_RESCRAPE,
    ]


def test_flag_rows_when_producer_set_a_flag_then_it_is_kept() -> None:
    t = flag_rows(chain([{"quality": int(Quality.HOLIDAY_RESCRAPE), "bid": 30.0}]))
    assert t["quality"].to_pylist() == [Quality.HOLIDAY_RESCRAPE | Quality.CROSSED]


def test_flag_rows_when_same_key_in_other_root_then_not_duplicate() -> None:
    t = flag_rows(chain([{}, {"root": "SPXW"}, {"right": "P", "delta": -0.5}]))
    assert t["quality"].to_pylist() == [0, 0, 0]


def test_quality_report_when_days_missing_then_gaps_are_the_missing_sessions() -> None:
    dates = [date(2019, 5, 8), date(2019, 5, 9), date(2019, 5, 13), date(2019, 5, 27)]
    t = flag_rows(chain([{"quote_date": d} for d in dates]))
    report = quality_report(t["quote_date"], t["quality"])
    assert report.first_day == date(2019, 5, 8) and report.last_day == date(2019, 5, 27)
    # May 10 and 14-24 are sessions without rows; May 27 (Memorial Day) is not a session.
    assert report.gap_days[0] == date(2019, 5, 10)
    assert date(2019, 5, 27) not in report.gap_days
    assert report.non_session_days == (date(2019, 5, 27),)
    assert report.flag_counts["HOLIDAY_RESCRAPE"] == 1
    assert report.unusable_rows == 1
    assert report.clean_rows == 3
    assert report.trading_days_expected == report.days_present - 1 + len(report.gap_days)


def test_trading_days_when_span_has_holidays_then_they_are_excluded() -> None:
    days = trading_days(date(2019, 7, 1), date(2019, 7, 8))
    assert days == [date(2019, 7, 1), date(2019, 7, 2), date(2019, 7, 3), date(2019, 7, 5),
                    date(2019, 7, 8)]
    assert trading_days(date(2019, 7, 8), date(2019, 7, 1)) == []


def test_trading_days_when_end_beyond_calendar_then_refused() -> None:
    with pytest.raises(ValueError, match="past the last session"):
        trading_days(date(2019, 1, 1), date(2099, 1, 1))


quotes = st.one_of(st.none(), st.floats(min_value=0, max_value=50, allow_nan=False))


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.tuples(quotes, quotes, st.integers(0, 3), st.integers(0, 4),
                               st.sampled_from(["C", "P"])), min_size=1, max_size=40))
def test_flag_rows_property_flags_agree_with_definitions(
    rows: list[tuple[float | None, float | None, int, int, str]],
) -> None:
    t = flag_rows(chain([
        {"bid": b, "ask": a, "strike": 3000.0 + 5 * k, "right": r,
         "quote_date": date(2019, 7, 1) + timedelta(days=d)}
        for b, a, k, d, r in rows
    ]))
    flags = t["quality"].to_pylist()
    seen: set[tuple[object, ...]] = set()
    for (b, a, k, d, r), q in zip(rows, flags, strict=True):
        assert bool(q & Quality.CROSSED) == (b is not None and a is not None and b > a)
        assert bool(q & Quality.NO_MARKET) == (b is None or a is None or (b == 0 and a == 0))
        key = (k, d, r)
        assert bool(q & Quality.DUPLICATE) == (key in seen)
        seen.add(key)
        quote_day = date(2019, 7, 1) + timedelta(days=d)
        assert bool(q & Quality.HOLIDAY_RESCRAPE) == (quote_day == date(2019, 7, 4))
    distinct = len({(k, d, r) for _, _, k, d, r in rows})
    dupes = pc.sum(pc.not_equal(pc.bit_wise_and(t["quality"], int(Quality.DUPLICATE)), 0))
    assert dupes.as_py() == len(rows) - distinct
