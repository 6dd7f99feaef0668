"""Shared machinery for the vendor readers: loading, typed column conversion with errors that
name the file, the line and the column, and assembly into :data:`CHAIN_SCHEMA`.

Every reader reads the file's columns as text first and converts them itself, so that a bad
value is reported at its line instead of as an opaque cast failure. A text file's row is mapped
to its physical line only when an error is raised (blank lines, which the CSV reader skips, are
counted then), so the happy path pays nothing for it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskpilot.data.formats import GREEK_UNITS, GreekUnits
from riskpilot.data.quality import flag_rows, quote_date_bounds
from riskpilot.data.schema import CHAIN_SCHEMA

#: Option roots and vendor spellings that belong to one traded product. A PM-settled weekly
#: root (SPXW) is the same underlying as its monthly root (SPX); CBOE prefixes indexes with ^.
UNDERLYING_ALIASES: Mapping[str, str] = {
    "SPXW": "SPX",
    "SPXPM": "SPX",
    "SPXQ": "SPX",
    "NDXP": "NDX",
    "RUTW": "RUT",
    "VIXW": "VIX",
}


class ChainFormatError(ValueError):
    """A chain file that cannot be read as its declared format.

    ``path``, ``line`` (1-based, the header being line 1 for text files; the data row number
    for Parquet, shown as "row N"; None when the problem is not tied to a line) and ``column``
    say where.
    """

    def __init__(self, path: Path, message: str, *, line: int | None = None,
                 column: str | None = None, unit: str = "line") -> None:
        self.path = path
        self.line = line
        self.column = column
        where = str(path)
        if line is not None:
            where += f", {unit} {line}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ReadOptions:
    """Options shared by every reader.

    ``underlying``: the product symbol, for layouts that do not carry it (OptionsDX) or to
    override the file's. ``greek_units``: ``auto`` uses the vendor's documented units (or, for
    historicaloptiondata whose files differ, detects them); ``per_day`` says theta is per
    calendar day and vega per vol point (the schema's units); ``per_year`` says theta is per
    year and vega per 1.00 of volatility (converted by /365 and /100); ``drop`` discards gamma,
    theta and vega (stored as null) when a file's values are known to be unusable.
    """

    underlying: str | None = None
    greek_units: GreekUnits = "auto"

    def __post_init__(self) -> None:
        if self.greek_units not in GREEK_UNITS:
            raise ValueError(
                f"greek_units={self.greek_units!r} is not one of {', '.join(GREEK_UNITS)}"
            )


class RawTable:
    """A vendor file's columns, all still as the vendor wrote them, plus where they came from."""

    def __init__(self, path: Path, table: pa.Table, *, first_line: int, unit: str) -> None:
        self.path = path
        self.table = table
        self.first_line = first_line  # line number of row 0
        self.unit = unit  # "line" for text files, "row" for Parquet
        self.num_rows = table.num_rows

    def error(self, message: str, *, index: int | None = None,
              column: str | None = None) -> ChainFormatError:
        line = None if index is None else self._line_of(index)
        return ChainFormatError(self.path, message, line=line, column=column, unit=self.unit)

    def _line_of(self, index: int) -> int:
        """The physical line of data row ``index`` (text), or its 1-based row number (Parquet).
        The CSV reader skips blank lines, so a text file is scanned to count them; this runs
        only when an error is being raised."""
        if self.unit != "line":
            return index + self.first_line
        return _physical_line(self.path, index)

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def first_present(self, *names: str) -> str:
        for name in names:
            if self.has(name):
                return name
        raise self.error(
            f"missing column {' or '.join(repr(n) for n in names)}; the file has "
            f"{', '.join(self.table.column_names)}. Check that --format matches the file's layout."
        )

    def require(self, names: Sequence[str]) -> None:
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise self.error(
                f"missing column(s) {', '.join(repr(m) for m in missing)}; the file has "
                f"{', '.join(self.table.column_names)}. Check that --format matches the file's "
                "layout.",
                column=missing[0],
            )

    def column(self, name: str) -> pa.Array:
        if not self.has(name):
            self.require([name])
        return self.table.column(name).combine_chunks()

    # -- typed conversion ------------------------------------------------------------------

    def text(self, name: str) -> pa.Array:
        """The column as text (Parquet columns of other types are cast), or an error naming
        the column when its values cannot be text (nested values, bytes that are not UTF-8)."""
        arr = self.column(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return pc.cast(arr, pa.string())
        if pa.types.is_nested(t):
            raise self.error(f"the column holds {t} values, not text or numbers", column=name)
        try:
            return pc.cast(arr, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                bad = _first_bad_utf8(arr)
                raise self.error("the value is not UTF-8 text", index=bad, column=name) from None
            raise self.error(f"the column holds {t} values, not text or numbers",
                             column=name) from None

    def strings(self, name: str, *, required: bool) -> pa.Array:
        arr = self.text(name)
        if required:
            self._no_nulls(arr, name, "a value")
        return arr

    def floats(self, name: str, *, required: bool = False) -> pa.Array:
        arr = self.column(name)
        if pa.types.is_boolean(arr.type):
            raise self.error("the column holds true/false values where numbers are expected",
                             column=name)
        if (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)
                or pa.types.is_decimal(arr.type)):
            out = pc.cast(arr, pa.float64())
        else:
            text = _clean_text(self.text(name))
            try:
                out = pc.cast(text, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad = _first_unparseable(text, pa.float64())
                raise self.error(
                    f"cannot parse {text[bad].as_py()!r} as a number; fix or remove that value "
                    "(an empty field is read as 'not sent')",
                    index=bad, column=name,
                ) from None
        out = _nan_to_null(out)
        if required:
            self._no_nulls(out, name, "a number")
        return out

    def ints(self, name: str) -> pa.Array:
        """Counts (volume, open interest); a whole number written as 12.0 is accepted. A
        negative count is read as it is (and flagged BAD_VOLUME); an infinite one, a fraction
        or one beyond 2**53 (no exchange trades that many contracts) is an error."""
        values = self.floats(name)
        np_values = values.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            wrong = np.isinf(np_values) | (np.abs(np_values) > _MAX_COUNT) | (
                np.isfinite(np_values) & (np.floor(np_values) != np_values))
        if wrong.any():
            bad = int(np.flatnonzero(wrong)[0])
            raise self.error(
                f"expected a whole number of contracts, got {float(np_values[bad])!r}",
                index=bad, column=name,
            )
        return pc.cast(values, pa.int64())

    def dates(self, name: str, *, required: bool = True) -> pa.Array:
        """Dates written ``YYYY-MM-DD`` or ``M/D/YYYY`` (a time after the date is ignored);
        impossible dates such as 2020-02-30 are errors, not rolled over."""
        arr = self.column(name)
        if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
            out = pc.cast(arr, pa.date32()) if not pa.types.is_date32(arr.type) else arr
        else:
            text = _clean_text(self.text(name))
            # Date-times such as '2019-04-25 00:00:00' keep their date part.
            text = pc.if_else(pc.match_substring_regex(text, _DATETIME_RE),
                              pc.utf8_slice_codeunits(text, 0, 10), text)
            out = pa.nulls(len(text), pa.date32())
            for fmt, pattern in _DATE_FORMATS:
                parts = pc.extract_regex(text, pattern)
                month = pc.cast(pc.struct_field(parts, "m"), pa.int64())
                day = pc.cast(pc.struct_field(parts, "d"), pa.int64())
                parsed = pc.cast(
                    pc.strptime(text, format=fmt, unit="s", error_is_null=True), pa.date32()
                )
                # Arrow rolls 2020-02-30 over to March 1st: keep only exact round trips.
                exact = pc.and_(pc.equal(pc.day(parsed), day), pc.equal(pc.month(parsed), month))
                parsed = pc.if_else(pc.fill_null(exact, False), parsed,
                                    pa.scalar(None, pa.date32()))
                out = pc.coalesce(out, parsed)
            failed = pc.and_(pc.is_valid(text), pc.is_null(out))
            if pc.any(failed).as_py():
                bad = _first_true(failed)
                raise self.error(
                    f"cannot parse {text[bad].as_py()!r} as a date; expected YYYY-MM-DD or "
                    "M/D/YYYY",
                    index=bad, column=name,
                )
        if required:
            self._no_nulls(out, name, "a date")
        return out

    def quote_dates(self, name: str) -> pa.Array:
        """Quote dates (as :meth:`dates`), each within :func:`quote_date_bounds`: a quote dated
        before listed options existed or after the last known NYSE session cannot be true, and
        its holidays cannot be checked."""
        out = self.dates(name)
        first, last = quote_date_bounds()
        outside = pc.or_(pc.less(out, pa.scalar(first, pa.date32())),
                         pc.greater(out, pa.scalar(last, pa.date32())))
        if pc.any(outside).as_py():
            bad = _first_true(outside)
            value: date = out[bad].as_py()
            why = (f"after {last}, the last session the NYSE calendar knows: an end-of-day quote "
                   "cannot be dated in the future" if value > last else
                   f"before {first}, when listed options began (Cboe)")
            raise self.error(f"quote date {value} is {why}; check the column and the file",
                             index=bad, column=name)
        return out

    def rights(self, name: str) -> pa.Array:
        """'C'/'P' from call/put spellings (C, P, call, put, any case)."""
        text = pc.utf8_upper(self.strings(name, required=True))
        text = pc.utf8_trim_whitespace(text)
        mapped = pc.if_else(
            pc.is_in(text, pa.array(["C", "CALL"])), "C",
            pc.if_else(pc.is_in(text, pa.array(["P", "PUT"])), "P", pa.scalar(None, pa.string())),
        )
        if pc.any(pc.is_null(mapped)).as_py():
            bad = _first_true(pc.is_null(mapped))
            raise self.error(
                f"option type {text[bad].as_py()!r} is neither a call nor a put "
                "(expected C, P, call or put)",
                index=bad, column=name,
            )
        return mapped

    def _no_nulls(self, arr: pa.Array, name: str, what: str) -> None:
        if arr.null_count:
            bad = _first_true(pc.is_null(arr))
            raise self.error(f"{what} is required here but the field is empty",
                             index=bad, column=name)


# -- loading -------------------------------------------------------------------------------


def load_text(path: Path, *, strip_brackets: bool = False) -> RawTable:
    """Read a delimited text file with every column as text (header on line 1)."""
    _check_file(path)
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    if not header.strip():
        raise ChainFormatError(path, "the file is empty or its first line (the header) is blank",
                               line=1)
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    raw_names = header.rstrip("\r\n").split(delimiter)
    names = [_clean_name(n, strip_brackets) for n in raw_names]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ChainFormatError(path, f"the header repeats column(s) {', '.join(dupes)}", line=1)
    ragged: list[Any] = []

    def on_ragged_row(row: Any) -> str:
        # Skip and remember: the row's line is found afterwards (Arrow knows it only when
        # reading on one thread, which would slow every import).
        ragged.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                           encoding="utf8", block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                             invalid_row_handler=on_ragged_row),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _locate_text_problem(path, delimiter, names, _arrow_row_hint(exc)) from None
    if ragged:
        row = ragged[0]
        raise _locate_text_problem(
            path, delimiter, names,
            f"a row has {row.actual_columns} fields where the header has "
            f"{row.expected_columns}: {str(row.text)[:80]!r}",
        )
    return RawTable(path, table, first_line=2, unit="line")


def load_parquet(path: Path) -> RawTable:
    _check_file(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise ChainFormatError(path, f"not a readable Parquet file: {exc}") from exc
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ChainFormatError(path, f"the file repeats column(s) {', '.join(dupes)}")
    return RawTable(path, table, first_line=1, unit="row")


def load_any(path: Path, *, strip_brackets: bool = False) -> RawTable:
    if path.suffix.lower() in (".parquet", ".pq"):
        return load_parquet(path)
    return load_text(path, strip_brackets=strip_brackets)


# -- assembly ------------------------------------------------------------------------------


def normalize_underlying(values: pa.Array) -> pa.Array:
    """Upper-case, strip a leading '^', and map root aliases (SPXW -> SPX)."""
    text = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    text = pc.replace_substring_regex(text, pattern=r"^\^", replacement="")
    keys = pa.array(list(UNDERLYING_ALIASES.keys()))
    vals = pa.array(list(UNDERLYING_ALIASES.values()))
    idx = pc.index_in(text, keys)
    mapped = pc.take(vals, idx)
    return pc.coalesce(mapped, text)


def positive_or_null(values: pa.Array) -> pa.Array:
    """IV as the schema wants it: null unless a positive finite decimal."""
    return pc.if_else(pc.greater(values, 0.0), values, pa.scalar(None, pa.float64()))


def impossible_price(values: pa.Array) -> np.ndarray:
    """Boolean array: negative or infinite prices (null is not impossible: it is not sent), for
    vendor columns that do not reach the schema as they are."""
    v = np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray((v < 0.0) | np.isinf(v), dtype=bool)


def assemble(raw: RawTable, columns: Mapping[str, pa.Array | pa.ChunkedArray], *,
             source: str, flags: np.ndarray | None = None) -> pa.Table:
    """Build a CHAIN_SCHEMA table from converted columns; absent optional columns are null;
    the quality bitmask is computed here (see :func:`riskpilot.data.quality.flag_rows`), OR-ed
    with ``flags`` (int32 per row), which a reader sets for problems the schema's columns no
    longer show."""
    n = len(next(iter(columns.values())))
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for field in CHAIN_SCHEMA:
        if field.name == "quality":
            preset = np.zeros(n, dtype=np.int32) if flags is None else flags.astype(np.int32)
            arrays.append(pa.array(preset, pa.int32()))
        elif field.name == "source":
            arrays.append(pa.array([source] * n, pa.string()) if n else pa.array([], pa.string()))
        elif field.name == "model_priced":
            arrays.append(pa.array(np.zeros(n, dtype=bool)))
        elif field.name in columns:
            arr = columns[field.name]
            if pa.types.is_floating(arr.type):
                arr = _nan_to_null(arr)
            arrays.append(pc.cast(arr, field.type))
        elif field.nullable:
            arrays.append(pa.nulls(n, field.type))
        else:
            raise raw.error(f"internal: reader produced no '{field.name}' column")
    table = pa.Table.from_arrays(arrays, schema=CHAIN_SCHEMA)
    return flag_rows(table)


def strike_rows_to_contract_rows(
    shared: Mapping[str, pa.Array], calls: Mapping[str, pa.Array], puts: Mapping[str, pa.Array]
) -> dict[str, pa.Array]:
    """Turn one-row-per-strike layouts (ORATS, OptionsDX) into one row per contract:
    the call rows, then the put rows, each with the shared columns repeated."""
    n = len(next(iter(shared.values())))
    out: dict[str, pa.Array] = {}
    for name, arr in shared.items():
        out[name] = pa.concat_arrays([arr, arr])
    for name in calls.keys() | puts.keys():
        out[name] = pa.concat_arrays([pc.cast(calls[name], puts[name].type), puts[name]])
    out["right"] = pa.array(["C"] * n + ["P"] * n, pa.string())
    return out


# -- helpers -------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ChainFormatError(path, "no such file")
    if not path.is_file():
        raise ChainFormatError(path, "not a file (pass a file, or a directory to the CLI)")


def _clean_name(name: str, strip_brackets: bool) -> str:
    name = name.strip().strip('"').strip()
    if strip_brackets and name.startswith("[") and name.endswith("]"):
        name = name[1:-1].strip()
    return name


def _clean_text(arr: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


#: A date followed by a valid time of day (and an optional zone), whose date part is kept.
_DATETIME_RE = (r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?"
                r"(Z|[+-]\d{2}:?\d{2})?$")


def _nan_to_null(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_floating(arr.type):
        return arr
    nan = pc.is_nan(arr)
    if not pc.any(nan).as_py():
        return arr
    return pc.if_else(nan, pa.scalar(None, arr.type), arr)


_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d", r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    ("%m/%d/%Y", r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$"),
)

def _first_unparseable(text: pa.Array, to: pa.DataType) -> int:
    """Index of the first value Arrow cannot cast to ``to`` (the cast of the whole array has
    failed): a bisection, so Arrow's own parsing rules decide, in about 2n work."""
    lo, hi = 0, len(text)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(text.slice(lo, mid - lo), to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
        else:
            lo = mid
    return lo


def _first_true(mask: pa.Array | pa.ChunkedArray) -> int:
    idx = pc.index(mask, True).as_py()
    return int(idx)


def _arrow_row_hint(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


#: The largest count of contracts read exactly (float64 holds whole numbers up to 2**53).
_MAX_COUNT = float(2**53)


def _data_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes without the line break) of each non-blank line after the header:
    the lines the CSV reader turns into rows, in order."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            body = raw.rstrip(b"\r\n")
            if number > 1 and body:
                yield number, body


def _physical_line(path: Path, index: int) -> int:
    for i, (number, _) in enumerate(_data_lines(path)):
        if i == index:
            return number
    return index + 2  # not reached for a row the reader produced


def _locate_text_problem(path: Path, delimiter: str, names: Sequence[str],
                         detail: str) -> ChainFormatError:
    """The first line Arrow could not parse, with its column: bytes that are not UTF-8, a NUL,
    or a field count unlike the header's. Runs only after Arrow has refused the file."""
    sep = delimiter.encode()
    for number, body in _data_lines(path):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            field = body[:exc.start].count(sep)
            return ChainFormatError(
                path, f"bytes that are not UTF-8 text ({body[exc.start:exc.end]!r}); save the "
                "file as UTF-8", line=number, column=_column_name(names, field))
        try:
            fields = next(csv.reader([text], delimiter=delimiter))
        except csv.Error as exc:
            nul = text.find("\0")
            field = text.count(delimiter, 0, nul) if nul >= 0 else 0
            return ChainFormatError(path, f"the line cannot be split into fields ({exc})",
                                    line=number, column=_column_name(names, field))
        if len(fields) < len(names):
            return ChainFormatError(
                path, f"the line has {len(fields)} field(s) where the header has {len(names)} "
                "columns: it ends before this column (a missing field or a line break inside a "
                "value)", line=number, column=names[len(fields)])
        if len(fields) > len(names):
            return ChainFormatError(
                path, f"the line has {len(fields)} fields where the header has {len(names)} "
                "columns (a delimiter inside a value, such as 12,5 for 12.5, or a header name "
                "missing); the extra field follows this last column",
                line=number, column=names[-1])
    return ChainFormatError(path, f"not a readable delimited file: {detail}")


def _column_name(names: Sequence[str], field: int) -> str:
    return names[field] if field < len(names) else f"field {field + 1} (past the header)"


def _first_bad_utf8(arr: pa.Array) -> int:
    for i, value in enumerate(arr.to_pylist()):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return i
    return 0
