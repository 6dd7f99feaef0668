"""The trading-state gate, alerts, daily P&L, runs and methods."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from riskpilot.config.redact import redact_config_text, redact_text
from riskpilot.model.enums import TradingState
from riskpilot.store.database import Store
from riskpilot.store.models import (
    AlertLevel,
    AlertRow,
    DailyPnlRow,
    MethodRow,
    RunRow,
    TradingStateRow,
)
from riskpilot.store.records import (
    AlertRecord,
    DailyPnl,
    NotFoundError,
    StoreError,
    TradingStateRecord,
)
from riskpilot.store.rows import (
    add_daily,
    alert_record,
    utc,
)


class StateRepository:
    """The trading-state gate, alerts, daily P&L, runs and methods."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def trading_state(self) -> TradingStateRecord:
        with self.store.read() as s:
            row = s.get(TradingStateRow, 1)
            if row is None:
                raise StoreError("the trading_state row is missing: run `riskpilot db upgrade`")
            return TradingStateRecord(row.state, row.reason, row.changed_at, row.halted_on)

    def set_trading_state(
        self, state: TradingState, reason: str, at: datetime, *, halted_on: date | None = None
    ) -> None:
        """Set the gate. ``halted_on`` (HALTED only) is the exchange date of a circuit-breaker
        halt, which lifts once that day has rolled; leave it None for a manual halt."""
        if halted_on is not None and state is not TradingState.HALTED:
            raise ValueError(f"halted_on is for a HALTED state, not {state.value}")
        if not reason.strip():
            raise ValueError("a trading-state change needs a reason (it is shown to the operator)")
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(TradingStateRow, 1, with_for_update=True)
            if row is None:
                raise StoreError("the trading_state row is missing: run `riskpilot db upgrade`")
            row.state = state
            row.reason = reason
            row.changed_at = at
            row.halted_on = halted_on

    def add_alert(
        self,
        level: AlertLevel,
        kind: str,
        message: str,
        at: datetime,
        *,
        position_id: str | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> int:
        """Store an alert; returns its id. With ``dedupe_key``, an alert the store already
        holds under that key (an outbox row written with the change it reports) is returned
        instead of a second one."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            if dedupe_key is not None:
                known = s.execute(select(AlertRow.id).where(AlertRow.dedupe_key == dedupe_key)).scalar_one_or_none()
                if known is not None:
                    return int(known)
            row = AlertRow(
                created_at=at,
                level=level,
                kind=kind,
                message=message,
                position_id=position_id,
                payload=payload,
                dedupe_key=dedupe_key,
            )
            s.add(row)
            s.flush()
            return row.id

    def undelivered_alerts(self) -> list[AlertRecord]:
        with self.store.read() as s:
            rows = s.execute(select(AlertRow).where(AlertRow.delivered_at.is_(None)).order_by(AlertRow.id)).scalars()
            return [alert_record(r) for r in rows]

    def get_alert(self, alert_id: int) -> AlertRecord:
        with self.store.read() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise NotFoundError(f"alert {alert_id} is not in the store")
            return alert_record(row)

    def recent_alerts(self, limit: int = 50) -> list[AlertRecord]:
        """The ``limit`` newest alerts, newest first."""
        with self.store.read() as s:
            rows = s.execute(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)).scalars()
            return [alert_record(r) for r in rows]

    def record_delivery(self, alert_id: int, at: datetime, error: str | None) -> None:
        """Record one delivery attempt: delivered at ``at`` when ``error`` is None, otherwise
        the error is kept on the alert (which stays undelivered, for a later retry)."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"alert {alert_id} is not in the store")
            row.delivery_attempts += 1
            if error is None:
                row.delivered_at = at
                row.delivery_error = None
            else:
                row.delivery_error = error

    def mark_delivered(self, alert_ids: Iterable[int], at: datetime) -> None:
        at = utc(at, "at")
        ids = list(alert_ids)
        with self.store.transaction() as s:
            for row in s.execute(select(AlertRow).where(AlertRow.id.in_(ids))).scalars():
                row.delivered_at = at

    def set_unrealized(self, day: date, unrealized_pnl: float, at: datetime) -> None:
        """Set the day's unrealized P&L (dollars) from the latest marks."""
        at = utc(at, "at")
        with self.store.transaction() as s:
            add_daily(s, day, 0.0, 0.0, at)
            row = s.get(DailyPnlRow, day)
            if row is not None:
                row.unrealized_pnl = unrealized_pnl

    def daily_pnl(self, day: date) -> DailyPnl | None:
        with self.store.read() as s:
            row = s.get(DailyPnlRow, day)
            if row is None:
                return None
            return DailyPnl(row.trade_date, row.realized_pnl, row.unrealized_pnl, row.commissions)

    def daily_pnl_before(self, day: date) -> DailyPnl | None:
        """The latest day's P&L row strictly before ``day`` (None when there is none)."""
        with self.store.read() as s:
            row = s.execute(
                select(DailyPnlRow).where(DailyPnlRow.trade_date < day).order_by(DailyPnlRow.trade_date.desc()).limit(1)
            ).scalar_one_or_none()
            if row is None:
                return None
            return DailyPnl(row.trade_date, row.realized_pnl, row.unrealized_pnl, row.commissions)

    def start_run(
        self,
        *,
        host: str,
        version: str,
        dry_run: bool,
        started_at: datetime,
        config_text: str | None = None,
        command: str | None = None,
    ) -> int:
        at = utc(started_at, "started_at")
        # Stored runs never hold secrets (alert URLs, broker keys): redacted here, at the door.
        with self.store.transaction() as s:
            row = RunRow(
                started_at=at,
                host=host,
                version=version,
                dry_run=dry_run,
                config_text=None if config_text is None else redact_config_text(config_text),
                command=None if command is None else redact_text(command),
            )
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, at: datetime) -> None:
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"run {run_id} is not in the store")
            row.finished_at = at

    def upsert_method(
        self,
        name: str,
        at: datetime,
        *,
        description: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        at = utc(at, "at")
        with self.store.transaction() as s:
            row = s.execute(select(MethodRow).where(MethodRow.name == name).with_for_update()).scalar_one_or_none()
            if row is None:
                s.add(MethodRow(name=name, description=description, config=config, created_at=at))
            else:
                row.description = description
                row.config = config
