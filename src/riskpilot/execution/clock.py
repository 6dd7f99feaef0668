"""Time for everything that waits: the wall clock for live runs, a simulated clock for
tests and replays (a 60 s timeout costs microseconds). Chosen once, at wiring time
(:mod:`riskpilot.app`); nothing below the wiring asks which one it has."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Time for the executor: ``now()`` (timezone-aware) and ``sleep(seconds)``."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time: UTC now and :func:`asyncio.sleep`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimulatedClock:
    """Simulated time: ``sleep`` advances ``now`` at once and then awaits every hook (for
    example the paper broker's ``process`` after a market move), so a 60 s timeout costs
    microseconds. Callable, so ``clock`` itself can be a paper broker's clock."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock start must be timezone-aware")
        self._now = start
        self._hooks: list[Callable[[datetime], Awaitable[None]]] = []

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def on_advance(self, hook: Callable[[datetime], Awaitable[None]]) -> None:
        """Await ``hook(now)`` after every advance of the clock."""
        self._hooks.append(hook)

    async def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        self._now += timedelta(seconds=seconds)
        for hook in self._hooks:
            await hook(self._now)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


__all__ = ["Clock", "SimulatedClock", "WallClock"]
