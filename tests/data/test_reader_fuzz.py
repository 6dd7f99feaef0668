"""Fuzzing the vendor readers (issue #14, item 4): rows of the hand-made samples and of slices of
the real chains are mutated by a seeded mutator, and every read must end in one of two ways:

- a :class:`ChainFormatError` that names the file and the mutated line (and the mutated column
  when one value was changed): never another exception;
- an import in which every row holding a value that cannot be true (negative or infinite price,
  non-positive or absurd strike, expiration before the quote date or beyond any listed term,
  negative volume or open interest) carries the matching flag and is unusable for pricing.

Two kinds of mutated file: a *batch* of rows each given one impossible but readable value (the
read must succeed and flag every one of them), or *one* row given an unreadable value or broken
structure (ragged, NUL, non-UTF-8, stray quote; the read may succeed only when the reader does not
use that column). Some files also get blank lines, which the CSV reader skips, so that the line
numbers in errors are checked against physical lines. The Parquet path (the SPX 2019 chain's) is
mutated with typed values. The default run mutates over 1,000 rows in about a second; the slow
run twenty times more.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from chain_paths import (
    CBOE,
    IVOL_2011,
    OPTIONSDX,
    ORATS,
    SPX_2017,
    SPX_2019,
    SPXW_2018,
    SPY_2021,
    shared_data,
)

from riskpilot.data.quality import ABSURD_STRIKE_RATIO, MAX_STRIKE, MAX_TERM_DAYS
from riskpilot.data.readers import ChainFormatError, read_chain
from riskpilot.data.schema import UNUSABLE_FOR_PRICING, Quality

Side = str | None  # "C", "P" or None (both rows of a one-row-per-strike layout)

#: Schema column -> the flag an impossible value in it must raise.
EXPECTED_FLAG: Mapping[str, Quality] = {
    "bid": Quality.BAD_PRICE, "ask": Quality.BAD_PRICE, "last": Quality.BAD_PRICE,
    "underlying_price": Quality.BAD_PRICE, "strike": Quality.BAD_STRIKE,
    "expiration": Quality.BAD_EXPIRATION, "volume": Quality.BAD_VOLUME,
    "open_interest": Quality.BAD_VOLUME,
}

#: Readable values that cannot be true, by schema column (text form).
IMPOSSIBLE_TEXT: Mapping[str, Sequence[str]] = {
    "price": ("-1", "-0.05", "-1e300", "inf", "-inf", "Infinity", "1e309"),
    "strike": ("0", "-50", "1e300", "-0", "1e-300", "inf", "-inf", "2e6"),
    "expiration": ("2000-01-03", "1990-06-01", "9999-12-31", "2199-01-01"),
    "count": ("-1", "-5", "-1e6"),
}

#: Values a reader may refuse (or, in a column it does not use, ignore).
UNREADABLE_TEXT: Sequence[str] = (
    "abc", "1.2.3", "--1", "0x10", "\uff11\uff12", "1e", "nan", "", " ", "N/A", "9999-12-31",
    "0000-00-00", "2020-02-30", "2020-13-01", "31/12/2020", "1800-01-01", "garbage", '"quoted"',
    "'", "-", "+", ".", "1_000", "TRUE", "9" * 400, "2019-04-25 25:61", "\u00e9", "12.5", "1e400",
    "-0", "0", "call", "X",
)

STRUCTURAL = ("drop_field", "add_field", "split_value", "truncate", "nul", "bad_utf8",
              "open_quote", "spaces_line")


@dataclass(frozen=True)
class Source:
    """One file to mutate: text lines (header first) or a Parquet table, how its vendor columns
    reach the schema, and how to read it."""

    name: str
    fmt: str
    file_name: str
    columns: Mapping[str, tuple[str, Side]]
    lines: tuple[str, ...] = ()
    table: pa.Table | None = None
    sep: str = ","
    pair: bool = False  # one row per strike: call rows, then put rows
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.lines) - 1

    def output_rows(self, row: int, side: Side) -> list[int]:
        if not self.pair:
            return [row]
        return {"C": [row], "P": [self.rows + row], None: [row, self.rows + row]}[side]


def _both(*names: str, to: str) -> dict[str, tuple[str, Side]]:
    return {n: (to, None) for n in names}


HOD_COLUMNS = {"bid": ("bid", None), "ask": ("ask", None), "last": ("last", None),
               "volume": ("volume", None), "openinterest": ("open_interest", None),
               "strike": ("strike", None), "expiration": ("expiration", None),
               "underlying_last": ("underlying_price", None)}


def _sources() -> list[Source]:
    def text(path: Path, limit: int | None = None, seed: int = 0) -> tuple[str, ...]:
        lines = path.read_text(encoding="utf-8").splitlines()
        if limit is None or len(lines) - 1 <= limit:
            return tuple(lines)
        picked = sorted(random.Random(seed).sample(range(1, len(lines)), limit))
        return (lines[0], *(lines[i] for i in picked))

    sources = [
        Source("orats sample", "orats", "orats.csv", {
            "cBidPx": ("bid", "C"), "cAskPx": ("ask", "C"), "pBidPx": ("bid", "P"),
            "pAskPx": ("ask", "P"), "cVolu": ("volume", "C"), "pVolu": ("volume", "P"),
            "cOi": ("open_interest", "C"), "pOi": ("open_interest", "P"),
            **_both("strike", to="strike"), **_both("expirDate", to="expiration"),
            **_both("stkPx", to="underlying_price"),
        }, lines=text(ORATS), pair=True),
        Source("cboe sample", "cboe", "cboe.csv", {
            "bid_eod": ("bid", None), "ask_eod": ("ask", None), "close": ("last", None),
            "trade_volume": ("volume", None), "open_interest": ("open_interest", None),
            "strike": ("strike", None), "expiration": ("expiration", None),
            "underlying_bid_eod": ("underlying_price", None),
            "underlying_ask_eod": ("underlying_price", None),
        }, lines=text(CBOE)),
        Source("optionsdx sample", "optionsdx", "spy_eod_fuzz.txt", {
            "C_BID": ("bid", "C"), "C_ASK": ("ask", "C"), "C_LAST": ("last", "C"),
            "P_BID": ("bid", "P"), "P_ASK": ("ask", "P"), "P_LAST": ("last", "P"),
            "C_VOLUME": ("volume", "C"), "P_VOLUME": ("volume", "P"),
            "STRIKE": ("strike", None), "EXPIRE_DATE": ("expiration", None),
            "UNDERLYING_LAST": ("underlying_price", None),
        }, lines=text(OPTIONSDX), sep=", ", pair=True),
    ]
    data = shared_data()
    real = [
        (SPY_2021, "historicaloptiondata", HOD_COLUMNS, {}),  # greek units detected (auto)
        (SPXW_2018, "historicaloptiondata", HOD_COLUMNS, {"greek_units": "per_year"}),
        (SPX_2017, "historicaloptiondata", HOD_COLUMNS, {"greek_units": "drop"}),
        (IVOL_2011, "ivolatility", {
            "bid": ("bid", None), "ask": ("ask", None), "volume": ("volume", None),
            "open_interest": ("open_interest", None), "strike": ("strike", None),
            "option_expiration": ("expiration", None),
            "stock_price_close": ("underlying_price", None),
        }, {}),
    ]
    for name, fmt, columns, kwargs in real:
        if (data / name).is_file():
            sources.append(Source(name, fmt, "real.csv", columns,
                                  lines=text(data / name, limit=60), kwargs=kwargs))
    if (data / SPX_2019).is_file():
        whole = pq.read_table(data / SPX_2019)
        picked = sorted(random.Random(0).sample(range(whole.num_rows), 200))
        sources.append(Source(SPX_2019, "historicaloptiondata", "spx.parquet", HOD_COLUMNS,
                              table=whole.take(picked)))
    return sources


# -- the mutator ------------------------------------------------------------------------------


@dataclass
class Mutation:
    row: int  # data row index in the unmutated file
    column: str | None  # vendor column changed, None for a structural change
    value: object
    impossible: bool  # a readable value that cannot be true


@dataclass
class FuzzStats:
    files: int = 0
    rows_mutated: int = 0
    impossible_rows: int = 0  # output rows holding a mutated impossible value
    impossible_flagged: int = 0
    errors: int = 0  # reads refused with a ChainFormatError
    clean_imports: int = 0
    tracebacks: list[str] = field(default_factory=list)
    impossible_usable: list[str] = field(default_factory=list)
    misplaced_errors: list[str] = field(default_factory=list)

    def merge(self, other: FuzzStats) -> None:
        for name in ("files", "rows_mutated", "impossible_rows", "impossible_flagged", "errors",
                     "clean_imports"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.tracebacks += other.tracebacks
        self.impossible_usable += other.impossible_usable
        self.misplaced_errors += other.misplaced_errors


def _impossible_text(schema_column: str, rng: random.Random) -> str:
    kind = {"bid": "price", "ask": "price", "last": "price", "underlying_price": "price",
            "strike": "strike", "expiration": "expiration", "volume": "count",
            "open_interest": "count"}[schema_column]
    return rng.choice(IMPOSSIBLE_TEXT[kind])


def _header(source: Source) -> list[str]:
    return [h.strip().strip('"').strip("[]").strip() for h in source.lines[0].split(source.sep)]


def _mutate_text(source: Source, rng: random.Random, batch: bool) -> tuple[bytes, list[Mutation],
                                                                           list[int]]:
    """The mutated file's bytes, its mutations, and the physical line of each data row."""
    header = _header(source)
    lines: list[bytes] = [line.encode("utf-8") for line in source.lines]
    mutations: list[Mutation] = []
    if batch:
        targets = [c for c in source.columns if c in header]
        rows = rng.sample(range(source.rows), min(12, source.rows))
        for row in rows:
            column = rng.choice(targets)
            value = _impossible_text(source.columns[column][0], rng)
            lines[row + 1] = _set_field(lines[row + 1], source.sep, header.index(column), value)
            mutations.append(Mutation(row, column, value, impossible=True))
    else:
        row = rng.randrange(source.rows)
        if rng.random() < 0.35:
            kind = rng.choice(STRUCTURAL)
            lines[row + 1] = _structural(lines[row + 1], source.sep, kind, rng)
            mutations.append(Mutation(row, None, kind, impossible=False))
        else:
            column = rng.choice(header)
            value = rng.choice(UNREADABLE_TEXT)
            if source.sep == ", " and value == " ":
                value = "  "
            lines[row + 1] = _set_field(lines[row + 1], source.sep, header.index(column), value)
            mutations.append(Mutation(row, column, value, impossible=False))
    # Blank lines are skipped by the reader: the error must still name the physical line.
    physical = list(range(2, source.rows + 2))
    for _ in range(rng.choice((0, 0, 1, 2))):
        at = rng.randrange(1, len(lines) + 1)
        lines.insert(at, b"")
        physical = [p + 1 if p > at else p for p in physical]
    return b"\n".join(lines) + b"\n", mutations, physical


def _set_field(line: bytes, sep: str, index: int, value: str) -> bytes:
    fields = line.decode("utf-8").split(sep)
    lead = " " if sep == ", " else ""
    fields[index] = lead + value if index > 0 else value
    return sep.join(fields).encode("utf-8")


def _structural(line: bytes, sep: str, kind: str, rng: random.Random) -> bytes:
    fields = line.split(sep.encode())
    i = rng.randrange(len(fields))
    if kind == "drop_field":
        del fields[i]
    elif kind == "add_field":
        fields.insert(i, b"7")
    elif kind == "split_value":
        fields[i] = fields[i] + b"," + b"5" if sep == "," else fields[i] + sep.encode() + b"5"
    elif kind == "truncate":
        return line[: rng.randrange(1, max(2, len(line) // 2))]
    elif kind == "nul":
        fields[i] = fields[i] + b"\x00"
    elif kind == "bad_utf8":
        fields[i] = b"\xff\xfe" + fields[i]
    elif kind == "open_quote":
        fields[i] = b'"' + fields[i]
    elif kind == "spaces_line":
        return b"   "
    return sep.encode().join(fields)


def _mutate_parquet(source: Source, rng: random.Random, batch: bool) -> tuple[pa.Table,
                                                                              list[Mutation]]:
    assert source.table is not None
    cols = {name: source.table.column(name).to_pylist() for name in source.table.column_names}
    types = {name: source.table.schema.field(name).type for name in source.table.column_names}
    mutations: list[Mutation] = []
    impossible_values: Mapping[str, Sequence[object]] = {
        "price": (-1.0, -1e300, float("inf"), float("-inf")),
        "strike": (0.0, -50.0, 1e300, float("inf"), 1e-300),
        "expiration": (datetime(2000, 1, 3), datetime(9999, 12, 31)),
        "count": (-5, -1),
    }
    kinds = {"bid": "price", "ask": "price", "last": "price", "underlying_last": "price",
             "strike": "strike", "expiration": "expiration", "volume": "count",
             "openinterest": "count"}
    if batch:
        for row in rng.sample(range(source.rows), 12):
            column = rng.choice(sorted(kinds))
            value = rng.choice(impossible_values[kinds[column]])
            cols[column][row] = value
            mutations.append(Mutation(row, column, value, impossible=True))
    else:
        row = rng.randrange(source.rows)
        column = rng.choice(sorted(cols))
        value: object = rng.choice((
            "abc", None, float("nan"), True, "9999-12-31", datetime(9999, 12, 31),
            datetime(1900, 1, 1), "X", "", -1, 1e400,
        ))
        cols[column][row] = value
        mutations.append(Mutation(row, column, value, impossible=False))
        if not _fits(types[column], value):
            cols[column] = [None if v is None else str(v) for v in cols[column]]
            types[column] = pa.string()
    table = pa.table({name: pa.array(values, types[name]) for name, values in cols.items()})
    return table, mutations


def _fits(tp: pa.DataType, value: object) -> bool:
    try:
        pa.array([value], tp)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError):
        return False
    return True


# -- the oracle -------------------------------------------------------------------------------


def _independent_impossible(table: pa.Table) -> np.ndarray:
    """Rows whose values cannot be true, by this test's own reading of the rules."""
    def f(name: str) -> np.ndarray:
        return np.asarray(pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False))

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        bad = np.zeros(table.num_rows, dtype=bool)
        for name in ("bid", "ask", "last", "underlying_price"):
            v = f(name)
            bad |= (v < 0) | np.isinf(v)
        k, s = f("strike"), f("underlying_price")
        bad |= ~np.isfinite(k) | (k <= 0) | (k > MAX_STRIKE)
        bad |= np.isfinite(s) & (s > 0) & ((k / s > ABSURD_STRIKE_RATIO)
                                           | (s / k > ABSURD_STRIKE_RATIO))
        days = (np.asarray(pc.cast(table["expiration"], pa.int32()).to_numpy(zero_copy_only=False))
                - np.asarray(pc.cast(table["quote_date"], pa.int32())
                             .to_numpy(zero_copy_only=False)))
        bad |= (days < 0) | (days > MAX_TERM_DAYS)
        bad |= (f("volume") < 0) | (f("open_interest") < 0)
    return bad


def _check_one(source: Source, path: Path, mutations: list[Mutation], lines: list[int] | None,
               stats: FuzzStats) -> None:
    stats.files += 1
    stats.rows_mutated += len(mutations)
    where = f"{source.name} {[(m.row, m.column, m.value) for m in mutations]!r}"
    try:
        table = read_chain(path, source.fmt, **source.kwargs)
    except ChainFormatError as exc:
        stats.errors += 1
        _check_error(source, exc, mutations, lines, where, stats)
        return
    except Exception as exc:
        stats.tracebacks.append(f"{where}: {type(exc).__name__}: {exc}")
        return
    stats.clean_imports += 1
    quality = np.asarray(table["quality"].to_numpy(zero_copy_only=False))
    for m in mutations:
        if not m.impossible or m.column is None:
            continue
        schema_column, side = source.columns[m.column]
        for out in source.output_rows(m.row, side):
            stats.impossible_rows += 1
            flag = int(EXPECTED_FLAG[schema_column])
            if quality[out] & flag and quality[out] & int(UNUSABLE_FOR_PRICING):
                stats.impossible_flagged += 1
            else:
                stats.impossible_usable.append(f"{where}: output row {out} has quality "
                                               f"{int(quality[out])}")
    unflagged = _independent_impossible(table) & ((quality & int(UNUSABLE_FOR_PRICING)) == 0)
    for out in np.flatnonzero(unflagged):
        stats.impossible_usable.append(f"{where}: output row {int(out)} "
                                       f"{table.slice(int(out), 1).to_pylist()[0]}")


def _check_error(source: Source, exc: ChainFormatError, mutations: list[Mutation],
                 lines: list[int] | None, where: str, stats: FuzzStats) -> None:
    if str(exc.path) not in str(exc):
        stats.misplaced_errors.append(f"{where}: error does not name the file: {exc}")
    if len(mutations) != 1:
        stats.misplaced_errors.append(f"{where}: a batch of readable values was refused: {exc}")
        return
    m = mutations[0]
    expected_line = lines[m.row] if lines is not None else m.row + 1
    if exc.line is None and "greek_units" in str(exc):
        return  # the greek-unit evidence is file-wide: a mutated greek may change it
    if exc.line != expected_line:
        stats.misplaced_errors.append(f"{where}: expected line {expected_line}: {exc}")
    elif exc.column is None:
        stats.misplaced_errors.append(f"{where}: the error names no column: {exc}")
    elif m.column is not None and exc.column != m.column:
        stats.misplaced_errors.append(f"{where}: expected column {m.column!r}: {exc}")


def run_fuzz(seed: int, files: int, tmp: Path, sources: Sequence[Source]) -> FuzzStats:
    """Mutate ``files`` files (7 in 10 a batch of impossible values, the rest one unreadable
    change) drawn from ``sources`` with ``random.Random(seed)``."""
    rng = random.Random(seed)
    stats = FuzzStats()
    for i in range(files):
        source = sources[i % len(sources)]
        batch = rng.random() < 0.7
        folder = tmp / str(i % 8)
        folder.mkdir(exist_ok=True)
        path = folder / source.file_name
        if source.table is not None:
            table, mutations = _mutate_parquet(source, rng, batch)
            pq.write_table(table, path)
            _check_one(source, path, mutations, None, stats)
        else:
            data, mutations, lines = _mutate_text(source, rng, batch)
            path.write_bytes(data)
            _check_one(source, path, mutations, lines, stats)
    return stats


def _report(stats: FuzzStats, sources: Sequence[Source]) -> str:
    return (f"reader fuzz: {stats.files} files from {len(sources)} sources, "
            f"{stats.rows_mutated} rows mutated, {stats.errors} refused with ChainFormatError, "
            f"{stats.clean_imports} imported; tracebacks {len(stats.tracebacks)}; impossible "
            f"rows {stats.impossible_rows}, flagged {stats.impossible_flagged}, usable "
            f"{len(stats.impossible_usable)}; misplaced errors {len(stats.misplaced_errors)}")


def _assert_clean(stats: FuzzStats) -> None:
    assert stats.tracebacks == []
    assert stats.impossible_usable == []
    assert stats.misplaced_errors == []


@pytest.fixture(scope="module")
def sources() -> list[Source]:
    return _sources()


def test_reader_fuzz_when_1000_rows_mutated_then_no_traceback_and_no_impossible_row_usable(
    sources: list[Source], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    stats = run_fuzz(seed=14, files=130, tmp=tmp_path, sources=sources)

    with capsys.disabled():
        print("\n" + _report(stats, sources))
    _assert_clean(stats)
    assert stats.rows_mutated >= 1_000
    assert stats.impossible_rows > 500 and stats.errors > 10 and stats.clean_imports > 60


@pytest.mark.slow
def test_reader_fuzz_slow_when_20000_rows_mutated_then_no_traceback_and_no_impossible_row_usable(
    sources: list[Source], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    total = FuzzStats()
    for seed in range(20):
        total.merge(run_fuzz(seed=1000 + seed, files=130, tmp=tmp_path, sources=sources))

    with capsys.disabled():
        print("\n" + _report(total, sources))
    _assert_clean(total)
    assert total.rows_mutated >= 20_000
