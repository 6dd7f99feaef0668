"""The fake TWS on an event loop of its own, in a background thread: for tests whose client
runs elsewhere (a `riskpilot` subprocess, or a command that calls ``asyncio.run`` itself).

Everything the test does to the fake goes through :meth:`FakeTwsThread.call`, which runs it on
the fake's loop and returns its result, so the fake is only ever touched from its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from fakes.tws import FakeTws

T = TypeVar("T")


class FakeTwsThread:
    """``with FakeTwsThread() as gw: gw.call(lambda f: f.add_option(...))``; ``gw.port``."""

    def __init__(self, fake: FakeTws | None = None) -> None:
        self.fake = fake or FakeTws()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-tws", daemon=True)

    def __enter__(self) -> FakeTwsThread:
        self._thread.start()
        self.run(self.fake.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.fake.port

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Await ``coro`` on the fake's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[FakeTws], T], timeout: float = 10.0) -> T:
        """``fn(fake)`` on the fake's loop (fake methods that schedule tasks need it)."""
        done: Future[T] = Future()

        def go() -> None:
            try:
                done.set_result(fn(self.fake))
            except BaseException as exc:  # handed back to the caller's thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(go)
        return done.result(timeout)


__all__ = ["FakeTwsThread"]
