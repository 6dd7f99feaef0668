"""Fixtures for the IBKR adapter: a fake TWS on loopback with two SPY puts quoted, and an
adapter connected to it through the real ib_async client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from fakes.tws import FakeTws
from riskpilot.brokers.ibkr_broker import IbkrBroker
from riskpilot.config.brokers import IbkrConfig
from riskpilot.model import Leg, OptionContract, Right

EXP = date(2024, 4, 19)
P480 = OptionContract("SPY", EXP, 480.0, Right.PUT)
P475 = OptionContract("SPY", EXP, 475.0, Right.PUT)
#: A short put vertical as held: closing it (SELL) buys the 480 back and sells the 475.
VERTICAL = (Leg(P480, -1), Leg(P475, 1))


def fast_settings(port: int, **kw: Any) -> IbkrConfig:
    """Settings for tests: short timeouts and reconnect delays."""
    base: dict[str, Any] = {
        "port": port, "client_id": 11, "connect_timeout_seconds": 2, "order_ack_timeout_seconds": 1,
        "first_quote_timeout_seconds": 0.3, "reconnect_initial_delay_seconds": 0.05,
        "reconnect_max_delay_seconds": 0.2, "commission_timeout_seconds": 5,
    }
    base.update(kw)
    return IbkrConfig(**base)


@dataclass
class Venue:
    """The fake gateway and the conIds of the two puts it lists (penny-pilot market rule 32:
    0.01 under 3.00, 0.05 from 3.00)."""

    fake: FakeTws
    c480: int
    c475: int

    @property
    def port(self) -> int:
        return self.fake.port


@pytest.fixture
async def tws() -> AsyncIterator[Venue]:
    fake = FakeTws()
    venue = Venue(fake, fake.add_option("SPY", EXP, 480.0, "P", market_rule=32),
                  fake.add_option("SPY", EXP, 475.0, "P", market_rule=32))
    fake.set_quote(venue.c480, 2.00, 2.10)
    fake.set_quote(venue.c475, 1.00, 1.05)
    await fake.start()
    yield venue
    await fake.stop()


@pytest.fixture
async def broker(tws: Venue) -> AsyncIterator[IbkrBroker]:
    b = IbkrBroker(fast_settings(tws.port))
    await b.connect()
    yield b
    await b.close()
