"""Quotes for the monitor: one batched broker call per cycle, through a TTL cache and a rate limit.

SPEC section 4: quotes come through a cache with a 10 s time-to-live
(``monitoring.price_cache_ttl_seconds``, a :class:`cachetools.TTLCache` timed by the
monitor's clock, so simulated time expires entries too) and at most
``monitoring.max_api_calls_per_minute`` broker calls a minute (an
:class:`aiolimiter.AsyncLimiter` leaky bucket: a burst of that many, then one every
``60 / max`` seconds of real time). Every contract a cycle needs that the cache does not hold
fresh goes to the broker in **one** ``get_quotes`` call.

A contract the broker has no market for is absent from the answer and is not cached (the
next cycle asks again); a broker failure propagates to the caller, which holds every position
of that cycle (a missing quote never triggers an exit).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from cachetools import TTLCache

from riskpilot.config.schema import MonitoringConfig
from riskpilot.execution.clock import Clock
from riskpilot.execution.port import BrokerPort
from riskpilot.model.contract import Contract
from riskpilot.model.quote import Quote

#: Contracts held in the cache at most (a book of 1,000 four-leg positions needs 4,000).
DEFAULT_CACHE_SIZE = 100_000


@dataclass(slots=True)
class FetchStats:
    """Counters: broker calls made, contracts served from the cache and fetched."""

    broker_calls: int = 0
    cache_hits: int = 0
    fetched: int = 0


class QuoteFetcher:
    """Cached, rate-limited, batched quotes from ``broker`` (see the module docstring)."""

    def __init__(
        self,
        broker: BrokerPort,
        clock: Clock,
        *,
        ttl_seconds: float = 10.0,
        max_calls_per_minute: int = 60,
        maxsize: int = DEFAULT_CACHE_SIZE,
        limiter: AbstractAsyncContextManager[None] | None = None,
    ) -> None:
        if not ttl_seconds >= 0:
            raise ValueError(f"ttl_seconds must be >= 0 seconds, got {ttl_seconds!r}")
        if isinstance(max_calls_per_minute, bool) or not max_calls_per_minute >= 1:
            raise ValueError(f"max_calls_per_minute must be a whole number >= 1, got {max_calls_per_minute!r}")
        self.broker = broker
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.stats = FetchStats()
        self._cache: TTLCache[Contract, Quote] = TTLCache(
            maxsize=maxsize, ttl=ttl_seconds, timer=lambda: clock.now().timestamp()
        )
        # A replay passes a limiter on its own clock (riskpilot.live.replay.ClockLimiter).
        self._limiter: AbstractAsyncContextManager[None] = limiter or AsyncLimiter(max_calls_per_minute, 60.0)

    @classmethod
    def from_config(cls, broker: BrokerPort, clock: Clock, config: MonitoringConfig, *,
                    limiter: AbstractAsyncContextManager[None] | None = None) -> QuoteFetcher:
        return cls(
            broker,
            clock,
            ttl_seconds=config.price_cache_ttl_seconds,
            max_calls_per_minute=config.max_api_calls_per_minute,
            limiter=limiter,
        )

    def clear(self) -> None:
        """Forget every cached quote (the broker's link dropped: what it said before is no
        basis for a decision after)."""
        self._cache.clear()

    def forget(self, contracts: Iterable[Contract]) -> None:
        """Drop these contracts' cached quotes: the next :meth:`get` asks the broker (a jump
        waiting for confirmation needs the next quote, not the cached one)."""
        cache = self._cache
        for c in contracts:
            cache.pop(c, None)

    async def get(self, contracts: Iterable[Contract]) -> dict[Contract, Quote]:
        """Quotes for ``contracts``: fresh cached ones, the rest in one broker call."""
        out: dict[Contract, Quote] = {}
        missing: list[Contract] = []
        cache = self._cache
        # One timer reading for the whole batch (cachetools' timer nests), one lookup each.
        with cache.timer:
            for c in dict.fromkeys(contracts):
                try:
                    out[c] = cache[c]
                except KeyError:
                    missing.append(c)
        self.stats.cache_hits += len(out)
        if not missing:
            return out
        async with self._limiter:
            self.stats.broker_calls += 1
            fresh = await self.broker.get_quotes(missing)
        self.stats.fetched += len(fresh)
        for c, q in fresh.items():
            cache[c] = q
            out[c] = q
        return out


__all__ = ["DEFAULT_CACHE_SIZE", "FetchStats", "QuoteFetcher"]
