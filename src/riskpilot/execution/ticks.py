"""Prices on the tick grid: minimum price increments by price band, and rounding a limit onto
the grid without making the order more aggressive.

A :class:`TickRule` is a table of price bands, the shape of Interactive Brokers' market rules
(``reqMarketRule`` answers a list of ``(lowEdge, increment)``): from each band's low edge up to
the next one, a price must be a whole multiple of that band's increment. A price is *on the
grid* when it is a multiple of the increment of the band it falls in.

Direction of rounding (positive net premium per share, as :class:`riskpilot.model.Order`
holds it): a limit that **pays** (a debit, ``Side.BUY`` here) is the most the order may pay,
so it rounds *down*; a limit that **receives** (a credit, ``Side.SELL``) is the least it may
receive, so it rounds *up*. Either way the rounded limit is never more aggressive than the one
the tactic chose, and moves by less than one tick of the band the price is in (for tables
whose band edges are multiples of the neighbouring increments, as every listed option class
has). For a combo the side is the combo's net direction: closing a credit spread pays a net
debit (round down); selling a debit spread receives a net credit (round up).

Well-known tables (Cboe Options Rule 5.4, minimum increments; the same tables IB publishes as
market rules for these classes):

- :data:`NICKEL_DIME` (SPX and most index and equity classes outside the penny program):
  0.05 under 3.00, 0.10 from 3.00.
- :data:`PENNY_PILOT` (penny-program classes): 0.01 under 3.00, 0.05 from 3.00.
- :data:`PENNY_ALL` (SPY, QQQ, IWM: pennies at every price): a flat 0.01.

Where no venue says which rule a contract trades on (the backtest, the paper broker, a limit
priced before the broker is asked), :func:`tick_rule_for` picks one by option class, from
:data:`CLASS_RULES` (``docs/tick_grids.md`` has the table and its sources): SPX, SPXW and the
other cash-index classes on :data:`NICKEL_DIME`; SPY, QQQ and IWM on :data:`PENNY_ALL`; a few
penny-program ETFs on :data:`PENNY_PILOT`; event contracts on a flat cent. Any other class gets
:data:`NICKEL_DIME`, the coarsest table: every point of it is also a point of the two penny
tables, so a limit on it is one every venue accepts (at worst a tick less aggressive than a
finer grid would allow).

Arithmetic is decimal: a float such as ``1.15`` is read as the decimal it prints as (after
snapping float noise below 1e-9), so ``1.15`` on a 0.05 grid stays ``1.15``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from riskpilot.model.contract import Contract, Leg, OptionContract
from riskpilot.model.enums import Side

#: Float noise below this is snapped away before rounding (prices carry at most 4 decimals).
_SNAP = Decimal("1e-9")


def _dec(x: float | Decimal, what: str) -> Decimal:
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number, got {x!r}")
    return Decimal(repr(float(x))).quantize(_SNAP)


@dataclass(frozen=True, slots=True)
class PriceBand:
    """From ``low_edge`` (inclusive) up to the next band's edge, prices are multiples of
    ``increment``. Prices per share."""

    low_edge: Decimal
    increment: Decimal


@dataclass(frozen=True, slots=True)
class TickRule:
    """A table of price bands, the first starting at 0, edges strictly increasing, every
    increment positive. ``name`` says where it came from (``ib:110``, ``SPX``...)."""

    bands: tuple[PriceBand, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.bands:
            raise ValueError(f"tick rule {self.name!r}: needs at least one price band")
        if self.bands[0].low_edge != 0:
            raise ValueError(
                f"tick rule {self.name!r}: the first band must start at 0, got {self.bands[0].low_edge}"
            )
        for band in self.bands:
            if not band.increment > 0:
                raise ValueError(f"tick rule {self.name!r}: increment {band.increment} must be > 0")
        for a, b in zip(self.bands, self.bands[1:], strict=False):
            if not b.low_edge > a.low_edge:
                raise ValueError(
                    f"tick rule {self.name!r}: band edges must increase, got {a.low_edge} then {b.low_edge}"
                )

    @classmethod
    def of(cls, bands: Iterable[tuple[float, float]], name: str = "") -> TickRule:
        """From ``(low_edge, increment)`` pairs (floats as written, e.g. ``[(0, 0.05), (3, 0.10)]``)."""
        return cls(
            tuple(PriceBand(_dec(lo, "low_edge"), _dec(inc, "increment")) for lo, inc in bands), name
        )

    @classmethod
    def flat(cls, increment: float, name: str = "") -> TickRule:
        return cls.of([(0.0, increment)], name or f"flat {increment:g}")

    def _band_index(self, price: Decimal) -> int:
        i = 0
        for k, band in enumerate(self.bands):
            if band.low_edge <= price:
                i = k
            else:
                break
        return i

    def increment_at(self, price: float | Decimal) -> Decimal:
        """The minimum increment for a price (per share)."""
        return self.bands[self._band_index(_dec(price, "price"))].increment

    def on_grid(self, price: float | Decimal) -> bool:
        p = _dec(price, "price")
        return p % self.increment_at(p) == 0

    def describe(self) -> str:
        """``0.05 under 3, 0.1 from 3``: the table in words."""
        parts = []
        for i, band in enumerate(self.bands):
            inc = f"{band.increment.normalize():f}"
            if len(self.bands) == 1:
                parts.append(f"{inc} at every price")
            elif i + 1 < len(self.bands):
                nxt = self.bands[i + 1].low_edge.normalize()
                lo = band.low_edge.normalize()
                parts.append(f"{inc} under {nxt:f}" if i == 0 else f"{inc} from {lo:f} under {nxt:f}")
            else:
                parts.append(f"{inc} from {band.low_edge.normalize():f}")
        return ", ".join(parts)


def combined_rule(rules: Sequence[TickRule], name: str = "") -> TickRule:
    """The coarsest of ``rules`` at every price: the rule a combo of legs with these rules
    is priced on (a net price on it is on every leg's grid when the increments divide each
    other, as listed classes' do)."""
    if not rules:
        raise ValueError("combined_rule needs at least one tick rule")
    if len(rules) == 1:
        return rules[0]
    edges = sorted({band.low_edge for r in rules for band in r.bands})
    bands: list[PriceBand] = []
    for edge in edges:
        inc = max(r.increment_at(edge) for r in rules)
        if bands and bands[-1].increment == inc:
            continue
        bands.append(PriceBand(edge, inc))
    return TickRule(tuple(bands), name or "+".join(r.name for r in rules))


def _floor_to(x: Decimal, inc: Decimal) -> Decimal:
    return (x / inc).to_integral_value(rounding=ROUND_FLOOR) * inc


def _ceil_to(x: Decimal, inc: Decimal) -> Decimal:
    return (x / inc).to_integral_value(rounding=ROUND_CEILING) * inc


def round_to_tick(price: float, rule: TickRule, side: Side) -> float:
    """``price`` (positive net premium per share) on ``rule``'s grid: rounded down for a limit
    that pays (``Side.BUY``), up for one that receives (``Side.SELL``); see the module
    docstring. A price already on the grid is returned unchanged."""
    p = _dec(price, "limit price")
    if p < 0:
        raise ValueError(f"limit price must be >= 0 (a positive net premium), got {price!r}")
    bands = rule.bands
    i = rule._band_index(p)
    if side is Side.BUY:
        x = _floor_to(p, bands[i].increment)
        # Below this band's edge the lower band's grid applies: the largest point of it
        # under the edge (repeat while a band's own grid falls under its edge).
        while x < bands[i].low_edge:
            edge = bands[i].low_edge
            i -= 1
            x = _floor_to(edge, bands[i].increment)
            if x == edge:
                x -= bands[i].increment
    else:
        x = _ceil_to(p, bands[i].increment)
        # At or past the next edge the next band's grid applies: its first point.
        while i + 1 < len(bands) and x >= bands[i + 1].low_edge:
            i += 1
            x = _ceil_to(bands[i].low_edge, bands[i].increment)
    return float(x)


#: Cboe Options Rule 5.4: classes outside the penny program (SPX among them).
NICKEL_DIME = TickRule.of([(0.0, 0.05), (3.0, 0.10)], "0.05/0.10")
#: Cboe Options Rule 5.4: penny-program classes.
PENNY_PILOT = TickRule.of([(0.0, 0.01), (3.0, 0.05)], "0.01/0.05")
#: Pennies at every price (SPY, QQQ, IWM).
PENNY_ALL = TickRule.flat(0.01, "0.01")


#: A flat cent: binary event contracts (Kalshi prices whole cents from 0.01 to 0.99).
EVENT_CENT = TickRule.flat(0.01, "event 0.01")

#: Tick tables by option class (root symbol); see the module docstring and docs/tick_grids.md.
CLASS_RULES: Mapping[str, TickRule] = MappingProxyType({
    **dict.fromkeys(("SPX", "SPXW", "SPXPM", "NDX", "NDXP", "RUT", "RUTW"), NICKEL_DIME),
    **dict.fromkeys(("SPY", "QQQ", "IWM"), PENNY_ALL),
    **dict.fromkeys(("DIA", "EEM", "EFA", "GLD", "SLV", "TLT", "XLE", "XLF"), PENNY_PILOT),
})

#: The rule of a class :data:`CLASS_RULES` does not list (the coarsest: always accepted).
DEFAULT_RULE = NICKEL_DIME


def tick_rule_for(underlying: str) -> TickRule:
    """The tick table of one option class (root symbol, e.g. ``SPXW``): :data:`CLASS_RULES`,
    else :data:`DEFAULT_RULE`."""
    return CLASS_RULES.get(underlying.upper(), DEFAULT_RULE)


def rule_for_contracts(contracts: Iterable[Contract]) -> TickRule:
    """The grid a net limit on these contracts is priced on when no venue says: the coarsest
    of their class tables (:func:`combined_rule`); a flat cent for event contracts."""
    rules: dict[str, TickRule] = {}
    for c in contracts:
        rule = tick_rule_for(c.underlying) if isinstance(c, OptionContract) else EVENT_CENT
        rules.setdefault(rule.name, rule)
    if not rules:
        raise ValueError("a tick rule needs at least one contract")
    return combined_rule(list(rules.values()))


def rule_for_legs(legs: Iterable[Leg]) -> TickRule:
    """:func:`rule_for_contracts` of the legs' contracts."""
    return rule_for_contracts(leg.contract for leg in legs)


def limit_on_grid(limit: float, rule: TickRule, *, pays: bool) -> float:
    """``limit`` (positive net premium per share) on ``rule``'s grid, never more aggressive:
    down when it ``pays`` (a debit), up when it receives (a credit)."""
    return round_to_tick(limit, rule, Side.BUY if pays else Side.SELL)


@runtime_checkable
class TickRuleSource(Protocol):
    """A venue that knows the grid of the contracts it trades (IB's market rules)."""

    async def tick_rule(self, contracts: Sequence[Contract]) -> TickRule: ...


def rule_from_ib(rule_id: int, increments: Iterable[tuple[float, float]]) -> TickRule:
    """A :class:`TickRule` from an IB market rule (``reqMarketRule``'s ``PriceIncrement``
    ``(lowEdge, increment)`` pairs)."""
    pairs = sorted((float(lo), float(inc)) for lo, inc in increments)
    if not pairs:
        raise ValueError(f"IB market rule {rule_id} has no price increments")
    return TickRule.of(pairs, f"ib:{rule_id}")


__all__ = [
    "CLASS_RULES",
    "DEFAULT_RULE",
    "EVENT_CENT",
    "NICKEL_DIME",
    "PENNY_ALL",
    "PENNY_PILOT",
    "PriceBand",
    "TickRule",
    "TickRuleSource",
    "combined_rule",
    "limit_on_grid",
    "round_to_tick",
    "rule_for_contracts",
    "rule_for_legs",
    "rule_from_ib",
    "tick_rule_for",
]
