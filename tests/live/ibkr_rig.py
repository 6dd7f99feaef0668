"""The live monitor wired by ``riskpilot.app.build_live`` to the fake TWS through the real
ib_async client, on simulated time, for the IBKR monitor scenarios.

- :class:`FastClock`: market time that runs ``speed`` times faster than real time, for
  scenarios where the fake must act while an exit waits (a disconnect mid-exit): a 30 s
  timeout lasts 0.3 s at speed 100, and what the fake does in between really happens.
- ``SimulatedClock`` (riskpilot's): time only moves when something sleeps, for a whole
  simulated trading day in a second or two.

Positions are SPX put verticals (IB market rule 110: 0.05 under 3.00, 0.10 from 3.00) held
both in the store and at the fake account; :meth:`IbRig.quote` quotes a vertical by the
bid/ask of its legs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fakes.tws import FakeTws
from riskpilot.app import MonitorOptions, MonitorRun, build_live
from riskpilot.config import RiskPilotConfig
from riskpilot.execution.clock import Clock
from riskpilot.live.session import AlwaysOpen
from riskpilot.model import Leg, OptionContract, Position, PremiumType, Right
from riskpilot.store import PositionRepository, Store

#: Friday 2024-03-01 15:00 UTC = 10:00 New York.
T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)

FAST_IBKR: dict[str, Any] = {
    "client_id": 7, "connect_timeout_seconds": 2, "order_ack_timeout_seconds": 1, "first_quote_timeout_seconds": 0.3,
    "reconnect_initial_delay_seconds": 0.05, "reconnect_max_delay_seconds": 0.2, "commission_timeout_seconds": 5,
}


class FastClock:
    """Market time from ``start``, running ``speed`` times faster than real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def __call__(self) -> datetime:
        return self.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)


def put(strike: float, exp: date = EXP, *, symbol: str = "SPX") -> OptionContract:
    return OptionContract(symbol, exp, strike, Right.PUT)


@dataclass
class Vertical:
    position: Position
    short_con: int
    long_con: int


@dataclass
class IbRig:
    store: Store
    fake: FakeTws
    clock: Clock
    config: RiskPilotConfig
    verticals: dict[str, Vertical] = field(default_factory=dict)
    run: MonitorRun | None = None

    def vertical(self, pid: str, short: float, *, entry: float = 1.00, qty: int = 2, in_store: bool = True,
                 method: str = "default", symbol: str = "SPX", width: float = 25, rule: int = 110) -> Vertical:
        """A short put vertical (short ``short``, long ``short - width``) held at the fake account
        (average costs netting to ``entry``) and, with ``in_store``, as a position in the store.
        ``rule``: the IB market rule of its legs (110 nickel-dime, 32 penny-pilot, 239 pennies)."""
        s_con = self.fake.add_option(symbol, EXP, short, "P", market_rule=rule)
        l_con = self.fake.add_option(symbol, EXP, short - width, "P", market_rule=rule)
        self.fake.add_position(s_con, -qty, (entry + 1.00) * 100)
        self.fake.add_position(l_con, qty, 1.00 * 100)
        legs = (Leg(put(short, symbol=symbol), -1), Leg(put(short - width, symbol=symbol), 1))
        pos = Position(pid, legs, PremiumType.CREDIT, entry, qty, self.clock.now() - timedelta(days=3), method)
        if in_store:
            PositionRepository(self.store).open_position(pos)
        v = self.verticals[pid] = Vertical(pos, s_con, l_con)
        return v

    def quote(self, pid: str, short: tuple[float, float], long: tuple[float, float] = (0.95, 1.05)) -> None:
        """Quote the vertical's legs: closing it pays ``short ask - long bid`` at the natural
        side and ``short bid - long ask`` at the passive side."""
        v = self.verticals[pid]
        self.fake.set_quote(v.short_con, *short)
        self.fake.set_quote(v.long_con, *long)

    async def build(self, *, dry_run: bool = False, config: RiskPilotConfig | None = None) -> MonitorRun:
        self.run = await build_live(self.store, config or self.config, None,
                                    MonitorOptions(broker="ibkr", dry_run=dry_run), clock=self.clock,
                                    sessions=AlwaysOpen())
        return self.run

    @property
    def monitor(self):  # type: ignore[no-untyped-def]
        assert self.run is not None, "build() first"
        return self.run.monitor

    async def close(self, grace: float = 1.0) -> None:
        """Stop as SIGTERM does: exits in flight get ``grace`` seconds, then stay WORKING."""
        if self.run is not None:
            await self.run.monitor.shutdown(grace)
            await self.run.close_broker()
            if self.run.lease is not None:
                self.run.lease.release(datetime.now(UTC))

    async def cycle(self, seconds: float = 30.0, *, settle: float = 0.02) -> Any:
        """Let quotes reach the client, advance the clock, run one cycle and its exits."""
        await asyncio.sleep(settle)
        await self.clock.sleep(seconds)
        report = await self.monitor.check_once()
        await self.monitor.wait_exits()
        return report


def rig_config(port: int, **overrides: Any) -> RiskPilotConfig:
    """The default configuration with ``brokers.ibkr`` on the fake and short timeouts, plus
    ``overrides`` (top-level keys)."""
    if "exit_execution" in overrides:  # one priority's tactic replaced, the others the defaults
        tactics = {k: v.model_dump() for k, v in RiskPilotConfig().exit_execution.items()}
        overrides["exit_execution"] = {**tactics, **overrides["exit_execution"]}
    return RiskPilotConfig.model_validate({"brokers": {"ibkr": {**FAST_IBKR, "port": port}}, **overrides})


async def until(cond: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait (real time) until ``cond()`` is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


__all__ = ["EXP", "FAST_IBKR", "T0", "FastClock", "IbRig", "Vertical", "put", "rig_config", "until"]
