"""The columnar option-chain store: normalized chains (CHAIN_SCHEMA) in Parquet, partitioned
by underlying and year in hive style, written with pyarrow.

Layout under ``root``::

    by_day/underlying=SPX/year=2019/data.parquet       rows sorted by (quote_date, root,
                                                        expiration, strike, right); exactly one
                                                        row group per quote date
    by_contract/underlying=SPX/year=2019/data.parquet  the same rows sorted by (root,
                                                        expiration, strike, right, quote_date);
                                                        row groups of 2048 rows

Why two copies: a backtest reads one day's chain (``day``, ``iter_days``) and a position's
mark history reads one contract across days (``contract_history``). With rows clustered by
day, one day is exactly one row group, located from the footer's statistics without touching
data; with rows clustered by contract, one contract sits in one or two small row groups whose
min/max statistics on (root, expiration, strike) find them. Each access thus reads a few
thousand rows instead of scanning a year. The price is twice the disk (about 16 MB per copy
for the 782k-row, three-month SPX 2019 chain).

``by_day`` is the canonical dataset, readable by other tools, for example DuckDB:
``SELECT * FROM read_parquet('ROOT/by_day/*/*/*.parquet', hive_partitioning = false)``
(the ``underlying`` column is stored in the files too, so hive partitioning is not needed).

Writes merge on the key (quote_date, root, expiration, strike, right): importing rows replaces
every stored row with the same key, so re-importing the same data is a no-op in content.
Files are replaced atomically (written beside, then renamed). One writer at a time per store.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskpilot.data.quality import KEY_COLUMNS, QualityReport, flag_rows, quality_report
from riskpilot.data.schema import CHAIN_SCHEMA

DAY_ORDER: tuple[str, ...] = ("quote_date", "root", "expiration", "strike", "right")
CONTRACT_ORDER: tuple[str, ...] = ("root", "expiration", "strike", "right", "quote_date")
CONTRACT_ROW_GROUP = 2048
COMPRESSION = "lz4"  # decompresses faster than zstd; a day read is decode-bound
_FILE = "data.parquet"
_PART_RE = re.compile(r"^year=(\d{4})$")
_UNDERLYING_RE = re.compile(r"^[A-Z0-9.^_-]{1,16}$")
_EPOCH = date(1970, 1, 1)
_STRING_COLUMNS = [f.name for f in CHAIN_SCHEMA if pa.types.is_string(f.type)]


class ChainStoreError(ValueError):
    """A table or a request the store cannot accept, with what to do about it."""


@dataclass(frozen=True)
class ImportResult:
    """What one ``import_table`` did.

    ``rows_in``: rows given. ``rows_replaced``: stored rows whose key was re-imported (they are
    replaced, never duplicated). ``rows_new``: ``rows_in - rows_replaced``. ``partitions``:
    (underlying, year) partitions rewritten. ``quality``: the imported rows' quality.
    """

    rows_in: int
    rows_replaced: int
    rows_new: int
    partitions: tuple[tuple[str, int], ...]
    quality: QualityReport | None


@dataclass(frozen=True)
class UnderlyingInfo:
    """One underlying in the store. ``model_priced``: True when every row is model-priced,
    False when none is; a mixed store says so in ``sources`` and ``model_priced_rows``."""

    underlying: str
    rows: int
    first_day: date | None
    last_day: date | None
    days: int
    expirations: int
    roots: tuple[str, ...]
    sources: tuple[str, ...]
    model_priced_rows: int
    quality: QualityReport

    @property
    def model_priced(self) -> bool:
        return self.rows > 0 and self.model_priced_rows == self.rows


@dataclass(frozen=True)
class StoreInfo:
    root: Path
    underlyings: dict[str, UnderlyingInfo] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.underlyings.values())


class _DayIndex:
    """A by_day file's footer: which row group holds which quote date."""

    def __init__(self, path: Path, stamp: tuple[int, int]) -> None:
        self.stamp = stamp
        self.path = path
        self.file = pq.ParquetFile(path, memory_map=True)
        self._dictionary_file: pq.ParquetFile | None = None
        meta = self.file.metadata
        col = meta.schema.to_arrow_schema().get_field_index("quote_date")
        self.by_date: dict[date, int] = {}
        self.offsets: list[int] = []
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(col).statistics
            if stats is None or not stats.has_min_max or stats.min != stats.max:
                raise ChainStoreError(
                    f"{path}: row group {i} does not hold exactly one quote date; the file "
                    "was not written by this store. Re-import its data into a new store."
                )
            self.by_date[stats.min] = i
        self.dates = sorted(self.by_date)

    def dictionary_file(self) -> pq.ParquetFile:
        """The same file, opened to read string columns as dictionaries."""
        if self._dictionary_file is None:
            self._dictionary_file = pq.ParquetFile(self.path, memory_map=True, read_dictionary=_STRING_COLUMNS)
        return self._dictionary_file


class _ContractIndex:
    """A by_contract file's footer: per row group min/max of root, expiration and strike."""

    def __init__(self, path: Path, stamp: tuple[int, int]) -> None:
        self.stamp = stamp
        self.file = pq.ParquetFile(path, memory_map=True)
        meta = self.file.metadata
        schema = meta.schema.to_arrow_schema()
        cols = {name: schema.get_field_index(name) for name in ("root", "expiration", "strike")}
        n = meta.num_row_groups
        self.root_min: list[str] = []
        self.root_max: list[str] = []
        self.exp_min = np.empty(n, dtype=np.int64)
        self.exp_max = np.empty(n, dtype=np.int64)
        self.strike_min = np.empty(n, dtype=np.float64)
        self.strike_max = np.empty(n, dtype=np.float64)
        for i in range(n):
            rg = meta.row_group(i)
            stats = {name: rg.column(c).statistics for name, c in cols.items()}
            if any(s is None or not s.has_min_max for s in stats.values()):
                raise ChainStoreError(f"{path}: row group {i} has no statistics; the file was "
                                      "not written by this store")
            self.root_min.append(stats["root"].min)
            self.root_max.append(stats["root"].max)
            self.exp_min[i] = stats["expiration"].min.toordinal()
            self.exp_max[i] = stats["expiration"].max.toordinal()
            self.strike_min[i] = stats["strike"].min
            self.strike_max[i] = stats["strike"].max

    def candidates(self, root: str, expiration: date, strike: float) -> list[int]:
        e = expiration.toordinal()
        hit = ((self.exp_min <= e) & (e <= self.exp_max)
               & (self.strike_min <= strike) & (strike <= self.strike_max))
        return [int(i) for i in np.flatnonzero(hit)
                if self.root_min[i] <= root <= self.root_max[i]]


class ChainStore:
    """Normalized option chains on disk. See the module docstring for the layout.

    Reads return CHAIN_SCHEMA tables. Footers are cached in memory per file and re-read when
    the file changes (size or modification time), so repeated reads cost one row-group read.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._days: dict[Path, _DayIndex] = {}
        self._contracts: dict[Path, _ContractIndex] = {}

    # -- paths ---------------------------------------------------------------------------

    def _part(self, layout: str, underlying: str, year: int) -> Path:
        return self.root / layout / f"underlying={underlying}" / f"year={year}" / _FILE

    def underlyings(self) -> list[str]:
        base = self.root / "by_day"
        if not base.is_dir():
            return []
        return sorted(p.name.split("=", 1)[1] for p in base.iterdir()
                      if p.is_dir() and p.name.startswith("underlying="))

    def _years(self, underlying: str) -> list[int]:
        base = self.root / "by_day" / f"underlying={underlying}"
        if not base.is_dir():
            return []
        years = []
        for p in base.iterdir():
            m = _PART_RE.match(p.name)
            if m and (p / _FILE).is_file():
                years.append(int(m.group(1)))
        return sorted(years)

    # -- writing -------------------------------------------------------------------------

    def import_table(self, table: pa.Table, *, replace_sources: bool = False) -> ImportResult:
        """Merge a CHAIN_SCHEMA table into the store (idempotent).

        Rows whose key (quote_date, root, expiration, strike, right) is already stored replace
        the stored rows. Replacing rows of another ``source`` (say model-priced rows over
        vendor rows) is refused unless ``replace_sources`` is True. Quality flags are
        recomputed (and OR-ed with any the table carries): nothing is dropped.
        """
        table = _conform(table)
        if table.num_rows == 0:
            return ImportResult(0, 0, 0, (), None)
        table = flag_rows(table)
        report = quality_report(table.column("quote_date"), table.column("quality"))
        years = pc.year(table.column("quote_date"))
        keyed = table.append_column("__year", years)
        parts = keyed.group_by(["underlying", "__year"]).aggregate([]).to_pylist()
        replaced = 0
        written: list[tuple[str, int]] = []
        for part in sorted(parts, key=lambda p: (p["underlying"], p["__year"])):
            u, y = str(part["underlying"]), int(part["__year"])
            mask = pc.and_(pc.equal(keyed.column("underlying"), u),
                           pc.equal(keyed.column("__year"), y))
            incoming = table.filter(mask)
            replaced += self._merge_partition(u, y, incoming, replace_sources)
            written.append((u, y))
        return ImportResult(table.num_rows, replaced, table.num_rows - replaced,
                            tuple(written), report)

    def _merge_partition(self, underlying: str, year: int, incoming: pa.Table,
                         replace_sources: bool) -> int:
        day_path = self._part("by_day", underlying, year)
        replaced = 0
        merged = incoming
        if day_path.is_file():
            existing = pq.read_table(day_path, schema=CHAIN_SCHEMA)
            keys = incoming.select(list(KEY_COLUMNS)).group_by(list(KEY_COLUMNS)).aggregate([])
            kept = existing.join(keys, list(KEY_COLUMNS), join_type="left anti",
                                 use_threads=True)
            replaced = existing.num_rows - kept.num_rows
            if replaced and not replace_sources:
                hit = existing.join(keys, list(KEY_COLUMNS), join_type="left semi")
                old = set(pc.unique(hit.column("source")).to_pylist())
                new = set(pc.unique(incoming.column("source")).to_pylist())
                if old - new:
                    raise ChainStoreError(
                        f"importing {underlying} {year} would replace {hit.num_rows} stored rows "
                        f"from source(s) {', '.join(sorted(old - new))} with rows from "
                        f"{', '.join(sorted(new))}; pass replace_sources=True (CLI: "
                        "--replace-sources) if that is intended, or use a separate store"
                    )
            merged = pa.concat_tables([kept.select(CHAIN_SCHEMA.names).cast(CHAIN_SCHEMA),
                                       incoming])
        self._write_partition(underlying, year, merged)
        return replaced

    def _write_partition(self, underlying: str, year: int, table: pa.Table) -> None:
        by_day = table.sort_by([(c, "ascending") for c in DAY_ORDER])
        by_contract = table.sort_by([(c, "ascending") for c in CONTRACT_ORDER])
        day_path = self._part("by_day", underlying, year)
        contract_path = self._part("by_contract", underlying, year)
        day_tmp = _write_atomic_prepare(day_path)
        contract_tmp = _write_atomic_prepare(contract_path)
        try:
            # One row group per quote date: day() then reads exactly one row group.
            dates = by_day.column("quote_date").combine_chunks()
            ordinals = pc.cast(dates, pa.int32()).to_numpy()
            starts = np.flatnonzero(np.diff(ordinals, prepend=ordinals[0] - 1))
            bounds = [*starts.tolist(), len(ordinals)]
            with pq.ParquetWriter(day_tmp, CHAIN_SCHEMA, compression=COMPRESSION,
                                  write_statistics=True) as writer:
                for a, b in itertools.pairwise(bounds):
                    writer.write_table(by_day.slice(a, b - a), row_group_size=b - a)
            pq.write_table(by_contract, contract_tmp, compression=COMPRESSION,
                           row_group_size=CONTRACT_ROW_GROUP, write_statistics=True)
            os.replace(day_tmp, day_path)
            os.replace(contract_tmp, contract_path)
        finally:
            for tmp in (day_tmp, contract_tmp):
                if tmp.exists():
                    tmp.unlink()
        self._days.pop(day_path, None)
        self._contracts.pop(contract_path, None)

    # -- reading -------------------------------------------------------------------------

    def _day_index(self, underlying: str, year: int) -> _DayIndex | None:
        return _cached_index(self._days, self._part("by_day", underlying, year), _DayIndex)

    def _contract_index(self, underlying: str, year: int) -> _ContractIndex | None:
        return _cached_index(self._contracts, self._part("by_contract", underlying, year), _ContractIndex)

    def day(self, underlying: str, quote_date: date) -> pa.Table:
        """One day's chain for ``underlying`` (rows sorted by root, expiration, strike,
        right); an empty table when the store has no rows for that day (see ``days``)."""
        idx = self._day_index(_symbol(underlying), quote_date.year)
        if idx is None:
            return CHAIN_SCHEMA.empty_table()
        rg = idx.by_date.get(quote_date)
        if rg is None:
            return CHAIN_SCHEMA.empty_table()
        return idx.file.read_row_group(rg)

    def contract_history(self, underlying: str, root: str, expiration: date, strike: float,
                         right: str) -> pa.Table:
        """Every stored quote of one contract, sorted by quote_date (empty if none).
        ``right`` is 'C' or 'P'; ``strike`` in underlying price units."""
        underlying = _symbol(underlying)
        right = right.upper()
        if right not in ("C", "P"):
            raise ChainStoreError(f"right must be 'C' or 'P', got {right!r}")
        pieces: list[pa.Table] = []
        for year in self._years(underlying):
            if year > expiration.year:
                break  # no quotes after a contract's expiration
            idx = self._contract_index(underlying, year)
            if idx is None:
                continue
            groups = idx.candidates(root, expiration, float(strike))
            if not groups:
                continue
            chunk = idx.file.read_row_groups(groups)
            mask = pc.and_(
                pc.and_(pc.equal(chunk.column("root"), root),
                        pc.equal(chunk.column("expiration"), pa.scalar(expiration, pa.date32()))),
                pc.and_(pc.equal(chunk.column("strike"), float(strike)),
                        pc.equal(chunk.column("right"), right)),
            )
            pieces.append(chunk.filter(mask))
        if not pieces:
            return CHAIN_SCHEMA.empty_table()
        out = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        return out.sort_by([("quote_date", "ascending")]) if len(pieces) > 1 else out

    def days(self, underlying: str, start: date | None = None,
             end: date | None = None) -> list[date]:
        """Quote dates present for ``underlying`` within [start, end] (inclusive; None = open),
        read from file footers only."""
        underlying = _symbol(underlying)
        out: list[date] = []
        for year in self._years(underlying):
            if (start is not None and year < start.year) or (end is not None and year > end.year):
                continue
            idx = self._day_index(underlying, year)
            if idx is None:
                continue
            out.extend(d for d in idx.dates
                       if (start is None or d >= start) and (end is None or d <= end))
        return out

    def iter_days(self, underlying: str, start: date | None = None, end: date | None = None,
                  *, batch_days: int = 16, columns: Sequence[str] | None = None,
                  strings_as_dictionary: bool = False) -> Iterator[tuple[date, pa.Table]]:
        """Yield (quote_date, chain) in date order over [start, end].

        Each partition is scanned once, front to back, ``batch_days`` row groups (days) per
        read; the yielded tables are zero-copy slices of that read. ``columns`` (CHAIN_SCHEMA
        names, e.g. ``riskpilot.data.daychain.BACKTEST_COLUMNS``) reads only those; the
        default is every column. ``strings_as_dictionary`` as in ``iter_day_batches`` (a
        backtest reading a store should pass both: the string columns are most of a read's
        cost).
        """
        batches = self.iter_day_batches(underlying, start, end, batch_days=batch_days, columns=columns,
                                        strings_as_dictionary=strings_as_dictionary)
        for batch in batches:
            qd = batch.column("quote_date").cast(pa.int32()).to_numpy()
            bounds = [0, *(np.flatnonzero(np.diff(qd)) + 1).tolist(), len(qd)]
            for a, b in itertools.pairwise(bounds):
                yield _EPOCH + timedelta(days=int(qd[a])), batch.slice(a, b - a)

    def iter_day_batches(self, underlying: str, start: date | None = None, end: date | None = None,
                         *, batch_days: int = 16, columns: Sequence[str] | None = None,
                         strings_as_dictionary: bool = False) -> Iterator[pa.Table]:
        """Multi-day tables of ``batch_days`` consecutive stored days over [start, end], in date
        order (rows sorted as stored); one read per batch, for consumers that convert many
        days at once (``riskpilot.data.daychain.iter_store_days``). ``quote_date`` is always
        read; ``columns`` as in ``iter_days``. Days without rows are not stored, so never
        yielded.

        ``strings_as_dictionary``: return the string columns (underlying, root, right, source)
        as ``dictionary<int32, string>`` with the same values, straight from Parquet's
        dictionary pages; about ten times cheaper to read than building string arrays, but the
        tables are then not CHAIN_SCHEMA-typed."""
        if batch_days < 1:
            raise ChainStoreError(f"batch_days must be at least 1, got {batch_days}")
        cols = _columns(columns)
        underlying = _symbol(underlying)
        for year in self._years(underlying):
            if (start is not None and year < start.year) or (end is not None and year > end.year):
                continue
            idx = self._day_index(underlying, year)
            if idx is None:
                continue
            wanted = [idx.by_date[d] for d in idx.dates
                      if (start is None or d >= start) and (end is None or d <= end)]
            file = idx.dictionary_file() if strings_as_dictionary else idx.file
            for i in range(0, len(wanted), batch_days):
                yield file.read_row_groups(wanted[i:i + batch_days], columns=cols)

    def read_all(self, underlying: str) -> pa.Table:
        """Every stored row of ``underlying`` in day order (for exports and checks)."""
        underlying = _symbol(underlying)
        tables = [pq.read_table(self._part("by_day", underlying, y), schema=CHAIN_SCHEMA)
                  for y in self._years(underlying)]
        return pa.concat_tables(tables) if tables else CHAIN_SCHEMA.empty_table()

    def info(self) -> StoreInfo:
        """Per underlying: date span, rows, expirations, roots, sources, model-priced rows and
        data quality (flag counts, gaps in NYSE trading days)."""
        out: dict[str, UnderlyingInfo] = {}
        cols = ["quote_date", "root", "expiration", "quality", "source", "model_priced"]
        for u in self.underlyings():
            parts = [pq.read_table(self._part("by_day", u, y), columns=cols)
                     for y in self._years(u)]
            if not parts:
                continue
            t = pa.concat_tables(parts)
            report = quality_report(t.column("quote_date"), t.column("quality"))
            out[u] = UnderlyingInfo(
                underlying=u,
                rows=t.num_rows,
                first_day=report.first_day,
                last_day=report.last_day,
                days=report.days_present,
                expirations=len(pc.unique(t.column("expiration"))),
                roots=tuple(sorted(pc.unique(t.column("root")).to_pylist())),
                sources=tuple(sorted(pc.unique(t.column("source")).to_pylist())),
                model_priced_rows=int(pc.sum(pc.cast(t.column("model_priced"),
                                                     pa.int64())).as_py() or 0),
                quality=report,
            )
        return StoreInfo(self.root, out)


def _columns(columns: Sequence[str] | None) -> list[str] | None:
    """``columns`` checked against CHAIN_SCHEMA, with quote_date first (None = every column)."""
    if columns is None:
        return None
    if isinstance(columns, str):
        raise ChainStoreError(f"columns must be a sequence of column names, not the string {columns!r}")
    unknown = [c for c in columns if c not in CHAIN_SCHEMA.names]
    if unknown:
        raise ChainStoreError(f"unknown column(s) {unknown}; CHAIN_SCHEMA has {list(CHAIN_SCHEMA.names)}")
    return ["quote_date", *(c for c in dict.fromkeys(columns) if c != "quote_date")]


def _symbol(underlying: str) -> str:
    u = underlying.strip().upper()
    if not _UNDERLYING_RE.match(u):
        raise ChainStoreError(f"underlying {underlying!r} is not a symbol (letters, digits, "
                              "'.', '-', '_', up to 16 characters)")
    return u


_Index = TypeVar("_Index", _DayIndex, _ContractIndex)


def _cached_index(
    cache: dict[Path, _Index], path: Path, make: Callable[[Path, tuple[int, int]], _Index]
) -> _Index | None:
    """The index of a partition file, rebuilt when the file changed since it was cached."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    idx = cache.get(path)
    if idx is None or idx.stamp != stamp:
        idx = make(path, stamp)
        cache[path] = idx
    return idx


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _write_atomic_prepare(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _conform(table: pa.Table) -> pa.Table:
    """Select and cast the CHAIN_SCHEMA columns, refusing what cannot be stored."""
    missing = [n for n in CHAIN_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ChainStoreError(
            f"table lacks column(s) {', '.join(missing)}; build it with a reader "
            "(riskpilot.data.readers.read_chain) or in riskpilot.data.schema.CHAIN_SCHEMA"
        )
    try:
        table = table.select(CHAIN_SCHEMA.names).cast(CHAIN_SCHEMA, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ChainStoreError(f"table does not match CHAIN_SCHEMA: {exc}") from exc
    for f in CHAIN_SCHEMA:
        if not f.nullable and table.column(f.name).null_count:
            raise ChainStoreError(f"column {f.name!r} has {table.column(f.name).null_count} "
                                  "null value(s) but is required")
    rights = pc.unique(table.column("right")).to_pylist()
    bad = sorted(r for r in rights if r not in ("C", "P"))
    if bad:
        raise ChainStoreError(f"column 'right' must be 'C' or 'P', found {bad}")
    for u in pc.unique(table.column("underlying")).to_pylist():
        if _symbol(u) != u:
            raise ChainStoreError(f"underlying {u!r} must be an upper-case symbol such as 'SPX'")
    return table.combine_chunks()
