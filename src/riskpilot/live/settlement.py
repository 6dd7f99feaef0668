"""Settlement at expiration in the live loop: the store's half of the cycle step's settlement
phase (which decides who settles and at what, :mod:`riskpilot.trading.settlement`).

Settlement is not a trade: no order, no commission. ``expire`` (the paper broker's, which
drops the expired contracts from its book; a real broker settles on its own) runs first,
then the store records an executed exit (rule and reason ``expiration_settlement`` or
``assignment``, tactic ``expiration``, priority LOW) and the risk book takes a settlement
fill. A run stopped in between settles the position again when it resumes (the broker step
is idempotent, the store's exit is recorded once the position is still open).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime

from riskpilot.data.daychain import DayChain
from riskpilot.model.contract import Contract
from riskpilot.model.enums import Priority, Side
from riskpilot.model.order import Fill, OrderPurpose, client_order_id
from riskpilot.model.position import Position
from riskpilot.risk.manager import RiskManager
from riskpilot.store import ExitRepository, PositionRepository, Store
from riskpilot.trading.settlement import Settlement, SettlementPrice
from riskpilot.trading.step import SettlementPrices, Settler

log = logging.getLogger("riskpilot.monitor")


class StoreSettlement:
    """Books settlements in ``store`` and ``risk`` (module docstring); ``prices`` and
    ``kind`` are what the cycle step settles options with, ``settler`` (when given) what it
    settles with instead (event markets at their result:
    :class:`riskpilot.trading.events.EventResults`)."""

    def __init__(self, store: Store, risk: RiskManager, prices: SettlementPrices | None, kind: Settlement, *,
                 expire: Callable[[Sequence[Contract]], None] | None = None, settler: Settler | None = None) -> None:
        self.store = store
        self.risk = risk
        self.prices = prices
        self.kind: Settlement = kind
        self.expire = expire
        self.settler = settler
        self._positions = PositionRepository(store)
        self._exits = ExitRepository(store)

    def settle(self, p: Position, price: float, reason: str, spot: SettlementPrice, now: datetime) -> None:
        if self.expire is not None:
            self.expire([leg.contract for leg in p.legs])
        unrealized = self._positions.get(p.id).monitoring.unrealized_pnl
        self._exits.record_exit(
            p.id, reason=f"{reason}: {p.underlying} {spot.spot:g} ({spot.source})", priority=Priority.LOW,
            quantity=p.quantity, fill_price=price, tactic="expiration", triggered_at=now, executed_at=now,
            rule=reason, unrealized_pnl_at_trigger=unrealized,
        )
        coid = client_order_id(p.id, OrderPurpose.CLOSE, 0)
        if self.risk.open_quantity(p.id) > 0:
            self.risk.record_fill(Fill(f"{coid}-SETTLE", coid, p.quantity, price, now, Side.SELL, p.id, 0.0))
        log.warning("settled %s at expiration %s: %d units at %.4f (%s, %s %g)", p.id, p.expiration,
                    p.quantity, price, reason, p.underlying, spot.spot)


class DayCloses:
    """The chain store's own underlying closes, as the backtest takes them from the chain it
    reads (:class:`riskpilot.trading.settlement.ChainCloses`): the close of the last day on or
    before the expiration that carries one. ``chain(day)`` reads a day. The fallback of
    :class:`riskpilot.trading.settlement.OfficialValues`, which the replay settles by, as the
    backtest does."""

    def __init__(self, underlying: str, days: Callable[[date | None, date], list[date]],
                 chain: Callable[[date], DayChain]) -> None:
        self.underlying = underlying
        self._days = days
        self._chain = chain

    def close_on(self, day: date) -> float | None:
        """The chain's close of ``day`` when the store has that day with a price, else None."""
        if day not in self._days(day, day):
            return None
        px = self._chain(day).underlying_price
        return px if math.isfinite(px) else None

    def on(self, underlying: str, expiration: date, am: bool = False) -> SettlementPrice:
        for d in reversed(self._days(None, expiration)):
            px = self._chain(d).underlying_price
            if math.isfinite(px):
                return SettlementPrice(px, f"chain close of {d}")
        raise ValueError(
            f"no {underlying} close on or before {expiration} in the chain store to settle an expiry at "
            f"(the chains carry no underlying_price)"
        )


__all__ = ["DayCloses", "StoreSettlement"]
