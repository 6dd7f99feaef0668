"""Restart: reconcile the store with the broker before acting, and rebuild the risk book.

:func:`reconcile` runs once on start, before the monitor decides anything:

1. **Fills that arrived while down.** Every broker execution whose fill id the store does not
   know, for an order the store knows, is applied once (``OrderRepository.record_fill``: the
   fill, its order, its position, its exit and attempt, the partial-exit stage it completes,
   the exit's ``exit_executed`` alert, the day's P&L). An execution for an order the store
   never recorded is reported (``unknown_fills``), never applied. Stages done are rebuilt from
   the filled exits (``stages_rebuilt``; a repair for stores written by older versions).
2. **Open orders.** Every order the store holds as working is asked about
   (``order_status``) and takes the broker's state; one the broker never received is marked
   CANCELLED with that reason (an exit attempt's order is re-sent by the executor's
   :meth:`~riskpilot.execution.executor.ExitExecutor.resume_all`, with the same client id).
3. **Entries.** A PENDING position whose entry order is final is settled at what filled
   (``PositionRepository.settle_entry``); one still working is cancelled first (an entry
   priced before the restart is stale) and then settled; one whose order never reached the
   broker closes unopened. A working entry ``keep_entry`` accepts (the monitor's: one its
   entry workflow places, still within its order window) is not stale: it is left working
   (``entries_working``) for :meth:`~riskpilot.live.entries.EntryWorkflow.resume` to work to
   the deadline it had, so a kill mid-entry ends as the uninterrupted run would.
4. **Positions.** The contracts the store's open positions hold are compared with the
   broker's net positions; differences are reported (``position_mismatches``), not "fixed".

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
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from riskpilot.execution.ledger import OrderBook
from riskpilot.execution.port import BrokerPort, OrderState, OrderStatus, UnknownOrderError
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
from riskpilot.store.models import ExitStatus, PositionExitRow
from riskpilot.store.serialize import contract_key

log = logging.getLogger(__name__)

#: The entry order of a position: one combo order, sequence 1.
ENTRY_SEQUENCE = 1


def entry_order_id(position_id: str) -> str:
    return client_order_id(position_id, OrderPurpose.OPEN, ENTRY_SEQUENCE)


@dataclass(slots=True)
class ReconcileReport:
    """What :func:`reconcile` found and did."""

    fills_recorded: list[str] = field(default_factory=list)
    unknown_fills: list[str] = field(default_factory=list)
    orders_updated: list[str] = field(default_factory=list)
    orders_never_sent: list[str] = field(default_factory=list)
    entries_settled: list[str] = field(default_factory=list)
    entries_working: list[str] = field(default_factory=list)
    stages_rebuilt: list[str] = field(default_factory=list)
    position_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"fills recorded while down: {len(self.fills_recorded)}",
            f"orders updated from the broker: {len(self.orders_updated)}",
            f"orders the broker never received: {len(self.orders_never_sent)}",
            f"entries settled: {len(self.entries_settled)}",
        ]
        out += [f"entry still within its window, left working: {pid}" for pid in self.entries_working]
        out += [f"stages rebuilt from filled exits: {s}" for s in self.stages_rebuilt]
        out += [f"unknown broker fill {f}" for f in self.unknown_fills]
        out += [f"position mismatch: {m}" for m in self.position_mismatches]
        out += [f"problem: {p}" for p in self.problems]
        return out


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


async def reconcile(store: Store, broker: BrokerPort, now: datetime, *,
                    keep_entry: Callable[[Position], bool] | None = None) -> ReconcileReport:
    """Bring the store in line with the broker (module docstring, steps 1-4)."""
    report = ReconcileReport()
    orders = OrderRepository(store)
    positions = PositionRepository(store)

    # 1. Fills that arrived while down.
    fills = await broker.executions(None)
    known_orders = _known_order_ids(store, {f.client_order_id for f in fills})
    for f in fills:
        if f.client_order_id not in known_orders:
            report.unknown_fills.append(f"{f.fill_id} (order {f.client_order_id})")
    try:
        report.fills_recorded = await record_new_fills(store, fills, only=known_orders)
    except InvariantError as exc:
        report.problems.append(str(exc))
    # A fill marks its partial-exit stage done in its own transaction; stores written before
    # that was so are repaired from their filled exits.
    report.stages_rebuilt = [f"{pid}: {', '.join(st)}" for pid, st in positions.rebuild_stages().items()]

    # 2. Open orders.
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
        orders.update_from_broker(state)
        report.orders_updated.append(rec.client_order_id)

    # 3. Entries: settle every position whose entry order has not been settled.
    for sp in positions.load_open((PositionStatus.PENDING, PositionStatus.OPEN)):
        pos = sp.position
        if pos.quantity != pos.original_quantity:
            continue  # an exit has reduced it: its entry was settled long ago
        coid = entry_order_id(pos.id)
        try:
            rec = orders.get_order(coid)
        except NotFoundError:
            if pos.status is PositionStatus.OPEN:
                continue  # opened outside the entry workflow (imported, restored by hand)
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

    # 4. Positions.
    expected: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for sp in positions.load_open((PositionStatus.OPEN, PositionStatus.CLOSING)):
        for leg in sp.position.legs:
            k = contract_key(leg.contract)
            expected[k] += leg.quantity * sp.position.quantity
            names[k] = str(leg.contract)
    held: dict[str, int] = defaultdict(int)
    for bp in await broker.positions():
        k = contract_key(bp.contract)
        held[k] += bp.quantity
        names[k] = str(bp.contract)
    for k in sorted(set(expected) | set(held)):
        if expected.get(k, 0) != held.get(k, 0):
            report.position_mismatches.append(
                f"{names[k]}: store positions hold {expected.get(k, 0)}, the broker {held.get(k, 0)}"
            )
    for line in report.lines():
        log.info("reconcile: %s", line)
    return report


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
    "ReconcileReport",
    "apply_trading_state",
    "day_baseline",
    "entry_order_id",
    "reconcile",
    "record_new_fills",
    "restore_risk",
    "working_exit_positions",
]
