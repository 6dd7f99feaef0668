"""Quote sources for the paper broker, all taking the time from the caller:

- :class:`ScriptedMarket`: quotes set by hand (tests, demos).
- :class:`RandomWalkMarket`: seeded random walk of mids with a fixed relative spread; with
  ``step_seconds`` it takes one step per that many seconds of the clock it is asked at, so a
  live paper run's market moves with the wall clock.
- :class:`ChainReplaySource`: a replay of end-of-day chains from the columnar chain store,
  one trading day every ``speed`` seconds of clock time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

import pyarrow as pa

from riskpilot.data.schema import UNUSABLE_FOR_PRICING, Quality
from riskpilot.model.contract import Contract, OptionContract
from riskpilot.model.enums import Right
from riskpilot.model.quote import Quote

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class QuoteSource(Protocol):
    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        """Quotes at ``now`` for the contracts it has a market for (others are absent)."""
        ...


class ScriptedMarket:
    """Quotes set by hand: ``set(contract, bid, ask, volume)``; stamped with ``now``."""

    def __init__(self) -> None:
        self._book: dict[Contract, tuple[float | None, float | None, int | None]] = {}

    def set(self, contract: Contract, bid: float | None, ask: float | None, volume: int | None = None) -> None:
        self._book[contract] = (bid, ask, volume)

    def remove(self, contract: Contract) -> None:
        self._book.pop(contract, None)

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        out: dict[Contract, Quote] = {}
        for c in contracts:
            if c in self._book:
                bid, ask, vol = self._book[c]
                out[c] = Quote(bid, ask, now, volume=vol)
        return out


class RandomWalkMarket:
    """Mids follow a seeded geometric random walk, one step per :meth:`step` (and, with
    ``step_seconds``, one per that many seconds of the ``now`` it is quoted at, counted from
    the first quote); quotes are ``mid * (1 -/+ half_spread_pct)`` with a fixed daily
    ``volume``. Prices per share."""

    def __init__(
        self,
        mids: Mapping[Contract, float],
        *,
        seed: int,
        step_vol: float = 0.02,
        half_spread_pct: float = 0.02,
        volume: int = 1000,
        step_seconds: float | None = None,
    ) -> None:
        if step_vol < 0 or half_spread_pct < 0 or half_spread_pct >= 1:
            raise ValueError(
                f"step_vol must be >= 0 and half_spread_pct within [0, 1): got {step_vol}, {half_spread_pct}"
            )
        for c, m in mids.items():
            if not (m > 0 and math.isfinite(m)):
                raise ValueError(f"starting mid for {c} must be a positive number, got {m!r}")
        self._mids = dict(mids)
        self._rng = random.Random(seed)
        self.step_vol = step_vol
        self.half_spread_pct = half_spread_pct
        self.volume = volume
        if step_seconds is not None and not (step_seconds > 0 and math.isfinite(step_seconds)):
            raise ValueError(f"step_seconds must be a positive number of seconds, got {step_seconds!r}")
        self.step_seconds = step_seconds
        self._t0: datetime | None = None
        self._steps_taken = 0

    def add(self, contract: Contract, mid: float) -> None:
        """Start quoting ``contract`` at ``mid`` (a contract already walked keeps its mid)."""
        if not (mid > 0 and math.isfinite(mid)):
            raise ValueError(f"starting mid for {contract} must be a positive number, got {mid!r}")
        self._mids.setdefault(contract, mid)

    def _catch_up(self, now: datetime) -> None:
        if self.step_seconds is None:
            return
        if self._t0 is None:
            self._t0 = now
        due = int((now - self._t0).total_seconds() // self.step_seconds)
        if due > self._steps_taken:
            self.step(due - self._steps_taken)
            self._steps_taken = due

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            for c in self._mids:
                self._mids[c] *= math.exp(self._rng.gauss(0.0, self.step_vol))

    def mid(self, contract: Contract) -> float:
        return self._mids[contract]

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        self._catch_up(now)
        h = self.half_spread_pct
        return {
            c: Quote(self._mids[c] * (1 - h), self._mids[c] * (1 + h), now, volume=self.volume)
            for c in contracts
            if c in self._mids
        }


class DayChains(Protocol):
    """What the replay needs of the chain store (:class:`riskpilot.data.store.ChainStore`)."""

    def days(self, underlying: str, start: date | None = None, end: date | None = None) -> list[date]: ...

    def day(self, underlying: str, quote_date: date) -> pa.Table: ...


class ChainReplaySource:
    """Replays stored end-of-day chains, compressing each trading day into ``speed``
    seconds of clock time: at clock time ``t`` the quotes are those of trading day
    ``floor((t - t0) / speed)`` after ``start`` (the last day once the data ends). ``t0``
    is the clock's time at construction. Rows flagged unusable for pricing are absent,
    except crossed quotes, which are served as they are (a crossed quote must be seen
    to be refused). A contract matches a row by underlying, expiration, strike and right;
    when several roots list it (SPX and SPXW), the root equal to the underlying wins."""

    def __init__(
        self,
        store: DayChains,
        underlying: str,
        start: date,
        speed: float,
        *,
        end: date | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed is seconds of clock time per trading day, > 0; got {speed!r}")
        self.underlying = underlying
        self.speed = speed
        self.clock = clock
        self._store = store
        self._days = store.days(underlying, start, end)
        if not self._days:
            raise ValueError(
                f"the chain store has no {underlying} days from {start.isoformat()}"
                f"{' to ' + end.isoformat() if end else ''}: import chains first "
                "(`riskpilot data import`) or pick another start"
            )
        self._t0 = clock()
        self._loaded: date | None = None
        self._book: dict[tuple[date, float, Right], tuple[float | None, float | None, int | None]] = {}

    @property
    def days(self) -> list[date]:
        return list(self._days)

    def current_day(self, now: datetime | None = None) -> date:
        t = self.clock() if now is None else now
        i = int((t - self._t0).total_seconds() // self.speed)
        return self._days[max(0, min(i, len(self._days) - 1))]

    def _load(self, day: date) -> None:
        if self._loaded == day:
            return
        t = self._store.day(self.underlying, day)
        cols = t.select(["root", "expiration", "strike", "right", "bid", "ask", "volume", "quality"]).to_pydict()
        book: dict[tuple[date, float, Right], tuple[float | None, float | None, int | None]] = {}
        preferred: set[tuple[date, float, Right]] = set()
        tolerated = int(Quality.CROSSED)
        for root, exp, strike, right, bid, ask, vol, qual in zip(
            cols["root"],
            cols["expiration"],
            cols["strike"],
            cols["right"],
            cols["bid"],
            cols["ask"],
            cols["volume"],
            cols["quality"],
            strict=True,
        ):
            if qual & int(UNUSABLE_FOR_PRICING) & ~tolerated:
                continue
            key = (exp, float(strike), Right.parse(right))
            if key in preferred:
                continue
            book[key] = (bid, ask, vol)
            if root == self.underlying:
                preferred.add(key)
        self._book = book
        self._loaded = day

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        self._load(self.current_day(now))
        out: dict[Contract, Quote] = {}
        for c in contracts:
            if not isinstance(c, OptionContract) or c.underlying != self.underlying:
                continue  # an option chain has no market for an event contract
            row = self._book.get((c.expiration, c.strike, c.right))
            if row is not None:
                out[c] = Quote(row[0], row[1], now, volume=row[2])
        return out


__all__ = ["ChainReplaySource", "DayChains", "QuoteSource", "RandomWalkMarket", "ScriptedMarket", "wall_clock"]
