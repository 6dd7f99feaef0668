"""Jinja filters of the dashboard's templates: money, percentages, premiums and times (shown in
exchange time, New York, as the trading day is counted)."""

from __future__ import annotations

import math
from datetime import datetime

from jinja2 import Environment

from riskpilot.config.redact import redact_text
from riskpilot.model.contract import EXCHANGE_TZ


def money(x: float | None, signed: bool = True) -> str:
    """``+$1,234`` / ``-$56`` (whole dollars); ``-`` for unknown."""
    if x is None or not math.isfinite(x):
        return "-"
    sign = "-" if x < 0 else ("+" if signed else "")
    return f"{sign}${abs(x):,.0f}"


def pct(x: float | None, digits: int = 1, signed: bool = True) -> str:
    """A fraction as a percentage (0.25 -> ``+25.0%``)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x * 100:{'+' if signed else ''}.{digits}f}%"


def prem(x: float | None) -> str:
    """A premium per share."""
    return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"


def ts(x: datetime | None, seconds: bool = False) -> str:
    """A time in exchange time: ``2019-06-03 16:00 ET``."""
    if x is None:
        return "-"
    return x.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M:%S ET" if seconds else "%Y-%m-%d %H:%M ET")


def sign_class(x: float | None) -> str:
    if x is None or not math.isfinite(x) or x == 0:
        return ""
    return "pos" if x > 0 else "neg"


def install(env: Environment) -> None:
    # redact: stored text is redacted where it is written; this is the second line of defence for
    # anything that reached the store before that (no secret is ever rendered).
    env.filters.update(money=money, pct=pct, prem=prem, ts=ts, sign_class=sign_class, redact=redact_text)
