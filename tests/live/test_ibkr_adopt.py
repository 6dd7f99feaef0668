"""`riskpilot positions adopt --broker ibkr` against the fake TWS, then the monitor managing the
adopted book to its exit (the fake in a thread of its own: the command runs its own loop)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ibkr_rig import FAST_IBKR, IbRig, rig_config
from typer.testing import CliRunner

from fakes.tws_thread import FakeTwsThread
from riskpilot.cli import app
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.ticks import NICKEL_DIME
from riskpilot.model import PositionStatus, PremiumType
from riskpilot.store import AccountRepository, ExitRepository, PositionRepository, Store
from riskpilot.store.models import ExitStatus

EXP = (datetime.now(UTC) + timedelta(days=45)).date()  # adoption happens now, on the wall clock
#: An iron condor held at IB: (strike, right, contracts, average cost per contract).
CONDOR = [(2600.0, "P", 2, 100.0), (2625.0, "P", -2, 180.0), (2900.0, "C", -2, 160.0), (2925.0, "C", 2, 90.0)]


def _env(port: int) -> dict[str, str]:
    return {"RISKPILOT_IBKR_PORT": str(port), "RISKPILOT_IBKR_CLIENT_ID": "9",
            "RISKPILOT_IBKR_FIRST_QUOTE_TIMEOUT_SECONDS": "0.3"}


def test_an_adopted_iron_condor_is_managed_to_its_exit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'adopt.db'}"
    store = Store.open(url)
    clock = SimulatedClock(datetime.now(UTC) + timedelta(seconds=1))
    with FakeTwsThread() as gw:
        def book(f):  # type: ignore[no-untyped-def]
            f.clock = clock.now
            cons = []
            for strike, right, qty, cost in CONDOR:
                con = f.add_option("SPX", EXP, strike, right)
                f.add_position(con, qty, cost)
                cons.append(con)
            return cons
        cons = gw.call(book)
        runner = CliRunner()
        declined = runner.invoke(app, ["positions", "adopt", "--broker", "ibkr", "--db", url], input="n\n",
                                 env=_env(gw.port))
        assert declined.exit_code == 1 and "nothing stored" in declined.output, declined.output
        assert PositionRepository(store).load_open() == [] and AccountRepository(store).bound("ibkr") is None
        out = runner.invoke(app, ["positions", "adopt", "--broker", "ibkr", "--db", url, "--yes"], env=_env(gw.port))
        assert out.exit_code == 0, out.output
        assert f"adopt-SPX-{EXP:%Y%m%d}-iron_condor-1: iron_condor x2" in out.output
        [sp] = PositionRepository(store).load_open()
        p = sp.position
        assert (p.premium_type, p.entry_premium, p.quantity, p.method) == (PremiumType.CREDIT, pytest.approx(1.50), 2,
                                                                          "default")
        assert AccountRepository(store).bound("ibkr").account == "DU1234567"  # type: ignore[union-attr]
        again = runner.invoke(app, ["positions", "adopt", "--broker", "ibkr", "--db", url, "--yes"], env=_env(gw.port))
        assert again.exit_code == 0 and "nothing to adopt" in again.output  # what the store manages stays

        # The market pays 53% of the credit: close-out mid 1.00 + 0.90 - 0.60 - 0.60 = 0.70.
        def quote(f):  # type: ignore[no-untyped-def]
            for con, (bid, ask) in zip(cons, [(0.55, 0.65), (0.95, 1.05), (0.85, 0.95), (0.55, 0.65)], strict=True):
                f.set_quote(con, bid, ask)
        gw.call(quote)
        asyncio.run(_manage(store, gw.port, clock))
        assert gw.call(lambda f: f.positions) == {}  # the account is flat
    [ex] = ExitRepository(store).exits_for(p.id)
    assert ex.status is ExitStatus.EXECUTED and ex.rule == "profit_target" and ex.filled_quantity == 2
    limits = [a.limit_price for a in ExitRepository(store).attempts_for(ex.id) if a.limit_price is not None]
    assert limits and all(NICKEL_DIME.on_grid(x) for x in limits)
    assert PositionRepository(store).get(p.id).position.status is PositionStatus.CLOSED
    store.close()


async def _manage(store: Store, port: int, clock: SimulatedClock) -> None:
    cfg = rig_config(port, brokers={"ibkr": {**FAST_IBKR, "port": port, "client_id": 9}})
    rig = IbRig(store, None, clock, cfg)  # type: ignore[arg-type]  # the fake lives in its thread
    await rig.build()
    try:
        await rig.monitor.start()
        for _ in range(3):
            await rig.cycle()
    finally:
        await rig.close()
