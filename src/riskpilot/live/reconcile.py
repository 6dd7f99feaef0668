"""Reconcile the store with the broker before acting (on start, and after every reconnect),
and rebuild the risk book.

:func:`reconcile` runs before the monitor decides anything:

1. **Orders of ours the store only meant to send.** An order intent with no order row (a
   crash between recording the intent and sending) that the broker knows under its client
   order id (IB: ``orderRef``) is *adopted*: recorded with the broker's state, never sent
   again. One the broker does not know stays an intent (an exit attempt's is re-sent by the
   executor with the same id).
2. **Fills that arrived while down.** Every broker execution since the last fill the store
   has seen (less :data:`FILLS_LOOKBACK`, in case one was reported late; all of them when the
   store has none) whose fill id the store does not know, for an order the store knows, is
   applied once (``OrderRepository.record_fill``: the fill, its order, its position, its exit
   and attempt, the partial-exit stage it completes, the exit's ``exit_executed`` alert, the
   day's P&L). An execution for an order the store never recorded is reported
   (``unknown_fills``), never applied. Stages done are rebuilt from the filled exits
   (``stages_rebuilt``; a repair for stores written by older versions).
3. **Open orders.** Every order the store holds as working is asked about (``order_status``)
   and takes the broker's state; one the broker never received is marked CANCELLED with that
   reason (an exit attempt's order is re-sent by the executor's
   :meth:`~riskpilot.execution.executor.ExitExecutor.resume_all`, with the same client id).
   A broker that lists its open orders (:class:`~riskpilot.execution.port.OpenOrders`) also
   names working orders carrying a client order id the store never recorded
   (``unknown_orders``): reported, left alone.
4. **Entries.** A PENDING position whose entry order is final is settled at what filled
   (``PositionRepository.settle_entry``); one still working is cancelled first (an entry
   priced before the restart is stale) and then settled; one whose order never reached the
   broker closes unopened. A working entry ``keep_entry`` accepts (the monitor's: one its
   entry workflow places, still within its order window) is not stale: it is left working
   (``entries_working``) for :meth:`~riskpilot.live.entries.EntryWorkflow.resume` to work to
   the deadline it had, so a kill mid-entry ends as the uninterrupted run would.
5. **Positions.** The contracts the store's open positions hold are compared with the
   broker's net positions; differences are reported (``position_mismatches``), not "fixed".
   Holdings the store does not account for at all (``unknown_positions``) are grouped into
   positions (:mod:`riskpilot.live.adoption`) and, with ``unknown_positions="adopt"``, stored
   under ``adopt_method`` so the monitor manages their exits; with ``"ignore"`` they are only
   reported.

With ``dry_run`` nothing is written: the report says what would have been done (``would_*``).

Exits in flight are then resumed by ``ExitExecutor.resume_all`` (the monitor does it), so no
position is left without a monitor or an exit record.

:func:`restore_risk` rebuilds the :class:`~riskpilot.risk.RiskManager` from the store: the
trading state (a circuit-breaker halt with its day), every open position's book entry (via
``register_position`` + one opening fill per position at its entry premium) and its trailing
stop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from riskpilot.execution.ledger import OrderBook
from riskpilot.execution.port import BrokerPort, OpenOrders, OrderState, OrderStatus, UnknownOrderError
from riskpilot.live.adoption import adopt, compare_holdings, describe_plan, plan_adoption
from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.enums import PositionStatus, Side, TradingState
from riskpilot.model.order import Fill, OrderPurpose, client_order_id
from riskpilot.model.position import Position
from riskpilot.risk.manager import OrderRequest, RiskManager, UnknownPositionError
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.store import (
    InvariantError,
    NotFoundError,
    OrderRepository,
    PositionRepository,
    StateRepository,
    Store,
    StoredPosition,
    TradingStateRecord,
)
from riskpilot.store.models import ExitStatus, FillRow, OrderIntentRow, OrderRow, PositionExitRow

log = logging.getLogger(__name__)

#: The entry order of a position: one combo order, sequence 1.
ENTRY_SEQUENCE = 1


def entry_order_id(position_id: str) -> str:
    return client_order_id(position_id, OrderPurpose.OPEN, ENTRY_SEQUENCE)


#: Fills are read from the broker since the store's last fill less this much (a fill reported
#: late, or held back for its commission report, may be stamped before the last one seen).
FILLS_LOOKBACK = timedelta(hours=1)

UnknownPositions = Literal["ignore", "adopt"]


@dataclass(slots=True)
class ReconcileReport:
    """What :func:`reconcile` found and did (or, in a dry run, would have done)."""

    fills_recorded: list[str] = field(default_factory=list)
    unknown_fills: list[str] = field(default_factory=list)
    orders_adopted: list[str] = field(default_factory=list)
    orders_updated: list[str] = field(default_factory=list)
    orders_never_sent: list[str] = field(default_factory=list)
    unknown_orders: list[str] = field(default_factory=list)
    entries_settled: list[str] = field(default_factory=list)
    entries_working: list[str] = field(default_factory=list)
    stages_rebuilt: list[str] = field(default_factory=list)
    position_mismatches: list[str] = field(default_factory=list)
    unknown_positions: list[str] = field(default_factory=list)
    positions_adopted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        return self.counts() + self.findings()

    def counts(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        return [
            f"fills {would}recorded while down: {len(self.fills_recorded)}",
            f"orders of ours found at the broker and {would}adopted (not re-sent): {len(self.orders_adopted)}",
            f"orders {would}updated from the broker: {len(self.orders_updated)}",
            f"orders the broker never received: {len(self.orders_never_sent)}",
            f"entries {would}settled: {len(self.entries_settled)}",
            f"entries within their order window, left working: {len(self.entries_working)}",
        ]

    def findings(self) -> list[str]:
        """What an operator should read: unknown fills, orders and positions, mismatches, problems."""
        would = "would be " if self.dry_run else ""
        out = [f"stages rebuilt from filled exits: {s}" for s in self.stages_rebuilt]
        out += [f"unknown broker fill {f}" for f in self.unknown_fills]
        out += [f"unknown order at the broker {o}: left alone" for o in self.unknown_orders]
        out += [f"position mismatch: {m}" for m in self.position_mismatches]
        out += [f"position at the broker the store does not know: {u}" for u in self.unknown_positions]
        out += [f"position {would}adopted: {a}" for a in self.positions_adopted]
        out += [f"problem: {p}" for p in self.problems]
        return out


def _last_fill_at(store: Store) -> datetime | None:
    with store.read() as s:
        return s.execute(select(func.max(FillRow.filled_at))).scalar()


async def record_new_fills(
    orders: Store | OrderBook, fills: list[Fill], risk: RiskManager | None = None, *, only: set[str] | None = None
) -> list[str]:
    """Apply to the store's order book (a store, or its :class:`OrderBook`) and to ``risk``'s
    book each fill of ``fills`` whose order the store knows and whose fill id it does not
    (``only``: restrict to these client order ids). Returns the fill ids applied to the
    store. The risk manager skips fill ids it has seen."""
    mine = [f for f in fills if only is None or f.client_order_id in only]
    book = OrderRepository(orders) if isinstance(orders, Store) else orders
    applied = book.record_new(mine)
    for f in mine:
        if risk is not None and f.position_id is not None:
            try:
                risk.record_fill(f)
            except (UnknownPositionError, ValueError) as exc:
                log.warning("risk book skipped fill %s: %s", f.fill_id, exc)
    return applied


async def reconcile(
    store: Store,
    broker: BrokerPort,
    now: datetime,
    *,
    risk: RiskManager | None = None,
    unknown_positions: UnknownPositions = "ignore",
    adopt_method: str = "default",
    dry_run: bool = False,
    keep_entry: Callable[[Position], bool] | None = None,
) -> ReconcileReport:
    """Bring the store in line with the broker (module docstring, steps 1-5). ``risk`` (a
    running monitor's book, after a reconnect) also takes the fills recorded."""
    report = ReconcileReport(dry_run=dry_run)
    orders = OrderRepository(store)

    # 1. Orders of ours the store only meant to send.
    for coid in _intents_without_order(store):
        try:
            state = await broker.order_status(coid)
        except UnknownOrderError:
            continue
        report.orders_adopted.append(f"{coid} ({state.status.value} at the broker, id {state.broker_order_id})")
        if not dry_run:
            orders.record_order(coid, broker_order_id=state.broker_order_id, status=state.status, at=now,
                                reason=state.reason)
            orders.update_from_broker(state)

    # 2. Fills that arrived while down.
    last = _last_fill_at(store)
    fills = await broker.executions(None if last is None else last - FILLS_LOOKBACK)
    known_orders = _known_order_ids(store, {f.client_order_id for f in fills})
    for f in fills:
        if f.client_order_id not in known_orders:
            report.unknown_fills.append(f"{f.fill_id} (order {f.client_order_id})")
    if dry_run:
        mine = [f for f in fills if f.client_order_id in known_orders]
        seen = orders.known_fill_ids(f.fill_id for f in mine) if mine else set()
        report.fills_recorded = [f.fill_id for f in mine if f.fill_id not in seen]
    else:
        try:
            report.fills_recorded = await record_new_fills(store, fills, risk, only=known_orders)
        except InvariantError as exc:
            report.problems.append(str(exc))
        # A fill marks its partial-exit stage done in its own transaction; stores written before
        # that was so are repaired from their filled exits.
        rebuilt = PositionRepository(store).rebuild_stages()
        report.stages_rebuilt = [f"{pid}: {', '.join(st)}" for pid, st in rebuilt.items()]

    # 3. Open orders.
    for rec in orders.working_orders():
        try:
            state = await broker.order_status(rec.client_order_id)
        except UnknownOrderError:
            state = OrderState(
                rec.client_order_id, rec.broker_order_id or "", OrderStatus.CANCELLED, rec.quantity,
                rec.filled_quantity, rec.avg_fill_price, rec.limit_price, now,
                "never reached the broker (found on restart)",
            )
            report.orders_never_sent.append(rec.client_order_id)
        if not dry_run:
            orders.update_from_broker(state)
        report.orders_updated.append(rec.client_order_id)
    if isinstance(broker, OpenOrders):
        working = await broker.open_orders()
        known = _intent_ids(store, {o.client_order_id for o in working})
        report.unknown_orders = [f"{o.client_order_id} ({o.status.value}, id {o.broker_order_id})"
                                 for o in working if o.client_order_id not in known]

    # 4. Entries: settle every position whose entry order has not been settled.
    if not dry_run:
        await _settle_entries(store, broker, now, report, keep_entry)

    # 5. Positions.
    await _positions(store, broker, now, report, unknown_positions, adopt_method)
    tag = " (dry run)" if dry_run else ""
    for line in report.counts():
        log.info("reconcile%s: %s", tag, line)
    for line in report.findings():
        log.warning("reconcile%s: %s", tag, line)
    return report


async def _settle_entries(store: Store, broker: BrokerPort, now: datetime, report: ReconcileReport,
                          keep_entry: Callable[[Position], bool] | None) -> None:
    orders = OrderRepository(store)
    positions = PositionRepository(store)
    for sp in positions.load_open((PositionStatus.PENDING, PositionStatus.OPEN)):
        pos = sp.position
        if pos.quantity != pos.original_quantity:
            continue  # an exit has reduced it: its entry was settled long ago
        coid = entry_order_id(pos.id)
        try:
            rec = orders.get_order(coid)
        except NotFoundError:
            if pos.status is PositionStatus.OPEN:
                continue  # opened outside the entry workflow (adopted, restored by hand)
            sent: OrderState | None = None
            try:
                sent = await broker.order_status(coid) if orders.has_intent(coid) else None
            except UnknownOrderError:
                sent = None
            if sent is None:
                positions.settle_entry(pos.id, filled_quantity=0, avg_price=None, at=now)
                report.entries_settled.append(f"{pos.id}: entry order never reached the broker; closed unopened")
                continue
            orders.record_order(coid, broker_order_id=sent.broker_order_id, status=sent.status, at=now)
            rec = orders.get_order(coid)
        if rec.status.is_working:
            if keep_entry is not None and keep_entry(pos):
                report.entries_working.append(pos.id)
                continue
            cancelled = await broker.cancel_order(coid)
            await record_new_fills(store, await broker.executions(None), only={coid})
            orders.update_from_broker(cancelled)
            rec = orders.get_order(coid)
        if (
            pos.status is PositionStatus.OPEN
            and rec.filled_quantity == pos.quantity
            and rec.avg_fill_price is not None
            and abs(rec.avg_fill_price - pos.entry_premium) < 1e-9
        ):
            continue  # settled before the restart
        positions.settle_entry(pos.id, filled_quantity=rec.filled_quantity, avg_price=rec.avg_fill_price, at=now)
        report.entries_settled.append(f"{pos.id}: {rec.filled_quantity} of {rec.quantity} filled")


async def _positions(store: Store, broker: BrokerPort, now: datetime, report: ReconcileReport,
                     policy: UnknownPositions, method: str) -> None:
    held = await broker.positions()
    for h in compare_holdings(store, held):
        if h.broker != h.store:
            report.position_mismatches.append(f"{h.contract}: store positions hold {h.store}, the broker {h.broker}")
    plan = plan_adoption(store, held, method=method, now=now)
    report.unknown_positions = describe_plan(plan)
    if not plan.adopted:
        return
    if policy == "ignore":
        report.problems.append(
            f"{len(plan.adopted)} positions at the broker are not in the store and are not managed: adopt them "
            "with `riskpilot positions adopt`, or set brokers.ibkr.unknown_positions: adopt")
        return
    if report.dry_run:
        report.positions_adopted = [a.position.id for a in plan.adopted]
        return
    report.positions_adopted = [p.id for p in adopt(store, plan)]


def _intents_without_order(store: Store) -> list[str]:
    with store.read() as s:
        q = (select(OrderIntentRow.client_order_id)
             .outerjoin(OrderRow, OrderRow.client_order_id == OrderIntentRow.client_order_id)
             .where(OrderRow.id.is_(None))
             .order_by(OrderIntentRow.id))
        return list(s.execute(q).scalars())


def _intent_ids(store: Store, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    with store.read() as s:
        q = select(OrderIntentRow.client_order_id).where(OrderIntentRow.client_order_id.in_(ids))
        return set(s.execute(q).scalars())


def _known_order_ids(store: Store, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    from riskpilot.store.models import OrderRow

    with store.read() as s:
        return set(s.execute(select(OrderRow.client_order_id).where(OrderRow.client_order_id.in_(ids))).scalars())


def working_exit_positions(store: Store) -> dict[str, int]:
    """Position id -> id of its newest WORKING exit (an exit being worked, or queued by
    ``riskpilot close`` for the monitor to work)."""
    with store.read() as s:
        rows = s.execute(
            select(PositionExitRow.position_id, PositionExitRow.id).where(PositionExitRow.status == ExitStatus.WORKING)
        ).all()
    return {pid: eid for pid, eid in rows}


def apply_trading_state(risk: RiskManager, state: TradingStateRecord) -> None:
    """Put ``risk`` in the stored trading ``state``: halt (with its reason and the exchange date
    of a circuit-breaker halt), reduce-only, or resume."""
    if state.state is TradingState.HALTED:
        risk.halt(state.reason, state.halted_on)
    elif state.state is TradingState.REDUCING:
        risk.reduce_only(state.reason)
    else:
        risk.resume()


def restore_risk(
    risk: RiskManager,
    store: Store,
    stored: list[StoredPosition],
    *,
    trading_state: bool = True,
    now: datetime | None = None,
) -> None:
    """Rebuild ``risk`` from the store: the trading state (unless ``trading_state`` is
    false), and the book entries and trailing stops of ``stored`` (open positions). With
    ``now`` (a restart), also the trading day of ``now`` (:func:`day_baseline`), so that the
    circuit breaker judges today's P&L only."""
    if trading_state:
        apply_trading_state(risk, StateRepository(store).trading_state())
    for sp in stored:
        p = sp.position
        if p.quantity < 1 or risk.open_quantity(p.id) > 0:
            continue
        mlpu = max_loss_per_unit(p.legs, p.entry_premium, p.premium_type)
        risk.register_position(
            p.id,
            OrderRequest(
                underlying=p.underlying,
                quantity=p.quantity,
                max_loss_per_unit=max(mlpu, 1e-6),
                method=p.method,
                position_id=p.id,
                premium_type=p.premium_type,
                multiplier=p.multiplier,
            ),
        )
        risk.record_fill(
            Fill(
                fill_id=f"restore:{p.id}",
                client_order_id=f"restore:{p.id}",
                quantity=p.quantity,
                price=p.entry_premium,
                timestamp=p.opened_at,
                side=Side.BUY,
                position_id=p.id,
            )
        )
        if sp.trailing_state:
            risk.trails[p.id] = TrailState.from_dict(dict(sp.trailing_state))
    if now is not None:
        day, realized, sod = day_baseline(store, stored, now)
        risk.restore_day(day, realized, sod)


def day_baseline(store: Store, stored: list[StoredPosition], now: datetime) -> tuple[date, float, dict[str, float]]:
    """The trading day of ``now`` as the store knows it: the day, its realized P&L net of
    commissions (``daily_pnl``), and each open position's unrealized P&L at the start of it.

    A position last marked before today started the day at that mark (its stored
    ``unrealized_pnl``). One marked today already has lost its start-of-day mark; its stored
    unrealized P&L (the latest mark) is the baseline, so the day's P&L counts its move from
    the restart on, never the P&L made before today. One never marked starts at 0."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(EXCHANGE_TZ).date()
    row = StateRepository(store).daily_pnl(today)
    realized = 0.0 if row is None else row.realized_pnl - row.commissions
    sod: dict[str, float] = {}
    for sp in stored:
        u = sp.monitoring.unrealized_pnl
        if u is not None and math.isfinite(u):
            sod[sp.position.id] = u
    return today, realized, sod


__all__ = [
    "ENTRY_SEQUENCE",
    "FILLS_LOOKBACK",
    "ReconcileReport",
    "UnknownPositions",
    "apply_trading_state",
    "day_baseline",
    "entry_order_id",
    "reconcile",
    "record_new_fills",
    "restore_risk",
    "working_exit_positions",
]
