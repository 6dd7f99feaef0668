"""Who may act on the book from the dashboard.

Reading needs nothing (the dashboard binds to loopback unless told otherwise). Every action
needs the dashboard token (``--token`` or ``RISKPILOT_DASHBOARD_TOKEN``); without one the
dashboard is read-only. The token is presented either

- by signing in (``/login``: the operator's name and the token), which puts the name and a
  fingerprint of the token in a signed, ``SameSite=Strict``, HTTP-only session cookie (a new
  token invalidates every session: the fingerprint no longer matches), or
- by a script, as ``Authorization: Bearer TOKEN`` (with ``X-Operator: NAME`` for the record).

Cross-site requests are refused by asgi-csrf's double-submit cookie on every form post (a
bearer header cannot be sent cross-site by a browser, so asgi-csrf lets it through). The
session and CSRF signing keys are derived from the token, so sessions survive a restart with
the same token; read-only dashboards use a random key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request

TOKEN_ENV = "RISKPILOT_DASHBOARD_TOKEN"
#: Shortest token accepted: a guessable token on a page that can close every position is worse
#: than none.
MIN_TOKEN_LENGTH = 12
_NAME_RE = re.compile(r"^[\w .@-]{1,64}$")


class TokenError(ValueError):
    """A token that cannot be used; the message says why and how to fix it."""


def check_token(token: str | None) -> str | None:
    """``token`` stripped, or None for none; refuses a short one."""
    if token is None or not token.strip():
        return None
    token = token.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"the dashboard token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return token


def _derive(token: str | None, purpose: str) -> str:
    if token is None:
        return secrets.token_urlsafe(32)
    return hmac.new(token.encode(), f"riskpilot-dashboard:{purpose}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Operator:
    """Who an authorized request acts as: the name given at sign-in (or in ``X-Operator``)
    and how the token was presented."""

    name: str
    via: str  # "session" or "bearer"


class Guard:
    """The dashboard's token and the keys derived from it."""

    def __init__(self, token: str | None) -> None:
        self.token = check_token(token)
        self.session_key = _derive(self.token, "session")
        self.csrf_key = _derive(self.token, "csrf")
        self._fingerprint = None if self.token is None else _derive(self.token, "fingerprint")

    @property
    def read_only(self) -> bool:
        return self.token is None

    def matches(self, presented: str | None) -> bool:
        """Whether ``presented`` is the token (constant time)."""
        if self.token is None or presented is None:
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    @staticmethod
    def valid_name(name: str) -> bool:
        return bool(_NAME_RE.match(name.strip()))

    def sign_in(self, request: Request, name: str) -> None:
        request.session.clear()
        request.session.update({"operator": name.strip(), "auth": self._fingerprint})

    @staticmethod
    def sign_out(request: Request) -> None:
        request.session.clear()

    def operator(self, request: Request) -> Operator | None:
        """The operator this request acts as, or None when it presents no valid token."""
        if self.token is None:
            return None
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if not self.matches(auth[len("Bearer "):]):
                return None
            name = request.headers.get("x-operator", "api").strip() or "api"
            return Operator(name if self.valid_name(name) else "api", "bearer")
        fp = request.session.get("auth")
        who = request.session.get("operator")
        if (isinstance(fp, str) and isinstance(who, str) and self._fingerprint is not None
                and hmac.compare_digest(fp, self._fingerprint)):
            return Operator(who, "session")
        return None
