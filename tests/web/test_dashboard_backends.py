"""Every page of the dashboard over a store on SQLite and on PostgreSQL (the same queries on
both backends), with a book built through the repositories."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from riskpilot.model import Priority
from riskpilot.store import ExitRepository, PositionRepository, StateRepository, Store, TrailingSnapshot
from riskpilot.store.models import AlertLevel
from riskpilot.web.app import DashboardSettings, create_app


def test_every_page_renders_the_book_on_both_backends(store: Store, spread: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("methods:\n  put-spread-moderate: {}\n")
    repo = PositionRepository(store)
    t0 = spread.t0
    repo.open_position(spread.put_spread("p1", quantity=4, entry=1.00))
    repo.open_position(spread.put_spread("p2", quantity=2, entry=1.00))
    trail = TrailingSnapshot(True, 0.62, {"entry_premium": 1.0, "credit": True, "active": True, "stop": 0.62,
                                          "best": 0.61, "highest": 1.0, "lowest": 0.61, "last_action": "ACTIVATE"})
    repo.apply_mark("p1", 2.22, t0 + timedelta(hours=1), trailing=None)  # near the 2.25 stop
    repo.apply_mark("p2", 0.61, t0 + timedelta(hours=1), trailing=trail)
    ExitRepository(store).record_exit("p2", reason="profit target", priority=Priority.MEDIUM, quantity=1,
                                      fill_price=0.61, tactic="MEDIUM:limit-fair", triggered_at=t0,
                                      executed_at=t0 + timedelta(minutes=1), rule="profit_target")
    StateRepository(store).add_alert(AlertLevel.INFO, "exit_executed", "p2 filled 1 at 0.61", t0, position_id="p2")
    with TestClient(create_app(store, DashboardSettings(config=cfg)), base_url="http://127.0.0.1:8050") as c:
        pages = {p: c.get(p) for p in ("/book", "/exits", "/history", "/history?underlying=SPY&start=2024-03-01",
                                      "/state")}
    assert all(r.status_code == 200 for r in pages.values()), {p: r.status_code for p, r in pages.items()}
    book = pages["/book"].text
    assert 'data-id="p1" class="urgent" data-near="stop_loss"' in book
    # p2 at 0.61: its active trailing stop at 0.62 is within 2%, and the 0.65 target is passed.
    assert 'data-id="p2" class="urgent" data-near="trailing_stop"' in book
    assert '<span class="lv near" title="active">0.62</span>' in book
    assert '<span class="lv passed" title="profit 35%">0.65</span>' in book
    assert "1/2" in book  # p2: 1 of its 2 units left
    assert 'data-exit="1"' in pages["/history?underlying=SPY&start=2024-03-01"].text
    assert "failed" not in pages["/history"].text and "pending" in pages["/history"].text
    assert f"--config {cfg}" in pages["/state"].text


def test_a_method_the_configuration_lacks_says_so_instead_of_guessing_levels(store: Store, spread: Any) -> None:
    PositionRepository(store).open_position(spread.put_spread("p1"))
    with TestClient(create_app(store, DashboardSettings()), base_url="http://127.0.0.1:8050") as c:
        book = c.get("/book").text
    assert "method &#39;put-spread-moderate&#39; is not in the configuration (built-in defaults)" in book
