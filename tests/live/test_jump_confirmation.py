"""A jump in the live monitor waits for the next quote, one urgent interval later (docs/marks.md);
the wiring turns the confirmation on for live quotes and off for end-of-day replays."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

from monitor_rig import T0, make_rig

from riskpilot.app import MonitorOptions, ReplayOptions, build_live, build_replay
from riskpilot.config import RiskPilotConfig
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore
from riskpilot.execution.clock import SimulatedClock
from riskpilot.live.session import AlwaysOpen
from riskpilot.model import Priority
from riskpilot.store import ExitRepository, Store


async def test_a_real_jump_when_the_next_quote_confirms_it_then_the_stop_fires_one_urgent_interval_later(
    store: Store,
) -> None:
    rig = make_rig(store)
    rig.spread("p1", 480.0, entry=1.00)
    rig.quote_spread(480.0, 0.98)
    await rig.monitor.start()
    await rig.monitor.check_once()
    await rig.advance(30)
    rig.quote_spread(480.0, 3.80)  # 280% loss in 30 s, far beyond the recent range
    jumped_at = rig.clock.now()
    report = await rig.monitor.check_once()
    assert not report.exits_started and report.bad_marks == 1
    assert rig.monitor.next_due["p1"] == jumped_at + timedelta(seconds=5)  # the urgent frequency
    calls = rig.broker.api_calls["get_quotes"]
    await rig.advance(5)
    report = await rig.monitor.check_once()  # due now; its cached quotes were dropped
    assert rig.broker.api_calls["get_quotes"] == calls + 1  # a fresh quote, not the 10 s cache
    assert report.exits_started == ["p1"] and report.decisions[0].rule == "stop_loss"
    await rig.monitor.wait_exits()
    (ex,) = ExitRepository(store).exits_for("p1")
    assert ex.priority is Priority.CRITICAL and ex.triggered_at == jumped_at + timedelta(seconds=5)


def test_the_wiring_when_it_builds_a_live_run_then_jumps_wait_for_the_next_quote(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'live.db'}")
    try:
        run = asyncio.run(build_live(store, RiskPilotConfig(), None, MonitorOptions(sessions="always"),
                                     clock=SimulatedClock(T0), sessions=AlwaysOpen()))
        assert run.risk.marks.jumps is not None
    finally:
        store.close()


def test_the_wiring_when_it_builds_a_replay_then_end_of_day_jumps_act_the_same_day(tmp_path: Path) -> None:
    chains = tmp_path / "chains"
    ChainStore(chains).import_table(generate_model_chain("SPY", date(2020, 1, 2), date(2020, 1, 8)))
    store = Store.open(f"sqlite:///{tmp_path / 'replay.db'}")
    try:
        replay = ReplayOptions(chains, "SPY", "default", date(2020, 1, 2), date(2020, 1, 8), speed=0)
        assert build_replay(store, RiskPilotConfig(), None, MonitorOptions(), replay).risk.marks.jumps is None
        always = RiskPilotConfig.model_validate({"monitoring": {"marks": {"confirm_jumps": "always"}}})
        assert build_replay(store, always, None, MonitorOptions(), replay).risk.marks.jumps is not None
    finally:
        store.close()
