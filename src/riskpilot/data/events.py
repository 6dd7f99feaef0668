"""Recorded snapshots of binary event markets: the format, its checks, and the quotes and
results a replay or a backtest reads from it.

The format (a CSV or Parquet file, one row per market per recording instant):

=================  ===========================================================================
column             meaning
=================  ===========================================================================
``timestamp``      when the row was recorded (ISO 8601 with a time zone)
``market``         the market ticker (``KXHIGHNY-26DEC02-T45``)
``event``          its event ticker (``KXHIGHNY-26DEC02``): the underlying of risk limits
``series``         its series ticker (``KXHIGHNY``): the fee schedule's unit
``yes_bid``        best YES bid, dollars 0.01-0.99 (empty: no YES bid)
``yes_ask``        best YES ask, dollars 0.01-0.99 (1 - best NO bid; empty: no NO bid)
``yes_bid_size``   contracts bid at ``yes_bid`` (0 when empty)
``yes_ask_size``   contracts offered at ``yes_ask`` (0 when empty)
``volume``         contracts traded in the last 24 hours
``close_time``     when trading stops (ISO 8601 with a time zone; the same on every row)
``result``         empty until the market is determined, then ``yes``, ``no`` or ``void``
``settlement_time``  optional: when the result is expected to be paid (default: ``close_time``)
=================  ===========================================================================

The NO side is the YES book turned around: NO bid = 1 - YES ask, NO ask = 1 - YES bid
(:func:`riskpilot.model.event.side_market`); its sizes swap with it.

What a reader sees at an instant ``now`` (:meth:`EventSnapshots.quotes`, :meth:`EventSnapshots.at`):
each market's last row at or before ``now`` (never a later one), stamped with that row's
``timestamp`` (a quote is as old as its recording, and a rule sees its age). A market has no
quote at or after its ``close_time`` (trading has stopped) nor once its result is known; its
result is known from the first row that carries one, and a row that carries one may not be
followed by a row without it or with another.

A bad file is refused whole with the rows at fault (line numbers count a CSV's header as line
1): a missing column, a time without a zone, a price outside 0.01-0.99, a crossed book
(bid above ask), a negative size or volume, a market whose event, series or close time changes,
two rows of one market at one instant, or a result that changes or disappears.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskpilot.model.contract import (
    EVENT_MAX_PRICE,
    EVENT_MIN_PRICE,
    EVENT_PAYOUT,
    Contract,
    EventContract,
    exchange_date,
)
from riskpilot.model.enums import ContractSide, MarketResult
from riskpilot.model.quote import Quote

REQUIRED_COLUMNS: tuple[str, ...] = (
    "timestamp", "market", "event", "series", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size", "volume",
    "close_time", "result",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("settlement_time",)


class SnapshotFormatError(ValueError):
    """An event-snapshot file that cannot be used; the message names the rows and the fix."""


@dataclass(frozen=True, slots=True)
class MarketRow:
    """One market as recorded at ``timestamp``: the YES book (dollars; None for an empty
    side) with its sizes (contracts), the 24-hour volume, and the result when known."""

    timestamp: datetime
    yes_bid: float | None
    yes_ask: float | None
    yes_bid_size: int
    yes_ask_size: int
    volume: int
    result: MarketResult | None

    def quote(self, side: ContractSide) -> Quote:
        """``side``'s quote: the YES book as recorded, or the NO book it implies."""
        if side is ContractSide.YES:
            bid, ask = self.yes_bid, self.yes_ask
        else:
            bid = None if self.yes_ask is None else round(EVENT_PAYOUT - self.yes_ask, 10)
            ask = None if self.yes_bid is None else round(EVENT_PAYOUT - self.yes_bid, 10)
        return Quote(bid=bid, ask=ask, timestamp=self.timestamp, volume=self.volume)

    def sizes(self, side: ContractSide) -> tuple[int, int]:
        """(bid size, ask size) of ``side``: the NO side's bid is the YES ask's size."""
        if side is ContractSide.YES:
            return self.yes_bid_size, self.yes_ask_size
        return self.yes_ask_size, self.yes_bid_size


@dataclass(frozen=True, slots=True)
class _Market:
    yes: EventContract
    no: EventContract
    stamps: npt.NDArray[np.int64]  # ns since the epoch, UTC, increasing
    rows: tuple[MarketRow, ...]
    result_from: int | None  # index of the first row carrying the result

    def contract(self, side: ContractSide) -> EventContract:
        return self.yes if side is ContractSide.YES else self.no

    def row_at(self, now_ns: int) -> MarketRow | None:
        i = int(np.searchsorted(self.stamps, now_ns, side="right")) - 1
        return self.rows[i] if i >= 0 else None


class EventSnapshots:
    """A recorded snapshot file, indexed for as-of reads (module docstring). ``source`` names
    it in messages; ``synthetic`` is True when the file says it was generated, not recorded
    (a ``synthetic`` column of true values): every display of its results must say so."""

    def __init__(self, frame: pd.DataFrame, *, source: str = "<frame>") -> None:
        self.source = source
        self.synthetic = bool("synthetic" in frame.columns and frame["synthetic"].astype(str).str.lower()
                              .isin(("true", "1")).all())
        self._markets = _index(frame, source)
        stamps = sorted({int(s) for m in self._markets.values() for s in m.stamps})
        self.times: tuple[datetime, ...] = tuple(_dt(s) for s in stamps)
        self._ns = stamps

    @classmethod
    def from_path(cls, path: str | Path) -> EventSnapshots:
        p = Path(path)
        if not p.is_file():
            raise SnapshotFormatError(f"event snapshot file {p} not found")
        suffix = p.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(p)
            elif suffix == ".csv":
                frame = pd.read_csv(p, dtype={"market": str, "event": str, "series": str, "result": str},
                                    keep_default_na=False, na_values={"yes_bid": [""], "yes_ask": [""]})
            else:
                raise SnapshotFormatError(f"event snapshot file {p} must be a .csv or .parquet file")
        except (OSError, ValueError) as exc:
            if isinstance(exc, SnapshotFormatError):
                raise
            raise SnapshotFormatError(f"event snapshot file {p} cannot be read: {exc}") from exc
        return cls(frame, source=str(p))

    # --- what the file holds ----------------------------------------------------------------
    @property
    def markets(self) -> list[str]:
        return sorted(self._markets)

    @property
    def first(self) -> datetime:
        return self.times[0]

    @property
    def last(self) -> datetime:
        return self.times[-1]

    def days(self) -> list[date]:
        """The exchange (New York) dates the recording spans."""
        return sorted({exchange_date(t) for t in self.times})

    def contract(self, market: str, side: ContractSide | str = ContractSide.YES) -> EventContract:
        m = self._markets.get(market)
        if m is None:
            raise KeyError(f"{market!r} is not a market of {self.source} (markets: {', '.join(self.markets)})")
        return m.contract(ContractSide.parse(side))

    def between(self, start: date | None, end: date | None) -> list[datetime]:
        """The recording instants whose exchange date lies within ``[start, end]``."""
        return [t for t in self.times
                if (start is None or exchange_date(t) >= start) and (end is None or exchange_date(t) <= end)]

    # --- reads as of an instant -------------------------------------------------------------
    def row(self, market: str, now: datetime) -> MarketRow | None:
        """``market``'s last row at or before ``now`` (None before its first)."""
        m = self._markets.get(market)
        return None if m is None else m.row_at(_ns(now))

    def result(self, market: str, now: datetime) -> MarketResult | None:
        """The market's result when known at ``now``."""
        m = self._markets.get(market)
        if m is None or m.result_from is None:
            return None
        return m.rows[m.result_from].result if m.stamps[m.result_from] <= _ns(now) else None

    def tradable(self, market: str, now: datetime) -> MarketRow | None:
        """``market``'s row at ``now`` while it trades: before its close, result unknown."""
        m = self._markets.get(market)
        if m is None or now >= m.yes.close_time:
            return None
        row = m.row_at(_ns(now))
        return None if row is None or row.result is not None else row

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        """Quotes at ``now`` of the event contracts among ``contracts`` whose market trades
        (module docstring); others are absent. A paper broker's quote source."""
        out: dict[Contract, Quote] = {}
        for c in contracts:
            if not isinstance(c, EventContract):
                continue
            row = self.tradable(c.ticker, now)
            if row is not None:
                out[c] = row.quote(c.side)
        return out

    def at(self, now: datetime) -> EventSnapshot:
        """The snapshot the step reads at ``now``."""
        return EventSnapshot(self, now)

    def __iter__(self) -> Iterator[EventSnapshot]:
        for t in self.times:
            yield EventSnapshot(self, t)

    def _all(self) -> Iterable[_Market]:
        return self._markets.values()


class EventSnapshot:
    """The event markets at one instant, as the cycle step reads a snapshot: ``timestamp``,
    ``quote_date`` (its New York date), ``size`` (markets trading), :meth:`quotes`, and the
    contracts one could enter (:meth:`contracts`)."""

    def __init__(self, snapshots: EventSnapshots, timestamp: datetime) -> None:
        if timestamp.tzinfo is None:
            raise ValueError("a snapshot instant must be timezone-aware")
        self.snapshots = snapshots
        self.timestamp = timestamp
        self.quote_date = exchange_date(timestamp)
        self._trading = [m for m in snapshots._all() if snapshots.tradable(m.yes.ticker, timestamp) is not None]

    @property
    def size(self) -> int:
        return len(self._trading)

    @property
    def model_priced(self) -> bool:
        return False

    def quotes(self, contracts: Iterable[Contract]) -> dict[Contract, Quote]:
        return self.snapshots.quotes(list(contracts), self.timestamp)

    def contracts(self) -> list[EventContract]:
        """Both sides of every market trading now, by ticker."""
        return [c for m in sorted(self._trading, key=lambda m: m.yes.ticker) for c in (m.yes, m.no)]

    def sizes(self, contract: EventContract) -> tuple[int, int]:
        row = self.snapshots.tradable(contract.ticker, self.timestamp)
        return (0, 0) if row is None else row.sizes(contract.side)

    def result(self, market: str) -> MarketResult | None:
        return self.snapshots.result(market, self.timestamp)


# --- reading and checking ---------------------------------------------------------------------------


def _ns(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(pd.Timestamp(t).value)


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns % 1_000_000_000) // 1000)


def _lines(mask: pd.Series | npt.NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(np.asarray(mask))[:5]
    more = int(np.asarray(mask).sum()) - idx.size
    return ", ".join(str(int(i) + 2) for i in idx) + (f" (and {more} more)" if more > 0 else "")


def _times(df: pd.DataFrame, name: str, source: str) -> pd.Series:
    col = df[name]
    try:
        stamps = pd.to_datetime(col) if pd.api.types.is_datetime64_any_dtype(col) else pd.to_datetime(
            col, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SnapshotFormatError(f"{source}: {name} is not ISO 8601 date-times: {exc}") from exc
    if getattr(stamps.dt, "tz", None) is None:
        raise SnapshotFormatError(
            f"{source}: {name} carries no time zone; write it with one (2026-12-02T15:00:00Z) so an as-of "
            "read cannot shift by the machine's zone"
        )
    if stamps.isna().any():
        raise SnapshotFormatError(f"{source}: missing {name} at line(s) {_lines(stamps.isna())}")
    return stamps.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64")


def _prices(df: pd.DataFrame, name: str, source: str) -> npt.NDArray[np.float64]:
    raw = df[name]
    if not pd.api.types.is_numeric_dtype(raw):  # text (a CSV read as text, a Parquet string column)
        raw = raw.astype(object).where(raw.astype(str).str.strip() != "", None)
    values = pd.to_numeric(raw, errors="coerce")
    unparsed = values.isna() & raw.notna()
    if unparsed.any():
        raise SnapshotFormatError(f"{source}: {name} is not a number at line(s) {_lines(unparsed)}")
    bad = values.notna() & ((values < EVENT_MIN_PRICE - 1e-9) | (values > EVENT_MAX_PRICE + 1e-9))
    if bad.any():
        raise SnapshotFormatError(
            f"{source}: {name} outside {EVENT_MIN_PRICE:.2f}-{EVENT_MAX_PRICE:.2f} dollars at line(s) {_lines(bad)} "
            "(leave it empty when that side of the book has no order)"
        )
    return np.asarray(values.to_numpy(np.float64), dtype=np.float64)


def _counts(df: pd.DataFrame, name: str, source: str) -> npt.NDArray[np.int64]:
    values = pd.to_numeric(df[name], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        raise SnapshotFormatError(f"{source}: {name} must be a whole number >= 0; line(s) {_lines(bad)} are not")
    return np.asarray(values.to_numpy(np.int64), dtype=np.int64)


def _results(df: pd.DataFrame, source: str) -> list[MarketResult | None]:
    out: list[MarketResult | None] = []
    bad: list[int] = []
    for i, v in enumerate(df["result"].tolist()):
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        if not text:
            out.append(None)
            continue
        try:
            out.append(MarketResult.parse(text))
        except ValueError:
            out.append(None)
            bad.append(i)
    if bad:
        raise SnapshotFormatError(
            f"{source}: result must be empty, yes, no or void; line(s) {', '.join(str(i + 2) for i in bad[:5])} are not"
        )
    return out


def _price(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _index(frame: pd.DataFrame, source: str) -> dict[str, _Market]:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SnapshotFormatError(
            f"{source}: missing column(s) {missing}; an event snapshot has columns {list(REQUIRED_COLUMNS)} "
            f"(and optionally {list(OPTIONAL_COLUMNS)}); found {list(frame.columns)}"
        )
    if frame.empty:
        raise SnapshotFormatError(f"{source}: no rows")
    df = frame.reset_index(drop=True)
    for name in ("market", "event", "series"):
        blank = df[name].isna() | (df[name].astype(str).str.strip() == "")
        if blank.any():
            raise SnapshotFormatError(f"{source}: empty {name} at line(s) {_lines(blank)}")
    ts = _times(df, "timestamp", source)
    close = _times(df, "close_time", source)
    settle = _times(df, "settlement_time", source) if "settlement_time" in df.columns else close
    if (settle < close).any():
        raise SnapshotFormatError(f"{source}: settlement_time before close_time at line(s) {_lines(settle < close)}")
    bid, ask = _prices(df, "yes_bid", source), _prices(df, "yes_ask", source)
    crossed = ~np.isnan(bid) & ~np.isnan(ask) & (bid > ask + 1e-9)
    if crossed.any():
        raise SnapshotFormatError(f"{source}: yes_bid above yes_ask (a crossed book) at line(s) {_lines(crossed)}")
    bid_size, ask_size = _counts(df, "yes_bid_size", source), _counts(df, "yes_ask_size", source)
    volume = _counts(df, "volume", source)
    results = _results(df, source)
    dup = pd.DataFrame({"m": df["market"].astype(str), "t": ts}).duplicated(keep=False)
    if dup.any():
        raise SnapshotFormatError(f"{source}: a market has two rows at one timestamp at line(s) {_lines(dup)}")
    out: dict[str, _Market] = {}
    order = np.lexsort((ts.to_numpy(), df["market"].astype(str).to_numpy()))
    markets = df["market"].astype(str).to_numpy()
    for name in dict.fromkeys(markets[order]):
        idx = order[markets[order] == name]
        out[name] = _market(name, df, idx, ts.to_numpy(), close.to_numpy(), settle.to_numpy(), bid, ask,
                            bid_size, ask_size, volume, results, source)
    return out


def _market(name: str, df: pd.DataFrame, idx: npt.NDArray[np.intp], ts: npt.NDArray[np.int64],
            close: npt.NDArray[np.int64], settle: npt.NDArray[np.int64], bid: npt.NDArray[np.float64],
            ask: npt.NDArray[np.float64], bid_size: npt.NDArray[np.int64], ask_size: npt.NDArray[np.int64],
            volume: npt.NDArray[np.int64], results: list[MarketResult | None], source: str) -> _Market:
    lines = ", ".join(str(int(i) + 2) for i in idx[:5])
    for col, values in (("event", df["event"].astype(str).to_numpy()[idx]),
                        ("series", df["series"].astype(str).to_numpy()[idx]),
                        ("close_time", close[idx]), ("settlement_time", settle[idx])):
        if len(set(values.tolist())) != 1:
            raise SnapshotFormatError(f"{source}: market {name} changes its {col} (line(s) {lines}); one market "
                                      "has one value")
    yes = EventContract(str(df["series"].iloc[idx[0]]), str(df["event"].iloc[idx[0]]), name, ContractSide.YES,
                        _dt(int(close[idx[0]])), _dt(int(settle[idx[0]])))
    rows: list[MarketRow] = []
    result_from: int | None = None
    final: MarketResult | None = None
    for k, i in enumerate(idx):
        res = results[i]
        if final is not None and res != final:
            raise SnapshotFormatError(
                f"{source}: market {name}'s result changes or disappears at line {int(i) + 2} (it was {final.value} "
                "from an earlier row); a result is final"
            )
        final = res
        if res is not None and result_from is None:
            result_from = k
        rows.append(MarketRow(
            _dt(int(ts[i])), _price(bid[i]), _price(ask[i]), int(bid_size[i]), int(ask_size[i]), int(volume[i]), res,
        ))
    return _Market(yes, yes.opposite(), ts[idx].astype(np.int64), tuple(rows), result_from)


__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "EventSnapshot",
    "EventSnapshots",
    "MarketRow",
    "SnapshotFormatError",
]
