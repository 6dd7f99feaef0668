"""Event markets through the one cycle step, on the SYNTHETIC recording of tests/events/data: the
backtest (``backtest run --data FILE``) and the live monitor's replay (``monitor --replay
FILE``) make the same entries and exits, each of the seed's exits occurs (the story is in
make_kalshi_synthetic.py), and the P&L re-computes from the recording's prices and Kalshi's fee
formula, computed here by integer arithmetic independent of riskpilot's."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes.kalshi import fee_cents
from riskpilot.app import EventReplayOptions, MonitorOptions, build_event_replay
from riskpilot.backtest.events import run_event_backtest
from riskpilot.backtest.result import BacktestResult
from riskpilot.cli import app as cli
from riskpilot.config import RiskPilotConfig, load_config
from riskpilot.data.events import EventSnapshots
from riskpilot.model import ContractSide, EventContract, PositionStatus, Side
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.store.models import FillRow
from riskpilot.trading.fair_value import load_fair_values

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "kalshi_synthetic_snapshots.csv"
CONFIG = DATA / "kalshi_synthetic.yaml"
EQUITY = 10_000.0

#: The story of the fixture: market -> (side held, exit rule).
STORY = {
    "KXSYNHIGH-26DEC02-T45": ("yes", "early_exit"),
    "KXSYNHIGH-26DEC02-T50": ("yes", "edge_disappeared"),
    "KXSYNRAIN-26DEC02": ("yes", "time_based_urgent"),
    "KXSYNFED-26DEC02-T4.25": ("no", "liquidity_dried_up"),
    "KXSYNCPI-26DEC02-T0.3": ("yes", "event_settlement"),
    "KXSYNGDP-26DEC02-T2.0": ("yes", "rebalance"),
    "KXSYNSNOW-26DEC02": ("yes", "stop_loss"),
    "KXSYNOIL-26DEC02-T80": ("yes", "profit_target"),
}


@dataclass(frozen=True)
class Recorded:
    """The recording read with the csv module alone: YES bid/ask in cents by (market, time),
    and each market's result."""

    books: dict[tuple[str, datetime], tuple[int | None, int | None]]
    results: dict[str, str]

    def touch(self, market: str, side: str, at: datetime, *, buy: bool) -> int:
        """The price in cents a marketable order of ``side`` meets at ``at`` (the last row at
        or before it): the ask to buy, the bid to sell; the NO book is the YES book turned
        around."""
        rows = sorted(t for m, t in self.books if m == market and t <= at)
        bid, ask = self.books[(market, rows[-1])]
        if side == "yes":
            price = ask if buy else bid
        else:
            price = (None if bid is None else 100 - bid) if buy else (None if ask is None else 100 - ask)
        if price is None:
            raise AssertionError(f"{market} has no {side} book at {at}")
        return price


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    books: dict[tuple[str, datetime], tuple[int | None, int | None]] = {}
    results: dict[str, str] = {}
    with FIXTURE.open(newline="") as fh:
        for r in csv.DictReader(fh):
            t = datetime.fromisoformat(r["timestamp"])

            def cents(x: str) -> int | None:
                return round(float(x) * 100) if x else None

            books[(r["market"], t)] = (cents(r["yes_bid"]), cents(r["yes_ask"]))
            if r["result"]:
                results[r["market"]] = r["result"]
    return Recorded(books, results)


@pytest.fixture(scope="module")
def config() -> RiskPilotConfig:
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def backtest(config: RiskPilotConfig) -> BacktestResult:
    snaps = EventSnapshots.from_path(FIXTURE)
    fair = load_fair_values(config.fair_value, base_dir=DATA)  # type: ignore[arg-type]
    return run_event_backtest(snaps, config, method="events", equity=EQUITY, fair_values=fair)


@pytest.fixture(scope="module")
def replay_store(tmp_path_factory: pytest.TempPathFactory, config: RiskPilotConfig) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('replay') / 'events.db'}", migrate=True)
    run = build_event_replay(store, config, CONFIG.read_text(), MonitorOptions(equity=EQUITY),
                             EventReplayOptions(FIXTURE, "events", config_dir=DATA))
    lines = asyncio.run(run.run(asyncio.Event())).lines
    store.lines = lines  # type: ignore[attr-defined]  # the printed summary, for the assertions below
    yield store
    store.close()


def _market(contract: object) -> tuple[str, str]:
    assert isinstance(contract, EventContract)
    return contract.ticker, contract.side.value


def test_backtest_of_the_fixture_when_run_then_each_seed_exit_occurs_as_the_story_says(
    backtest: BacktestResult,
) -> None:
    got = {_market(t.legs[0].contract)[0]: (_market(t.legs[0].contract)[1], t.exit_reason) for t in backtest.trades}
    assert got == STORY
    assert all(t.quantity == 100 for t in backtest.trades)
    assert backtest.open_positions == []
    assert "KXSYNWIND-26DEC02-T30" not in got  # fair value - ask 0.03 < min_edge 0.05: never entered


def test_backtest_pnl_when_recomputed_from_the_recorded_prices_and_the_fee_formula_then_equal(
    backtest: BacktestResult, recorded: Recorded,
) -> None:
    total_cents = 0
    for t in backtest.trades:
        market, side = _market(t.legs[0].contract)
        assert t.opened_at is not None and t.closed_at is not None
        bought = recorded.touch(market, side, t.opened_at, buy=True)
        fees = fee_cents(t.quantity, bought)
        if t.exit_reason == "event_settlement":
            sold = 100 if recorded.results[market] == side else 0  # no fee at settlement
        else:
            sold = recorded.touch(market, side, t.closed_at, buy=False)
            fees += fee_cents(t.quantity, sold)
        assert round(t.entry_premium * 100) == bought and round(t.exit_premium * 100) == sold
        assert round(t.commission * 100) == fees
        pnl_cents = t.quantity * (sold - bought) - fees
        assert t.pnl == pytest.approx(pnl_cents / 100, abs=1e-9)
        total_cents += pnl_cents
    assert backtest.equity[-1] == pytest.approx(EQUITY + total_cents / 100, abs=1e-6)
    assert total_cents == -333  # fees (23.33) outweigh the 20.00 the prices made


def test_monitor_replay_of_the_fixture_when_run_then_the_backtest_exits_at_the_same_prices(
    replay_store: Store, backtest: BacktestResult,
) -> None:
    stored = PositionRepository(replay_store).load_open(tuple(PositionStatus))
    positions = {sp.position.id: sp.position for sp in stored}
    replayed = sorted(
        (_market(positions[e.position_id].legs[0].contract), e.rule, e.filled_quantity,
         round((e.fill_price or 0) * 100), round(positions[e.position_id].entry_premium * 100))
        for e in ExitRepository(replay_store).all_exits()
    )
    backtested = sorted(
        (_market(t.legs[0].contract), t.exit_reason, t.quantity, round(t.exit_premium * 100),
         round(t.entry_premium * 100))
        for t in backtest.trades
    )
    assert replayed == backtested
    assert all(p.status is PositionStatus.CLOSED for p in positions.values())


def test_monitor_replay_pnl_when_recomputed_from_its_fills_the_recording_and_the_fee_formula_then_equal(
    replay_store: Store, recorded: Recorded,
) -> None:
    positions = {sp.position.id: sp for sp in PositionRepository(replay_store).load_open(tuple(PositionStatus))}
    with replay_store.read() as s:
        fills = [(f.position_id, f.side, f.quantity, f.price, f.commission, f.filled_at) for f in s.query(FillRow)]
    assert len(fills) == 15  # 8 entries, 7 exits filled in one fill each (the settlement has none)
    cash = 0
    for pid, fside, qty, fprice, commission, filled_at in fills:
        market, side = _market(positions[pid].position.legs[0].contract)
        price = recorded.touch(market, side, filled_at, buy=fside is Side.BUY)
        assert round(fprice * 100) == price
        assert round(commission * 100) == fee_cents(qty, price)
        cash += (-1 if fside is Side.BUY else 1) * qty * price - fee_cents(qty, price)
    for pid, sp in positions.items():  # the settlement is an exit without a fill: 1.00 or 0.00, no fee
        for e in ExitRepository(replay_store).exits_for(pid):
            if e.rule == "event_settlement":
                market, side = _market(sp.position.legs[0].contract)
                cash += e.filled_quantity * (100 if recorded.results[market] == side else 0)
    stored = sum(sp.monitoring.realized_pnl - sp.monitoring.commissions for sp in positions.values())
    assert stored == pytest.approx(cash / 100, abs=1e-9)
    assert "realized P&L $-3.33 after $23.33 of fees ($20.00 before)" in replay_store.lines  # type: ignore[attr-defined]


def test_monitor_replay_summary_when_printed_then_exits_by_edge_disappeared_early_exit_and_time_based_urgent(
    replay_store: Store,
) -> None:
    lines: list[str] = replay_store.lines  # type: ignore[attr-defined]
    assert lines[0].startswith("replay finished: 25 instants of a SYNTHETIC recording")
    by_rule = next(line for line in lines if line.startswith("exits by rule: "))
    for rule in ("edge_disappeared 1", "early_exit 1", "time_based_urgent 1", "rebalance 1", "stop_loss 1",
                 "profit_target 1", "liquidity_dried_up 1", "event_settlement 1"):
        assert rule in by_rule
    assert any("KXSYNRAIN-26DEC02 YES x100 bought 0.61 sold 0.62  time_based_urgent: 3.0 minutes" in x for x in lines)


def test_default_priorities_when_the_edge_turns_negative_then_early_exit_wins_the_tie(config: RiskPilotConfig) -> None:
    # Why the fixture's configuration lists edge_disappeared first: with the default LOW order a
    # negative edge (which also fires early_exit, edge < 2%) is reported as early_exit.
    defaults = RiskPilotConfig().exit_priorities
    cfg = config.model_copy(update={"exit_priorities": defaults})
    fair = load_fair_values(config.fair_value, base_dir=DATA)  # type: ignore[arg-type]
    res = run_event_backtest(EventSnapshots.from_path(FIXTURE), cfg, method="events", equity=EQUITY, fair_values=fair)
    reasons = {_market(t.legs[0].contract)[0]: t.exit_reason for t in res.trades}
    assert reasons["KXSYNHIGH-26DEC02-T50"] == "early_exit"
    assert "edge_disappeared" not in reasons.values()


def test_backtest_command_over_the_fixture_prints_the_reasons_and_says_synthetic() -> None:
    out = CliRunner().invoke(cli, ["backtest", "run", "--data", str(FIXTURE), "--config", str(CONFIG),
                                   "--equity", "10000"])
    assert out.exit_code == 0, out.output
    assert "SYNTHETIC" in out.output and "Backtest event markets 2026-12-02" in out.output
    for _, rule in STORY.values():
        assert rule in out.output
    refused = CliRunner().invoke(cli, ["backtest", "run", "--data", str(FIXTURE), "--config", str(CONFIG),
                                       "--min-delta", "0.1"])
    assert refused.exit_code == 2 and "--min-delta: option settings have no meaning over event markets" in (
        refused.output.replace("\n", " "))


def test_event_replay_without_fair_values_is_refused_naming_the_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store.open(url, migrate=True).close()
    out = CliRunner().invoke(cli, ["monitor", "--db", url, "--replay", str(FIXTURE), "--speed", "0"])
    assert out.exit_code == 2 and "needs fair values for its edge: add fair_value" in out.output
    assert ContractSide.YES.value == "yes"


def test_event_replay_when_run_again_into_the_same_store_then_refused_instead_of_entering_twice(
    replay_store: Store,
) -> None:
    url = replay_store.engine.url.render_as_string(hide_password=False)
    out = CliRunner().invoke(cli, ["monitor", "--db", url, "--replay", str(FIXTURE), "--config", str(CONFIG),
                                   "--speed", "0"])
    assert out.exit_code == 2, out.output
    assert "this store already replayed" in out.output and "replay into a fresh --db" in out.output
