"""The README's screenshot of the dashboard's book, taken with the headless browser.

Run as ``python scripts/dashboard_screenshot.py [--output docs/dashboard-book.png]`` (needs the
``web`` and ``test`` extras and the distribution's Chromium at /usr/bin/chromium).

What it shows: SPY model chains of January 2020 replayed through the paper monitor (credit
put spreads held to a 50% target or a 200% stop, as the dashboard's tests replay them), one
position then marked 1% under its stop as the monitor would write it, so that it stands out
in the urgent band; the dashboard served on loopback, signed in, the book page captured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from riskpilot import app as wiring
from riskpilot.config import parse_config
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore
from riskpilot.model import PositionStatus
from riskpilot.store import PositionRepository, Store
from riskpilot.web.app import DashboardSettings
from riskpilot.web.server import build_server

CONFIG = """\
exit_rules:
  trailing_stop: {enabled: false}
  partial_exit_target: {enabled: false}
  profit_target: {profit_target_pct: 0.5}
  stop_loss: {stop_loss_pct: 2.0}
risk:
  max_positions_per_class: 20
  max_portfolio_heat_pct: 0.5
  max_underlying_pct: 0.5
  max_class_exposure_pct: 0.5
"""
TOKEN = "screenshot-token-0123456789"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]


def replayed(root: Path) -> Store:
    chains = root / "chains"
    ChainStore(chains).import_table(generate_model_chain("SPY", date(2020, 1, 2), date(2020, 1, 24)))
    store = Store.open(f"sqlite:///{root / 'book.db'}")
    run = wiring.build_replay(store, parse_config(CONFIG), CONFIG, wiring.MonitorOptions(),
                              wiring.ReplayOptions(chains=chains, underlying="SPY", method="default",
                                                   start=date(2020, 1, 2), end=date(2020, 1, 24), speed=0))

    async def go() -> None:
        await run.run(asyncio.Event())

    asyncio.run(go())
    repo = PositionRepository(store)
    sp = repo.load_open((PositionStatus.OPEN,))[0]
    last = sp.monitoring.last_update
    if last is None:
        raise RuntimeError(f"{sp.position.id} was never marked by the replay")
    repo.apply_mark(sp.position.id, round(sp.position.entry_premium * 3.0 * 0.99, 2), last)
    return store


def _shrink(path: Path) -> None:
    """A 64-colour palette keeps the PNG small (flat colours: nothing visible is lost), when
    Pillow is at hand."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard-book.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store = replayed(Path(tmp))
        server = build_server(store, DashboardSettings(port=0, token=TOKEN))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1360, "height": 560}, device_scale_factor=1)
                page.goto(f"{base}/login")
                page.fill("input[name=operator]", "alice")
                page.fill("input[name=token]", TOKEN)
                page.click("#login-form button")
                page.wait_for_url(f"{base}/book")
                page.screenshot(path=str(args.output), full_page=True)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            store.close()
    _shrink(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
