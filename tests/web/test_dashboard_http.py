"""The dashboard over HTTP: `riskpilot dashboard` as a subprocess answered like curl would
ask (every open position's id on the book page; an action without the token refused, nothing
changed), and the application in-process (Starlette's TestClient) for the refusals, the
cross-site check, the filters, and that no secret reaches a page."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from dashboard_rig import SECRET, TOKEN, Replayed
from starlette.testclient import TestClient
from typer.testing import CliRunner

from riskpilot.cli import app as cli
from riskpilot.model import TradingState
from riskpilot.store import OPEN_STATUSES, ActionRepository, ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.web.app import DashboardSettings, create_app

_CLI = [sys.executable, "-c", "from riskpilot.cli import main; main()"]
BASE = "http://127.0.0.1:8050"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _request(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_dashboard_command_serves_every_open_position_and_refuses_actions_without_the_token(
        replayed: Replayed, tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([*_CLI, "dashboard", "--db", replayed.url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RISKPILOT_DASHBOARD_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"})
    store = Store.open(replayed.url, migrate=False)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, page = _request(f"{base}/book")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the dashboard did not answer within 30 s"
                time.sleep(0.1)
        assert status == 200
        ids = [sp.position.id for sp in PositionRepository(store).load_open(OPEN_STATUSES)]
        assert ids and all(f'data-id="{pid}"' in page for pid in ids)
        before = StateRepository(store).trading_state()
        exits_before = len(ExitRepository(store).all_exits())
        form = b"confirm=yes&reason=curl"
        ctype = {"Content-Type": "application/x-www-form-urlencoded"}
        for path, body in (("/actions/halt", form), ("/actions/close-all", form),
                           ("/actions/close-position", form + f"&position={ids[0]}".encode())):
            status, text = _request(base + path, data=body, headers=ctype)
            assert status == 403, (path, status, text)
            status, _ = _request(base + path, data=body, headers={**ctype, "Authorization": "Bearer wrong-token-1234"})
            assert status == 401, (path, status)
        assert StateRepository(store).trading_state() == before
        assert len(ExitRepository(store).all_exits()) == exits_before
        assert ActionRepository(store).recent() == []
        # A script with the token (bearer, no cookie: no cross-site risk) may act.
        status, text = _request(f"{base}/actions/halt", data=b"confirm=yes&reason=scripted",
                                headers={**ctype, "Authorization": f"Bearer {TOKEN}", "X-Operator": "cron"})
        assert status == 200 and text.startswith("DONE"), text
        assert StateRepository(store).trading_state().state is TradingState.HALTED
        assert ActionRepository(store).recent()[0].operator == "cron"
        # Another site's name for this address is not answered (DNS rebinding).
        status, _ = _request(f"{base}/book", headers={"Host": "evil.example"})
        assert status == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
        store.close()
    assert "riskpilot dashboard on http://127.0.0.1" in out and "actions need the token" in out


def test_dashboard_command_refuses_a_short_token_and_a_missing_store(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["dashboard", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--token", "short"])
    assert r.exit_code == 2 and "use at least 12" in r.stderr and "secrets.token_urlsafe" in r.stderr
    r = CliRunner().invoke(cli, ["dashboard", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert r.exit_code == 2 and "does not exist" in r.stderr and not (tmp_path / "x.db").exists()


def _client(store: Store, **settings: object) -> TestClient:
    return TestClient(create_app(store, DashboardSettings(**settings)), base_url=BASE)  # type: ignore[arg-type]


def _csrf(c: TestClient, path: str) -> str:
    page = c.get(path).text
    m = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert m is not None, page
    return m.group(1)


def _sign_in(c: TestClient, name: str = "alice") -> None:
    r = c.post("/login", data={"csrftoken": _csrf(c, "/login"), "operator": name, "token": TOKEN, "next": "/state"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/state"


def test_a_signed_in_form_post_without_the_cross_site_token_is_refused(replayed_store: Store) -> None:
    with _client(replayed_store, token=TOKEN) as c:
        _sign_in(c)
        r = c.post("/actions/halt", data={"confirm": "yes"})
        assert r.status_code == 403 and "cross-site request check failed" in r.text
        r = c.post("/actions/halt", data={"confirm": "yes", "csrftoken": "forged"})
        assert r.status_code == 403
        assert StateRepository(replayed_store).trading_state().state is TradingState.ACTIVE
        # Skipping the confirmation page (no confirm=yes) is refused too.
        r = c.post("/actions/halt", data={"csrftoken": _csrf(c, "/actions/halt")})
        assert r.status_code == 400 and "confirm the action" in r.text
        assert StateRepository(replayed_store).trading_state().state is TradingState.ACTIVE
        r = c.post("/actions/halt", data={"csrftoken": _csrf(c, "/actions/halt"), "confirm": "yes"},
                   follow_redirects=False)
        assert r.status_code == 303
        assert StateRepository(replayed_store).trading_state().state is TradingState.HALTED


def test_a_read_only_dashboard_says_so_and_refuses_every_action(replayed_store: Store) -> None:
    with _client(replayed_store) as c:
        assert "read-only" in c.get("/book").text
        assert c.get("/login").status_code == 403
        for kind in ("halt", "resume", "close-all"):
            r = c.post(f"/actions/{kind}", data={"csrftoken": _csrf(c, "/actions/halt"), "confirm": "yes"})
            assert r.status_code == 403 and "read-only" in r.text
    assert StateRepository(replayed_store).trading_state().state is TradingState.ACTIVE
    assert ActionRepository(replayed_store).recent() == []


def test_resume_of_a_circuit_breaker_halt_on_its_day_is_refused_and_recorded(replayed_store: Store) -> None:
    from datetime import UTC, datetime

    from riskpilot.model.contract import exchange_date

    now = datetime.now(UTC)
    StateRepository(replayed_store).set_trading_state(TradingState.HALTED, "circuit breaker: day P&L -3,100", now,
                                                      halted_on=exchange_date(now))
    with _client(replayed_store, token=TOKEN) as c:
        _sign_in(c, "carol")
        r = c.post("/actions/resume", data={"csrftoken": _csrf(c, "/actions/resume"), "confirm": "yes"})
        assert r.status_code == 200 and "REFUSED" in r.text and "tick &#39;force&#39;" in r.text
        assert StateRepository(replayed_store).trading_state().state is TradingState.HALTED
        r = c.post("/actions/resume", data={"csrftoken": _csrf(c, "/actions/resume"), "confirm": "yes",
                                            "force": "yes"})
        assert "DONE" in r.text and StateRepository(replayed_store).trading_state().state is TradingState.ACTIVE
    outcomes = [(a.operator, a.action, a.outcome.value) for a in ActionRepository(replayed_store).recent()]
    assert outcomes == [("carol", "resume", "DONE"), ("carol", "resume", "REFUSED")]


def test_no_page_shows_a_secret_and_failed_deliveries_show_as_failed(replayed_store: Store) -> None:
    with _client(replayed_store, token=TOKEN) as c:
        _sign_in(c)
        pages = {p: c.get(p) for p in ("/book", "/exits", "/history", "/state", "/actions/close-all",
                                      "/actions/halt")}
    for path, r in pages.items():
        assert r.status_code == 200, path
        assert SECRET not in r.text and TOKEN not in r.text, path
        assert r.headers["x-frame-options"] == "DENY" and "script-src 'self'" in r.headers["content-security-policy"]
        assert "http://" not in r.text.replace(BASE, "") and "https://" not in r.text, path  # nothing from outside
    assert "failed x1" in pages["/history"].text
    assert "the configuration of run 1 (monitor --replay)" in pages["/state"].text


def test_history_filters_by_underlying_method_and_date_and_refuses_a_bad_date(replayed_store: Store) -> None:
    with _client(replayed_store) as c:
        everything = c.get("/history").text
        rows = re.findall(r'<tr data-exit="(\d+)">', everything)
        assert rows
        assert re.findall(r'<tr data-exit="(\d+)">', c.get("/history?underlying=spy&method=default").text) == rows
        assert re.findall(r'<tr data-exit="(\d+)">', c.get("/history?underlying=QQQ").text) == []
        assert re.findall(r'<tr data-exit="(\d+)">', c.get("/history?method=other").text) == []
        assert re.findall(r'<tr data-exit="(\d+)">', c.get("/history?start=2030-01-01").text) == []
        assert re.findall(r'<tr data-exit="(\d+)">', c.get("/history?end=2019-12-31").text) == []
        r = c.get("/history?start=01/02/2020")
        assert r.status_code == 400 and "use YYYY-MM-DD" in r.text


def test_a_partial_request_gets_only_the_live_region(replayed_store: Store) -> None:
    with _client(replayed_store) as c:
        full = c.get("/book").text
        part = c.get("/book", headers={"X-Partial": "1"}).text
    assert "<html" in full and "<html" not in part and 'id="book"' in part and "<nav>" not in part


def test_state_page_shows_the_lease_holder_its_last_cycle_and_the_broker_connection(replayed_store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    from riskpilot.store import LeaseHolder, LeaseRepository

    with _client(replayed_store) as c:
        page = c.get("/state").text
    # The replay released its lease; its last cycle was the last replayed close (16:00 New York).
    assert re.search(r'id="lease-paper">[^<]*<span class="warn">not held</span>', page)
    assert "2020-01-24 16:00:00 ET" in page and "(simulated clock)" in page
    holder = LeaseHolder("trading-box", 4242, "monitor --broker paper", "paper", "wall", "h1")
    now = datetime.now(UTC)
    held = LeaseRepository(replayed_store).acquire("live", holder, now)
    try:
        held.heartbeat(now + timedelta(seconds=1), last_cycle_at=now, broker_connected=False)
        with _client(replayed_store) as c:
            page = c.get("/state").text
        assert re.search(r'id="lease-live"><b>held</b> by trading-box pid 4242', page)
        assert "paper: <span class=\"warn\">disconnected</span>" in page
    finally:
        held.release(datetime.now(UTC))
