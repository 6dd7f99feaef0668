"""The live loop runs within the exchange's sessions (exchange-calendars XNYS): regular and
early-close sessions, holidays closed; outside a session every position holds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from monitor_rig import make_rig

from riskpilot.live.session import AlwaysOpen, ExchangeSessions
from riskpilot.store import Store


def test_xnys_regular_early_close_and_holiday_sessions() -> None:
    s = ExchangeSessions("XNYS")
    # Monday 2024-03-04: 09:30-16:00 New York (14:30-21:00 UTC).
    assert not s.is_open(datetime(2024, 3, 4, 14, 29, tzinfo=UTC))
    assert s.is_open(datetime(2024, 3, 4, 14, 30, tzinfo=UTC))
    assert s.is_open(datetime(2024, 3, 4, 20, 59, tzinfo=UTC))
    assert not s.is_open(datetime(2024, 3, 4, 21, 0, tzinfo=UTC))
    # The day after Thanksgiving 2024 closes early, at 13:00 New York (18:00 UTC).
    assert s.is_open(datetime(2024, 11, 29, 17, 59, tzinfo=UTC))
    assert not s.is_open(datetime(2024, 11, 29, 18, 0, tzinfo=UTC))
    # Christmas Day is closed; the next open is the 26th at 09:30 New York.
    xmas = datetime(2024, 12, 25, 16, 0, tzinfo=UTC)
    assert not s.is_open(xmas)
    assert s.seconds_to_open(xmas) == (datetime(2024, 12, 26, 14, 30, tzinfo=UTC) - xmas).total_seconds()
    assert "closed until 2024-12-26T14:30" in s.describe(xmas)
    assert AlwaysOpen().seconds_to_open(xmas) == 0.0


async def test_outside_a_session_the_monitor_holds_and_fetches_no_quote(store: Store) -> None:
    saturday = datetime(2024, 3, 2, 15, 0, tzinfo=UTC)
    rig = make_rig(store, start=saturday)
    rig.spread("p1", 480.0)
    rig.quote_spread(480.0, 0.40)  # a profit target, were it checked
    stop = asyncio.Event()

    async def stop_later() -> None:
        await rig.clock.sleep(3600.0)  # simulated: one hour of waiting for Monday's open
        stop.set()

    stopper = asyncio.create_task(stop_later())
    await rig.monitor.run(stop, sessions=ExchangeSessions("XNYS"))
    await stopper
    assert rig.broker.api_calls["get_quotes"] == 0
    assert rig.monitor.positions.keys() == {"p1"}  # held, not exited
