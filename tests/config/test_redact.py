"""Secrets redacted (issue #14, item 7): alert URLs and broker keys never reach a stored run
record, a log line, an alert's delivery error or a backtest's JSON."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import apprise
import pytest
import yaml
from apprise.decorators import notify as apprise_notify
from typer.testing import CliRunner

from riskpilot.alerts import Alerter
from riskpilot.cli import app
from riskpilot.config import parse_config, redact_config_text, redact_text, redact_url
from riskpilot.config.redact import RedactingFilter, is_secret_key, redact_mapping
from riskpilot.store import StateRepository, Store
from riskpilot.store.models import RunRow

#: Every secret planted in the texts below; none may survive redaction.
SECRETS = (
    "1234567890123", "WebhookTokenAbC123", "hunter2pass", "xoxbTokenA1", "xoxbTokenB2",
    "xoxbTokenC3", "S3cretPassw0rd", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG",
    "MIIEvQIBADANBgkqhkiG9w0BAQEF", "ghp_16C7e42F292c6912E7710c8", "oldTokenInAComment9",
    "tgramBotToken777",
)

CONFIG_WITH_SECRETS = """\
# riskpilot configuration for the ops account
alerts:
  urls:
    - discord://1234567890123/WebhookTokenAbC123   # the desk's channel
    - "mailto://ops:hunter2pass@mail.example.com?to=desk@example.com"
    - slack://xoxbTokenA1/xoxbTokenB2/xoxbTokenC3/#alerts
    - json://bot:S3cretPassw0rd@hooks.example.com:8443/notify
    - rpfile:///var/log/riskpilot/alerts.log
  timeout_seconds: 10
# retired: tgram://tgramBotToken777/5555 (api_key: oldTokenInAComment9)
exit_rules:
  profit_target: {profit_target_pct: 0.5}
"""

BROKER_SECTION = """\
broker:
  name: ibkr
  api_key: AKIAIOSFODNN7EXAMPLE
  api-secret: "wJalrXUtnFEMI/K7MDENG"
  token: ghp_16C7e42F292c6912E7710c8
  private_key_path: /etc/riskpilot/broker.pem
  private_key: |
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkqhkiG9w0BAQEF
    -----END PRIVATE KEY-----
"""


def _assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert leaked == [], text


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("discord://webhook_id/token", "discord://***/***"),
    ("mailto://user:pass@gmail.com", "mailto://user:***@gmail.com"),
    ("slack://tokenA/tokenB/tokenC", "slack://***/***/***"),
    ("json://user:password@localhost:8080/path?token=abc", "json://user:***@localhost:8080/***?token=***"),
    ("https://hooks.slack.com/services/T00/B00/XXXX", "https://hooks.slack.com/***/***/***/***"),
    ("tgram://123456:ABC-def/987", "tgram://***/***"),
    ("postgresql://me:pw@db.example.com:5432/prod", "postgresql://me:***@db.example.com:5432/***"),
    ("rpfile:///var/log/riskpilot/alerts.log", "rpfile:///var/log/riskpilot/alerts.log"),
    ("rpconsole://", "rpconsole://"),
])
def test_redact_url_when_it_carries_tokens_or_a_password_then_only_scheme_user_and_host_stay(
    url: str, shown: str,
) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent


@pytest.mark.parametrize(("key", "secret"), [
    ("api_key", True), ("API-KEY", True), ("secret", True), ("client_secret", True), ("token", True),
    ("password", True), ("private_key", True), ("webhook", True), ("private_key_path", False),
    ("token_file", False), ("timeout_seconds", False), ("urls", False), ("max_contracts", False),
])
def test_secret_key_names_when_checked_then_keys_holding_secrets_are_recognised(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


# -- configuration text ---------------------------------------------------------------------------


def test_config_text_with_alert_urls_and_broker_keys_when_redacted_then_no_secret_and_still_yaml() -> None:
    text = CONFIG_WITH_SECRETS + BROKER_SECTION

    out = redact_config_text(text)

    _assert_no_secret(out)
    data = yaml.safe_load(out)
    assert data["alerts"]["urls"][:3] == ["discord://***/***", "mailto://ops:***@mail.example.com?to=***",
                                          "slack://***/***/***/#***"]
    assert data["alerts"]["urls"][4] == "rpfile:///var/log/riskpilot/alerts.log"
    assert data["broker"] == {"name": "ibkr", "api_key": "***", "api-secret": "***", "token": "***",
                              "private_key_path": "/etc/riskpilot/broker.pem", "private_key": "***"}
    assert "# the desk's channel" in out and "# retired: tgram://***/*** (api_key: ***)" in out
    assert redact_config_text(out) == out


def test_redacted_sample_config_when_it_has_no_secret_then_it_is_unchanged() -> None:
    sample = (Path(__file__).resolve().parents[2] / "src" / "riskpilot" / "samples"
              / "position_management.yaml").read_text()

    assert redact_config_text(sample) == sample


def test_config_text_that_is_not_yaml_when_redacted_then_secrets_still_go() -> None:
    broken = "alerts: {urls: [discord://1234567890123/WebhookTokenAbC123\napi_key: AKIAIOSFODNN7EXAMPLE\n  ]"

    out = redact_config_text(broken)

    _assert_no_secret(out)


def test_a_config_with_secrets_when_stored_as_a_run_record_on_sqlite_then_none_is_stored(
    tmp_path: Path,
) -> None:
    text = CONFIG_WITH_SECRETS + BROKER_SECTION
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = Store.open(url)
    try:
        run_id = StateRepository(store).start_run(
            host="h", version="0", dry_run=True, started_at=datetime(2024, 3, 1, tzinfo=UTC),
            config_text=text, command="monitor --config x.yaml --alert json://u:S3cretPassw0rd@h.example.com/x",
        )
        store.close()
        # Read back with a fresh connection: what is on disk.
        store = Store.open(url)
        with store.read() as s:
            row = s.get(RunRow, run_id)
            assert row is not None
            stored, command = row.config_text or "", row.command or ""
    finally:
        store.close()

    _assert_no_secret(stored + command)
    assert "discord://***/***" in stored and "api_key: '***'" in stored
    _assert_no_secret((tmp_path / "runs.db").read_bytes().decode("latin-1"))


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from riskpilot.data.model_chain import generate_model_chain
    from riskpilot.data.store import ChainStore

    path = tmp_path_factory.mktemp("chains")
    ChainStore(path).import_table(generate_model_chain("SPY", date(2020, 1, 2), date(2020, 1, 10)))
    return path


def test_monitor_run_with_secret_alert_urls_when_recorded_then_the_run_row_holds_none(
    tmp_path: Path, chain_dir: Path,
) -> None:
    config = tmp_path / "riskpilot.yaml"
    config.write_text(CONFIG_WITH_SECRETS)
    parse_config(CONFIG_WITH_SECRETS)  # a configuration the monitor accepts
    url = f"sqlite:///{tmp_path / 'rp.db'}"
    Store.open(url).close()

    # --dry-run: no alert leaves, so the planted channels are never contacted.
    out = CliRunner().invoke(app, ["monitor", "--db", url, "--replay", str(chain_dir), "--speed", "0",
                                   "--end", "2020-01-06", "--dry-run", "--config", str(config)])

    assert out.exit_code == 0, out.output
    store = Store.open(url)
    try:
        with store.read() as s:
            (run,) = s.query(RunRow).all()
            stored = run.config_text or ""
    finally:
        store.close()
    _assert_no_secret(stored)
    assert "- 'discord://***/***'   # the desk's channel" in stored


# -- logs, alerts, reports ------------------------------------------------------------------------


def test_log_records_when_they_quote_urls_keys_or_tracebacks_then_the_handler_writes_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rp.log"
    handler = logging.FileHandler(path)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("riskpilot.test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("posting to %s failed", "discord://1234567890123/WebhookTokenAbC123")
        log.warning("broker login api_key=%s token: %s", "AKIAIOSFODNN7EXAMPLE", "ghp_16C7e42F292c6912E7710c8")
        log.warning("header Authorization: Bearer %s", "xoxbTokenA1")
        try:
            raise ConnectionError("cannot reach json://bot:S3cretPassw0rd@hooks.example.com/notify")
        except ConnectionError:
            log.exception("delivery failed")
    finally:
        log.removeHandler(handler)
        handler.close()

    written = path.read_text()
    _assert_no_secret(written)
    assert "discord://***/***" in written and "Traceback" in written


_LEAKS: list[str] = []


def _leaky_channel(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    # Like an HTTP library's error: the request path (with the token) but not the URL.
    meta = kwargs.get("meta", {})
    token = str(meta.get("url", "")).rsplit("/", 1)[-1]
    _LEAKS.append(token)
    logging.getLogger(apprise.LOGGER_NAME).error("POST /api/webhooks/%s returned 401", token)
    return False


apprise_notify(on="rpleaky", name="test channel that quotes its token")(_leaky_channel)  # type: ignore[no-untyped-call]


def test_alert_delivery_error_when_a_channel_quotes_its_token_then_stored_and_logged_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = Store.open(url)
    try:
        alerter = Alerter(store, ["rpleaky://localhost/WebhookTokenAbC123",
                                  f"json://bot:S3cretPassw0rd@127.0.0.1:{closed}/notify"],
                          timeout_s=2.0, clock=lambda: datetime(2024, 3, 1, tzinfo=UTC))
        with caplog.at_level(logging.ERROR, logger="riskpilot"):
            outcome = asyncio.run(alerter.send("exit_failed", "p1 exit failed"))
        stored = StateRepository(store).get_alert(outcome.alert_id).delivery_error or ""
    finally:
        store.close()

    assert _LEAKS and _LEAKS[-1] == "WebhookTokenAbC123"  # the channel did quote it
    assert not outcome.delivered and "returned 401" in stored
    _assert_no_secret(stored + (outcome.error or "") + caplog.text)
    assert alerter.channels == ("rpleaky://localhost/***", f"json://bot:***@127.0.0.1:{closed}/***")


def test_backtest_json_config_when_alert_urls_hold_tokens_then_they_are_redacted() -> None:
    cfg = parse_config(CONFIG_WITH_SECRETS)

    dumped = redact_mapping(cfg.model_dump(mode="json"))

    _assert_no_secret(repr(dumped))
    assert dumped["alerts"]["urls"][0] == "discord://***/***"
    assert dumped["exit_rules"]["profit_target"]["profit_target_pct"] == 0.5


def test_config_error_when_it_quotes_a_url_or_a_key_then_the_message_holds_no_secret() -> None:
    from riskpilot.config import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config("alerts: {urls: discord://1234567890123/WebhookTokenAbC123}\n"
                     "broker: {api_key: AKIAIOSFODNN7EXAMPLE}")

    _assert_no_secret(str(info.value))
    assert any(e.startswith("alerts.urls: Input should be a valid list (got 'discord://***/***')")
               for e in info.value.errors), info.value.errors


def test_free_text_when_it_holds_a_pem_key_then_the_block_goes() -> None:
    out = redact_text("key follows\n-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n"
                      "-----END RSA PRIVATE KEY-----\ndone")

    assert out == "key follows\n***\ndone"
