"""`riskpilot positions / exits / alerts / halt / resume / summary` through typer's CliRunner on
a SQLite file and a PostgreSQL schema, checking the JSON fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from riskpilot.alerts import ALERT_URLS_ENV
from riskpilot.cli import app
from riskpilot.model import Priority, TradingState
from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.store import ExitRepository, PositionRepository, StateRepository, Store, upgrade
from riskpilot.store.database import make_engine
from riskpilot.store.testing import pg_test_url

runner = CliRunner()


def _url(store: Store) -> str:
    """The --db URL of a test store (on PostgreSQL, its throw-away schema as the search path)."""
    if store.dialect == "sqlite":
        return store.engine.url.render_as_string(hide_password=False)
    with store.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return f"{pg_test_url()}?options=-csearch_path%3D{schema}"


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _book(store: Store, spread: Any) -> None:
    repo = PositionRepository(store)
    repo.open_position(spread.put_spread("p1", quantity=4, entry=1.00))
    repo.open_position(spread.put_spread("p2", quantity=2, entry=1.00))
    repo.apply_mark("p1", 0.60, datetime(2024, 3, 4, 20, 0, tzinfo=UTC))
    at = datetime(2024, 3, 4, 19, 0, tzinfo=UTC)
    ExitRepository(store).record_exit(
        "p2",
        reason="profit target 50% reached",
        priority=Priority.MEDIUM,
        quantity=2,
        fill_price=0.50,
        tactic="MEDIUM",
        triggered_at=at - timedelta(seconds=40),
        executed_at=at,
        rule="profit_target",
    )


def test_positions_json_lists_open_positions_with_their_marks(store: Store, spread: Any) -> None:
    _book(store, spread)
    r = _run("positions", "--json", "--db", _url(store))
    assert r.exit_code == 0, r.output
    [p1] = json.loads(r.stdout)["positions"]
    assert {k: p1[k] for k in ("id", "status", "underlying", "method", "quantity")} == {
        "id": "p1",
        "status": "OPEN",
        "underlying": "SPY",
        "method": "put-spread-moderate",
        "quantity": 4,
    }
    assert p1["entry_premium"] == 1.00 and p1["current_premium"] == 0.60
    assert p1["unrealized_pnl"] == pytest.approx(160.0)
    assert p1["unrealized_pnl_pct"] == pytest.approx(0.40)
    assert p1["expiration"] == "2024-04-19"

    r = _run("positions", "--json", "--all", "--db", _url(store))
    rows = {p["id"]: p for p in json.loads(r.stdout)["positions"]}
    assert rows["p2"]["status"] == "CLOSED" and rows["p2"]["quantity"] == 0
    assert rows["p2"]["realized_pnl"] == pytest.approx(100.0)

    r = _run("positions", "--db", _url(store))
    assert r.exit_code == 0 and "p1" in r.stdout and "+40.0%" in r.stdout


def test_exits_json_has_reason_priority_price_tactic_and_times(store: Store, spread: Any) -> None:
    _book(store, spread)
    r = _run("exits", "--json", "--db", _url(store))
    assert r.exit_code == 0, r.output
    [e] = json.loads(r.stdout)["exits"]
    assert e["position_id"] == "p2" and e["reason"] == "profit target 50% reached"
    assert e["priority"] == "MEDIUM" and e["quantity"] == 2 and e["price"] == 0.50
    assert e["tactic"] == "MEDIUM" and e["status"] == "EXECUTED" and e["rule"] == "profit_target"
    assert datetime.fromisoformat(e["triggered_at"]) == datetime(2024, 3, 4, 18, 59, 20, tzinfo=UTC)
    assert datetime.fromisoformat(e["executed_at"]) == datetime(2024, 3, 4, 19, 0, tzinfo=UTC)
    r = _run("exits", "--json", "--position", "p1", "--db", _url(store))
    assert json.loads(r.stdout)["exits"] == []


def test_halt_then_resume_persist_the_trading_state(store: Store) -> None:
    r = _run("halt", "--reason", "broker maintenance", "--db", _url(store))
    assert r.exit_code == 0, r.output
    st = StateRepository(store).trading_state()
    assert st.state is TradingState.HALTED and st.reason == "manual halt: broker maintenance"
    assert st.halted_on is None
    r = _run("resume", "--db", _url(store))
    assert r.exit_code == 0 and "HALTED -> ACTIVE" in r.stdout
    assert StateRepository(store).trading_state().state is TradingState.ACTIVE
    r = _run("resume", "--db", _url(store))
    assert r.exit_code == 0 and "already ACTIVE" in r.stdout


def test_resume_refuses_a_circuit_breaker_halt_on_its_own_day_unless_forced(store: Store) -> None:
    today = datetime.now(EXCHANGE_TZ).date()
    repo = StateRepository(store)
    repo.set_trading_state(TradingState.HALTED, "circuit breaker: day P&L -3,100", datetime.now(UTC), halted_on=today)
    r = _run("resume", "--db", _url(store))
    assert r.exit_code == 1
    assert f"the circuit breaker halted entries on {today.isoformat()}" in r.stderr
    assert "--force" in r.stderr
    assert repo.trading_state().state is TradingState.HALTED
    r = _run("resume", "--force", "--db", _url(store))
    assert r.exit_code == 0, r.output
    st = repo.trading_state()
    assert st.state is TradingState.ACTIVE and st.reason.startswith("manual resume (forced, was HALTED")


def test_resume_after_the_circuit_breakers_day_rolled_needs_no_force(store: Store) -> None:
    yesterday = datetime.now(EXCHANGE_TZ).date() - timedelta(days=1)
    StateRepository(store).set_trading_state(
        TradingState.HALTED, "circuit breaker", datetime.now(UTC), halted_on=yesterday
    )
    r = _run("resume", "--db", _url(store))
    assert r.exit_code == 0, r.output
    assert StateRepository(store).trading_state().state is TradingState.ACTIVE


def test_summary_json_and_send_through_the_file_channel(
    store: Store, spread: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _book(store, spread)
    channel = tmp_path / "alerts.log"
    monkeypatch.setenv(ALERT_URLS_ENV, f"rpfile://{channel}")
    r = _run("summary", "--date", "2024-03-04", "--json", "--send", "--db", _url(store))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["day"] == "2024-03-04"
    assert out["realized_net"] == pytest.approx(100.0)
    assert out["open_unrealized_pnl"] == pytest.approx(160.0)
    assert out["positions"][0]["id"] == "p1" and out["positions"][0]["dte"] == 46
    assert out["today"] == {"count": 1, "wins": 1, "win_rate": 1.0, "pnl": pytest.approx(100.0)}
    assert out["market"]["as_of"] == "2024-03-04" and out["market"]["regime"] is not None
    assert out["sent"]["delivered"] is True
    assert "[riskpilot] INFO summary\nriskpilot end-of-day summary 2024-03-04" in channel.read_text()
    alert = StateRepository(store).get_alert(out["sent"]["alert_id"])
    assert alert.kind == "summary" and alert.delivered_at is not None
    assert alert.payload is not None and alert.payload["day"] == "2024-03-04"

    r = _run("summary", "--date", "2024-03-04", "--db", _url(store))
    assert r.exit_code == 0 and "End-of-day summary 2024-03-04" in r.stdout and "VIX" in r.stdout


def test_summary_send_to_a_dead_channel_exits_1_and_the_alert_keeps_the_error(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALERT_URLS_ENV, f"rpfile://{tmp_path}/missing/dir/alerts.log")
    r = _run("summary", "--date", "2024-03-04", "--send", "--db", _url(store))
    assert r.exit_code == 1
    assert "not delivered" in r.stderr and "cannot append to" in r.stderr
    r = _run("alerts", "--json", "--db", _url(store))
    [a] = json.loads(r.stdout)["alerts"]
    assert a["kind"] == "summary" and a["delivered_at"] is None and a["delivery_attempts"] == 1
    assert "No such file or directory" in a["delivery_error"]


def test_summary_refuses_a_bad_date(store: Store) -> None:
    r = _run("summary", "--date", "03/04/2024", "--db", _url(store))
    assert r.exit_code == 2 and "use YYYY-MM-DD" in r.stderr


def test_missing_sqlite_database_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nope.db"
    for cmd in (["positions"], ["exits"], ["halt"], ["resume"], ["summary"], ["alerts"]):
        r = _run(*cmd, "--db", f"sqlite:///{db}")
        assert r.exit_code == 2, (cmd, r.output)
        assert "does not exist" in r.stderr and "riskpilot db upgrade" in r.stderr
    assert not db.exists()


def test_unmigrated_database_says_to_run_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0002")
    engine.dispose()
    r = _run("positions", "--db", url)
    assert r.exit_code == 2
    assert "revision 0002" in r.stderr and "riskpilot db upgrade" in r.stderr
