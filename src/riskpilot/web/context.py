"""What the dashboard must know of the monitor it watches, read from the store: the
configuration whose rules place the exit levels, whether regimes apply, and the monitor's
clock (market time in a replay, the wall clock live).

- **Configuration**: ``--config FILE`` when given; otherwise the configuration text the
  newest monitor run recorded in the store (``runs.config_text``, secrets redacted), so the
  levels are the ones that monitor acts on; otherwise the built-in defaults. A change of run
  is picked up on the next request.
- **Regimes**: a replay applies each day's regime overrides of the exit rules
  (``riskpilot.app.build_replay``); a live monitor applies the base rules. The dashboard does
  the same, reading the regime from the bundled history as the replay does.
- **Clock**: for a replay, the monitor's clock at its last cycle (the lease's
  ``last_cycle_at``, market time), or the newest mark in the store when no lease says; live,
  the wall clock. DTE and "today" are taken at that time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select

from riskpilot.config import ConfigError, RiskPilotConfig, load_config, parse_config
from riskpilot.config.schema import RegimeName
from riskpilot.risk.levels import Triggers
from riskpilot.store import LeaseRepository, Store
from riskpilot.store.models import PositionRow, RunRow
from riskpilot.trading.signals import MarketData

log = logging.getLogger("riskpilot.web")

#: Commands the monitor records in ``runs.command`` (riskpilot.app).
REPLAY_COMMAND = "monitor --replay"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The newest monitor run recorded in the store."""

    id: int
    command: str | None
    host: str
    version: str
    started_at: datetime
    finished_at: datetime | None
    dry_run: bool

    @property
    def replay(self) -> bool:
        return self.command == REPLAY_COMMAND


@dataclass(slots=True)
class MonitorContext:
    """The configuration, regime lookup and clock the dashboard judges positions by (module
    docstring). One per application; :meth:`refresh` re-reads what a new run changes."""

    store: Store
    config_path: Path | None = None
    config: RiskPilotConfig = field(default_factory=RiskPilotConfig)
    config_source: str = "built-in defaults"
    run: RunInfo | None = None
    _run_seen: int | None = None
    _market: dict[str, MarketData | None] = field(default_factory=dict)
    _triggers: dict[tuple[str, RegimeName | None], Triggers | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.config_path is not None:
            self.config = load_config(self.config_path)  # ConfigError names the problem
            self.config_source = f"--config {self.config_path}"

    def refresh(self) -> None:
        """Take the newest monitor run; re-read its configuration when the run changed."""
        with self.store.read() as s:
            row = s.execute(
                select(RunRow).where(RunRow.command.like("monitor%")).order_by(RunRow.id.desc()).limit(1)
            ).scalar_one_or_none()
            if row is None:
                self.run = None
                return
            self.run = RunInfo(row.id, row.command, row.host, row.version, row.started_at, row.finished_at,
                               row.dry_run)
            text = row.config_text
        if self.run.id == self._run_seen or self.config_path is not None:
            return
        self._run_seen = self.run.id
        self._triggers.clear()
        if text is None:
            self.config, self.config_source = RiskPilotConfig(), f"built-in defaults (as run {self.run.id})"
            return
        try:
            self.config = parse_config(text, source=f"run {self.run.id}")
            self.config_source = f"the configuration of run {self.run.id} ({self.run.command})"
        except ConfigError as exc:
            log.warning("run %d's configuration does not load (%s): levels use the defaults", self.run.id, exc)
            self.config = RiskPilotConfig()
            self.config_source = f"built-in defaults: run {self.run.id}'s configuration does not load"

    def now(self) -> tuple[datetime, str]:
        """The monitor's clock and what it is (module docstring): the store's clock as
        `riskpilot positions` and `summary` count it (:meth:`LeaseRepository.market_now`)."""
        wall = datetime.now(UTC)
        at = LeaseRepository(self.store).market_now(wall)
        if at is not wall:
            return at, "replay: market time of the last monitor's last cycle"
        if self.run is not None and self.run.replay:
            # A store replayed before monitors held leases: its newest mark is its clock.
            with self.store.read() as s:
                newest = s.execute(select(func.max(PositionRow.last_update))).scalar_one_or_none()
            if newest is not None:
                return (newest if newest.tzinfo is not None else newest.replace(tzinfo=UTC),
                        "replay: market time of the newest mark")
        return wall, "wall clock"

    def regime(self, underlying: str, day: date) -> RegimeName | None:
        """The regime whose exit-rule overrides the monitor applies to ``underlying`` on ``day``
        (None: the base rules)."""
        if self.run is None or not self.run.replay or not self.config.regimes.exit_rules:
            return None
        if underlying not in self._market:
            try:
                self._market[underlying] = MarketData.from_bundled(underlying)
            except LookupError:
                self._market[underlying] = None
        md = self._market[underlying]
        return None if md is None else md.regime(day, self.config.regimes)

    def triggers(self, method: str, regime: RegimeName | None) -> Triggers | None:
        """The exit levels' settings of ``method`` under ``regime``; None when the
        configuration has no such method (the book says so rather than guess)."""
        key = (method, regime)
        if key not in self._triggers:
            try:
                self._triggers[key] = Triggers.from_rules(self.config.exit_rules_for(method, regime))
            except KeyError:
                self._triggers[key] = None
        return self._triggers[key]
