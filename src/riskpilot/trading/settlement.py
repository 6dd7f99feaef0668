"""Settlement at expiration, shared by both drivers: what an expiring position closes at and
why. Cash-settled index options (:data:`CASH_SETTLED`) pay intrinsic value in cash;
physically settled ones (ETFs such as SPY, QQQ, IWM) have an ITM short assigned and an ITM
long exercised (OCC exercise by exception), the shares taken as closed at the same price, so
the position also closes at intrinsic value, with reason ``assignment`` when a short leg was
ITM. Settlement is not a trade: no commission. Binary event contracts settle at their market's
result instead (:func:`riskpilot.model.event.settle_event_position`).

The value settled at (:class:`OfficialValues`, both drivers): the official daily series of
the underlying bundled with the package (:mod:`riskpilot.data.history`: the SPX index for
SPX/SPXW/SPXPM and a tenth of it for XSP; the raw, unadjusted-for-dividends close of SPY, QQQ
and IWM), never the chain's snapshot of the underlying, which can differ by several points:

- **PM-settled** options (SPXW, SPY, QQQ, IWM, XSP: every root but the AM ones) settle at the
  **official close** of their expiration day.
- **AM-settled** options (the standard SPX monthlies, root ``SPX``; NDX, RUT and VIX likewise,
  :data:`riskpilot.data.daychain.AM_SETTLED_ROOTS`) settle at the Special Opening Quotation of
  the expiration morning, computed from each constituent's opening print. No SOQ series is
  bundled: it is **approximated by the official open** of that day, which is usually within a
  few points of it. Before 2008 the bundled SPX series mostly carries the previous close as
  the open (its source has no opening print then); the source string says so when that is
  what an AM settlement used. Which root a held option came from is the chain's ``root``
  column: a row of an AM root gives a contract whose ``expiry_time`` is
  :data:`AM_SETTLEMENT_TIME` (09:30), and where SPX and SPXW both list the same contract the
  PM-settled SPXW row is the one traded (:mod:`riskpilot.data.daychain`).
- A missing expiration day in the chain changes nothing: the official value of that day is
  used (the position settles on the next day the chain has).
- Where no official series exists (another underlying, or a day outside the series), the
  chain's own close of the expiration day is used (the last one on or before it when the
  chain skipped it), with a warning. So is a chain whose close is more than 25% from the
  official value (a split the series adjusts for and the chain does not), also with a warning.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from riskpilot.model.contract import OptionContract, require_option
from riskpilot.model.enums import Right
from riskpilot.model.position import Position, premium_sign
from riskpilot.risk.sizing import payoff_at_expiry

#: The settlement instant of an AM-settled option (its ``OptionContract.expiry_time``): the
#: opening of its expiration day. PM-settled options keep the default 16:00.
AM_SETTLEMENT_TIME = time(9, 30)

#: Underlyings whose options are cash settled (European index options).
CASH_SETTLED = frozenset({"SPX", "SPXW", "XSP", "NDX", "NDXP", "RUT", "RUTW", "VIX", "DJX", "OEX", "XEO"})

Settlement = Literal["cash", "physical"]


@dataclass(frozen=True, slots=True)
class SettlementPrice:
    """The underlying's value a position settles at: ``spot`` in underlying price units,
    ``source`` says where it came from (shown in the exit's reason)."""

    spot: float
    source: str


def settlement_close(pos: Position, spot: float, settlement: Settlement) -> tuple[float, str]:
    """The close-out premium (per share, >= 0) and exit reason of ``pos`` settled at the
    underlying price ``spot`` on its expiration : intrinsic value;
    reason ``assignment`` for a physically settled position with an ITM short leg, else
    ``expiration_settlement``."""
    value = payoff_at_expiry(pos.legs, spot)
    price = premium_sign(pos.premium_type) * value  # the held legs' value as a close-out premium
    if price < -1e-9:
        raise ValueError(
            f"position {pos.id} settles at a negative close-out premium {price:.4f}: its legs "
            f"{[str(leg) for leg in pos.legs]} are not a structure the backtester supports"
        )
    price = price if price > 0 else 0.0  # never -0.0
    options = [(leg, require_option(leg.contract, "option settlement")) for leg in pos.legs]
    itm_short = any(
        leg.is_short and (
            (c.right is Right.PUT and spot < c.strike) or (c.right is Right.CALL and spot > c.strike)
        )
        for leg, c in options
    )
    return price, "assignment" if settlement == "physical" and itm_short else "expiration_settlement"


def settlement_for(underlying: str, settlement: Settlement | None = None) -> Settlement:
    """``settlement`` checked, or the default by underlying (cash for :data:`CASH_SETTLED`)."""
    if settlement is not None:
        if settlement not in ("cash", "physical"):
            raise ValueError(f"settlement must be 'cash' or 'physical', got {settlement!r}")
        return settlement
    return "cash" if underlying.upper() in CASH_SETTLED else "physical"


def is_am_settled(pos: Position) -> bool:
    """Whether ``pos`` settles on its expiration morning (an option leg whose settlement
    instant is before noon: :data:`AM_SETTLEMENT_TIME`)."""
    return any(isinstance(leg.contract, OptionContract) and leg.contract.expiry_time < time(12, 0)
               for leg in pos.legs)


def settles_before(pos: Position, now: datetime) -> bool:
    """Whether ``pos``'s settlement instant (its earliest leg's ``expires_at``) is before
    ``now``: an AM-settled position on its expiration day, seen at the close."""
    return min(leg.contract.expires_at for leg in pos.legs) < now


class ChainCloses:
    """Settlement values from the chain's own underlying close, as the chains were seen
    (:meth:`observe` each day in order): a position expiring on a day seen settles at that
    day's close; one whose expiration the data skipped at the last close on or before it.
    The fallback of :class:`OfficialValues`; implements
    :class:`riskpilot.trading.step.SettlementPrices`."""

    def __init__(self, underlying: str) -> None:
        self.underlying = underlying
        self._days: list[date] = []
        self._closes: list[float] = []
        self._last: tuple[date, float] | None = None

    def observe(self, day: date, close: float) -> None:
        self._last = (day, close)
        if math.isfinite(close):
            self._days.append(day)
            self._closes.append(close)

    def close_on(self, day: date) -> float | None:
        """The chain's close of ``day`` when the chain had that day with a price, else None."""
        i = bisect.bisect_left(self._days, day)
        return self._closes[i] if i < len(self._days) and self._days[i] == day else None

    def on(self, underlying: str, expiration: date, am: bool = False) -> SettlementPrice:
        if self._last is not None and self._last[0] == expiration and not math.isfinite(self._last[1]):
            raise ValueError(
                f"{expiration}: a {underlying} position expires today but the chain carries no underlying "
                f"price to settle it at (fill underlying_price in the chain)"
            )
        i = bisect.bisect_right(self._days, expiration) - 1
        if i < 0:
            raise ValueError(f"no {underlying} close on or before {expiration} to settle an expiry at")
        return SettlementPrice(self._closes[i], f"chain close of {self._days[i]}")


class ChainSettlementSource(Protocol):
    """The chain's own closes, which :class:`OfficialValues` falls back on."""

    def on(self, underlying: str, expiration: date, am: bool = False) -> SettlementPrice: ...

    def close_on(self, day: date) -> float | None: ...


@dataclass(frozen=True, slots=True)
class OfficialSeries:
    """An official daily series: ``days`` (days since 1970-01-01, ascending), the ``open`` and
    ``close`` of each in underlying price units, ``name`` as shown in sources, and
    ``open_is_previous_close`` where the series's open equals the previous close to the cent
    (no opening print recorded that day)."""

    name: str
    days: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    open_is_previous_close: npt.NDArray[np.bool_]

    def index_of(self, day: date) -> int | None:
        n = day.toordinal() - _EPOCH_ORDINAL
        i = int(np.searchsorted(self.days, n))
        return i if i < self.days.size and int(self.days[i]) == n else None

    @property
    def first(self) -> date:
        return date.fromordinal(_EPOCH_ORDINAL + int(self.days[0]))

    @property
    def last(self) -> date:
        return date.fromordinal(_EPOCH_ORDINAL + int(self.days[-1]))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

#: Underlying symbol -> (bundled series, scale): what each settles against.
_OFFICIAL: dict[str, tuple[str, float]] = {
    "SPX": ("SPX", 1.0), "SPXW": ("SPX", 1.0), "SPXPM": ("SPX", 1.0), "XSP": ("SPX", 0.1),
    "SPY": ("SPY", 1.0), "QQQ": ("QQQ", 1.0), "IWM": ("IWM", 1.0),
}
_SERIES_CACHE: dict[tuple[str, float], OfficialSeries] = {}

#: A chain close further than this (a fraction) from the official value is another series
#: (a split the bundled series adjusts for and the chain does not): the chain's close is used.
SERIES_MISMATCH = 0.25


def official_series(underlying: str) -> OfficialSeries | None:
    """The bundled official series ``underlying``'s options settle against (cached per
    process), or None when the package bundles none for it."""
    key = _OFFICIAL.get(underlying.strip().upper())
    if key is None:
        return None
    hit = _SERIES_CACHE.get(key)
    if hit is not None:
        return hit
    from riskpilot.data import history  # pandas and the bundled files: only when settling

    name, scale = key
    frame = history.load_index(name) if name == "SPX" else history.load_underlying(name)
    days = np.asarray(frame.index.values.astype("datetime64[D]").astype(np.int64), dtype=np.int64)
    opens = frame["open"].to_numpy(dtype=np.float64) * scale
    closes = frame["close"].to_numpy(dtype=np.float64) * scale
    prev = np.concatenate(([np.nan], closes[:-1]))
    stale_open = np.round(opens, 2) == np.round(prev, 2)
    label = f"{name}/10" if scale != 1.0 else name
    series = _SERIES_CACHE[key] = OfficialSeries(label, days, opens, closes, stale_open)
    return series


class OfficialValues:
    """Settlement values from the official series (module docstring): the close for
    PM-settled positions, the open (approximating the opening settlement value) for AM-settled
    ones, of the expiration day whether or not the chain had it. ``fallback`` (the chain's
    closes) serves where no series exists, where the series lacks the day, and where the
    chain's close disagrees with the series by more than :data:`SERIES_MISMATCH`; each such
    use is reported once through ``warn``. Implements
    :class:`riskpilot.trading.step.SettlementPrices`."""

    def __init__(self, underlying: str, fallback: ChainSettlementSource | None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.underlying = underlying
        self.series = official_series(underlying)
        self.fallback = fallback
        self._warn = warn
        self._warned: set[str] = set()

    def _note(self, key: str, message: str) -> None:
        if key not in self._warned and self._warn is not None:
            self._warned.add(key)
            self._warn(message)

    def _chain(self, underlying: str, expiration: date, am: bool, why: str) -> SettlementPrice:
        if self.fallback is None:
            raise ValueError(f"{expiration}: no official value to settle {underlying} at ({why}) and no chain "
                             f"closes to fall back on")
        return self.fallback.on(underlying, expiration, am)

    def on(self, underlying: str, expiration: date, am: bool = False) -> SettlementPrice:
        s = self.series
        if s is None:
            why = f"no official {underlying} series is bundled"
            self._note("none", f"{why}: expiries settle at the chain's own underlying close (bundled series: "
                               f"{', '.join(sorted(_OFFICIAL))})")
            return self._chain(underlying, expiration, am, why)
        i = s.index_of(expiration)
        if i is None:
            why = (f"the official {s.name} series ({s.first} .. {s.last}) has no value on {expiration}")
            self._note(f"day {expiration}", f"{why}: the {underlying} positions expiring then settle at the chain's "
                                            f"close")
            return self._chain(underlying, expiration, am, why)
        value = float(s.open[i] if am else s.close[i])
        what = "open" if am else "close"
        chain_close = self.fallback.close_on(expiration) if self.fallback is not None else None
        if chain_close is not None and abs(chain_close / value - 1.0) > SERIES_MISMATCH:
            self._note(f"mismatch {expiration}", (
                f"{expiration}: the chain's {underlying} close {chain_close:g} is more than "
                f"{SERIES_MISMATCH:.0%} from the official {s.name} {what} {value:g} (a split the bundled series "
                f"adjusts for?): settling at the chain's close"))
            return SettlementPrice(chain_close, f"chain close of {expiration}")
        source = f"official {s.name} {what} of {expiration}"
        if am:
            if bool(s.open_is_previous_close[i]):
                source += " (AM settlement; the series has no opening print that day: it is the previous close)"
                self._note("stale open", (
                    f"{expiration}: AM-settled {underlying} options settle at the official open, but the bundled "
                    f"{s.name} series has no opening print that day (its open is the previous close, as in most "
                    f"of its days before 2008): the previous close stands in for the opening settlement value"))
            else:
                source += " (AM settlement, approximated by the open)"
        return SettlementPrice(value, source)


__all__ = [
    "AM_SETTLEMENT_TIME",
    "CASH_SETTLED",
    "SERIES_MISMATCH",
    "ChainCloses",
    "ChainSettlementSource",
    "OfficialSeries",
    "OfficialValues",
    "Settlement",
    "SettlementPrice",
    "is_am_settled",
    "official_series",
    "settlement_close",
    "settlement_for",
    "settles_before",
]
