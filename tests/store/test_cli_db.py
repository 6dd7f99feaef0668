"""`riskpilot db upgrade/current/downgrade` on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskpilot.cli import app
from riskpilot.store import head_revision

runner = CliRunner()


def test_db_upgrade_creates_then_reports_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rp.db'}"
    r = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert r.exit_code == 0, r.output
    assert f"migrated empty -> {head_revision()}" in r.output
    r = runner.invoke(app, ["db", "upgrade", "--db", url])
    assert "already at revision" in r.output
    r = runner.invoke(app, ["db", "current", "--db", url])
    assert r.exit_code == 0 and f"latest: {head_revision()}" in r.output


def test_db_current_on_old_revision_exits_nonzero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rp.db'}"
    runner.invoke(app, ["db", "upgrade", "--db", url, "--revision", "0001"])
    r = runner.invoke(app, ["db", "current", "--db", url])
    assert r.exit_code == 1 and "database revision: 0001" in r.output


def test_db_default_url_comes_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPILOT_DB", f"sqlite:///{tmp_path / 'env.db'}")
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "env.db").exists()


def test_db_upgrade_with_bad_url_exits_2_with_message() -> None:
    r = runner.invoke(app, ["db", "upgrade", "--db", "mysql://x@y/z"])
    assert r.exit_code == 2
    assert "unsupported backend 'mysql'" in r.output
