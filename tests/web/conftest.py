"""Fixtures of the dashboard's tests: one paper replay per run, copied for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_rig import CHROMIUM, CHROMIUM_FLAGS, Replayed, chromium_missing, replay_store

from riskpilot.store import Store


@pytest.fixture(scope="session")
def replay_template(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replay_store(tmp_path_factory.mktemp("replay"))


@pytest.fixture
def replayed(replay_template: Replayed, tmp_path: Path) -> Replayed:
    """A private copy of the replayed store (tests change it)."""
    return replay_template.copy(tmp_path)


@pytest.fixture
def replayed_store(replayed: Replayed) -> Iterator[Store]:
    store = Store.open(replayed.url, migrate=False)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
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
