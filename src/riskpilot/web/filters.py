"""Jinja filters of the dashboard's templates: money, percentages, premiums and times (shown in
exchange time, New York, as the trading day is counted).

The number filters return :class:`markupsafe.Markup`: what they print is digits, signs and
units only, so the template engine need not escape it again (the book prints thousands of
them; see benchmarks/bench_dashboard.py)."""

from __future__ import annotations

import math
from datetime import datetime

from jinja2 import Environment
from markupsafe import Markup

from riskpilot.config.redact import redact_text
from riskpilot.model.contract import EXCHANGE_TZ

_DASH = Markup("-")


def money(x: float | None, signed: bool = True) -> Markup:
    """``+$1,234`` / ``-$56`` (whole dollars); ``-`` for unknown."""
    if x is None or not math.isfinite(x):
        return _DASH
    sign = "-" if x < 0 else ("+" if signed else "")
    return Markup(f"{sign}${abs(x):,.0f}")


def pct(x: float | None, digits: int = 1, signed: bool = True) -> Markup:
    """A fraction as a percentage (0.25 -> ``+25.0%``)."""
    if x is None or not math.isfinite(x):
        return _DASH
    return Markup(f"{x * 100:{'+' if signed else ''}.{digits}f}%")


def prem(x: float | None) -> Markup:
    """A premium per share."""
    return _DASH if x is None or not math.isfinite(x) else Markup(f"{x:.2f}")


def ts(x: datetime | None, seconds: bool = False) -> Markup:
    """A time in exchange time: ``2019-06-03 16:00 ET``."""
    if x is None:
        return _DASH
    return Markup(x.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M:%S ET" if seconds else "%Y-%m-%d %H:%M ET"))


def sign_class(x: float | None) -> str:
    if x is None or not math.isfinite(x) or x == 0:
        return ""
    return "pos" if x > 0 else "neg"


def install(env: Environment) -> None:
    # redact: stored text is redacted where it is written; this is the second line of defence for
    # anything that reached the store before that (no secret is ever rendered).
    env.filters.update(money=money, pct=pct, prem=prem, ts=ts, sign_class=sign_class, redact=redact_text)
