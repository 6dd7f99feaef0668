"""Settlement at expiration, shared by both drivers: what an expiring position closes at and
why. Cash-settled index options (:data:`CASH_SETTLED`) pay intrinsic value in cash;
physically settled ones (ETFs such as SPY, QQQ, IWM) have an ITM short assigned and an ITM
long exercised (OCC exercise by exception), the shares taken as closed at the same price, so
the position also closes at intrinsic value, with reason ``assignment`` when a short leg was
ITM. Settlement is not a trade: no commission. Binary event contracts settle at their market's
result instead (:func:`riskpilot.model.event.settle_event_position`)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import date
from typing import Literal

from riskpilot.model.contract import require_option
from riskpilot.model.enums import Right
from riskpilot.model.position import Position, premium_sign
from riskpilot.risk.sizing import payoff_at_expiry

#: Underlyings whose options are cash settled (European index options).
CASH_SETTLED = frozenset({"SPX", "SPXW", "XSP", "NDX", "NDXP", "RUT", "RUTW", "VIX", "DJX", "OEX", "XEO"})

Settlement = Literal["cash", "physical"]


@dataclass(frozen=True, slots=True)
class SettlementPrice:
    """The underlying's value a position settles at: ``spot`` in underlying price units,
    ``source`` says where it came from (shown in the exit's reason)."""

    spot: float
    source: str


def settlement_close(pos: Position, spot: float, settlement: Settlement) -> tuple[float, str]:
    """The close-out premium (per share, >= 0) and exit reason of ``pos`` settled at the
    underlying price ``spot`` on its expiration : intrinsic value;
    reason ``assignment`` for a physically settled position with an ITM short leg, else
    ``expiration_settlement``."""
    value = payoff_at_expiry(pos.legs, spot)
    price = premium_sign(pos.premium_type) * value  # the held legs' value as a close-out premium
    if price < -1e-9:
        raise ValueError(
            f"position {pos.id} settles at a negative close-out premium {price:.4f}: its legs "
            f"{[str(leg) for leg in pos.legs]} are not a structure the backtester supports"
        )
    price = price if price > 0 else 0.0  # never -0.0
    options = [(leg, require_option(leg.contract, "option settlement")) for leg in pos.legs]
    itm_short = any(
        leg.is_short and (
            (c.right is Right.PUT and spot < c.strike) or (c.right is Right.CALL and spot > c.strike)
        )
        for leg, c in options
    )
    return price, "assignment" if settlement == "physical" and itm_short else "expiration_settlement"


def settlement_for(underlying: str, settlement: Settlement | None = None) -> Settlement:
    """``settlement`` checked, or the default by underlying (cash for :data:`CASH_SETTLED`)."""
    if settlement is not None:
        if settlement not in ("cash", "physical"):
            raise ValueError(f"settlement must be 'cash' or 'physical', got {settlement!r}")
        return settlement
    return "cash" if underlying.upper() in CASH_SETTLED else "physical"


class ChainCloses:
    """Settlement values from the chain's own underlying close, as the chains were seen
    (:meth:`observe` each day in order): a position expiring on a day seen settles at that
    day's close; one whose expiration the data skipped at the last close on or before it.
    Implements :class:`riskpilot.trading.step.SettlementPrices`."""

    def __init__(self, underlying: str) -> None:
        self.underlying = underlying
        self._days: list[date] = []
        self._closes: list[float] = []
        self._last: tuple[date, float] | None = None

    def observe(self, day: date, close: float) -> None:
        self._last = (day, close)
        if math.isfinite(close):
            self._days.append(day)
            self._closes.append(close)

    def on(self, underlying: str, expiration: date) -> SettlementPrice:
        if self._last is not None and self._last[0] == expiration and not math.isfinite(self._last[1]):
            raise ValueError(
                f"{expiration}: a {underlying} position expires today but the chain carries no underlying "
                f"price to settle it at (fill underlying_price in the chain)"
            )
        i = bisect.bisect_right(self._days, expiration) - 1
        if i < 0:
            raise ValueError(f"no {underlying} close on or before {expiration} to settle an expiry at")
        return SettlementPrice(self._closes[i], f"chain close of {self._days[i]}")


__all__ = ["CASH_SETTLED", "ChainCloses", "Settlement", "SettlementPrice", "settlement_close", "settlement_for"]
