"""Subprocess entry point for the kill -9 tests: `riskpilot monitor` exactly as the CLI runs it,
with the paper broker's injected faults read from the environment (RISKPILOT_TEST_FAULTS, a
JSON object of :class:`riskpilot.brokers.paper.Faults` fields); the fault injection is the
paper venue's own, the only change is at the broker's edge."""

from __future__ import annotations

import functools
import json
import os
import sys

from riskpilot import app as wiring
from riskpilot.brokers.paper import Faults, PaperBroker
from riskpilot.cli import main

if __name__ == "__main__":
    faults = Faults(**json.loads(os.environ.get("RISKPILOT_TEST_FAULTS", "{}")))
    wiring.PaperBroker = functools.partial(PaperBroker, faults=faults)  # type: ignore[misc]
    sys.argv = ["riskpilot", *sys.argv[1:]]
    main()
