"""One trading day's option chain as numpy arrays, ready for vectorized selection and quotes.

Built once per day from a ``CHAIN_SCHEMA`` table:

- rows flagged :data:`riskpilot.data.schema.UNUSABLE_FOR_PRICING` are dropped, so a contract
  whose only row is unusable has *no* quote that day (positions holding it hold);
- when two roots list the same (expiration, strike, right) (SPX monthly AM-settled ``SPX`` and
  PM-settled ``SPXW`` on the third Friday), the PM-settled row is kept, because the backtest
  settles at the day's close (see :mod:`riskpilot.backtest.engine`);
- every quote carries the day's close timestamp: 16:00 America/New_York on the quote date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from riskpilot.data.schema import CHAIN_SCHEMA, UNUSABLE_FOR_PRICING
from riskpilot.model.contract import EXCHANGE_TZ, OptionContract
from riskpilot.model.enums import Right
from riskpilot.model.quote import Quote

#: Roots whose options settle on the morning's opening print (SOQ), not the close.
AM_SETTLED_ROOTS = frozenset({"SPX", "NDX", "RUT", "VIX"})

#: When a decision is taken and an order fills in the backtest: the close of the quote date.
CLOSE_TIME = time(16, 0)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EPOCH = date(1970, 1, 1)


def close_of(day: date) -> datetime:
    """The aware timestamp of ``day``'s close (16:00 New York), the backtest's decision time."""
    return datetime.combine(day, CLOSE_TIME, tzinfo=EXCHANGE_TZ)


def _day_number(d: date) -> int:
    return (d - _EPOCH).days


def _floats(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class DayChain:
    """Usable rows of one day's chain. Arrays are aligned; ``expiration`` is days since
    1970-01-01; ``is_call`` True for calls; ``volume`` is -1 where unknown; ``delta`` and
    ``iv`` (implied volatility, annualized, 0.20 = 20%) are NaN where the vendor sent none.
    ``underlying_price`` is the day's close (NaN if unknown)."""

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
    iv: FloatArray

    @property
    def timestamp(self) -> datetime:
        return close_of(self.quote_date)

    @property
    def size(self) -> int:
        return int(self.strike.size)

    @classmethod
    def from_table(cls, quote_date: date, table: pa.Table, underlying: str) -> DayChain:
        missing = [n for n in ("quote_date", "expiration", "strike", "right", "bid", "ask", "quality")
                   if n not in table.column_names]
        if missing:
            raise ValueError(
                f"chain for {quote_date} lacks columns {missing}: pass tables in CHAIN_SCHEMA "
                f"(riskpilot.data.schema), e.g. from ChainStore.iter_days or read_chain"
            )
        if table.num_rows:
            dates = pc.unique(table.column("quote_date")).to_pylist()
            if dates != [quote_date]:
                raise ValueError(
                    f"chain passed for {quote_date} holds quote dates {sorted(dates)[:5]}: "
                    f"yield one (date, table) pair per trading day"
                )
            und = pc.unique(table.column("underlying")).to_pylist()
            if und != [underlying]:
                raise ValueError(
                    f"chain for {quote_date} is for {und}, but the backtest trades {underlying!r}"
                )
        quality = np.asarray(table.column("quality").to_numpy(zero_copy_only=False), dtype=np.int64)
        bid = _floats(table, "bid")
        ask = _floats(table, "ask")
        keep = ((quality & int(UNUSABLE_FOR_PRICING)) == 0) & np.isfinite(bid) & np.isfinite(ask)
        t = table.filter(pa.array(keep))
        exp = np.asarray(
            t.column("expiration").cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        strike = _floats(t, "strike")
        is_call = np.asarray(pc.equal(t.column("right"), "C").to_numpy(zero_copy_only=False), dtype=np.bool_)
        roots = t.column("root").to_numpy(zero_copy_only=False)
        am = np.isin(roots.astype(str), list(AM_SETTLED_ROOTS)) if roots.size else np.zeros(0, np.bool_)
        # Keep one row per (expiration, strike, right): PM-settled first (am False sorts first).
        order = np.lexsort((am, is_call, strike, exp))
        if order.size:
            e, k, c = exp[order], strike[order], is_call[order]
            first = np.ones(order.size, dtype=np.bool_)
            first[1:] = (e[1:] != e[:-1]) | (k[1:] != k[:-1]) | (c[1:] != c[:-1])
            order = order[first]
        und_price = _floats(table, "underlying_price") if "underlying_price" in table.column_names else np.zeros(0)
        finite = und_price[np.isfinite(und_price)]
        vol = (t.column("volume").to_numpy(zero_copy_only=False) if "volume" in t.column_names
               else np.full(t.num_rows, np.nan))
        vol_f = np.asarray(vol, dtype=np.float64)
        delta = _floats(t, "delta") if "delta" in t.column_names else np.full(t.num_rows, np.nan)
        iv = _floats(t, "iv") if "iv" in t.column_names else np.full(t.num_rows, np.nan)
        return cls(
            quote_date=quote_date,
            underlying=underlying,
            underlying_price=float(finite[0]) if finite.size else float("nan"),
            expiration=exp[order],
            strike=strike[order],
            is_call=is_call[order],
            bid=_floats(t, "bid")[order],
            ask=_floats(t, "ask")[order],
            delta=delta[order],
            volume=np.where(np.isfinite(vol_f), vol_f, -1).astype(np.int64)[order],
            iv=iv[order],
        )

    def index_of(self, contract: OptionContract) -> int | None:
        """Row of ``contract`` in this day's usable chain, or None when it has no usable quote."""
        hit = np.flatnonzero(
            (self.expiration == _day_number(contract.expiration))
            & (self.strike == contract.strike)
            & (self.is_call == (contract.right is Right.CALL))
        )
        return int(hit[0]) if hit.size else None

    def quote_at(self, i: int) -> Quote:
        v = int(self.volume[i])
        return Quote(bid=float(self.bid[i]), ask=float(self.ask[i]), timestamp=self.timestamp,
                     volume=v if v >= 0 else None)

    def quotes(self, contracts: Iterable[OptionContract]) -> dict[OptionContract, Quote]:
        """Quotes for the contracts that have a usable row today (absent ones are left out)."""
        out: dict[OptionContract, Quote] = {}
        for c in contracts:
            i = self.index_of(c)
            if i is not None:
                out[c] = self.quote_at(i)
        return out

    def expiration_date(self, number: int) -> date:
        return date.fromordinal(_EPOCH.toordinal() + int(number))


__all__ = ["AM_SETTLED_ROOTS", "CHAIN_SCHEMA", "CLOSE_TIME", "DayChain", "close_of"]
