"""Writes the SYNTHETIC event-market recording the event tests, the README and the benchmarks
replay: ``kalshi_synthetic_snapshots.csv`` (the snapshot format of
:mod:`riskpilot.data.events`, every row flagged ``synthetic``) and
``kalshi_synthetic_fair_values.csv`` (the fair-value feed of
:mod:`riskpilot.trading.fair_value`). Invented numbers, not a recording of Kalshi: nine markets
of six invented series (``KXSYN...``) on 2026-12-02, one row per market every 5 minutes from
15:00 to 17:00 UTC.

Run ``python tests/events/data/make_kalshi_synthetic.py`` to rewrite both files (they are
committed; this script is how they were made and what they are meant to show).

The story, with the configuration ``kalshi_synthetic.yaml`` (entries when fair value - ask >=
0.05, 100 contracts, exits of the seed's rules with ``edge_disappeared`` listed before
``early_exit`` so that a negative edge is named as such):

=====  ==========================  =============  ================================================
mkt    ticker                      held           how it ends
=====  ==========================  =============  ================================================
A      KXSYNHIGH-26DEC02-T45       YES @ 0.41     15:30 edge falls to +1%: early_exit at 0.42
B      KXSYNHIGH-26DEC02-T50       YES @ 0.55     15:45 fair value drops below the bid (edge -3%):
                                                  edge_disappeared at 0.50
C      KXSYNRAIN-26DEC02           YES @ 0.61     closes 16:28; 16:25 is 3 minutes before it:
                                                  time_based_urgent at 0.62
D      KXSYNFED-26DEC02-T4.25      NO @ 0.70      15:55 the book widens to 6 cents:
                                                  liquidity_dried_up at 0.67 (the NO bid)
E      KXSYNCPI-26DEC02-T0.3       YES @ 0.71     closes 16:05 (16:00 is exactly 5 minutes before:
                                                  no urgent exit), result YES at 16:15: settled 1.00
G      KXSYNGDP-26DEC02-T2.0       YES @ 0.36     edge +3% from 15:40; 16:20 market H offers +14%:
                                                  rebalance at 0.35
H      KXSYNSNOW-26DEC02           YES @ 0.30     listed 16:20 and entered; falls to 0.12/0.14
                                                  (-57% at the mid): stop_loss at 0.12, 16:45
I      KXSYNOIL-26DEC02-T80        YES @ 0.30     rises to 0.46/0.47 (+55% at the mid):
                                                  profit_target at 0.46, 16:10
J      KXSYNWIND-26DEC02-T30       never          edge +3% < 0.05: never entered
=====  ==========================  =============  ================================================
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
INSTANTS = 25  # 15:00 .. 17:00 every 5 minutes
LATE = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)

# (ticker, event, series, close time, held side) and, per instant k, (yes_bid, yes_ask, fair_yes)
# or None (no row); a closed market's rows have an empty book; results by instant.
Book = tuple[float | None, float | None, float] | None


def a(k: int) -> Book:
    return (0.40, 0.41, 0.47) if k < 6 else (0.42, 0.43, 0.43)


def b(k: int) -> Book:
    return (0.54, 0.55, 0.61) if k < 9 else (0.50, 0.51, 0.47)


def c(k: int) -> Book:
    if k < 17:
        return (0.60, 0.61, 0.67)
    if k == 17:
        return (0.62, 0.63, 0.68)
    return (None, None, 0.68)  # closed at 16:28


def d(k: int) -> Book:
    return (0.30, 0.31, 0.23) if k < 11 else (0.27, 0.33, 0.23)


def e(k: int) -> Book:
    return (0.70, 0.71, 0.78) if k <= 12 else (None, None, 0.78)  # closed at 16:05


def g(k: int) -> Book:
    return (0.35, 0.36, 0.42) if k < 8 else (0.35, 0.36, 0.38)


def h(k: int) -> Book:
    path = {16: (0.29, 0.30, 0.44), 17: (0.29, 0.30, 0.44), 18: (0.25, 0.26, 0.40), 19: (0.20, 0.21, 0.30),
            20: (0.16, 0.17, 0.24)}
    if k < 16:
        return None  # listed at 16:20
    return path.get(k, (0.12, 0.14, 0.17))


def i(k: int) -> Book:
    if k < 4:
        return (0.29, 0.30, 0.37)
    if k < 9:
        return (0.33, 0.34, 0.41)
    if k < 14:
        return (0.39, 0.40, 0.47)
    return (0.46, 0.47, 0.50)


def j(k: int) -> Book:
    return (0.50, 0.51, 0.54)


MARKETS = [
    ("KXSYNHIGH-26DEC02-T45", "KXSYNHIGH-26DEC02", "KXSYNHIGH", LATE, a, {}),
    ("KXSYNHIGH-26DEC02-T50", "KXSYNHIGH-26DEC02", "KXSYNHIGH", LATE, b, {}),
    ("KXSYNRAIN-26DEC02", "KXSYNRAIN-26DEC02", "KXSYNRAIN", datetime(2026, 12, 2, 16, 28, tzinfo=UTC), c,
     {20: "no"}),
    ("KXSYNFED-26DEC02-T4.25", "KXSYNFED-26DEC02", "KXSYNFED", LATE, d, {}),
    ("KXSYNCPI-26DEC02-T0.3", "KXSYNCPI-26DEC02", "KXSYNCPI", datetime(2026, 12, 2, 16, 5, tzinfo=UTC), e,
     {15: "yes"}),
    ("KXSYNGDP-26DEC02-T2.0", "KXSYNGDP-26DEC02", "KXSYNGDP", LATE, g, {}),
    ("KXSYNSNOW-26DEC02", "KXSYNSNOW-26DEC02", "KXSYNSNOW", LATE, h, {}),
    ("KXSYNOIL-26DEC02-T80", "KXSYNOIL-26DEC02", "KXSYNOIL", LATE, i, {}),
    ("KXSYNWIND-26DEC02-T30", "KXSYNWIND-26DEC02", "KXSYNWIND", LATE, j, {}),
]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _px(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def main() -> None:
    snaps = [["timestamp", "market", "event", "series", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size",
              "volume", "close_time", "result", "synthetic"]]
    fair = [["timestamp", "market", "fair_probability"]]
    for ticker, event, series, close, book, results in MARKETS:
        result = ""
        for k in range(INSTANTS):
            row = book(k)
            if row is None:
                continue
            t = T0 + timedelta(minutes=5 * k)
            result = results.get(k, result)
            bid, ask, p = row
            snaps.append([_iso(t), ticker, event, series, _px(bid), _px(ask), 0 if bid is None else 500,
                          0 if ask is None else 500, 1000, _iso(close), result, "true"])
            fair.append([_iso(t), ticker, f"{p:.2f}"])
    for name, rows in (("kalshi_synthetic_snapshots.csv", snaps), ("kalshi_synthetic_fair_values.csv", fair)):
        with (HERE / name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)


if __name__ == "__main__":
    main()
