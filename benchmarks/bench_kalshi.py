"""Kalshi API calls a minute while monitoring open event-contract positions, printed.

Run:  python benchmarks/bench_kalshi.py
  or  pytest benchmarks/bench_kalshi.py -m benchmark -s

Targets: SPEC section 9, under 60 broker calls a minute with 20 open positions; the same
limit (the seed's 60 a minute, far under Kalshi's 600) with 200.

What is measured: the monitor's quote path at the SPEC cadence, every 30 s (every 5 s for a
position near a trigger), on a simulated clock for 10 minutes: the monitor's
:class:`riskpilot.live.quotes.QuoteFetcher` (10 s cache, one ``get_quotes`` per cycle)
over :class:`riskpilot.brokers.kalshi.KalshiBroker`, through the official SDK, against the
fake Kalshi of ``tests/fakes/kalshi.py`` on loopback (signatures checked). Every HTTP request
that reaches the fake is counted. "batched" is the adapter as built: ``GET /markets`` with up
to 100 tickers a call. "one book per market" is the alternative it avoids: ``GET
/markets/{ticker}/orderbook`` for every market every cycle. Both sit behind the 60-a-minute
limiter (on the simulated clock), so a demand above it stretches the cycle instead: the
figure "refresh" is how often each position's quote is actually renewed.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The fake Kalshi lives with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.kalshi import FakeKalshi
from riskpilot.brokers.kalshi import KalshiBroker, KalshiCredentials
from riskpilot.config.event_contracts import KalshiConfig
from riskpilot.execution.clock import SimulatedClock
from riskpilot.live.quotes import QuoteFetcher
from riskpilot.live.replay import ClockLimiter
from riskpilot.model import ContractSide, EventContract

KEY_ID = "bench-key"
T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
MINUTES = 10.0
LIMIT_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class Figure:
    markets: int
    mode: str
    cadence: float
    calls_per_minute: float
    refresh_seconds: float
    ms_per_call: float


async def monitor(markets: int, *, batched: bool, cadence: float, key: rsa.RSAPrivateKey) -> Figure:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    close = datetime.now(UTC) + timedelta(days=2)
    async with FakeKalshi(KEY_ID, key.public_key()) as venue:
        contracts = []
        for i in range(markets):
            event = f"KXBENCH-E{i // 10:03d}"
            ticker = f"{event}-M{i:04d}"
            venue.add_market(ticker, event=event, series="KXBENCH", close_time=close,
                             yes_bids=[(40 + i % 10, 100)], no_bids=[(55 - i % 10, 100)])
            side = ContractSide.YES if i % 2 == 0 else ContractSide.NO
            contracts.append(EventContract("KXBENCH", event, ticker, side, close, close))
        clock = SimulatedClock(T0)
        cfg = KalshiConfig(base_url=venue.base_url, max_api_calls_per_minute=LIMIT_PER_MINUTE)
        broker = KalshiBroker(cfg, KalshiCredentials.from_pem(KEY_ID, pem), clock=clock.now,
                              limiter=ClockLimiter(clock, LIMIT_PER_MINUTE))
        fetcher = QuoteFetcher(broker, clock, ttl_seconds=10.0, limiter=ClockLimiter(clock, LIMIT_PER_MINUTE))
        renewed: dict[str, list[datetime]] = {c.ticker: [] for c in contracts}
        end = T0 + timedelta(minutes=MINUTES)
        wall: list[float] = []
        try:
            while clock.now() < end:
                start = clock.now()
                if batched:
                    t = time.perf_counter()
                    before = broker.api_calls.total()
                    got = await fetcher.get(contracts)
                    if broker.api_calls.total() > before:
                        wall.append((time.perf_counter() - t) / (broker.api_calls.total() - before))
                        for c in got:
                            renewed[c.ticker].append(clock.now())
                else:
                    for c in contracts:
                        t = time.perf_counter()
                        await broker.order_book(c)
                        wall.append(time.perf_counter() - t)
                        renewed[c.ticker].append(clock.now())
                wait = (start + timedelta(seconds=cadence) - clock.now()).total_seconds()
                if wait > 0:
                    await clock.sleep(wait)
        finally:
            await broker.close()
        elapsed = (clock.now() - T0).total_seconds() / 60.0
        gaps = [(b - a).total_seconds() for ts in renewed.values() for a, b in itertools.pairwise(ts)]
        return Figure(markets, "batched" if batched else "one book per market", cadence,
                      len(venue.requests) / elapsed, statistics.mean(gaps) if gaps else float("nan"),
                      1000 * statistics.mean(wall) if wall else float("nan"))


async def all_figures() -> list[Figure]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = []
    for n in (20, 200):
        out.append(await monitor(n, batched=True, cadence=30, key=key))
    for n in (20, 200):
        out.append(await monitor(n, batched=True, cadence=5, key=key))
    for n in (20, 200):
        out.append(await monitor(n, batched=False, cadence=30, key=key))
    return out


def _print(figures: list[Figure]) -> None:
    print()
    print(f"Kalshi monitoring over {MINUTES:g} simulated minutes, fake Kalshi on loopback, "
          f"limiter {LIMIT_PER_MINUTE}/min")
    print(f"{'scenario':<48} {'calls/min':>9} {'refresh':>9} {'ms/call':>8} {'target':>7}")
    for f in figures:
        name = f"{f.markets} markets, {f.mode}, every {f.cadence:g} s"
        target = "< 60" if f.mode == "batched" else "-"
        print(f"{name:<48} {f.calls_per_minute:>9.1f} {f.refresh_seconds:>8.0f}s {f.ms_per_call:>8.1f} {target:>7}")


@pytest.mark.benchmark
def test_kalshi_calls_per_minute() -> None:
    figures = asyncio.run(all_figures())
    _print(figures)
    for f in figures:
        if f.mode == "batched":
            assert f.calls_per_minute < LIMIT_PER_MINUTE, f


if __name__ == "__main__":
    _print(asyncio.run(all_figures()))
