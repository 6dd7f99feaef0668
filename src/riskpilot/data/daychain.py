"""One trading day's option chain as numpy arrays, ready for vectorized selection and quotes.

Built from ``CHAIN_SCHEMA`` tables, either one day at a time (:meth:`DayChain.from_table`, the
``(date, table)`` input of :func:`riskpilot.backtest.engine.run_backtest`) or many days at once
(:func:`split_days`, :func:`iter_store_days`), which convert each column of a multi-day table
to numpy once and hand out each day as zero-copy slices. Both give identical chains:

- rows flagged :data:`riskpilot.data.schema.UNUSABLE_FOR_PRICING`, or without a finite bid and
  ask, are dropped, so a contract whose only row is unusable has *no* quote that day
  (positions holding it hold);
- when two roots list the same (expiration, strike, right) (SPX monthly AM-settled ``SPX`` and
  PM-settled ``SPXW`` on the third Friday), the PM-settled row is kept (the contract most
  traded for a close-to-close strategy); any other repeated (expiration, strike, right) keeps
  its first row in table order. A kept row of an AM-settled root (:data:`AM_SETTLED_ROOTS`, by
  the ``root`` column) is flagged in :attr:`DayChain.am_settled`: positions opened on it settle
  at the opening value (:mod:`riskpilot.trading.settlement`);
- rows are ordered by expiration, so one expiration's rows are one contiguous block
  (:attr:`DayChain.expirations`, :meth:`DayChain.rows_of`) and a contract is found by a binary
  search plus a scan of its expiration's block. Within a block the input order is kept when it
  is already (strike, right) or (right, strike) ascending (as ``ChainStore`` and the model
  chain write it); otherwise rows are sorted by (strike, right, calls first);
- every quote carries the day's close timestamp: 16:00 America/New_York on the quote date.

Why the bulk path: a per-day conversion pays a fixed cost per column per day (about 0.4 ms a
day, most of a small day's work); converting a year once costs the same per row and nothing
per day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.schema import CHAIN_SCHEMA, UNUSABLE_FOR_PRICING
from riskpilot.model.contract import EXCHANGE_TZ, Contract, OptionContract
from riskpilot.model.enums import Right
from riskpilot.model.quote import Quote

if TYPE_CHECKING:
    from riskpilot.data.store import ChainStore

#: Roots whose options settle on the morning's opening print (SOQ), not the close.
AM_SETTLED_ROOTS = frozenset({"SPX", "NDX", "RUT", "VIX"})

#: When a decision is taken and an order fills in the backtest: the close of the quote date.
CLOSE_TIME = time(16, 0)

#: The ``CHAIN_SCHEMA`` columns a backtest reads; a store read may skip the others
#: (``ChainStore.iter_days(..., columns=BACKTEST_COLUMNS)``).
BACKTEST_COLUMNS: tuple[str, ...] = (
    "quote_date", "underlying", "underlying_price", "root", "expiration", "strike", "right",
    "bid", "ask", "volume", "delta", "quality", "model_priced",
)

_REQUIRED = ("quote_date", "expiration", "strike", "right", "bid", "ask", "quality")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_G = TypeVar("_G", bound=np.generic)

_EPOCH = date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_EMPTY_INT = np.zeros(0, dtype=np.int64)


def close_of(day: date) -> datetime:
    """The aware timestamp of ``day``'s close (16:00 New York), the backtest's decision time."""
    return datetime.combine(day, CLOSE_TIME, tzinfo=EXCHANGE_TZ)


def day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def date_of(number: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + int(number))


@dataclass(frozen=True, slots=True)
class DayChain:
    """Usable rows of one day's chain. Arrays are aligned and ordered by expiration;
    ``expiration`` is days since 1970-01-01; ``is_call`` True for calls; ``volume`` is -1
    where unknown; ``delta`` is NaN where the vendor sent none. ``underlying_price`` is the
    day's close (NaN if unknown). ``model_priced``: some row of the day is model-priced.
    ``am_settled``: True for a row of an AM-settled root (None: no such row that day).

    ``expirations`` (the day's distinct expirations, ascending) and ``expiration_starts``
    (``rows_of(e)`` is ``expiration_starts[j]:expiration_starts[j + 1]`` for
    ``expirations[j] == e``) are derived on construction, which refuses arrays of unequal
    length or not ordered by expiration.
    """

    quote_date: date
    underlying: str
    underlying_price: float
    expiration: IntArray
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    delta: FloatArray
    volume: IntArray
    model_priced: bool = False
    am_settled: BoolArray | None = None
    expirations: IntArray = field(init=False, repr=False, compare=False)
    expiration_starts: IntArray = field(init=False, repr=False, compare=False)
    _timestamp: datetime = field(init=False, repr=False, compare=False)
    _blocks: dict[int, tuple[int, int]] = field(init=False, repr=False, compare=False)
    _quoted: dict[OptionContract, Quote | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        e = self.expiration
        n = e.size
        sizes = {a.size for a in (self.strike, self.is_call, self.bid, self.ask, self.delta, self.volume)}
        if self.am_settled is not None:
            sizes.add(self.am_settled.size)
        if sizes != {n}:
            raise ValueError(f"DayChain {self.quote_date}: column arrays must be equally long, got sizes "
                             f"{sorted(sizes | {n})}")
        if n > 1 and bool((e[1:] < e[:-1]).any()):
            raise ValueError(f"DayChain {self.quote_date}: rows must be ordered by expiration; build it with "
                             f"DayChain.from_table or split_days, which order them")
        bounds = np.concatenate(([0], np.flatnonzero(e[1:] != e[:-1]) + 1, [n])) if n else _EMPTY_INT
        exps = e[bounds[:-1]] if n else _EMPTY_INT
        b = bounds.tolist()
        object.__setattr__(self, "expirations", exps)
        object.__setattr__(self, "expiration_starts", bounds.astype(np.int64))
        # Python ints: a contract lookup is a dict hit, not a numpy call on a tiny array.
        object.__setattr__(self, "_blocks", {x: (b[j], b[j + 1]) for j, x in enumerate(exps.tolist())})
        object.__setattr__(self, "_timestamp", close_of(self.quote_date))
        # Quotes handed out, by contract: a day's held contracts are asked for several times
        # (marks, exits, the exit attribution), and a Quote is immutable.
        object.__setattr__(self, "_quoted", {})

    @property
    def timestamp(self) -> datetime:
        return self._timestamp

    @property
    def size(self) -> int:
        return int(self.strike.size)

    @classmethod
    def from_table(cls, quote_date: date, table: pa.Table, underlying: str) -> DayChain:
        """The chain of ``quote_date`` from a ``CHAIN_SCHEMA`` table holding that day only."""
        _check_columns(table, f"chain for {quote_date}")
        if table.num_rows:
            qd = _int_days(table.column("quote_date"))
            if not (qd == day_number(quote_date)).all():
                dates = sorted({date_of(x) for x in np.unique(qd)})
                raise ValueError(
                    f"chain passed for {quote_date} holds quote dates {dates[:5]}: "
                    f"yield one (date, table) pair per trading day"
                )
        days = list(_split(table, underlying, f"chain for {quote_date}"))
        if days:
            return days[0]
        nothing = np.zeros(0, dtype=np.float64)
        return cls(quote_date, underlying, float("nan"), _EMPTY_INT, nothing, np.zeros(0, np.bool_),
                   nothing, nothing, nothing, _EMPTY_INT)

    def rows_of(self, expiration: int) -> slice:
        """Rows of ``expiration`` (days since 1970-01-01); an empty slice when none is listed."""
        a, b = self._blocks.get(int(expiration), (0, 0))
        return slice(a, b)

    def index_of(self, contract: OptionContract) -> int | None:
        """Row of ``contract`` in this day's usable chain, or None when it has no usable quote."""
        block = self._blocks.get(day_number(contract.expiration))
        if block is None:
            return None
        a, b = block
        hit = np.flatnonzero(
            (self.strike[a:b] == contract.strike) & (self.is_call[a:b] == (contract.right is Right.CALL))
        )
        return a + int(hit[0]) if hit.size else None

    def is_am_settled(self, i: int) -> bool:
        """Whether row ``i`` is of an AM-settled root."""
        return self.am_settled is not None and bool(self.am_settled[i])

    def quote_at(self, i: int) -> Quote:
        v = int(self.volume[i])
        return Quote(bid=float(self.bid[i]), ask=float(self.ask[i]), timestamp=self._timestamp,
                     volume=v if v >= 0 else None)

    def quotes(self, contracts: Iterable[Contract]) -> dict[Contract, Quote]:
        """Quotes for the contracts that have a usable row today (absent ones are left out;
        an option chain has no market for an event contract)."""
        out: dict[Contract, Quote] = {}
        memo = self._quoted
        for c in contracts:
            if not isinstance(c, OptionContract):
                continue
            if c in memo:
                q = memo[c]
            else:
                i = self.index_of(c)
                q = memo[c] = None if i is None else self.quote_at(i)
            if q is not None:
                out[c] = q
        return out

    def expiration_date(self, number: int) -> date:
        return date_of(number)


def as_day_chain(item: DayChain | tuple[date, pa.Table], underlying: str) -> DayChain:
    """One input day of a backtest as a :class:`DayChain`: a ``(date, CHAIN_SCHEMA table)``
    pair through :meth:`DayChain.from_table`, or a ready ``DayChain`` (from
    :func:`split_days` or :func:`iter_store_days`) as it is, once its underlying is checked."""
    if isinstance(item, DayChain):
        if item.underlying != underlying:
            raise ValueError(f"chain for {item.quote_date} is for {item.underlying!r}, but the backtest trades "
                             f"{underlying!r}")
        return item
    if not isinstance(item, tuple) or len(item) != 2:
        raise TypeError(f"a backtest day is a DayChain or a (date, pyarrow.Table) pair, got {type(item).__name__}")
    return DayChain.from_table(item[0], item[1], underlying)


def split_days(table: pa.Table, underlying: str) -> Iterator[DayChain]:
    """One :class:`DayChain` per quote date of a multi-day ``CHAIN_SCHEMA`` table (any row
    order), in date order, each column converted to numpy once for the whole table. A day
    whose rows are all unusable still yields its (empty) chain."""
    _check_columns(table, "chain")
    return _split(table, underlying, "chain")


def iter_store_days(store: ChainStore, underlying: str, start: date | None = None, end: date | None = None,
                    *, batch_days: int = 32) -> Iterator[DayChain]:
    """The store's days of ``underlying`` in [start, end] as :class:`DayChain`, read
    ``batch_days`` days at a time with only :data:`BACKTEST_COLUMNS`; memory is bounded by a
    batch, not the span."""
    batches = store.iter_day_batches(underlying, start, end, batch_days=batch_days, columns=BACKTEST_COLUMNS,
                                     strings_as_dictionary=True)
    for batch in batches:
        yield from _split(batch, underlying.strip().upper(), "chain")


# -- conversion ------------------------------------------------------------------------------


def _check_columns(table: pa.Table, what: str) -> None:
    names = set(table.schema.names)
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        raise ValueError(
            f"{what} lacks columns {missing}: pass tables in CHAIN_SCHEMA "
            f"(riskpilot.data.schema), e.g. from ChainStore.iter_days or read_chain"
        )


def _int_days(col: pa.ChunkedArray) -> IntArray:
    return np.asarray(col.cast(pa.int32()).to_numpy(), dtype=np.int64)


def _required_floats(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _floats(table: pa.Table, name: str) -> FloatArray | None:
    if table.schema.get_field_index(name) < 0:
        return None
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _ints(table: pa.Table, name: str, missing: int) -> IntArray | None:
    if table.schema.get_field_index(name) < 0:
        return None
    col = table.column(name)
    if col.null_count:
        col = pc.fill_null(col, missing)
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _bools(col: pa.ChunkedArray) -> BoolArray:
    if col.null_count:
        col = pc.fill_null(col, False)
    return np.asarray(col.to_numpy(), dtype=np.bool_)


def _in_set(col: pa.ChunkedArray, values: Sequence[str]) -> BoolArray:
    """Rows of a string (or dictionary-of-string) column whose value is in ``values``."""
    if col.num_chunks == 0:
        return np.zeros(0, dtype=np.bool_)
    value_set = pa.array(list(values), pa.string())
    parts = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            in_dict = np.asarray(pc.is_in(chunk.dictionary, value_set=value_set).to_numpy(zero_copy_only=False),
                                 dtype=np.bool_)
            parts.append(in_dict[chunk.indices.to_numpy(zero_copy_only=False)])
        else:
            parts.append(np.asarray(pc.is_in(chunk, value_set=value_set).to_numpy(zero_copy_only=False),
                                    dtype=np.bool_))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _distinct(col: pa.ChunkedArray) -> list[str]:
    """The distinct values of a string (or dictionary-of-string) column, sorted; from the
    dictionary's used entries when there is one (a fraction of a string comparison's cost)."""
    seen: set[str] = set()
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary.take(pc.unique(chunk.indices))
        seen.update(str(v) for v in pc.unique(chunk).to_pylist())
    return sorted(seen)


def _group_order(q: IntArray, exp: IntArray, strike: FloatArray, is_call: BoolArray,
                 am: Callable[[IntArray], BoolArray]) -> IntArray | None:
    """Positions to keep, in order, for rows already grouped by (quote_date, expiration):
    None when every group is strictly ascending by (strike, right) or by (right, strike) (no
    contract repeated: nothing to do, the common case). Otherwise the groups that are not are
    sorted by (strike, right calls first, PM before AM, table order) and each contract keeps
    its first row. ``am(positions)`` gives the AM-settled flag of those positions."""
    n = q.size
    if n < 2:
        return None
    exp_up = (np.diff(q) > 0) | (np.diff(exp) > 0)
    ds = np.diff(strike)
    dr = np.diff((~is_call).view(np.int8))
    ok_a = exp_up | (ds > 0) | ((ds == 0) & (dr > 0))
    if ok_a.all():
        return None
    ok_b = exp_up | (dr > 0) | ((dr == 0) & (ds > 0))
    if ok_b.all():
        return None
    group = np.concatenate(([0], np.cumsum(exp_up)))
    bad_a = np.zeros(int(group[-1]) + 1, dtype=np.bool_)
    bad_b = bad_a.copy()
    bad_a[group[1:][~ok_a]] = True
    bad_b[group[1:][~ok_b]] = True
    sub = np.flatnonzero((bad_a & bad_b)[group])
    lex = sub[np.lexsort((am(sub), ~is_call[sub], strike[sub], exp[sub], q[sub]))]  # stable
    dup = np.zeros(sub.size, dtype=np.bool_)
    dup[1:] = ((q[lex[1:]] == q[lex[:-1]]) & (exp[lex[1:]] == exp[lex[:-1]])
               & (strike[lex[1:]] == strike[lex[:-1]]) & (is_call[lex[1:]] == is_call[lex[:-1]]))
    order = np.arange(n)
    order[sub] = lex
    keep = np.ones(n, dtype=np.bool_)
    keep[sub[dup]] = False
    return order[keep]


def _split(table: pa.Table, underlying: str, what: str) -> Iterator[DayChain]:
    n = table.num_rows
    if n == 0:
        return
    und_col = table.column("underlying") if table.schema.get_field_index("underlying") >= 0 else None
    if und_col is not None and _distinct(und_col) != [underlying]:
        raise ValueError(f"{what} is for {_distinct(und_col)}, but the backtest trades {underlying!r}")
    # ``rows``: table rows in the order they will be used (None = all rows, in table order).
    qd = _int_days(table.column("quote_date"))
    rows: IntArray | None = None
    if (np.diff(qd) < 0).any():
        rows = np.argsort(qd, kind="stable")

    def at(a: npt.NDArray[_G]) -> npt.NDArray[_G]:
        return a if rows is None else a[rows]

    # Per day, from every row (usable or not): the underlying close and the model-priced flag.
    q = at(qd)
    day_start = np.concatenate(([0], np.flatnonzero(np.diff(q)) + 1))
    day_numbers = q[day_start]
    und_close = np.full(day_numbers.size, np.nan)
    und = _floats(table, "underlying_price")
    if und is not None:
        und = at(und)
        finite = np.flatnonzero(np.isfinite(und))
        if finite.size:
            first = finite[np.minimum(np.searchsorted(finite, day_start), finite.size - 1)]
            inside = q[first] == day_numbers
            und_close[inside] = und[first[inside]]
    model_days = np.zeros(day_numbers.size, dtype=np.bool_)
    if table.schema.get_field_index("model_priced") >= 0:
        model_days = np.logical_or.reduceat(at(_bools(table.column("model_priced"))), day_start)

    bid_all = _required_floats(table, "bid")
    ask_all = _required_floats(table, "ask")
    quality = _ints(table, "quality", 0)
    if quality is None:  # _check_columns requires it
        raise ValueError(f"{what} lacks column 'quality'")
    usable = ((at(quality) & int(UNUSABLE_FOR_PRICING)) == 0) & np.isfinite(at(bid_all)) & np.isfinite(at(ask_all))
    if not usable.all():
        kept = np.flatnonzero(usable)
        rows = kept if rows is None else rows[kept]
        q = q[kept]
    exp_all = _int_days(table.column("expiration"))
    exp = at(exp_all)
    if ((np.diff(q) == 0) & (np.diff(exp) < 0)).any():
        # Not grouped by expiration within a day (the store sorts by root first): a stable
        # sort on (day, expiration) merges the roots' blocks and keeps each block's order.
        by_exp = np.argsort(q * (1 << 21) + exp, kind="stable")
        rows = by_exp if rows is None else rows[by_exp]
        q, exp = q[by_exp], exp[by_exp]
    strike_all = _required_floats(table, "strike")
    call_all = _in_set(table.column("right"), ("C",))
    strike, is_call = at(strike_all), at(call_all)

    def am(positions: IntArray) -> BoolArray:
        if table.schema.get_field_index("root") < 0:
            return np.zeros(positions.size, dtype=np.bool_)
        flags = _in_set(table.column("root"), sorted(AM_SETTLED_ROOTS))
        return flags[positions if rows is None else rows[positions]]

    keep = _group_order(q, exp, strike, is_call, am)
    if keep is not None:
        rows = keep if rows is None else rows[keep]
        q, exp, strike, is_call = q[keep], exp[keep], strike[keep], is_call[keep]
    am_rows: BoolArray | None = None
    if table.schema.get_field_index("root") >= 0:
        flags = _in_set(table.column("root"), sorted(AM_SETTLED_ROOTS))
        if flags.any():
            am_rows = flags if rows is None else flags[rows]
    delta_all = _floats(table, "delta")
    volume_all = _ints(table, "volume", -1)
    bid, ask = at(bid_all), at(ask_all)
    delta = np.full(q.size, np.nan) if delta_all is None else at(delta_all)
    volume = np.full(q.size, -1, dtype=np.int64) if volume_all is None else at(volume_all)

    lo = np.searchsorted(q, day_numbers, side="left")
    hi = np.searchsorted(q, day_numbers, side="right")
    for i in range(day_numbers.size):
        s = slice(int(lo[i]), int(hi[i]))
        yield DayChain(
            quote_date=date_of(int(day_numbers[i])),
            underlying=underlying,
            underlying_price=float(und_close[i]),
            expiration=exp[s],
            strike=strike[s],
            is_call=is_call[s],
            bid=bid[s],
            ask=ask[s],
            delta=delta[s],
            volume=volume[s],
            model_priced=bool(model_days[i]),
            am_settled=None if am_rows is None or not am_rows[s].any() else am_rows[s],
        )


__all__ = [
    "AM_SETTLED_ROOTS",
    "BACKTEST_COLUMNS",
    "CHAIN_SCHEMA",
    "CLOSE_TIME",
    "DayChain",
    "as_day_chain",
    "close_of",
    "iter_store_days",
    "split_days",
]
