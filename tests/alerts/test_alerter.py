"""Alerter scenarios against real apprise channels: a local json:// HTTP endpoint, the
rpfile:// file channel and a port nothing listens on; alerts stored on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from riskpilot.alerts import ALERT_URLS_ENV, CONSOLE_URL, AlertConfigError, Alerter, AlertKind, channel_urls
from riskpilot.config import ConfigError, parse_config
from riskpilot.config.schema import AlertsConfig
from riskpilot.model import Priority
from riskpilot.store import StateRepository, Store
from riskpilot.store.models import AlertLevel


@dataclass
class Endpoint:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0
    status: int = 200

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(ep.delay_s)
            ep.received.append(json.loads(body))
            self.send_response(ep.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ep.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ep
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


NOW = datetime(2024, 3, 1, 20, 0, tzinfo=UTC)


def _alerter(store: Store, urls: list[str], timeout_s: float = 5.0) -> Alerter:
    return Alerter(store, urls, timeout_s=timeout_s, clock=lambda: NOW)


def test_exit_alert_reaches_json_endpoint_and_is_stored_delivered(store: Store, endpoint: Endpoint) -> None:
    alerter = _alerter(store, [endpoint.url])
    outcome = asyncio.run(
        alerter.send(
            "exit_executed",
            "closed p1: profit target",
            position_id="p1",
            priority=Priority.MEDIUM,
            price=0.48,
            executed_at=NOW,
        )
    )
    assert outcome.delivered and outcome.error is None
    assert outcome.kind is AlertKind.EXIT_EXECUTED and outcome.severity is AlertLevel.INFO
    [msg] = endpoint.received
    assert msg["title"] == "[riskpilot] INFO exit_executed"
    assert msg["message"].splitlines()[0] == "closed p1: profit target"
    assert "priority: MEDIUM" in msg["message"] and "price: 0.48" in msg["message"]

    stored = StateRepository(store).get_alert(outcome.alert_id)
    assert stored.kind == "exit_executed" and stored.level is AlertLevel.INFO
    assert stored.position_id == "p1"
    assert stored.payload == {
        "position_id": "p1",
        "priority": "MEDIUM",
        "price": 0.48,
        "executed_at": NOW.isoformat(),
    }
    assert stored.delivered_at == NOW and stored.delivery_error is None and stored.delivery_attempts == 1
    assert StateRepository(store).undelivered_alerts() == []


def test_failed_delivery_is_recorded_not_raised_then_redelivered(
    store: Store, endpoint: Endpoint, closed_port: int
) -> None:
    down = _alerter(store, [f"json://127.0.0.1:{closed_port}/hook"])
    outcome = asyncio.run(down.send("circuit_breaker", "day loss limit hit: entries halted", day_pnl=-3100.0))
    assert not outcome.delivered
    assert outcome.severity is AlertLevel.CRITICAL
    assert outcome.error is not None and "JSON" in outcome.error and "FAILURE" in outcome.error

    stored = StateRepository(store).get_alert(outcome.alert_id)
    assert stored.delivered_at is None
    assert stored.delivery_error == outcome.error
    assert stored.delivery_attempts == 1
    assert [a.id for a in StateRepository(store).undelivered_alerts()] == [outcome.alert_id]

    # The channel comes back (or the process restarts with a working one): the pending alert goes out.
    up = _alerter(store, [endpoint.url])
    [again] = asyncio.run(up.deliver_pending())
    assert again.alert_id == outcome.alert_id and again.delivered
    assert endpoint.received[0]["title"] == "[riskpilot] CRITICAL circuit_breaker"
    stored = StateRepository(store).get_alert(outcome.alert_id)
    assert stored.delivered_at == NOW and stored.delivery_error is None and stored.delivery_attempts == 2


def test_deliver_pending_skips_alerts_tried_max_attempts_times(store: Store, closed_port: int) -> None:
    down = _alerter(store, [f"json://127.0.0.1:{closed_port}/hook"])
    asyncio.run(down.send("exit_failed", "p1 exit rejected twice"))
    assert asyncio.run(down.deliver_pending(max_attempts=1)) == []
    [retry] = asyncio.run(down.deliver_pending(max_attempts=2))
    assert not retry.delivered
    assert StateRepository(store).get_alert(retry.alert_id).delivery_attempts == 2


def test_one_failing_channel_marks_the_alert_undelivered_and_names_that_channel(
    store: Store, endpoint: Endpoint, closed_port: int
) -> None:
    alerter = _alerter(store, [endpoint.url, f"json://127.0.0.1:{closed_port}/down"])
    outcome = asyncio.run(alerter.send("escalation", "p2: MEDIUM walks exhausted, now HIGH"))
    assert len(endpoint.received) == 1  # the working channel still got it
    assert not outcome.delivered
    assert outcome.error is not None and str(closed_port) in outcome.error
    assert outcome.severity is AlertLevel.WARNING


def test_sink_call_returns_before_a_slow_channel_and_drain_waits_for_it(store: Store, endpoint: Endpoint) -> None:
    endpoint.delay_s = 0.5
    alerter = _alerter(store, [endpoint.url])

    async def scenario() -> tuple[float, int, list[bool]]:
        t0 = time.perf_counter()
        await alerter("decision", "p1: CLOSE stop_loss", position_id="p1", action="CLOSE", priority=Priority.CRITICAL)
        took = time.perf_counter() - t0
        pending_rows = len(StateRepository(store).undelivered_alerts())
        outcomes = await alerter.drain()
        return took, pending_rows, [o.delivered for o in outcomes]

    took, pending_rows, delivered = asyncio.run(scenario())
    assert took < 0.25, f"the sink waited {took:.2f}s for the channel"
    assert pending_rows == 1  # stored before delivery
    assert delivered == [True]
    assert StateRepository(store).undelivered_alerts() == []
    assert endpoint.received[0]["title"] == "[riskpilot] INFO decision"


def test_file_channel_appends_each_alert(store: Store, tmp_path: Path) -> None:
    log_file = tmp_path / "alerts.log"
    alerter = _alerter(store, [f"rpfile://{log_file}"])
    a = asyncio.run(alerter.send("exit", "closed p1", position_id="p1"))
    b = asyncio.run(alerter.send("summary", "day P&L +$120.00", severity="warning"))
    assert a.delivered and b.delivered
    text = log_file.read_text()
    assert "[riskpilot] INFO exit_executed\nclosed p1\nposition_id: p1" in text  # "exit" is an alias
    assert "[riskpilot] WARNING summary\nday P&L +$120.00" in text


def test_file_channel_that_cannot_write_records_the_os_error(store: Store, tmp_path: Path) -> None:
    alerter = _alerter(store, [f"rpfile://{tmp_path}/no/such/dir/alerts.log"])
    outcome = asyncio.run(alerter.send("exit_failed", "p3 exit failed"))
    assert not outcome.delivered
    assert outcome.error is not None and "cannot append to" in outcome.error and "No such file" in outcome.error
    assert StateRepository(store).get_alert(outcome.alert_id).delivery_error == outcome.error


def test_console_is_the_default_channel(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALERT_URLS_ENV, raising=False)
    alerter = Alerter.from_config(store, AlertsConfig(), clock=lambda: NOW)
    assert alerter.urls == (CONSOLE_URL,)
    outcome = asyncio.run(alerter.send("circuit_breaker", "entries halted"))
    assert outcome.delivered
    assert "[riskpilot] CRITICAL circuit_breaker\nentries halted" in capsys.readouterr().err


def test_channel_urls_merge_config_and_environment_without_duplicates() -> None:
    cfg = AlertsConfig(urls=["json://a/x", "slack://T/B/C"])
    env = {ALERT_URLS_ENV: "json://a/x, discord://id/token\nmailto://u:p@example.com"}
    assert channel_urls(cfg, env) == ["json://a/x", "slack://T/B/C", "discord://id/token", "mailto://u:p@example.com"]
    assert channel_urls(AlertsConfig(), {}) == [CONSOLE_URL]


def test_bad_channel_urls_are_refused_with_the_fix(store: Store) -> None:
    with pytest.raises(AlertConfigError, match="not a URL apprise understands"):
        Alerter(store, ["nosuchscheme://x/y"])
    with pytest.raises(AlertConfigError, match="absolute path"):
        Alerter(store, ["rpfile://relative.log"])
    with pytest.raises(ConfigError, match=r"alerts: urls\[0\] 'hooks.slack.com' is not an apprise URL"):
        parse_config("alerts: {urls: [hooks.slack.com]}")
    assert parse_config("alerts: {urls: ['json://h/x'], timeout_seconds: 3}").alerts.timeout_seconds == 3


def test_unknown_kind_hold_decision_and_bad_severity_are_refused_and_not_stored(store: Store) -> None:
    alerter = _alerter(store, ["rpconsole://"])
    with pytest.raises(ValueError, match="unknown alert kind 'exited'"):
        asyncio.run(alerter.send("exited", "x"))
    with pytest.raises(ValueError, match="HOLD decision is not an alert"):
        asyncio.run(alerter.send("decision", "p1 holds", action="HOLD"))
    with pytest.raises(ValueError, match="unknown alert severity 'LOUD'"):
        asyncio.run(alerter.send("exit", "x", severity="LOUD"))
    assert StateRepository(store).recent_alerts() == []


def test_non_finite_and_nested_fields_are_stored_as_json(store: Store, tmp_path: Path) -> None:
    alerter = _alerter(store, [f"rpfile://{tmp_path}/a.log"])
    out = asyncio.run(
        alerter.send("decision", "p1: ROLL", action="ROLL", inputs={"iv": float("nan"), "dte": 5}, legs=("a", "b"))
    )
    payload = StateRepository(store).get_alert(out.alert_id).payload
    assert payload == {"action": "ROLL", "inputs": {"iv": None, "dte": 5}, "legs": ["a", "b"]}


def test_exit_executor_kinds_are_stored_with_their_severity_through_the_sink_form(store: Store, tmp_path: Path) -> None:
    # The kinds and fields riskpilot.execution.executor.ExitExecutor raises.
    alerter = _alerter(store, [f"rpfile://{tmp_path}/a.log"])
    expected = {
        "exit_executed": AlertLevel.INFO,
        "exit_rejected": AlertLevel.WARNING,
        "exit_escalated": AlertLevel.WARNING,
        "exit_failed": AlertLevel.CRITICAL,
        "exit_suspended": AlertLevel.CRITICAL,
        "circuit_breaker": AlertLevel.CRITICAL,
        "decision": AlertLevel.INFO,
    }

    async def scenario() -> list[bool]:
        for kind in expected:
            await alerter(kind, f"{kind} of p1", position_id="p1", exit_id=7, priority="HIGH", tactic="HIGH")
        return [o.delivered for o in await alerter.drain()]

    assert asyncio.run(scenario()) == [True] * len(expected)
    stored = {a.kind: a for a in StateRepository(store).recent_alerts()}
    assert {k: a.level for k, a in stored.items()} == expected
    assert stored["exit_failed"].payload == {"position_id": "p1", "exit_id": 7, "priority": "HIGH", "tactic": "HIGH"}
