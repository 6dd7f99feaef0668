"""Adopting a broker account's positions into the store, so the monitor manages their exits.

The grouping itself is pure (:mod:`riskpilot.live.adopt`); this module puts it against the
store:

1. :func:`unknown_holdings`: what the account holds beyond what the store's open positions
   hold, per contract (a contract held the other way round, or more than the store says). What
   the store already manages is never adopted a second time.
2. :func:`plan_adoption`: those holdings grouped automatically
   (:func:`riskpilot.live.adopt.group_holdings`) or as an explicit grouping file says
   (:func:`riskpilot.live.adopt.apply_grouping`).
3. :func:`adopt`: the plan's positions stored OPEN, with ids the store does not use yet, in one
   transaction each (the method row is created on first use).

Used by ``riskpilot positions adopt`` (with confirmation) and by the reconciliation when
``brokers.ibkr.unknown_positions`` is ``adopt``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from riskpilot.execution.port import BrokerPosition
from riskpilot.live.adopt import AdoptionPlan, GroupIn, apply_grouping, group_holdings
from riskpilot.model.contract import Contract
from riskpilot.model.enums import PositionStatus
from riskpilot.model.position import Position
from riskpilot.store import PositionRepository, Store
from riskpilot.store.models import PositionRow
from riskpilot.store.serialize import contract_key

#: Store positions whose legs the account is expected to hold.
HELD_STATUSES = (PositionStatus.OPEN, PositionStatus.CLOSING)


@dataclass(frozen=True, slots=True)
class Holding:
    """Net contracts of one contract: held at the broker and held by the store's positions."""

    contract: Contract
    broker: int
    store: int


def compare_holdings(store: Store, holdings: Sequence[BrokerPosition]) -> list[Holding]:
    """Per contract held by either side, the broker's and the store's net quantity (sorted by
    contract key)."""
    expected: dict[str, int] = defaultdict(int)
    broker: dict[str, int] = defaultdict(int)
    contracts: dict[str, Contract] = {}
    for sp in PositionRepository(store).load_open(HELD_STATUSES):
        for leg in sp.position.legs:
            k = contract_key(leg.contract)
            expected[k] += leg.quantity * sp.position.quantity
            contracts[k] = leg.contract
    for h in holdings:
        k = contract_key(h.contract)
        broker[k] += h.quantity
        contracts[k] = h.contract
    return [Holding(contracts[k], broker.get(k, 0), expected.get(k, 0))
            for k in sorted(set(expected) | set(broker)) if broker.get(k, 0) or expected.get(k, 0)]


def unknown_holdings(store: Store, holdings: Sequence[BrokerPosition]) -> list[BrokerPosition]:
    """What the broker holds that no open position of the store accounts for: the whole
    holding when the store holds none of it or holds it the other way round, else the excess
    over what the store holds. Average prices are the broker's."""
    avg = {contract_key(h.contract): h.avg_price for h in holdings}
    out: list[BrokerPosition] = []
    for h in compare_holdings(store, holdings):
        b, e = h.broker, h.store
        if b == 0:
            continue
        extra = b if e == 0 or (b > 0) != (e > 0) else (b - e if abs(b) > abs(e) else 0)
        if extra:
            out.append(BrokerPosition(h.contract, extra, avg[contract_key(h.contract)]))
    return out


def plan_adoption(store: Store, holdings: Sequence[BrokerPosition], *, method: str, now: datetime,
                  grouping: Sequence[GroupIn] | None = None, source: str = "<grouping>") -> AdoptionPlan:
    """The positions to adopt from ``holdings`` (the account's), leaving out what the store
    already manages: grouped automatically, or by ``grouping`` (an explicit file, checked
    against the unknown holdings; raises :class:`riskpilot.config.ConfigError` naming each
    group the account cannot cover)."""
    unknown = unknown_holdings(store, holdings)
    if grouping is not None:
        return apply_grouping(unknown, grouping, method=method, now=now, source=source)
    return group_holdings(unknown, method=method, now=now)


_NUMBERED = re.compile(r"^(.*)-(\d+)$")


def _free_ids(store: Store, positions: Sequence[Position]) -> list[Position]:
    """``positions`` with ids the store does not use (a taken ``...-<n>`` counts on)."""
    with store.read() as s:
        taken = set(s.execute(select(PositionRow.id)).scalars())
    out: list[Position] = []
    for p in positions:
        pid = p.id
        m = _NUMBERED.match(pid)
        stem, n = (m.group(1), int(m.group(2))) if m else (pid, 1)
        while pid in taken:
            n += 1
            pid = f"{stem}-{n}"
        taken.add(pid)
        out.append(p if pid == p.id else replace(p, id=pid))
    return out


def adopt(store: Store, plan: AdoptionPlan) -> list[Position]:
    """Store the plan's positions OPEN (ids made unique); returns them as stored."""
    stored = _free_ids(store, plan.positions)
    repo = PositionRepository(store)
    for p in stored:
        repo.open_position(p)
    return stored


def describe_plan(plan: AdoptionPlan) -> list[str]:
    """One line per position to adopt and per holding left out, for the confirmation."""
    lines = []
    for a in plan.adopted:
        p = a.position
        legs = ", ".join(f"{leg.quantity * p.quantity:+d} {leg.contract}" for leg in p.legs)
        lines.append(f"{p.id}: {a.structure} x{p.quantity} [{legs}] {p.premium_type.value} "
                     f"{p.entry_premium:.4f}/share, method {p.method}")
    for h, why in plan.unadopted:
        lines.append(f"left out: {h.quantity:+d} {h.contract} (avg {h.avg_price:.4f}): {why}")
    return lines


__all__ = [
    "HELD_STATUSES",
    "Holding",
    "adopt",
    "compare_holdings",
    "describe_plan",
    "plan_adoption",
    "unknown_holdings",
]
