"""A store filled by a paper replay, the dashboard served from it on loopback, and the
distribution's Chromium driven by Playwright: what the dashboard's tests share."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from riskpilot.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
TOKEN = "test-token-0123456789"
#: In the configuration the replay records; the dashboard must never show it.
SECRET = "s3cretpass"
#: Credit spreads held to a 50% target or a stop at a 200% loss: positions stay open, so the
#: replay leaves a book. The alert channel refuses at once (nothing listens on port 9).
CONFIG = f"""\
exit_rules:
  trailing_stop: {{enabled: false}}
  partial_exit_target: {{enabled: false}}
  profit_target: {{profit_target_pct: 0.5}}
  stop_loss: {{stop_loss_pct: 2.0}}
risk:
  max_positions_per_class: 20
  max_portfolio_heat_pct: 0.5
  max_underlying_pct: 0.5
  max_class_exposure_pct: 0.5
alerts:
  urls: ["json://user:{SECRET}@127.0.0.1:9/alerts"]
"""
REPLAY_START, REPLAY_END = date(2020, 1, 2), date(2020, 1, 24)


@dataclass(frozen=True)
class Replayed:
    """A replayed store (a SQLite file) and the chain store and configuration it came from."""

    db: Path
    chains: Path
    config: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def copy(self, to: Path) -> Replayed:
        db = to / "dash.db"
        shutil.copyfile(self.db, db)
        return Replayed(db, self.chains, self.config)


def replay_store(root: Path) -> Replayed:
    """Replay SPY model chains of January 2020 through the paper monitor into a new store, as
    `riskpilot monitor --replay --speed 0 --config` does (in this process, to save a start-up)."""
    from riskpilot import app as wiring
    from riskpilot.config import parse_config
    from riskpilot.data.model_chain import generate_model_chain
    from riskpilot.data.store import ChainStore

    chains = root / "chains"
    ChainStore(chains).import_table(generate_model_chain("SPY", REPLAY_START, REPLAY_END))
    cfg_path = root / "config.yaml"
    cfg_path.write_text(CONFIG)
    db = root / "replayed.db"
    store = Store.open(f"sqlite:///{db}")
    try:
        run = wiring.build_replay(store, parse_config(CONFIG), CONFIG, wiring.MonitorOptions(),
                                  wiring.ReplayOptions(chains=chains, underlying="SPY", method="default",
                                                       start=REPLAY_START, end=REPLAY_END, speed=0))

        async def go() -> None:
            await run.run(asyncio.Event())

        asyncio.run(go())
    finally:
        store.close()
    return Replayed(db, chains, cfg_path)


@contextmanager
def serving(store: Store, **settings: Any) -> Iterator[str]:
    """The dashboard over ``store`` on a free loopback port, in a thread; yields its base URL."""
    from riskpilot.web.app import DashboardSettings
    from riskpilot.web.server import build_server

    server = build_server(store, DashboardSettings(host="127.0.0.1", port=0, **settings))
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard did not start within 10 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}: install the distribution's package (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install '.[test]'"
    return None


def as_of(store: Store) -> datetime:
    """The replay's market time: the newest mark in the store (what the dashboard's clock is)."""
    from sqlalchemy import func, select

    from riskpilot.store.models import PositionRow

    with store.read() as s:
        newest: datetime = s.execute(select(func.max(PositionRow.last_update))).scalar_one()
    return newest
