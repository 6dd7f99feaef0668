"""Per-leg IB executions netted into riskpilot fills of whole combo units.

IB reports a combo (BAG) order's executions per leg: each leg's contract, side (BOT/SLD),
shares (contracts) and price, each followed by its own commission report (it may also report
a BAG summary execution, which carries no commission; it is ignored here so nothing counts
twice). riskpilot's :class:`riskpilot.model.Fill` is in units of the combo at its net premium.

How executions are netted (per order, executions in (time, execId) order):

1. Each leg ``i`` trades ``r_i`` contracts per unit (its ratio). Its executions queue up.
2. Whenever every leg holds at least ``r_i * n`` unconsumed contracts, ``n`` whole units are
   complete: ``r_i * n`` contracts are taken from each queue, first in first out.
3. Their fill's price is the net premium per share of one unit:
   ``abs(sum_i sign_i * r_i * p_i)``, with ``p_i`` the quantity-weighted price of the contracts
   taken from leg ``i`` and ``sign_i`` +1 for BOT, -1 for SLD; its commission is the taken
   share of each execution's commission (a commission is per execution, so split pro rata).
4. The fill id is ``<client order id>#<first unit>-<last unit>``: the same executions always
   give the same fills, so a restart that reads them again from ``reqExecutions`` produces the
   ids the store already has, and each fill is applied once.

A unit group whose executions have not all had their commission report yet is held back
(with everything after it) until they have, or until ``commission_deadline`` passes, when it
goes out with the commissions known (a logged warning names it). A single-leg order is the
same computation with one leg.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from riskpilot.model.enums import Side
from riskpilot.model.order import Fill

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LegExecution:
    """One leg execution as IB reports it. ``commission`` in dollars, None until its report."""

    exec_id: str
    con_id: int
    bought: bool
    shares: int
    price: float
    time: datetime
    commission: float | None


@dataclass(slots=True)
class _Lot:
    left: int
    execution: LegExecution


def net_fills(
    client_order_id: str,
    ratios: Mapping[int, int],
    side: Side,
    executions: Sequence[LegExecution],
    *,
    position_id: str | None = None,
    commission_deadline: datetime | None = None,
) -> list[Fill]:
    """Whole-unit fills of one order from its leg ``executions`` (see the module docstring).
    ``ratios`` maps each leg's conId to its contracts per unit (positive); ``side`` is the
    riskpilot order's side; a group waiting for a commission report past
    ``commission_deadline`` (None: wait for ever) is emitted with what is known."""
    if not ratios or any(r < 1 for r in ratios.values()):
        raise ValueError(f"order {client_order_id!r}: every leg needs a ratio >= 1, got {dict(ratios)}")
    queues: dict[int, deque[_Lot]] = {cid: deque() for cid in ratios}
    held: dict[int, int] = dict.fromkeys(ratios, 0)
    bought: dict[int, bool] = {}  # a leg is traded in one direction within an order
    fills: list[Fill] = []
    units_done = 0
    for ex in sorted(executions, key=lambda e: (e.time, e.exec_id)):
        if ex.con_id not in queues:
            raise ValueError(f"order {client_order_id!r}: execution {ex.exec_id} is for conId {ex.con_id}, "
                             f"not a leg of the order ({sorted(ratios)})")
        queues[ex.con_id].append(_Lot(ex.shares, ex))
        held[ex.con_id] += ex.shares
        bought[ex.con_id] = ex.bought
        n = min(held[c] // r for c, r in ratios.items())
        if n == 0:
            continue
        net = 0.0
        commission = 0.0
        waiting: list[str] = []
        for cid, r in ratios.items():
            need = r * n
            held[cid] -= need
            cost = 0.0
            while need:
                lot = queues[cid][0]
                take = min(need, lot.left)
                cost += take * lot.execution.price
                c = lot.execution.commission
                if c is None:
                    waiting.append(lot.execution.exec_id)
                else:
                    commission += c * take / lot.execution.shares
                lot.left -= take
                need -= take
                if lot.left == 0:
                    queues[cid].popleft()
            avg = cost / (r * n)
            net += (1 if bought[cid] else -1) * r * avg
        if waiting and (commission_deadline is None or ex.time > commission_deadline):
            break  # this group (and what follows) waits for its commission reports
        if waiting:
            log.warning("order %s: fill of units %d-%d goes out without the commission of %s (no report in time)",
                        client_order_id, units_done + 1, units_done + n, ", ".join(waiting))
        fills.append(
            Fill(
                fill_id=f"{client_order_id}#{units_done + 1}-{units_done + n}",
                client_order_id=client_order_id,
                quantity=n,
                price=round(abs(net), 10),
                timestamp=ex.time,
                side=side,
                position_id=position_id,
                commission=round(commission, 10),
            )
        )
        units_done += n
    return fills



__all__ = ["LegExecution", "net_fills"]
