"""A portfolio snapshot file (YAML): positions with their legs and leg quotes at one instant.

Used by ``riskpilot evaluate`` to run the rules engine on a book without a broker or a store.
Validated strictly, like the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskpilot.config.loader import ConfigError, format_errors
from riskpilot.model import Leg, OptionContract, Position, PremiumType, Quote, Right
from riskpilot.model.contract import Contract


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuoteIn(_Strict):
    bid: float | None = Field(None, ge=0)
    ask: float | None = Field(None, ge=0)
    last: float | None = Field(None, ge=0)
    volume: int | None = Field(None, ge=0)
    timestamp: datetime | None = None


class LegIn(_Strict):
    underlying: str
    expiration: date
    strike: float = Field(gt=0)
    right: Right
    quantity: int
    multiplier: int = Field(100, ge=1)
    quote: QuoteIn | None = None


class PositionIn(_Strict):
    id: str = Field(min_length=1)
    method: str = "default"
    premium_type: PremiumType
    entry_premium: float = Field(gt=0)
    quantity: int = Field(ge=1)
    original_quantity: int | None = Field(None, ge=1)
    opened_at: datetime
    legs: list[LegIn] = Field(min_length=1)


class PortfolioIn(_Strict):
    as_of: datetime
    equity: float = Field(gt=0)
    positions: list[PositionIn]


@dataclass(frozen=True)
class PortfolioSnapshot:
    as_of: datetime
    equity: float
    positions: list[Position]
    quotes: dict[Contract, Quote]


def load_portfolio(path: str | Path) -> PortfolioSnapshot:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(p), [f"file not found: {p}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"not valid YAML: {exc}"]) from exc
    try:
        doc = PortfolioIn.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(p), format_errors(exc)) from exc
    if doc.as_of.tzinfo is None:
        raise ConfigError(str(p), ["as_of: give a UTC offset, e.g. 2026-03-02T15:30:00-05:00"])
    positions: list[Position] = []
    quotes: dict[Contract, Quote] = {}
    errors: list[str] = []
    for i, pin in enumerate(doc.positions):
        try:
            legs = []
            for leg in pin.legs:
                c = OptionContract(leg.underlying, leg.expiration, leg.strike, leg.right, leg.multiplier)
                legs.append(Leg(c, leg.quantity))
                if leg.quote is not None:
                    q = leg.quote
                    quotes[c] = Quote(q.bid, q.ask, q.timestamp or doc.as_of, q.last, q.volume)
            positions.append(
                Position(
                    id=pin.id,
                    legs=tuple(legs),
                    premium_type=pin.premium_type,
                    entry_premium=pin.entry_premium,
                    quantity=pin.quantity,
                    original_quantity=pin.original_quantity or pin.quantity,
                    opened_at=pin.opened_at,
                    method=pin.method,
                )
            )
        except (ValueError, TypeError) as exc:
            errors.append(f"positions.{i} ({pin.id}): {exc}")
    if errors:
        raise ConfigError(str(p), errors)
    return PortfolioSnapshot(doc.as_of, doc.equity, positions, quotes)
