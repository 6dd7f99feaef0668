"""`riskpilot broker check --broker ibkr`, run as a subprocess."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from datetime import date

import pytest
from typer.testing import CliRunner

from fakes.tws import FakeTws
from riskpilot.cli import app

CMD = [sys.executable, "-c", "from riskpilot.cli import main; main()", "broker", "check", "--broker", "ibkr"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_broker_check_against_a_closed_port_exits_non_zero_with_the_message_and_no_traceback() -> None:
    port = _closed_port()
    r = subprocess.run([*CMD, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"cannot reach IB Gateway/TWS at 127.0.0.1:{port}: is it running with the API enabled and this " \
           "client id free?" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


async def test_broker_check_prints_account_buying_power_positions_quote_and_market_rule() -> None:
    fake = FakeTws()
    put = fake.add_option("SPY", date(2024, 4, 19), 480.0, "P", market_rule=110)
    fake.set_quote(put, 2.00, 2.10)
    fake.add_position(put, -2, 250.0)
    await fake.start()
    try:
        proc = await asyncio.create_subprocess_exec(*CMD, "--port", str(fake.port), "--client-id", "9",
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await fake.stop()
    out = out_b.decode()
    assert proc.returncode == 0, err_b.decode()
    assert "account: DU1234567" in out and "BuyingPower: 1,000,000.00" in out
    assert "SPY 2024-04-19 480P  -2  avg 2.5000/share" in out
    assert "quote SPY 2024-04-19 480P: bid 2.0 ask 2.1" in out
    assert "market rule SPY 2024-04-19 480P: ib:110: 0.05 under 3, 0.1 from 3" in out


def test_broker_check_with_a_bad_port_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPILOT_IBKR_PORT", "70000")
    r = CliRunner().invoke(app, ["broker", "check", "--broker", "ibkr"])
    assert (r.exit_code == 2 and "RISKPILOT_IBKR_PORT" in r.output and r.exception is None) or \
        isinstance(r.exception, SystemExit)
