"""Alerts: stored first, then sent through apprise to every configured channel.

Every alert is written to the store (kind, severity, message, fields as JSON, time) *before*
it is sent, so a crash between the two leaves it undelivered in the store, and
:meth:`Alerter.deliver_pending` sends it after a restart. Each delivery attempt is recorded on
the alert: ``delivered_at`` when every channel took it, otherwise the error that each failing
channel reported (``delivery_error``), and the alert stays pending. A failed delivery is
logged at ERROR and kept; it never raises into the caller, so it never stops trading.

Channels are apprise URLs (Discord, Slack, e-mail, ``json://`` webhooks, ...) from the
configuration's ``alerts.urls`` and the ``RISKPILOT_ALERT_URLS`` environment variable
(whitespace- or comma-separated). With none, the default channel is the console: one block
per alert on stderr (``rpconsole://``). ``rpfile:///abs/path.log`` appends alerts to a file.

Two ways to raise an alert:

- ``await alerter(kind, message, **fields)``: the :class:`AlertSink` form the executor and the
  monitor use. It stores the alert and starts its delivery in the background, so a slow or
  unreachable channel never holds up an exit. Call :meth:`Alerter.drain` (or
  :meth:`Alerter.aclose`) before the event loop ends to wait for deliveries in flight.
- ``await alerter.send(kind, message, **fields)``: stores, delivers, and returns the
  :class:`AlertOutcome` (the CLI uses it for ``summary --send``).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import apprise
from apprise.decorators import notify as apprise_notify

from riskpilot.config.redact import RedactingFilter, redact_url, scrub, secret_fragments
from riskpilot.config.schema import AlertsConfig
from riskpilot.execution.clock import WallClock
from riskpilot.store import StateRepository, Store
from riskpilot.store.fills import exit_executed_key
from riskpilot.store.models import AlertLevel

log = logging.getLogger(__name__)

#: On apprise's logger: its channels log their own errors, which may quote a token or a
#: password without the URL around it; every Alerter adds its channels' secrets here.
_APPRISE_REDACTION = RedactingFilter()
logging.getLogger(apprise.LOGGER_NAME).addFilter(_APPRISE_REDACTION)

ALERT_URLS_ENV = "RISKPILOT_ALERT_URLS"
CONSOLE_URL = "rpconsole://"


class AlertKind(enum.StrEnum):
    """What an alert is about (SPEC §4). The exit kinds are the ones the ExitExecutor raises
    (``riskpilot.execution.executor``)."""

    DECISION = "decision"  # a non-HOLD exit decision
    EXIT_EXECUTED = "exit_executed"  # an exit filled (in full, or a partial exit's quantity)
    EXIT_REJECTED = "exit_rejected"  # the broker rejected one order of an exit (the ladder goes on)
    EXIT_ESCALATED = "exit_escalated"  # a tactic ran out of walks; the exit moved to a more urgent one
    EXIT_FAILED = "exit_failed"  # the ladder ran out: the exit could not be executed
    EXIT_SUSPENDED = "exit_suspended"  # the broker stayed unreachable with an exit in flight
    CIRCUIT_BREAKER = "circuit_breaker"  # the day's loss limit halted entries
    SUMMARY = "summary"  # the end-of-day summary


#: Short names accepted for the exit kinds.
KIND_ALIASES: dict[str, AlertKind] = {"exit": AlertKind.EXIT_EXECUTED, "escalation": AlertKind.EXIT_ESCALATED}

#: Severity of each kind unless the caller passes ``severity=``.
DEFAULT_SEVERITY: dict[AlertKind, AlertLevel] = {
    AlertKind.DECISION: AlertLevel.INFO,
    AlertKind.EXIT_EXECUTED: AlertLevel.INFO,
    AlertKind.EXIT_REJECTED: AlertLevel.WARNING,
    AlertKind.EXIT_ESCALATED: AlertLevel.WARNING,
    AlertKind.EXIT_FAILED: AlertLevel.CRITICAL,
    AlertKind.EXIT_SUSPENDED: AlertLevel.CRITICAL,
    AlertKind.CIRCUIT_BREAKER: AlertLevel.CRITICAL,
    AlertKind.SUMMARY: AlertLevel.INFO,
}

_NOTIFY_TYPE: dict[AlertLevel, apprise.NotifyType] = {
    AlertLevel.INFO: apprise.NotifyType.INFO,
    AlertLevel.WARNING: apprise.NotifyType.WARNING,
    AlertLevel.CRITICAL: apprise.NotifyType.FAILURE,
}


class AlertConfigError(ValueError):
    """A channel URL apprise cannot use; the message names it (secrets masked) and the fix."""


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """One alert after one delivery attempt: ``delivered`` or the ``error`` of each failing
    channel."""

    alert_id: int
    kind: AlertKind
    severity: AlertLevel
    delivered: bool
    error: str | None


# --- built-in channels (custom apprise schemas) ------------------------------------------------


def _console_channel(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    sys.stderr.write(f"{title}\n{body}\n\n")
    sys.stderr.flush()
    return True


def _file_channel(body: str, title: str, notify_type: str, meta: Mapping[str, Any], *args: Any, **kwargs: Any) -> bool:
    # apprise hands over rpfile:///abs/path as rpfile://abs/path (the first directory as host);
    # Alerter refuses anything but the triple-slash form, so the path is absolute.
    path = Path("/" + str(meta.get("url", ""))[len("rpfile://") :].split("?", 1)[0])
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {title}\n{body}\n\n")
    except OSError as exc:
        # Logged on apprise's logger, so the error is captured in this channel's result.
        logging.getLogger(apprise.LOGGER_NAME).error("cannot append to %s: %s", path, exc)
        return False
    return True


# Registered with apprise once, at import (apprise's decorator is untyped, hence the call form).
apprise_notify(on="rpconsole", name="riskpilot console (stderr)")(_console_channel)  # type: ignore[no-untyped-call]
apprise_notify(on="rpfile", name="riskpilot file")(_file_channel)  # type: ignore[no-untyped-call]


# --- configuration ---------------------------------------------------------------------------


def channel_urls(config: AlertsConfig | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The channel URLs: ``config.urls`` then those in ``$RISKPILOT_ALERT_URLS`` (separated by
    whitespace or commas), without duplicates; ``[rpconsole://]`` when there are none."""
    env = os.environ if env is None else env
    urls = list(config.urls) if config is not None else []
    urls += [u for u in re.split(r"[\s,]+", env.get(ALERT_URLS_ENV, "")) if u]
    seen: list[str] = []
    for u in urls:
        if u not in seen:
            seen.append(u)
    return seen or [CONSOLE_URL]


# --- JSON of the fields ----------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Fields as JSON: enums by name, datetimes/dates ISO, NaN/inf as None, mappings and
    sequences recursively, anything else by ``str``."""
    if value is None or isinstance(value, bool | int | str):
        return value.name if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _body(message: str, fields: Mapping[str, Any]) -> str:
    lines = [message]
    for key, value in fields.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)


# --- the alerter -----------------------------------------------------------------------------


class Alerter:
    """Stores every alert and sends it through apprise (see the module docstring).

    ``urls``: apprise URLs (default: :func:`channel_urls` of no config, i.e. the environment or
    the console). ``timeout_s``: how long one delivery may take over all channels.
    ``clock``: the time stamped on alerts (UTC-aware; default: now).
    """

    def __init__(
        self,
        store: Store,
        urls: Sequence[str] | None = None,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive seconds, got {timeout_s!r}")
        self.store = store
        self.urls: tuple[str, ...] = tuple(urls) if urls is not None else tuple(channel_urls())
        if not self.urls:
            raise AlertConfigError(f"no alert channels: pass urls or leave them None for the default {CONSOLE_URL}")
        self.timeout_s = timeout_s
        self._clock = clock or WallClock().now
        self._state = StateRepository(store)
        self._apprise = apprise.Apprise()
        for url in self.urls:
            if url.startswith("rpfile:") and not url.startswith("rpfile:///"):
                raise AlertConfigError(
                    f"alert channel {url!r} needs an absolute path: rpfile:///var/log/riskpilot/alerts.log"
                )
            if not self._apprise.add(url):
                raise AlertConfigError(
                    f"alert channel {redact_url(url)} is not a URL apprise understands: check its scheme and "
                    "parts against https://github.com/caronc/apprise/wiki (or use rpconsole:// or "
                    "rpfile:///abs/path.log)"
                )
        self._pending: set[asyncio.Task[AlertOutcome]] = set()
        #: Alerts being delivered now (a background task's): the outbox never sends one twice.
        self._delivering: set[int] = set()
        # Tokens and passwords of the channels: a channel's error may quote them (an HTTP
        # error naming the request path) and is logged and stored.
        self._secrets: set[str] = set().union(*(secret_fragments(u) for u in self.urls))
        _APPRISE_REDACTION.add_fragments(self._secrets)

    @classmethod
    def from_config(
        cls,
        store: Store,
        config: AlertsConfig | None = None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Alerter:
        cfg = config if config is not None else AlertsConfig()
        return cls(store, channel_urls(cfg, env), timeout_s=cfg.timeout_seconds, clock=clock)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channel URLs with secrets masked (for display)."""
        return tuple(redact_url(u) for u in self.urls)

    # --- raising alerts -----------------------------------------------------------------
    def record(self, kind: str, message: str, **fields: Any) -> tuple[int, AlertKind, AlertLevel, dict[str, Any]]:
        """Store the alert (not yet delivered); return its id, kind, severity and JSON fields.

        ``severity=`` (an :class:`AlertLevel` or its name) overrides the kind's default;
        ``position_id=`` is also stored in its own column. A ``decision`` alert for a HOLD
        (``action="HOLD"``) is refused: only non-HOLD decisions are alerts."""
        k = _kind(kind)
        if not message or not message.strip():
            raise ValueError(f"a {k.value} alert needs a message")
        severity = _severity(fields.pop("severity", None), k)
        if k is AlertKind.DECISION and _jsonable(fields.get("action")) == "HOLD":
            raise ValueError("a HOLD decision is not an alert: only non-HOLD decisions are sent")
        payload: dict[str, Any] = _jsonable(fields)
        position_id = fields.get("position_id")
        # An exit's exit_executed alert was stored with the fill that completed the exit (the
        # outbox): raising it again delivers that row instead of storing a second one.
        exit_id = fields.get("exit_id")
        key = exit_executed_key(int(exit_id)) if k is AlertKind.EXIT_EXECUTED and exit_id is not None else None
        alert_id = self._state.add_alert(
            severity,
            k.value,
            message,
            self._clock(),
            position_id=str(position_id) if position_id is not None else None,
            payload=payload or None,
            dedupe_key=key,
        )
        return alert_id, k, severity, payload

    async def send(self, kind: str, message: str, **fields: Any) -> AlertOutcome:
        """Store the alert and deliver it now; the outcome says whether every channel took it."""
        alert_id, k, severity, payload = self.record(kind, message, **fields)
        return await self._deliver(alert_id, k, severity, message, payload)

    async def __call__(self, kind: str, message: str, **fields: Any) -> None:
        """Store the alert and deliver it in the background (the :class:`AlertSink` form); an
        outbox row already delivered (by :meth:`deliver_pending` after a restart) is not sent
        again."""
        alert_id, k, severity, payload = self.record(kind, message, **fields)
        if alert_id in self._delivering or (
            k is AlertKind.EXIT_EXECUTED and self._state.get_alert(alert_id).delivered_at is not None
        ):
            return
        self._delivering.add(alert_id)  # now, not when the task starts: the outbox must not race it
        task = asyncio.get_running_loop().create_task(self._deliver(alert_id, k, severity, message, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> list[AlertOutcome]:
        """Wait for the deliveries started by ``__call__`` and return their outcomes."""
        out: list[AlertOutcome] = []
        while self._pending:
            tasks = list(self._pending)
            out.extend(await asyncio.gather(*tasks))
            self._pending.difference_update(tasks)
        return out

    async def aclose(self) -> None:
        await self.drain()

    async def deliver_pending(self, *, max_attempts: int | None = None) -> list[AlertOutcome]:
        """Send the stored alerts that are not delivered yet (e.g. after a restart or an outage),
        oldest first; skip those already tried ``max_attempts`` times."""
        outcomes = []
        for a in self._state.undelivered_alerts():
            if max_attempts is not None and a.delivery_attempts >= max_attempts:
                continue
            if a.id in self._delivering:
                continue  # a background task is sending it
            outcomes.append(await self._deliver(a.id, _kind(a.kind), a.level, a.message, dict(a.payload or {})))
        return outcomes

    # --- delivery -----------------------------------------------------------------------
    async def _deliver(
        self, alert_id: int, kind: AlertKind, severity: AlertLevel, message: str, payload: Any
    ) -> AlertOutcome:
        self._delivering.add(alert_id)
        try:
            return await self._send(alert_id, kind, severity, message, payload)
        finally:
            self._delivering.discard(alert_id)

    async def _send(
        self, alert_id: int, kind: AlertKind, severity: AlertLevel, message: str, payload: Any
    ) -> AlertOutcome:
        title = f"[riskpilot] {severity.value} {kind.value}"
        fields = payload if isinstance(payload, dict) else {}
        body = _body(message, fields)
        try:
            result = await asyncio.wait_for(
                self._apprise.async_notify(
                    body=body,
                    title=title,
                    notify_type=_NOTIFY_TYPE[severity],
                    timeout=self.timeout_s,
                ),
                timeout=self.timeout_s + 5.0,
            )
            error = None if result else _failure_text(result)
        except TimeoutError:
            error = f"delivery timed out after {self.timeout_s:g} s"
        except Exception as exc:  # a failing channel must never stop trading: record it
            error = f"delivery raised {type(exc).__name__}: {exc}"
        if error is not None:
            error = scrub(error, self._secrets)
            log.error("alert %d (%s) not delivered: %s", alert_id, kind.value, error)
        self._state.record_delivery(alert_id, self._clock(), error)
        return AlertOutcome(alert_id, kind, severity, error is None, error)


def _kind(kind: str) -> AlertKind:
    if kind in KIND_ALIASES:
        return KIND_ALIASES[kind]
    try:
        return AlertKind(kind)
    except ValueError:
        known = [k.value for k in AlertKind] + list(KIND_ALIASES)
        raise ValueError(f"unknown alert kind {kind!r}: use one of {', '.join(known)}") from None


def _severity(value: Any, kind: AlertKind) -> AlertLevel:
    if value is None:
        return DEFAULT_SEVERITY[kind]
    if isinstance(value, AlertLevel):
        return value
    try:
        return AlertLevel(str(value).upper())
    except ValueError:
        raise ValueError(
            f"unknown alert severity {value!r}: use one of {', '.join(v.value for v in AlertLevel)}"
        ) from None


def _failure_text(result: Any) -> str:
    """What each failing channel said, from apprise's result (URLs are privacy-masked)."""
    parts: list[str] = []
    results: Iterable[Any] = getattr(result, "results", ())
    for r in results:
        if bool(getattr(r, "status", None) == apprise.AppriseResultStatus.SUCCESS):
            continue
        logs = list(r.logs())
        msgs = [e.message for e in logs if e.level == "ERROR"] or [e.message for e in logs if e.level == "WARNING"]
        detail = msgs[-1] if msgs else "no detail"
        parts.append(f"{r.name} ({r.url}): {r.status.name}: {detail}")
    if not parts:
        status = getattr(result, "status", None)
        parts.append(f"apprise reported {getattr(status, 'name', status)!s} with no per-channel detail")
    return "; ".join(parts)
