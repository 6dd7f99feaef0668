"""The dashboard's ASGI application (Starlette): server-rendered pages over the store, with
light live updates (a few lines of our own JavaScript poll the page's live region), and the
operator actions behind the token (:mod:`riskpilot.web.auth`).

Pages: ``/book`` (open positions, exit levels, limits), ``/exits`` (exits in flight and their
ladders), ``/history`` (exits, alerts, daily P&L and the equity curve; filters), ``/state``
(trading state, monitor runs and lease, dashboard actions). ``GET /actions/KIND`` shows an
action's confirmation page, ``POST /actions/KIND`` does it. A request with the header
``X-Partial: 1`` gets only the page's live region (what the polling script swaps in).

Nothing on a page comes from the internet: the CSS and script are the package's own files and
plotly.js is served from the installed plotly package. Endpoints are plain functions (the
store is synchronous); Starlette runs them in its thread pool.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import plotly
from asgi_csrf import asgi_csrf
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskpilot.store import ActionRepository, NotFoundError, Store
from riskpilot.store.models import ActionOutcome
from riskpilot.web import filters
from riskpilot.web.actions import ACTIONS, ActionInputError, ActionRequest, ActionResult, parse_request, perform
from riskpilot.web.auth import Guard, Operator
from riskpilot.web.book import build_book
from riskpilot.web.context import MonitorContext
from riskpilot.web.queries import (
    PRIORITIES,
    HistoryFilter,
    alert_history,
    choices,
    daily_history,
    exit_history,
    state_view,
    working_exits,
)
from riskpilot.web.rows import book_rows

log = logging.getLogger("riskpilot.web")

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_SESSION_HOURS = 12


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """``equity`` is the account equity in dollars the limits are judged against (the
    monitor's ``--equity``); ``refresh_seconds`` how often pages poll for updates."""

    host: str = "127.0.0.1"
    port: int = 8050
    token: str | None = None
    config: Path | None = None
    equity: float = 100_000.0
    refresh_seconds: float = 5.0


class _SecurityHeaders:
    """Headers every response carries: no framing, no sniffing, no referrer, and a content
    security policy that allows only this server's own scripts (hand-written: five headers
    do not need a library)."""

    HEADERS: tuple[tuple[bytes, bytes], ...] = (
        (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                     b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                                     b"form-action 'self'; base-uri 'none'"),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, add)


class _ServerTiming:
    """``Server-Timing: app;dur=MS, cpu;dur=MS``: the server's wall time from the request to
    the start of its response (the page is rendered by then) and the process CPU time spent
    meanwhile (the figure to read on a busy machine, when one request is served at a time),
    for the operator's browser tools and the benchmark (hand-written: one header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, cpu = time.perf_counter(), time.process_time()

        async def stamp(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000.0
                cpu_ms = (time.process_time() - cpu) * 1000.0
                timing = f"app;dur={ms:.1f}, cpu;dur={cpu_ms:.1f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
            await send(message)

        await self.app(scope, receive, stamp)


def allowed_hosts(host: str) -> list[str]:
    """Host headers the server answers: its own address and the loopback names; any when it
    listens on every interface (then the operator chose to expose it)."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({host, "127.0.0.1", "localhost", "[::1]", "::1"})


class Dashboard:
    """The pages and actions over one store."""

    def __init__(self, store: Store, settings: DashboardSettings) -> None:
        self.store = store
        self.settings = settings
        self.guard = Guard(settings.token)
        self.ctx = MonitorContext(store, settings.config)
        self.env = Environment(loader=PackageLoader("riskpilot.web", "templates"),
                               autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        filters.install(self.env)
        self._book_seconds = 0.0
        self.env.filters["book_rows"] = book_rows

    # --- rendering -----------------------------------------------------------------------
    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        who = self.guard.operator(request)
        csrf = request.scope.get("csrftoken")
        refresh = values.pop("refresh", self.settings.refresh_seconds)
        ctx = {"request": request, "read_only": self.guard.read_only, "operator": who,
               "csrftoken": csrf() if callable(csrf) else "", "refresh": refresh,
               "plotly_url": f"/static/plotly-{plotly.__version__}.min.js", "page": name.split(".")[0], **values}
        if request.headers.get("x-partial") == "1" and "live" in template.blocks:
            body = "".join(template.blocks["live"](template.new_context(ctx)))
        else:
            body = template.render(ctx)
        return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})

    def message(self, request: Request, status: int, title: str, text: str) -> HTMLResponse:
        return self.render(request, "message.html", status=status, title=title, text=text)

    # --- pages ---------------------------------------------------------------------------
    def book(self, request: Request) -> Response:
        start = time.perf_counter()
        book = build_book(self.store, self.ctx, self.settings.equity)
        # A big book polls less often: at most a tenth of the server's time goes to one viewer.
        refresh = max(self.settings.refresh_seconds, round(10 * self._book_seconds))
        page = self.render(request, "book.html", book=book, refresh=refresh)
        self._book_seconds = time.perf_counter() - start
        return page

    def exits(self, request: Request) -> Response:
        return self.render(request, "exits.html", exits=working_exits(self.store), now=datetime.now(UTC))

    def history(self, request: Request) -> Response:
        q = request.query_params
        try:
            f = HistoryFilter(q.get("underlying") or None, q.get("method") or None,
                              _day(q.get("start"), "start"), _day(q.get("end"), "end"))
        except ValueError as exc:
            return self.message(request, 400, "Bad filter", str(exc))
        if f.underlying is not None:
            f = HistoryFilter(f.underlying.upper(), f.method, f.start, f.end)
        unds, methods = choices(self.store)
        days = daily_history(self.store, self.settings.equity, f)
        curve = {"x": [d.day.isoformat() for d in days], "y": [round(d.equity, 2) for d in days]}
        return self.render(request, "history.html", f=f, underlyings=unds, methods=methods,
                           exits=exit_history(self.store, f), alerts=alert_history(self.store, f), days=days,
                           curve=curve)

    def state(self, request: Request) -> Response:
        self.ctx.refresh()
        now = datetime.now(UTC)
        return self.render(request, "state.html", st=state_view(self.store, now), now=now, ctx=self.ctx,
                           equity=self.settings.equity)

    # --- sign-in -------------------------------------------------------------------------
    def login(self, request: Request) -> Response:
        if self.guard.read_only:
            return self.message(request, 403, "Read-only dashboard",
                                "This dashboard was started without a token: it shows the book but takes no "
                                "action. Start it with --token or RISKPILOT_DASHBOARD_TOKEN to allow actions.")
        return self.render(request, "login.html", error=None, next=_local(request.query_params.get("next")))

    async def login_post(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if self.guard.read_only:
            return self.message(request, 403, "Read-only dashboard", "This dashboard takes no action (no token).")
        name = form.get("operator", "").strip()
        if not self.guard.valid_name(name):
            return self.render(request, "login.html", status=400, next=_local(form.get("next")),
                               error="Your name: 1 to 64 letters, digits, spaces or . @ - _ (it is recorded "
                                     "with every action you take).")
        if not self.guard.matches(form.get("token")):
            log.warning("dashboard sign-in refused for %r from %s: wrong token", name, _client(request))
            return self.render(request, "login.html", status=403, next=_local(form.get("next")),
                               error="Wrong token.")
        self.guard.sign_in(request, name)
        return RedirectResponse(_local(form.get("next")), status_code=303)

    def logout(self, request: Request) -> Response:
        self.guard.sign_out(request)
        return RedirectResponse("/book", status_code=303)

    # --- actions -------------------------------------------------------------------------
    def _refusal(self, request: Request) -> Response | None:
        if self.guard.read_only:
            return self.message(request, 403, "Read-only dashboard",
                                "Refused: this dashboard was started without a token and takes no action. "
                                "Use the command line, or restart the dashboard with --token.")
        if self.guard.operator(request) is None:
            return self.message(request, 401, "Sign in first",
                                "Refused: actions need the dashboard token. Sign in with your name and the token.")
        return None

    def confirm(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        spec = ACTIONS.get(kind)
        if spec is None:
            return self.message(request, 404, "No such action", f"Unknown action {kind!r}.")
        target = request.query_params.get(spec.target) if spec.target else None
        if spec.target is not None and not target:
            return self.message(request, 400, "Nothing chosen", f"{spec.title}: say which {spec.target}.")
        affected = []
        if spec.closes:
            book = build_book(self.store, self.ctx, self.settings.equity)
            affected = [r for r in book.rows
                        if kind == "close-all" or (kind == "close-position" and r.id == target)
                        or (kind == "close-underlying" and r.underlying == (target or "").upper())]
        return self.render(request, "confirm.html", spec=spec, target=target, affected=affected,
                           priorities=PRIORITIES, refusal=self._refusal(request) is not None)

    async def act(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        refused = self._refusal(request)
        who = self.guard.operator(request)
        if refused is not None or who is None:
            return refused or self.message(request, 401, "Sign in first", "Refused: actions need the token.")
        if form.get("confirm") != "yes":
            return self.message(request, 400, "Not confirmed",
                                "Refused: confirm the action on its confirmation page (the form sends confirm=yes).")
        try:
            req = parse_request(request.path_params["kind"], form)
        except ActionInputError as exc:
            return self.message(request, 400, "Cannot do that", str(exc))
        result = await run_in_threadpool(self._perform, req, who, _client(request))
        if request.headers.get("authorization", "").startswith("Bearer "):
            code = {ActionOutcome.DONE: 200, ActionOutcome.REFUSED: 409}.get(result.outcome, 500)
            return Response(f"{result.outcome.value}: {result.detail}\n", status_code=code, media_type="text/plain")
        return RedirectResponse(f"/actions/done/{result.action_id}", status_code=303)

    def _perform(self, req: ActionRequest, who: Operator, client: str | None) -> ActionResult:
        self.ctx.refresh()  # the tactics of the configuration the running monitor uses
        return perform(self.store, self.ctx.config, req, who, client, datetime.now(UTC))

    def done(self, request: Request) -> Response:
        want = request.path_params["action_id"]
        try:
            rec = ActionRepository(self.store).get(want)
        except NotFoundError:
            return self.message(request, 404, "No such action", f"Dashboard action {want} is not in the store.")
        return self.render(request, "done.html", a=rec)

    def plotly_js(self, request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"cache-control": "public, max-age=31536000, immutable"})


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date: use YYYY-MM-DD, e.g. 2019-06-03") from None


def _local(target: str | None) -> str:
    """A redirect target on this site only (no open redirects)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/book"


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def create_app(store: Store, settings: DashboardSettings) -> ASGIApp:
    """The dashboard over ``store`` (which the caller opens and closes)."""
    d = Dashboard(store, settings)
    kinds = sorted(ACTIONS)
    routes = [
        Route("/", lambda r: RedirectResponse("/book", status_code=307)),
        Route("/book", d.book),
        Route("/exits", d.exits),
        Route("/history", d.history),
        Route("/state", d.state),
        Route("/login", d.login, methods=["GET"]),
        Route("/login", d.login_post, methods=["POST"]),
        Route("/logout", d.logout, methods=["POST"]),
        Route("/actions/done/{action_id:int}", d.done, methods=["GET"]),
        Route("/actions/{kind}", d.confirm, methods=["GET"]),
        Route("/actions/{kind}", d.act, methods=["POST"]),
        Route(f"/static/plotly-{plotly.__version__}.min.js", d.plotly_js),
        Mount("/static", StaticFiles(packages=[("riskpilot.web", "static")]), name="static"),
    ]
    inner = Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings.host)),
        Middleware(SessionMiddleware, secret_key=d.guard.session_key, session_cookie="riskpilot_session",
                   max_age=_SESSION_HOURS * 3600, same_site="strict", https_only=False),
        Middleware(GZipMiddleware, minimum_size=2048),
    ])
    inner.state.dashboard = d
    protected = {"/login", "/logout", *(f"/actions/{k}" for k in kinds)}
    wrapped: ASGIApp = asgi_csrf(inner, signing_secret=d.guard.csrf_key, always_protect=protected,
                                 cookie_samesite="Strict", send_csrf_failed=_csrf_failed)
    return _ServerTiming(_SecurityHeaders(wrapped))


async def _csrf_failed(scope: Scope, send: Send, message_id: Any) -> None:
    body = (b"403 refused: the cross-site request check failed (no valid csrftoken with the form). Reload the page "
            b"and submit the form again; scripts send Authorization: Bearer TOKEN instead.\n")
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
