"""Adopt positions opened elsewhere: group an account's option legs into riskpilot positions.

Pure: broker holdings (:class:`riskpilot.execution.port.BrokerPosition`) in, positions out.

Automatic grouping (:func:`group_holdings`), per underlying, expiration and multiplier:

1. **Verticals**: each short leg is paired with the nearest long leg of the same right on its
   protective side (a lower-strike put, a higher-strike call: a credit spread), else the
   nearest on the other side (a debit spread); the pair takes the smaller quantity and the
   rest of the larger leg goes on pairing.
2. **Iron condors**: a put credit vertical and a call credit vertical whose short put is
   below (or at) the short call join, for the smaller quantity.
3. **Strangles**: what is left of a short put and a short call (or a long put and a long
   call) joins, for the smaller quantity (a straddle when the strikes are equal).
4. **Single legs**: whatever remains, one position per contract.

Each position's legs carry per-unit quantities (-1 short, +1 long) and its quantity is the
number of units; every contract's broker quantity is used exactly once across the positions
and the ``unadopted`` list.

Entry premium from IB's average cost: ``BrokerPosition.avg_price`` is the average price per
share, positive for long and short alike (IB's ``avgCost`` per contract divided by the
multiplier, commissions included). A unit's net premium is ``sum(q_i * avg_i)`` over its
legs (``q_i`` = -1 short, +1 long): negative means the position was opened for a net credit
(``entry_premium`` = its magnitude, CREDIT), positive for a net debit (DEBIT). A zero net
cannot be a position (it has no entry premium to measure a stop against) and is reported.

An explicit grouping (:func:`load_grouping`, :func:`apply_grouping`) takes the structure from
a YAML file instead::

    positions:
      - id: spy-ic-1             # optional (derived from underlying, expiry and structure)
        method: moderate         # optional (the command's --method)
        quantity: 2              # units
        entry_premium: 1.35      # optional (IB's average cost)
        legs:
          - {underlying: SPY, expiration: 2024-04-19, strike: 480, right: P, quantity: -1}
          - {underlying: SPY, expiration: 2024-04-19, strike: 475, right: P, quantity: 1}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskpilot.config.loader import ConfigError, format_errors
from riskpilot.execution.port import BrokerPosition
from riskpilot.model import Leg, OptionContract, Position, PremiumType, Right


@dataclass(frozen=True, slots=True)
class Adopted:
    """One position to adopt and the structure it was recognised as."""

    position: Position
    structure: str


@dataclass(frozen=True, slots=True)
class AdoptionPlan:
    """Positions to adopt, and the holdings left out with the reason."""

    adopted: tuple[Adopted, ...]
    unadopted: tuple[tuple[BrokerPosition, str], ...] = ()

    @property
    def positions(self) -> list[Position]:
        return [a.position for a in self.adopted]


@dataclass(slots=True)
class _Book:
    qty: dict[OptionContract, int]
    avg: dict[OptionContract, float]
    out: list[tuple[str, tuple[Leg, ...], int]] = field(default_factory=list)

    def take(self, structure: str, legs: tuple[Leg, ...], units: int) -> None:
        for leg in legs:
            self.qty[_option(leg)] -= leg.quantity * units
        self.out.append((structure, legs, units))

    def held(self, right: Right, short: bool) -> list[OptionContract]:
        return sorted((c for c, q in self.qty.items() if c.right is right and (q < 0 if short else q > 0)),
                      key=lambda c: c.strike)


def _pair_verticals(book: _Book) -> None:
    for right in (Right.PUT, Right.CALL):
        while True:
            shorts, longs = book.held(right, True), book.held(right, False)
            if not shorts or not longs:
                break
            best: tuple[float, OptionContract, OptionContract] | None = None
            for s in shorts:
                for lg in longs:
                    protective = lg.strike < s.strike if right is Right.PUT else lg.strike > s.strike
                    # Protective pairs first, then by distance; strikes break ties (deterministic).
                    score = (0 if protective else 1e9) + abs(lg.strike - s.strike)
                    if best is None or score < best[0]:
                        best = (score, s, lg)
            if best is None:
                break
            _, s, lg = best
            units = min(-book.qty[s], book.qty[lg])
            book.take("vertical", (Leg(s, -1), Leg(lg, 1)), units)


def _is_credit_vertical(legs: tuple[Leg, ...]) -> bool:
    short = next(_option(leg) for leg in legs if leg.quantity < 0)
    long = next(_option(leg) for leg in legs if leg.quantity > 0)
    return long.strike < short.strike if short.right is Right.PUT else long.strike > short.strike


def _join_condors(book: _Book) -> None:
    verts = [(legs, units) for st, legs, units in book.out if st == "vertical" and _is_credit_vertical(legs)]
    puts = [v for v in verts if _option(v[0][0]).right is Right.PUT]
    calls = [v for v in verts if _option(v[0][0]).right is Right.CALL]
    if not puts or not calls:
        return
    rest = [o for o in book.out if not (o[0] == "vertical" and _is_credit_vertical(o[1]))]
    puts.sort(key=lambda v: -_option(v[0][0]).strike)  # the short put nearest the money first
    calls.sort(key=lambda v: _option(v[0][0]).strike)
    out: list[tuple[str, tuple[Leg, ...], int]] = []
    while puts and calls:
        (p_legs, pu), (c_legs, cu) = puts[0], calls[0]
        if _option(p_legs[0]).strike > _option(c_legs[0]).strike:
            break
        units = min(pu, cu)
        out.append(("iron_condor", (p_legs[1], p_legs[0], c_legs[0], c_legs[1]), units))
        puts[0], calls[0] = (p_legs, pu - units), (c_legs, cu - units)
        puts = [v for v in puts if v[1]]
        calls = [v for v in calls if v[1]]
    out += [("vertical", legs, u) for legs, u in puts + calls]
    book.out = rest + out


def _join_strangles(book: _Book) -> None:
    for short in (True, False):
        while True:
            puts, calls = book.held(Right.PUT, short), book.held(Right.CALL, short)
            if not puts or not calls:
                break
            p, c = puts[-1], calls[0]  # nearest the money: highest put, lowest call
            sign = -1 if short else 1
            units = min(abs(book.qty[p]), abs(book.qty[c]))
            book.take("strangle", (Leg(p, sign), Leg(c, sign)), units)


def _option(leg: Leg) -> OptionContract:
    """The option of a leg this module built (adoption groups options only)."""
    if not isinstance(leg.contract, OptionContract):
        raise TypeError(f"leg {leg.contract} is not an option: adoption groups option legs only")
    return leg.contract


def _premium(legs: tuple[Leg, ...], avg: dict[OptionContract, float]) -> float:
    return sum(leg.quantity * avg[_option(leg)] for leg in legs)


def _position(pid: str, legs: tuple[Leg, ...], units: int, net: float, method: str, now: datetime,
              entry: float | None = None) -> Position:
    kind = PremiumType.CREDIT if net < 0 else PremiumType.DEBIT
    return Position(id=pid, legs=legs, premium_type=kind, entry_premium=entry if entry is not None else abs(net),
                    quantity=units, opened_at=now, method=method)


def group_holdings(holdings: Sequence[BrokerPosition], *, method: str, now: datetime,
                   id_prefix: str = "adopt") -> AdoptionPlan:
    """Group ``holdings`` into positions (module docstring). ``now`` is the adoption time
    (the positions' ``opened_at``); ids are ``<prefix>-<underlying>-<yyyymmdd>-<structure>-<n>``."""
    groups: dict[tuple[str, date, int], list[tuple[OptionContract, BrokerPosition]]] = defaultdict(list)
    adopted: list[Adopted] = []
    unadopted: list[tuple[BrokerPosition, str]] = []
    for h in holdings:
        if not h.quantity:
            continue
        if not isinstance(h.contract, OptionContract):
            unadopted.append((h, "an event contract: adopt it from its own venue's positions"))
            continue
        groups[(h.contract.underlying, h.contract.expiration, h.contract.multiplier)].append((h.contract, h))
    for (und, exp, _), hs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        qty: dict[OptionContract, int] = defaultdict(int)
        avg: dict[OptionContract, float] = {}
        for c, h in hs:
            qty[c] += h.quantity
            avg[c] = h.avg_price
        book = _Book(dict(qty), avg)
        _pair_verticals(book)
        _join_condors(book)
        _join_strangles(book)
        for c in sorted(book.qty, key=lambda c: (c.right.value, c.strike)):
            if book.qty[c]:
                book.take("single", (Leg(c, 1 if book.qty[c] > 0 else -1),), abs(book.qty[c]))
        counts: dict[str, int] = defaultdict(int)
        for structure, legs, units in book.out:
            counts[structure] += 1
            pid = f"{id_prefix}-{und}-{exp:%Y%m%d}-{structure}-{counts[structure]}"
            net = _premium(legs, avg)
            problem = None
            if net == 0:
                problem = "net premium from IB's average costs is 0: give an explicit grouping with entry_premium"
            else:
                try:
                    adopted.append(Adopted(_position(pid, legs, units, net, method, now), structure))
                except ValueError as exc:
                    problem = str(exc)
            if problem is not None:
                for leg in legs:
                    unadopted.append((BrokerPosition(leg.contract, leg.quantity * units, avg[_option(leg)]), problem))
    return AdoptionPlan(tuple(adopted), tuple(unadopted))


# --- explicit grouping -----------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegIn(_Strict):
    underlying: str = Field(min_length=1)
    expiration: date
    strike: float = Field(gt=0)
    right: Right
    quantity: int = Field(description="per unit: -1 short, +1 long")
    multiplier: int = Field(100, ge=1)

    def contract(self) -> OptionContract:
        return OptionContract(self.underlying, self.expiration, self.strike, self.right, self.multiplier)


class GroupIn(_Strict):
    id: str | None = Field(None, min_length=1, max_length=64)
    method: str | None = Field(None, min_length=1)
    quantity: int = Field(ge=1)
    entry_premium: float | None = Field(None, gt=0)
    premium_type: PremiumType | None = Field(None, description="default: the sign of the legs' net average cost")
    legs: list[LegIn] = Field(min_length=1)


class GroupingIn(_Strict):
    positions: list[GroupIn] = Field(min_length=1)


def load_grouping(path: str | Path) -> list[GroupIn]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(p), [f"file not found: {p} (check the path)"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"not valid YAML: {exc}"]) from None
    try:
        return list(GroupingIn.model_validate(data).positions)
    except ValidationError as exc:
        raise ConfigError(str(p), format_errors(exc)) from None


def apply_grouping(holdings: Sequence[BrokerPosition], groups: Sequence[GroupIn], *, method: str,
                   now: datetime, source: str = "<grouping>") -> AdoptionPlan:
    """Positions exactly as ``groups`` say, checked against ``holdings``: every leg must be
    held with its sign and enough contracts; holdings no group uses are ``unadopted``."""
    left: dict[OptionContract, int] = defaultdict(int)
    avg: dict[OptionContract, float] = {}
    for h in holdings:
        if isinstance(h.contract, OptionContract):  # an event contract is never in a grouping
            left[h.contract] += h.quantity
            avg[h.contract] = h.avg_price
    errors: list[str] = []
    adopted: list[Adopted] = []
    for i, g in enumerate(groups):
        legs = tuple(Leg(leg.contract(), leg.quantity) for leg in g.legs)
        where = f"positions[{i}]"
        for leg in legs:
            need = leg.quantity * g.quantity
            have = left.get(_option(leg), 0)
            if have == 0 or (have > 0) != (need > 0) or abs(have) < abs(need):
                errors.append(f"{where}: needs {need:+d} of {leg.contract}, the account holds {have:+d} unassigned")
            else:
                left[_option(leg)] -= need
        if errors:
            continue
        net = _premium(legs, avg)
        if g.premium_type is not None:
            net = -abs(net) if g.premium_type is PremiumType.CREDIT else abs(net)
        if net == 0 and (g.entry_premium is None or g.premium_type is None):
            errors.append(f"{where}: net premium from IB's average costs is 0: set entry_premium and premium_type")
            continue
        pid = g.id or f"adopt-{legs[0].contract.underlying}-{legs[0].contract.expiration:%Y%m%d}-{i + 1}"
        try:
            sign = net if net else (-1.0 if g.premium_type is PremiumType.CREDIT else 1.0)
            pos = _position(pid, legs, g.quantity, sign, g.method or method, now, g.entry_premium)
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        adopted.append(Adopted(pos, "explicit"))
    if errors:
        raise ConfigError(source, errors)
    unadopted = tuple((BrokerPosition(c, q, avg[c]), "not in the grouping file") for c, q in left.items() if q)
    return AdoptionPlan(tuple(adopted), unadopted)


__all__ = [
    "Adopted",
    "AdoptionPlan",
    "GroupIn",
    "LegIn",
    "apply_grouping",
    "group_holdings",
    "load_grouping",
]
