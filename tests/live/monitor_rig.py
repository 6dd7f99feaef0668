"""A monitor wired to the real paper broker and store on simulated time, for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from riskpilot.brokers.paper import Faults, PaperBroker, ScriptedMarket
from riskpilot.config import RiskPilotConfig
from riskpilot.execution.clock import SimulatedClock
from riskpilot.execution.executor import ExitExecutor
from riskpilot.execution.fills import FillModel
from riskpilot.live import PositionMonitor
from riskpilot.model import Leg, OptionContract, Position, PremiumType, Right
from riskpilot.risk.manager import RiskManager
from riskpilot.store import PositionRepository, Store
from riskpilot.store.ledger import StoreLedger
from riskpilot.store.paper_book import StorePaperBook
from testkit import RecordingAlerts as Alerts

# Friday 2024-03-01 15:00 UTC = 10:00 New York.
T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)


def put(strike: float, underlying: str = "SPY", exp: date = EXP) -> OptionContract:
    return OptionContract(underlying, exp, strike, Right.PUT)


@dataclass
class Rig:
    store: Store
    clock: SimulatedClock
    market: ScriptedMarket
    broker: PaperBroker
    risk: RiskManager
    alerts: Alerts
    config: RiskPilotConfig
    monitor: PositionMonitor
    exp: date = EXP

    def spread(self, pid: str, short: float, *, entry: float = 1.00, qty: int = 4, underlying: str = "SPY",
               method: str = "default") -> Position:
        """Open a short put vertical (short ``short``, long ``short - 5``) in the store."""
        legs = (Leg(put(short, underlying, self.exp), -1), Leg(put(short - 5, underlying, self.exp), 1))
        opened = self.clock.now() - timedelta(days=3)
        pos = Position(pid, legs, PremiumType.CREDIT, entry, qty, opened, method)
        PositionRepository(self.store).open_position(pos)
        return pos

    def quote_spread(self, short: float, premium: float, *, underlying: str = "SPY", half: float = 0.05) -> None:
        """Quote the vertical so that its close-out mid is ``premium`` (long leg at 1.00/1.10)."""
        self.market.set(put(short - 5, underlying, self.exp), 1.00, 1.10, 1000)
        mid = premium + 1.05
        self.market.set(put(short, underlying, self.exp), mid - half, mid + half, 1000)

    async def advance(self, seconds: float) -> None:
        await self.clock.sleep(seconds)


def make_rig(store: Store, *, config: RiskPilotConfig | None = None, faults: Faults | None = None,
             equity: float = 100_000.0, dry_run: bool = False, start: datetime = T0) -> Rig:
    cfg = config or RiskPilotConfig()
    clock = SimulatedClock(start)
    market = ScriptedMarket()
    broker = PaperBroker(StorePaperBook(store), market, fill_model=FillModel(), faults=faults, clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    risk = RiskManager(cfg, equity=equity)
    alerts = Alerts()
    executor = ExitExecutor(broker, StoreLedger(store), cfg, clock, alerts)
    monitor = PositionMonitor(store, broker, risk, cfg, clock, executor=executor, alerts=alerts, dry_run=dry_run)
    # Positions expire 49 days after T0 (2024-04-19), or after ``start``.
    exp = EXP if start == T0 else (start + timedelta(days=49)).date()
    return Rig(store, clock, market, broker, risk, alerts, cfg, monitor, exp)
