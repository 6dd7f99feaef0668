"""Binary event contracts: prices, the two-sided book, max loss and settlement. Pure.

How an event position is represented (the one convention the rest of riskpilot relies on):

- A position in a binary market holds **one leg, long (+1) one side** of one market, bought
  for a **DEBIT**: long YES or long NO (:class:`riskpilot.model.contract.EventContract` carries
  the side). ``entry_premium`` is the average price paid per contract in dollars
  (0.01-0.99); ``multiplier`` is 1, so premiums are dollars per contract.
- Being short YES at ``p`` is being long NO bought at ``1 - p``: that is how the venue nets
  it (Kalshi holds a short YES as NO contracts) and it is the same payoff. :func:`as_long`
  turns "sell YES to open at p" into "buy NO at 1 - p"; a short event leg or a CREDIT event
  position is refused by :class:`riskpilot.model.Position`.
- The close-out premium is the held side's price: the mark's bid is what selling it fetches
  (for NO that is the best NO bid, for YES the best YES bid). P&L per contract is
  ``current - entry`` (the SPEC's debit convention), in dollars.
- Max loss per contract is the price paid (:func:`max_loss_per_contract`); for the short
  phrasing of the same trade, ``1 - price`` received.
- At settlement each contract pays 1.00 if its side won and 0.00 if not; a VOID market
  returns the cost (:func:`settle_event_position`). Fees are separate
  (:mod:`riskpilot.execution.fees`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskpilot.model._checks import finite
from riskpilot.model.contract import (
    EVENT_MAX_PRICE,
    EVENT_MIN_PRICE,
    EVENT_PAYOUT,
    EVENT_TICK,
    EventContract,
    check_event_price,
)
from riskpilot.model.enums import ContractSide, MarketResult, Side
from riskpilot.model.position import Position

MIN_PRICE = EVENT_MIN_PRICE
MAX_PRICE = EVENT_MAX_PRICE
PAYOUT = EVENT_PAYOUT
TICK = EVENT_TICK
check_price = check_event_price

_CENT_EPS = 1e-6


def price_to_cents(price: float, *, round_up: bool) -> int:
    """``price`` (dollars) on the 1-cent grid: exact cents stay as they are (0.29 is 29, not
    28.999...), anything between two cents goes up or down as asked."""
    c = finite("price", price) * 100.0
    r = round(c)
    if abs(c - r) < _CENT_EPS:
        return int(r)
    return math.ceil(c) if round_up else math.floor(c)


def limit_to_cents(price: float, side: Side) -> int:
    """A limit price on the 1-cent grid, rounded in the direction that never makes the order
    more aggressive: a BUY pays at most ``price`` (down), a SELL receives at least it (up)."""
    return price_to_cents(price, round_up=side is Side.SELL)


def max_loss_per_contract(price: float, *, long: bool = True) -> float:
    """Dollars one contract can lose: the price paid for a long, ``1 - price`` for a short
    (sold at ``price``: it pays out 1.00 if it wins)."""
    p = check_price("price", price)
    return p if long else PAYOUT - p


def as_long(contract: EventContract, side: Side, price: float) -> tuple[EventContract, float]:
    """The long form of an opening trade: buying ``contract`` at ``price`` stays as it is;
    selling it to open at ``price`` is buying the other side at ``1 - price``."""
    p = check_price("price", price)
    if side is Side.BUY:
        return contract, p
    return contract.opposite(), round(PAYOUT - p, 10)


def side_market(
    side: ContractSide, best_yes_bid: float | None, best_no_bid: float | None
) -> tuple[float | None, float | None]:
    """The (bid, ask) of one side from the two bid ladders of a binary book (dollars; None
    where that ladder is empty). A NO bid at ``q`` is a YES offer at ``1 - q``, so the YES ask
    is ``1 - best NO bid`` and the NO ask is ``1 - best YES bid``."""
    own, other = (best_yes_bid, best_no_bid) if side is ContractSide.YES else (best_no_bid, best_yes_bid)
    ask = None if other is None else round(PAYOUT - other, 10)
    return own, ask


def payout(contract: EventContract, result: MarketResult) -> float:
    """What one contract of ``contract`` pays for ``result``: 1.00 if its side won, else 0.00.
    A VOID market pays no payout (the cost is returned; see :func:`settle_event_position`)."""
    result = MarketResult.parse(result)
    if result is MarketResult.VOID:
        raise ValueError(f"{contract}: a VOID market has no payout; positions are returned at their cost")
    won = (result is MarketResult.YES) == (contract.side is ContractSide.YES)
    return PAYOUT if won else 0.0


def event_contract(position: Position) -> EventContract:
    """The contract of an event position's single leg, or a ValueError for an option position."""
    contract = position.legs[0].contract
    if not isinstance(contract, EventContract):
        raise ValueError(f"position {position.id} holds options, not a binary event contract")
    return contract


def is_event_position(position: Position) -> bool:
    return isinstance(position.legs[0].contract, EventContract)


@dataclass(frozen=True, slots=True)
class EventSettlement:
    """A settled event position: ``quantity`` contracts paid ``price`` dollars each,
    ``pnl`` dollars against the entry premium (before fees: the venue charges none at
    settlement, and trading fees were paid at the fills)."""

    position_id: str
    contract: EventContract
    result: MarketResult
    quantity: int
    price: float
    pnl: float


def settle_event_position(position: Position, result: MarketResult | str) -> EventSettlement:
    """Settle an open event position at the market's result: 1.00 per contract when its
    side won, 0.00 when it lost, its entry premium back when the market was voided. Pure:
    the caller records the settlement as the position's closing fill at ``price``."""
    contract = event_contract(position)
    res = MarketResult.parse(result)
    price = position.entry_premium if res is MarketResult.VOID else payout(contract, res)
    pnl = (price - position.entry_premium) * position.quantity * contract.multiplier
    return EventSettlement(position.id, contract, res, position.quantity, price, pnl)


__all__ = [
    "MAX_PRICE",
    "MIN_PRICE",
    "PAYOUT",
    "TICK",
    "EventSettlement",
    "as_long",
    "check_price",
    "event_contract",
    "is_event_position",
    "limit_to_cents",
    "max_loss_per_contract",
    "payout",
    "price_to_cents",
    "settle_event_position",
    "side_market",
]
