"""The bad-quote corpus (``tests/risk/bad_quotes.yaml``) replayed through the live monitor's cycle
on the paper broker: every position built from quotes is opened in the store, checked three
times on good quotes, then on its bad quotes in one cycle with a healthy position that must exit.
0 exits and 0 stop moves for the corpus, in memory and in the store; the next ordinary tick after
a held jump acts on nothing the spike would have set up."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import pytest
from monitor_rig import make_rig

from bad_quote_corpus import CONFIG, STEP, T0, QuoteSpec, control, load_cases, quote
from riskpilot.model import Contract, OptionContract, PositionStatus, Quote
from riskpilot.rules.trailing_stop import TrailingStopAction
from riskpilot.store import ExitRepository, PositionRepository, Store

#: The cases built from quotes, on option legs: the store's legs table holds options only (event
#: contract positions are checked by the risk path of the corpus).
CASES = [c for c in load_cases() if c.from_quotes and all(isinstance(x, OptionContract) for x in c.contracts.values())]


class CorpusMarket:
    """A paper-broker quote source serving each contract's scripted quote at the broker's clock,
    stamped as the corpus says (seconds old or ahead, or naive); a contract not set is not
    quoted."""

    def __init__(self) -> None:
        self.book: dict[Contract, QuoteSpec] = {}

    def set(self, contracts: Mapping[str, Contract], specs: Mapping[str, QuoteSpec]) -> None:
        for leg, c in contracts.items():
            if leg in specs:
                self.book[c] = specs[leg]
            else:
                self.book.pop(c, None)

    def quotes(self, contracts: Sequence[Contract], now: datetime) -> dict[Contract, Quote]:
        return {c: quote(self.book[c], now) for c in contracts if c in self.book}


async def test_the_corpus_in_the_live_monitor_when_cycled_then_0_exits_and_0_stop_moves(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(CASES) >= 30
    rig = make_rig(store, config=CONFIG, start=T0)
    market = CorpusMarket()
    rig.broker.source = market
    ctl, ctl_contracts, ctl_previous, ctl_now = control()
    repo = PositionRepository(store)
    for c in CASES:
        repo.open_position(c.position)
    repo.open_position(ctl)
    await rig.monitor.start()
    for step in range(3):
        for c in CASES:
            market.set(c.contracts, c.previous[step])
        market.set(ctl_contracts, ctl_previous[step])
        report = await rig.monitor.check_once(force_all=True)
        assert report.checked == len(CASES) + 1 and report.bad_marks == 0 and not report.exits_started
        await rig.advance(STEP.total_seconds())
    states = {c.name: rig.monitor.positions[c.name].state for c in CASES}
    trails = {c.name: rig.risk.trails[c.name] for c in CASES}
    stored = {c.name: repo.get(c.name) for c in CASES}
    assert sum(t.active for t in trails.values()) >= 25  # the stops a bad mark could move are live

    for c in CASES:
        assert c.quotes is not None
        market.set(c.contracts, c.quotes)
    market.set(ctl_contracts, ctl_now)
    with caplog.at_level(logging.INFO, logger="riskpilot.live.hold"):
        report = await rig.monitor.check_once(force_all=True)
    assert report.exits_started == ["control"] and report.bad_marks == len(CASES)
    held = {r.getMessage().split()[1]: r.getMessage() for r in caplog.records if r.name == "riskpilot.live.hold"}
    for c in CASES:
        assert f": quote {c.expect_live}" in held[c.name], held[c.name]
        assert rig.monitor.positions[c.name].state == states[c.name], c.name
        assert rig.risk.trails[c.name] == trails[c.name], c.name
        now_stored = repo.get(c.name)
        assert now_stored.trailing_state == stored[c.name].trailing_state, c.name
        assert now_stored.monitoring == stored[c.name].monitoring, c.name
    await rig.monitor.wait_exits()
    assert repo.get("control").position.status is PositionStatus.CLOSED
    assert {x.position_id for x in ExitRepository(store).all_exits()} == {"control"}

    # The next tick is an ordinary one where the corpus has one; the others keep their bad quotes.
    await rig.advance(STEP.total_seconds())
    for c in CASES:
        if c.after is not None:
            market.set(c.contracts, c.after)
    report = await rig.monitor.check_once(force_all=True)
    assert not report.exits_started and not report.decisions
    assert report.bad_marks == sum(c.after is None for c in CASES)
    for c in CASES:
        if c.after is not None:
            assert rig.risk.trails[c.name].last_action is not TrailingStopAction.TRIGGER, c.name
    assert {x.position_id for x in ExitRepository(store).all_exits()} == {"control"}
    assert rig.monitor.started and rig.clock.now() > T0
