"""Serving the dashboard with uvicorn (one process; the store is read per request)."""

from __future__ import annotations

import ipaddress
import logging

import uvicorn

from riskpilot.store import Store
from riskpilot.web.app import DashboardSettings, create_app

log = logging.getLogger("riskpilot.web")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_server(store: Store, settings: DashboardSettings) -> uvicorn.Server:
    """A uvicorn server for the dashboard over ``store`` (not started). Forwarded-for headers
    are not trusted (the client address recorded with an action is the socket's), and the
    server does not announce itself."""
    config = uvicorn.Config(create_app(store, settings), host=settings.host, port=settings.port,
                            log_level="warning", access_log=False, proxy_headers=False, server_header=False,
                            lifespan="off")
    return uvicorn.Server(config)


def serve(store: Store, settings: DashboardSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    build_server(store, settings).run()
