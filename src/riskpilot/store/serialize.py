"""JSON forms of contracts, legs and orders, for the columns that keep them as JSON (order
intents, the paper broker's book). Round-trips exactly: ``x == from_dict(to_dict(x))``."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from riskpilot.model.contract import Contract, EventContract, Leg, OptionContract
from riskpilot.model.enums import ContractSide, OrderType, Right, Side
from riskpilot.model.order import Order, OrderPurpose


class SerializationError(ValueError):
    """A stored JSON document does not have the expected shape."""


def contract_to_dict(c: Contract) -> dict[str, Any]:
    if isinstance(c, EventContract):
        return {
            "kind": "event",
            "series": c.series,
            "event": c.event,
            "ticker": c.ticker,
            "side": c.side.value,
            "close_time": c.close_time.isoformat(),
            "settlement_time": c.settlement_time.isoformat(),
        }
    return {
        "underlying": c.underlying,
        "expiration": c.expiration.isoformat(),
        "strike": c.strike,
        "right": c.right.value,
        "multiplier": c.multiplier,
        "expiry_time": c.expiry_time.isoformat(),
    }


def contract_from_dict(d: dict[str, Any]) -> Contract:
    try:
        if d.get("kind") == "event":
            return EventContract(
                series=str(d["series"]),
                event=str(d["event"]),
                ticker=str(d["ticker"]),
                side=ContractSide.parse(d["side"]),
                close_time=datetime.fromisoformat(d["close_time"]),
                settlement_time=datetime.fromisoformat(d["settlement_time"]),
            )
        return OptionContract(
            underlying=str(d["underlying"]),
            expiration=date.fromisoformat(d["expiration"]),
            strike=float(d["strike"]),
            right=Right.parse(d["right"]),
            multiplier=int(d["multiplier"]),
            expiry_time=time.fromisoformat(d["expiry_time"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SerializationError(f"stored contract {d!r} is malformed: {exc}") from exc


def contract_key(c: Contract) -> str:
    """A stable text key for one contract (used as a primary key column)."""
    if isinstance(c, EventContract):
        return f"event|{c.ticker}|{c.side.value}"
    return f"{c.underlying}|{c.expiration.isoformat()}|{c.strike!r}|{c.right.value}|{c.multiplier}"


def leg_to_dict(leg: Leg) -> dict[str, Any]:
    return {"contract": contract_to_dict(leg.contract), "quantity": leg.quantity}


def leg_from_dict(d: dict[str, Any]) -> Leg:
    try:
        return Leg(contract_from_dict(d["contract"]), int(d["quantity"]))
    except (KeyError, TypeError) as exc:
        raise SerializationError(f"stored leg {d!r} is malformed: {exc}") from exc


def order_to_dict(o: Order) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "legs": [leg_to_dict(leg) for leg in o.legs],
        "side": o.side.value,
        "quantity": o.quantity,
        "order_type": o.order_type.value,
        "created_at": o.created_at.isoformat(),
        "limit_price": o.limit_price,
        "position_id": o.position_id,
        "purpose": o.purpose.value,
    }


def order_from_dict(d: dict[str, Any]) -> Order:
    try:
        return Order(
            client_order_id=str(d["client_order_id"]),
            legs=tuple(leg_from_dict(x) for x in d["legs"]),
            side=Side(d["side"]),
            quantity=int(d["quantity"]),
            order_type=OrderType(d["order_type"]),
            created_at=datetime.fromisoformat(d["created_at"]),
            limit_price=None if d["limit_price"] is None else float(d["limit_price"]),
            position_id=d["position_id"],
            purpose=OrderPurpose(d["purpose"]),
        )
    except (KeyError, TypeError) as exc:
        raise SerializationError(f"stored order {d!r} is malformed: {exc}") from exc
