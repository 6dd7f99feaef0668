"""Subprocess entry point for the IBKR kill tests: `riskpilot monitor` exactly as the CLI runs
it, except that the exchange's sessions are always open (the test runs at any hour; a real
account trades in XNYS sessions). The broker is the real adapter on the fake TWS's port."""

from __future__ import annotations

import sys

from riskpilot import app as wiring
from riskpilot.cli import main
from riskpilot.live.session import AlwaysOpen

if __name__ == "__main__":
    wiring.ExchangeSessions = lambda code="XNYS": AlwaysOpen()  # type: ignore[assignment,misc]
    sys.argv = ["riskpilot", *sys.argv[1:]]
    main()
