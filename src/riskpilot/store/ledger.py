"""The store as the exit executor's ledger (:class:`riskpilot.execution.ledger.Ledger`): its
exit, order and position repositories, over one store."""

from __future__ import annotations

from dataclasses import dataclass, field

from riskpilot.store.database import Store
from riskpilot.store.exits import ExitRepository
from riskpilot.store.orders import OrderRepository
from riskpilot.store.positions import PositionRepository


@dataclass(frozen=True)
class StoreLedger:
    store: Store
    exits: ExitRepository = field(init=False)
    orders: OrderRepository = field(init=False)
    positions: PositionRepository = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exits", ExitRepository(self.store))
        object.__setattr__(self, "orders", OrderRepository(self.store))
        object.__setattr__(self, "positions", PositionRepository(self.store))


__all__ = ["StoreLedger"]
