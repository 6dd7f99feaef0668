"""Shared fixtures: the store backends (SQLite always, PostgreSQL when reachable) and builders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from riskpilot.model import Leg, OptionContract, Position, PremiumType, Right
from riskpilot.store import Store
from riskpilot.store.testing import postgres_unreachable_reason, temporary_store

_PG_REASON: list[str | None] = []


@pytest.fixture(autouse=True, scope="session")
def _model_chains_without_the_disk_cache() -> Iterator[None]:
    """Tests generate model chains without the on-disk cache (nothing written to the user's
    cache directory; the cache's own tests pass one in a temporary directory), unless
    RISKPILOT_CHAIN_CACHE is set for the run."""
    with pytest.MonkeyPatch.context() as mp:
        if "RISKPILOT_CHAIN_CACHE" not in os.environ:
            mp.setenv("RISKPILOT_CHAIN_CACHE", "off")
        yield


def pg_skip_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(postgres_unreachable_reason())
    return _PG_REASON[0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and (reason := pg_skip_reason()) is not None:
        pytest.skip(reason)
    return name


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    with temporary_store(backend, tmp_path) as s:
        yield s


T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def put_spread(pid: str = "p1", quantity: int = 4, entry: float = 1.00) -> Position:
    """A short SPY put vertical (credit), expiring 2024-04-19."""
    exp = date(2024, 4, 19)
    short = OptionContract("SPY", exp, 480.0, Right.PUT)
    long = OptionContract("SPY", exp, 475.0, Right.PUT)
    return Position(
        id=pid,
        legs=(Leg(short, -1), Leg(long, 1)),
        premium_type=PremiumType.CREDIT,
        entry_premium=entry,
        quantity=quantity,
        opened_at=T0,
        method="put-spread-moderate",
    )


@pytest.fixture
def spread() -> type[_Builders]:
    return _Builders


class _Builders:
    t0 = T0
    put_spread = staticmethod(put_spread)


# --- the dashboard's tests (tests/web; helpers in tests/web/dashboard_rig.py) ---------------
# Here rather than in a tests/web/conftest.py: a second module named "conftest" would shadow
# this one for tests that import it by name.


@pytest.fixture(scope="session")
def replay_template(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A store filled by one paper replay per run (tests take copies of it)."""
    from dashboard_rig import replay_store

    return replay_store(tmp_path_factory.mktemp("replay"))


@pytest.fixture
def replayed(replay_template: Any, tmp_path: Path) -> Any:
    """A private copy of the replayed store (tests change it)."""
    return replay_template.copy(tmp_path)


@pytest.fixture
def replayed_store(replayed: Any) -> Iterator[Store]:
    s = Store.open(replayed.url, migrate=False)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The distribution's headless Chromium through Playwright (skips with the reason when it
    is missing)."""
    from dashboard_rig import CHROMIUM, CHROMIUM_FLAGS, chromium_missing

    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()
