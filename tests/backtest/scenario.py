"""A hand-made end-of-day chain for scenarios whose every price can be checked by hand: one
expiration, a 100 put sold against a 98 put, the underlying ``XYZ`` (no official series, so
expiries settle at the chain's own close)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from riskpilot.config.loader import config_from_dict
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.schema import CHAIN_SCHEMA

EXPIRATION = date(2024, 4, 18)
D1, D2, D3, D4, D5 = (date(2024, 3, d) for d in (4, 5, 6, 7, 8))
ORATS_2 = 0.66
COMMISSION = 0.65


@dataclass(frozen=True)
class Leg:
    """One put row: strike, bid, ask, delta, and the root it is listed under."""

    strike: float
    bid: float
    ask: float
    delta: float
    root: str = "XYZ"


def day_table(day: date, spot: float, legs: Sequence[Leg], *, underlying: str = "XYZ",
              expiration: date = EXPIRATION) -> pa.Table:
    n = len(legs)
    return pa.table({
        "quote_date": [day] * n, "underlying": [underlying] * n, "underlying_price": [spot] * n,
        "root": [leg.root for leg in legs], "expiration": [expiration] * n,
        "strike": [leg.strike for leg in legs], "right": ["P"] * n,
        "bid": [leg.bid for leg in legs], "ask": [leg.ask for leg in legs], "last": [None] * n,
        "volume": [1000] * n, "open_interest": [None] * n, "iv": [0.2] * n,
        "delta": [leg.delta for leg in legs], "gamma": [None] * n, "theta": [None] * n, "vega": [None] * n,
        "quality": [0] * n, "source": ["test"] * n, "model_priced": [False] * n,
    }, schema=CHAIN_SCHEMA)


def config(**exit_rules: dict[str, object]) -> RiskPilotConfig:
    """A put credit spread 2 points wide, 50% profit target, 125% stop, no partial exits and
    no daily loss limit (a scenario about one position)."""
    rules: dict[str, object] = {"profit_target": {"profit_target_pct": 0.5}, "partial_exit_target": {"enabled": False}}
    rules.update(exit_rules)
    return config_from_dict({
        "risk": {"daily_loss_limit_pct": None},
        "methods": {"default": {"strategy": {"kind": "put_credit_spread", "width_points": 2},
                                "exit_rules": rules}},
    })


def short_long(short: tuple[float, float], long: tuple[float, float], deltas: tuple[float, float] = (-0.10, -0.05),
               ) -> list[Leg]:
    return [Leg(100.0, *short, deltas[0]), Leg(98.0, *long, deltas[1])]


#: Deltas outside the 0.05-0.15 entry range: no new entry on those days.
_AWAY = (-0.03, -0.01)

#: The scenario's days: an entry on D1 (or D2 under --fill next), a 50% profit on D3, a loss
#: beyond the stop on D5, expiry out of the money at 105.
DAYS: dict[date, tuple[float, list[Leg]]] = {
    D1: (110.0, short_long((1.00, 1.10), (0.40, 0.50))),
    D2: (109.0, short_long((0.90, 1.00), (0.35, 0.45))),
    D3: (112.0, short_long((0.30, 0.34), (0.10, 0.12), _AWAY)),
    D4: (113.0, short_long((0.20, 0.24), (0.05, 0.07), _AWAY)),
    D5: (101.0, short_long((1.50, 1.60), (0.20, 0.30), (-0.40, -0.25))),
    EXPIRATION: (105.0, short_long((0.00, 0.05), (0.00, 0.05), (0.0, 0.0))),
}


def chain(days: dict[date, tuple[float, list[Leg]]] | None = None) -> list[tuple[date, pa.Table]]:
    return [(d, day_table(d, spot, legs)) for d, (spot, legs) in sorted((days or DAYS).items())]


def entry_credit(short: tuple[float, float], long: tuple[float, float]) -> float:
    """ORATS two-leg fill of selling the spread: the short at ask - 0.66 x spread, the long
    bought at bid + 0.66 x spread."""
    return (short[1] - ORATS_2 * (short[1] - short[0])) - (long[0] + ORATS_2 * (long[1] - long[0]))


def exit_debit(short: tuple[float, float], long: tuple[float, float]) -> float:
    """ORATS two-leg fill of buying the spread back."""
    return (short[0] + ORATS_2 * (short[1] - short[0])) - (long[1] - ORATS_2 * (long[1] - long[0]))
