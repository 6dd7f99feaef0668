"""Fill model: the price and quantity at which a (combo) order fills against leg quotes.

Pure functions, shared by the paper broker and the backtester, so that both fill alike.

Conventions
-----------
An order buys or sells the combo of its ``legs`` (per-unit signed quantities as held by the
position). Leg *i* is traded ``t_i = q_i`` units per combo unit for a BUY and ``-q_i`` for a
SELL; ``t_i > 0`` buys the leg, ``t_i < 0`` sells it.

- ``net_debit = sum(t_i * price_i)`` per share of one unit: positive when the order pays,
  negative when it receives a credit. The reported fill ``price`` is ``abs(net_debit)``,
  the positive net premium per share of :class:`riskpilot.model.Fill`.
- Whether the order is a debit or a credit order is decided by the combo's mid
  (``sum(t_i * mid_i) >= 0`` pays). A LIMIT order's ``limit_price`` is then the most it will
  pay (debit) or the least it will receive (credit): a debit limit fills when
  ``net_debit <= limit``, a credit limit when ``-net_debit >= limit``. A marketable limit
  fills at the model's achievable price, never worse than the limit.

Slippage models (per leg, buy side / sell side):

- :class:`MidSlippage`: the mid, ``(bid + ask) / 2``.
- :class:`FixedPctSlippage`: ``mid * (1 + pct)`` to buy, ``mid * (1 - pct)`` to sell.
- :class:`SpreadShareSlippage`: ``bid + s * (ask - bid)`` to buy, ``ask - s * (ask - bid)`` to
  sell. With ``share=None`` the share depends on the number of legs as ORATS models it in
  its backtester (75% of the spread for 1 leg, 66% for 2, 56% for 3, 53% for 4 or more;
  published in ORATS' backtest documentation on slippage).

Volume-aware fills cap the filled quantity at ``floor(volume_share * volume_i / |q_i|)``
over the legs (the day's volume, in contracts); the rest stays unfilled. Commissions are
``commission_per_contract * sum(|q_i|) * filled_quantity`` dollars.

:func:`combo_market` gives the combo's passive and natural net debits (every leg at its
favourable touch, or crossing its spread): the bid/ask that the exit tactics of
:mod:`riskpilot.execution.tactics` price their limits against.

A leg whose quote is missing or crossed prevents any fill (the result says why); so does a
zero bid on a short leg that a closing order (a SELL of the held combo) must buy back: a
market nobody bids is a placeholder ask, not a price to close at (the position is held, and
settles at expiration, until the leg is bid again). Staleness is the caller's to judge, since
a pure function has no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from riskpilot.model._checks import non_negative
from riskpilot.model.contract import Contract, Leg
from riskpilot.model.enums import OrderType, Side
from riskpilot.model.order import Order
from riskpilot.model.quote import Quote

#: ORATS' share of the bid-ask spread paid, by number of legs (4 applies to 4 or more).
ORATS_SPREAD_SHARE: Mapping[int, float] = {1: 0.75, 2: 0.66, 3: 0.56, 4: 0.53}


def orats_share(n_legs: int) -> float:
    """Share of the spread paid per leg for an order of ``n_legs`` legs (ORATS rule)."""
    if isinstance(n_legs, bool) or not isinstance(n_legs, int) or n_legs < 1:
        raise ValueError(f"number of legs must be a whole number >= 1, got {n_legs!r}")
    return ORATS_SPREAD_SHARE[min(n_legs, 4)]


class Slippage(Protocol):
    """Execution price per share of one leg, given its quote, direction and the order's
    number of legs. Quotes passed in are two-sided and not crossed."""

    def leg_price(self, bid: float, ask: float, buy: bool, n_legs: int) -> float: ...


@dataclass(frozen=True, slots=True)
class MidSlippage:
    """No slippage: every leg trades at its mid."""

    def leg_price(self, bid: float, ask: float, buy: bool, n_legs: int) -> float:
        return (bid + ask) / 2.0


@dataclass(frozen=True, slots=True)
class FixedPctSlippage:
    """Every leg trades ``pct`` (a fraction: 0.02 = 2%) worse than its mid."""

    pct: float

    def __post_init__(self) -> None:
        non_negative("slippage pct", self.pct)
        if self.pct >= 1:
            raise ValueError(f"slippage pct is a fraction (0.02 = 2%) below 1, got {self.pct}")

    def leg_price(self, bid: float, ask: float, buy: bool, n_legs: int) -> float:
        mid = (bid + ask) / 2.0
        return mid * (1.0 + self.pct) if buy else mid * (1.0 - self.pct)


@dataclass(frozen=True, slots=True)
class TouchSlippage:
    """A marketable order that takes the touch: buy at the ask, sell at the bid (exactly the
    quoted prices, so fills stay on the quotes' tick grid)."""

    def leg_price(self, bid: float, ask: float, buy: bool, n_legs: int) -> float:
        return ask if buy else bid


@dataclass(frozen=True, slots=True)
class SpreadShareSlippage:
    """Pay ``share`` of each leg's spread (0 = the favourable side's touch, 0.5 = mid,
    1 = the natural side). ``share=None`` uses :func:`orats_share` by number of legs."""

    share: float | None = None

    def __post_init__(self) -> None:
        if self.share is not None:
            non_negative("spread share", self.share)
            if self.share > 1:
                raise ValueError(f"spread share must be within [0, 1], got {self.share}")

    def leg_price(self, bid: float, ask: float, buy: bool, n_legs: int) -> float:
        s = orats_share(n_legs) if self.share is None else self.share
        spread = ask - bid
        return bid + s * spread if buy else ask - s * spread


class FeeSchedule(Protocol):
    """A venue's fee on one fill, in dollars: ``fee(price, contracts)`` with ``price`` the
    fill's positive net premium per share and ``contracts`` the contracts it traded."""

    def __call__(self, price: float, contracts: int) -> float: ...


@dataclass(frozen=True, slots=True)
class FillModel:
    """How orders fill: a slippage model, an optional volume cap (``volume_share`` of the
    day's volume, a fraction), and commissions in dollars per contract per leg, or ``fee``
    (a :class:`FeeSchedule`) in their place when the venue charges by price."""

    slippage: Slippage = MidSlippage()
    volume_share: float | None = None
    commission_per_contract: float = 0.0
    fee: FeeSchedule | None = None

    def __post_init__(self) -> None:
        non_negative("commission_per_contract", self.commission_per_contract)
        if self.volume_share is not None:
            non_negative("volume_share", self.volume_share)
            if self.volume_share > 1:
                raise ValueError(f"volume_share is a fraction within [0, 1], got {self.volume_share}")


@dataclass(frozen=True, slots=True)
class ComboPrice:
    """Per share of one combo unit: what the model achieves and the mid, both as signed net
    debits (negative = credit)."""

    net_debit: float
    mid_net_debit: float
    leg_prices: tuple[float, ...] = ()

    @property
    def pays(self) -> bool:
        """True for a debit order (pays premium), False for a credit order."""
        return self.mid_net_debit >= 0

    @property
    def price(self) -> float:
        """The positive net premium per share (what a Fill's price holds)."""
        return abs(self.net_debit)


@dataclass(frozen=True, slots=True)
class FillResult:
    """``filled_quantity`` combo units fill at ``price`` (positive net premium per share;
    None when nothing fills); ``commission`` in dollars; ``reason`` says why anything is
    left unfilled (None when all of it filled); ``leg_prices`` each leg's execution price
    per share, in leg order."""

    filled_quantity: int
    unfilled_quantity: int
    price: float | None
    net_debit: float | None
    commission: float
    reason: str | None = None
    leg_prices: tuple[float, ...] = ()

    @property
    def filled(self) -> bool:
        return self.filled_quantity > 0


def _trade_quantities(legs: Sequence[Leg], side: Side) -> list[int]:
    sign = 1 if side is Side.BUY else -1
    return [sign * leg.quantity for leg in legs]


def _zero_bid(leg: Leg) -> str:
    return (f"zero bid on short leg {leg.contract}, which the close must buy back: a one-sided market is "
            f"no price to fill at")


def combo_price(
    legs: Sequence[Leg],
    side: Side,
    quotes: Mapping[Contract, Quote],
    slippage: Slippage,
) -> ComboPrice | str:
    """The achievable and mid net debit of buying/selling one unit of ``legs``, or a string
    saying which leg's quote is unusable."""
    if not legs:
        raise ValueError("an order needs at least one leg")
    n = len(legs)
    net = 0.0
    mid = 0.0
    prices: list[float] = []
    for leg, t in zip(legs, _trade_quantities(legs, side), strict=True):
        q = quotes.get(leg.contract)
        if q is None:
            return f"no quote for leg {leg.contract}"
        if q.bid is None or q.ask is None or q.is_missing:
            return f"no two-sided market for leg {leg.contract}"
        if q.is_crossed:
            return f"crossed quote for leg {leg.contract} (bid {q.bid} > ask {q.ask})"
        if side is Side.SELL and leg.quantity < 0 and q.bid <= 0:
            return _zero_bid(leg)
        px = slippage.leg_price(q.bid, q.ask, t > 0, n)
        prices.append(px)
        net += t * px
        mid += t * (q.bid + q.ask) / 2.0
    return ComboPrice(net_debit=net, mid_net_debit=mid, leg_prices=tuple(prices))


@dataclass(frozen=True, slots=True)
class ComboMarket:
    """The combo's two-sided market for one trade direction, per share of one unit, as
    signed net debits (negative = credit): ``passive`` is the best price the order could hope
    for (every leg at its favourable touch: buy at the bid, sell at the ask) and ``far`` the
    natural price that crosses every leg's spread (buy at the ask, sell at the bid), so
    ``passive <= far``. ``mid`` is their average."""

    passive: float
    far: float

    @property
    def mid(self) -> float:
        return (self.passive + self.far) / 2.0

    @property
    def spread(self) -> float:
        return self.far - self.passive

    @property
    def pays(self) -> bool:
        """Whether an order in this market is a debit order (decided by the mid, as in
        :attr:`ComboPrice.pays`)."""
        return self.mid >= 0


def combo_market(
    legs: Sequence[Leg],
    side: Side,
    quotes: Mapping[Contract, Quote],
) -> ComboMarket | str:
    """The passive and natural net debits of buying/selling one unit of ``legs``, or a
    string saying which leg's quote is unusable (missing, one-sided or crossed)."""
    if not legs:
        raise ValueError("an order needs at least one leg")
    passive = 0.0
    far = 0.0
    for leg, t in zip(legs, _trade_quantities(legs, side), strict=True):
        q = quotes.get(leg.contract)
        if q is None:
            return f"no quote for leg {leg.contract}"
        if q.bid is None or q.ask is None or q.is_missing:
            return f"no two-sided market for leg {leg.contract}"
        if q.is_crossed:
            return f"crossed quote for leg {leg.contract} (bid {q.bid} > ask {q.ask})"
        if side is Side.SELL and leg.quantity < 0 and q.bid <= 0:
            return _zero_bid(leg)
        if t > 0:
            passive += t * q.bid
            far += t * q.ask
        else:
            passive += t * q.ask
            far += t * q.bid
    return ComboMarket(passive=passive, far=far)


def volume_cap(legs: Sequence[Leg], quotes: Mapping[Contract, Quote], volume_share: float) -> int | str:
    """Combo units the day's volume allows: ``min_i floor(volume_share * volume_i / |q_i|)``,
    or a string naming the leg whose volume is unknown."""
    cap: int | None = None
    for leg in legs:
        q = quotes.get(leg.contract)
        vol = None if q is None else q.volume
        if vol is None:
            return f"volume unknown for leg {leg.contract}: a volume-aware fill needs it"
        units = math.floor(volume_share * vol / abs(leg.quantity))
        cap = units if cap is None else min(cap, units)
    return max(cap or 0, 0)


def limit_reached(price: ComboPrice, limit_price: float) -> bool:
    """Whether a limit order at ``limit_price`` (positive net premium) fills at ``price``."""
    if price.pays:
        return price.net_debit <= limit_price + 1e-12
    return -price.net_debit >= limit_price - 1e-12


def simulate_fill(
    legs: Sequence[Leg],
    side: Side,
    quantity: int,
    order_type: OrderType,
    limit_price: float | None,
    quotes: Mapping[Contract, Quote],
    model: FillModel,
) -> FillResult:
    """Fill ``quantity`` units of the combo against ``quotes`` under ``model``."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a whole number of units >= 1, got {quantity!r}")
    if order_type is OrderType.LIMIT and limit_price is None:
        raise ValueError("a LIMIT order needs a limit_price")
    priced = combo_price(legs, side, quotes, model.slippage)
    if isinstance(priced, str):
        return FillResult(0, quantity, None, None, 0.0, priced)
    if order_type is OrderType.LIMIT and limit_price is not None and not limit_reached(priced, limit_price):
        kind = "debit" if priced.pays else "credit"
        return FillResult(
            0,
            quantity,
            None,
            None,
            0.0,
            f"limit {limit_price:g} not reached: achievable {kind} {priced.price:.4f}",
        )
    fill_qty = quantity
    reason: str | None = None
    if model.volume_share is not None:
        allowed = volume_cap(legs, quotes, model.volume_share)
        if isinstance(allowed, str):
            return FillResult(0, quantity, None, None, 0.0, allowed)
        cap = min(quantity, allowed)
        if cap < quantity:
            fill_qty = max(cap, 0)
            reason = f"volume cap: {model.volume_share:g} of the day's volume allows {fill_qty} of {quantity}"
    if fill_qty == 0:
        return FillResult(0, quantity, None, None, 0.0, reason)
    contracts_per_unit = sum(abs(leg.quantity) for leg in legs)
    if model.fee is not None:
        commission = model.fee(priced.price, contracts_per_unit * fill_qty)
    else:
        commission = model.commission_per_contract * contracts_per_unit * fill_qty
    return FillResult(
        fill_qty,
        quantity - fill_qty,
        priced.price,
        priced.net_debit,
        commission,
        reason,
        priced.leg_prices,
    )


def fill_order(
    order: Order,
    quotes: Mapping[Contract, Quote],
    model: FillModel,
    *,
    quantity: int | None = None,
) -> FillResult:
    """:func:`simulate_fill` for a :class:`riskpilot.model.Order` (``quantity`` defaults to
    the order's; pass the remaining quantity for a partly filled order)."""
    return simulate_fill(
        order.legs,
        order.side,
        order.quantity if quantity is None else quantity,
        order.order_type,
        order.limit_price,
        quotes,
        model,
    )


#: A slippage choice by name (``"none"``/``"mid"``, ``"pct"``, ``"spread"``, ``"orats"``,
#: ``"volume"``), a fraction off the mid, or a :class:`Slippage` object: see :func:`fill_model_for`.
SlippageSpec = Slippage | Literal["none", "mid", "pct", "spread", "orats", "volume"] | float

#: Share of each day's volume a ``"volume"`` fill may take when no ``volume_share`` is given.
DEFAULT_VOLUME_SHARE = 0.1


def fill_model_for(
    slippage: SlippageSpec,
    commission_per_contract: float,
    volume_share: float | None = None,
    *,
    pct: float = 0.01,
    spread_share: float = 0.5,
) -> FillModel:
    """The shared :class:`FillModel` for a slippage spec (commission in dollars per contract
    per leg):

    - ``"none"`` (alias ``"mid"``): every leg at its mid.
    - ``"pct"``: ``pct`` (a fraction, 0.01 = 1%) worse than the mid on every leg.
    - ``"spread"``: a fixed ``spread_share`` of each leg's spread paid (0.5 = the mid,
      1 = the natural side).
    - ``"orats"``: ORATS' share of the spread by number of legs (0.75, 0.66, 0.56, 0.53).
    - ``"volume"``: ORATS' share plus a volume cap of ``volume_share`` (default
      :data:`DEFAULT_VOLUME_SHARE`, 10%) of each leg's day volume.
    - a float: fixed fraction off the mid (as ``"pct"``); or any :class:`Slippage` object.

    ``volume_share`` also caps the other models when given."""
    model: Slippage
    if isinstance(slippage, str):
        if slippage in ("none", "mid"):
            model = MidSlippage()
        elif slippage == "pct":
            model = FixedPctSlippage(pct)
        elif slippage == "spread":
            model = SpreadShareSlippage(spread_share)
        elif slippage in ("orats", "volume"):
            model = SpreadShareSlippage()
            if slippage == "volume" and volume_share is None:
                volume_share = DEFAULT_VOLUME_SHARE
        else:
            raise ValueError(
                f"slippage {slippage!r} is not understood: use 'none', 'orats', 'pct', 'spread', "
                f"'volume', a fraction such as 0.01 for 1% off the mid, or a "
                f"riskpilot.execution.fills slippage object"
            )
    elif isinstance(slippage, bool):
        raise TypeError("slippage must be a name, a float fraction or a Slippage object, not a bool")
    elif isinstance(slippage, (int, float)):
        model = FixedPctSlippage(float(slippage))
    else:
        model = slippage
    return FillModel(slippage=model, volume_share=volume_share,
                     commission_per_contract=commission_per_contract)


