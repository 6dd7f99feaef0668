"""Alerts and the end-of-day summary, stored and sent through apprise (SPEC §4)."""

from riskpilot.alerts.notifier import (
    ALERT_URLS_ENV,
    CONSOLE_URL,
    DEFAULT_SEVERITY,
    KIND_ALIASES,
    AlertConfigError,
    Alerter,
    AlertKind,
    AlertOutcome,
    channel_urls,
)
from riskpilot.alerts.summary import (
    MarketContext,
    OpenPositionLine,
    Summary,
    TradeStats,
    build_summary,
    market_context,
)
from riskpilot.execution.port import AlertSink

__all__ = [
    "ALERT_URLS_ENV",
    "CONSOLE_URL",
    "DEFAULT_SEVERITY",
    "KIND_ALIASES",
    "AlertConfigError",
    "AlertKind",
    "AlertOutcome",
    "AlertSink",
    "Alerter",
    "MarketContext",
    "OpenPositionLine",
    "Summary",
    "TradeStats",
    "build_summary",
    "channel_urls",
    "market_context",
]
