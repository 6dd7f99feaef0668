"""The bad-quote corpus (``tests/risk/bad_quotes.yaml``) as positions, quotes and marks, for the
tests that replay it through the risk manager and through the live monitor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from riskpilot.config import RiskPilotConfig, config_from_dict
from riskpilot.model import (
    Contract,
    ContractSide,
    EventContract,
    Leg,
    Mark,
    OptionContract,
    Position,
    PremiumType,
    Quote,
    Right,
)

CORPUS = Path(__file__).resolve().parent / "risk" / "bad_quotes.yaml"
#: The first of the previous checks: Friday 2024-03-01 10:00 New York (the monitor rig's T0).
T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)
EXPIRATION = date(2024, 4, 19)  # 49 days after the check under test
QUANTITY = 4

#: The trailing stop on for every position (credit ones too), so that a bad mark could move it;
#: partial exits at 15% and the profit target at 35% are the defaults, and no previous mark
#: reaches them.
CONFIG: RiskPilotConfig = config_from_dict({
    "trailing_stop": {"enabled": True, "activation_pct": 2, "trailing_pct": 25, "min_move_pct": 1,
                      "trail_credit": True},
})

QuoteSpec = tuple[float, float, float, bool]  # bid, ask, age in seconds (negative: ahead), naive


@dataclass(frozen=True)
class Case:
    """One corpus case: ``quotes`` (or ``mark``) of the check under test, after ``previous``
    checks; the problem it must be held for (``expect``, ``expect_live`` in the monitor)."""

    name: str
    position: Position
    contracts: dict[str, Contract]
    previous: list[dict[str, QuoteSpec]]
    quotes: dict[str, QuoteSpec] | None
    mark: dict[str, Any] | None
    expect: str
    expect_live: str
    underlying_price: float | None
    after: dict[str, QuoteSpec] | None

    @property
    def from_quotes(self) -> bool:
        return self.quotes is not None


def _spec(value: Any) -> QuoteSpec:
    if isinstance(value, list):
        bid, ask = value
        return float(bid), float(ask), 0.0, False
    return float(value["bid"]), float(value["ask"]), float(value.get("age", 0.0)), bool(value.get("naive", False))


def _specs(quotes: Mapping[str, Any]) -> dict[str, QuoteSpec]:
    return {leg: _spec(v) for leg, v in quotes.items()}


def _contract(leg: str, symbol: str) -> Contract:
    if leg in ("YES", "NO"):
        close = T0 + timedelta(days=3)
        return EventContract(f"KX{symbol}", f"KX{symbol}-E", f"KX{symbol}-E-T1", ContractSide(leg.lower()), close,
                             close + timedelta(hours=2))
    right = Right.parse(leg[0])
    return OptionContract(symbol, EXPIRATION, float(leg[1:]), right)


def build_position(pid: str, symbol: str, structure: Mapping[str, Any]) -> tuple[Position, dict[str, Contract]]:
    contracts = {leg: _contract(leg, symbol) for leg in structure["legs"]}
    legs = tuple(Leg(contracts[leg], int(q)) for leg, q in structure["legs"].items())
    kind = PremiumType.CREDIT if structure["premium_type"] == "credit" else PremiumType.DEBIT
    pos = Position(pid, legs, kind, float(structure["entry"]), QUANTITY, T0 - timedelta(days=3), "default")
    return pos, contracts


def load_cases() -> list[Case]:
    doc = yaml.safe_load(CORPUS.read_text())
    structures = doc["structures"]
    cases = []
    for i, raw in enumerate(doc["cases"]):
        s = structures[raw["structure"]]
        pos, contracts = build_position(raw["name"], f"C{i:02d}", s)
        cases.append(Case(
            name=raw["name"], position=pos, contracts=contracts,
            previous=[_specs(q) for q in s["previous"]],
            quotes=_specs(raw["quotes"]) if "quotes" in raw else None,
            mark=raw.get("mark"), expect=raw["expect"], expect_live=raw.get("expect_live", raw["expect"]),
            underlying_price=raw.get("underlying_price"),
            after=_specs(raw["after"]) if "after" in raw else None,
        ))
    return cases


def control() -> tuple[Position, dict[str, Contract], list[dict[str, QuoteSpec]], dict[str, QuoteSpec]]:
    """A healthy put credit spread whose good mark at the check under test fires its profit
    target (0.60 from 1.00: 40%), in the same book as the corpus."""
    doc = yaml.safe_load(CORPUS.read_text())
    s = doc["structures"]["pcs"]
    pos, contracts = build_position("control", "CTRL", s)
    return pos, contracts, [_specs(q) for q in s["previous"]], _specs({"P480": [1.60, 1.64], "P475": [1.00, 1.04]})


def quote(spec: QuoteSpec, now: datetime) -> Quote:
    bid, ask, age, naive = spec
    stamp = now - timedelta(seconds=age)
    if naive:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return Quote(bid, ask, stamp)


def quotes_of(contracts: Mapping[str, Contract], specs: Mapping[str, QuoteSpec],
              now: datetime) -> dict[Contract, Quote]:
    return {contracts[leg]: quote(spec, now) for leg, spec in specs.items()}


def direct_mark(spec: Mapping[str, Any], now: datetime) -> Mark:
    """The case's mark as a feed adapter could hand it over: a value the Mark constructor
    refuses (NaN, infinity) is set past it."""
    stamp = now - timedelta(seconds=float(spec.get("age", 0.0)))
    if spec.get("naive"):
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    values = {k: float(spec[k]) for k in ("premium", "bid", "ask")}
    finite = {k: (v if math.isfinite(v) else 0.0) for k, v in values.items()}
    m = Mark(finite["premium"], finite["bid"], finite["ask"], stamp)
    for k, v in values.items():
        if not math.isfinite(v):
            object.__setattr__(m, k, v)
    return m
