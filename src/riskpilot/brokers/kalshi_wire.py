"""Kalshi wire mapping for :mod:`riskpilot.brokers.kalshi`: credentials, prices, and the
conversions between the official SDK's models (``kalshi_python_async``) and riskpilot's.
Pure apart from reading the environment and a key file in :meth:`KalshiCredentials.load`.

Conventions of the Kalshi Trade API v2 used here:

- Prices are cents of a 1.00 payout (1-99); the ``*_dollars`` / ``*_fixed`` fields carry the
  same price as a decimal string (``"0.4200"``), which is what is read (exact, and ready for
  sub-cent markets).
- A market's book holds bids only, on both sides: a NO bid at ``q`` is a YES offer at
  ``1 - q`` (:func:`riskpilot.model.event.side_market`).
- Orders name the market ``ticker``, the ``side`` (yes/no), the ``action`` (buy/sell), a
  ``count`` and a limit in cents of that side (``yes_price`` or ``no_price``); order states
  are ``resting``, ``canceled`` and ``executed``.
- A net position is signed: positive YES contracts, negative NO contracts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from kalshi_python_async.models.market import Market
from kalshi_python_async.models.order import Order as KOrder
from kalshi_python_async.models.orderbook import Orderbook

from riskpilot.config.event_contracts import KalshiConfig
from riskpilot.execution.port import BrokerError
from riskpilot.model.contract import EventContract
from riskpilot.model.enums import ContractSide, MarketResult, Side
from riskpilot.model.event import side_market
from riskpilot.model.quote import Quote
from riskpilot.model.status import OrderState, OrderStatus

#: Separates our client order id from the amendment number in the venue's client order id
#: (``rp-abc`` becomes ``rp-abc:1`` after a first price walk); ':' is allowed by the venue.
AMEND_SEPARATOR = ":"


class KalshiCredentialsError(BrokerError):
    """The API key id or the RSA private key is missing or unusable. The message names where
    they were looked for, never their content."""


@dataclass(frozen=True, slots=True)
class KalshiCredentials:
    """The API key id and the RSA private key, parsed once (:meth:`from_pem`). Their repr and
    str show neither: a credential must never reach a log, a printed line or the database."""

    key_id: str = field(repr=False)
    private_key: RSAPrivateKey = field(repr=False)
    origin: str = "<given>"

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not self.key_id.strip():
            raise KalshiCredentialsError(f"the Kalshi API key id from {self.origin} is empty")
        if not isinstance(self.private_key, RSAPrivateKey):
            raise KalshiCredentialsError(f"the Kalshi private key from {self.origin} is not an RSA key")

    def __repr__(self) -> str:
        return f"KalshiCredentials(key_id=<redacted>, private_key=<redacted>, origin={self.origin!r})"

    __str__ = __repr__

    @classmethod
    def from_pem(cls, key_id: str, private_key_pem: str, origin: str = "<given>") -> KalshiCredentials:
        """From the key id and an unencrypted PEM private key (the form Kalshi issues)."""
        try:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise KalshiCredentialsError(
                f"the Kalshi private key from {origin} is not an unencrypted PEM private key "
                f"({type(exc).__name__})"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise KalshiCredentialsError(f"the Kalshi private key from {origin} is not an RSA key")
        return cls(key_id.strip(), key, origin)

    @classmethod
    def load(cls, config: KalshiConfig, environ: Mapping[str, str] | None = None) -> KalshiCredentials:
        """From the environment and the key file that ``config`` names (see
        :class:`riskpilot.config.event_contracts.KalshiConfig`)."""
        env = os.environ if environ is None else environ
        key_id = env.get(config.api_key_id_env, "")
        if not key_id.strip():
            raise KalshiCredentialsError(
                f"no Kalshi API key id: set the environment variable {config.api_key_id_env} "
                "(kalshi.api_key_id_env names another)"
            )
        path = config.private_key_path or env.get(config.private_key_path_env) or None
        if path is not None:
            p = Path(path).expanduser()
            try:
                pem = p.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise KalshiCredentialsError(
                    f"the Kalshi private key file {p} cannot be read ({type(exc).__name__}); "
                    "check kalshi.private_key_path or the variable " + config.private_key_path_env
                ) from None
            origin = f"{config.api_key_id_env} and the file {p}"
        else:
            pem = env.get(config.private_key_env, "")
            if not pem.strip():
                raise KalshiCredentialsError(
                    "no Kalshi private key: set kalshi.private_key_path, or the environment variable "
                    f"{config.private_key_path_env} (a PEM file) or {config.private_key_env} (the PEM text)"
                )
            origin = f"{config.api_key_id_env} and {config.private_key_env}"
        return cls.from_pem(key_id, pem, origin)


# --- prices -------------------------------------------------------------------------------


def dollars(text: str | None) -> float | None:
    """A ``"0.4200"`` dollar string as a float (None for a missing field)."""
    if text is None or text == "":
        return None
    return float(Decimal(text))


def price_field(side: ContractSide) -> str:
    return "yes_price" if side is ContractSide.YES else "no_price"


def venue_client_id(client_order_id: str, amendments: int) -> str:
    return client_order_id if amendments == 0 else f"{client_order_id}{AMEND_SEPARATOR}{amendments}"


def our_client_id(venue_id: str) -> str:
    """Our client order id from the venue's (the amendment suffix stripped)."""
    head, sep, tail = venue_id.rpartition(AMEND_SEPARATOR)
    return head if sep and tail.isdigit() else venue_id


# --- markets and books ----------------------------------------------------------------------


def settlement_time_of(m: Market) -> datetime:
    """When a market is expected to pay: its expected expiration, else its expiration."""
    t = m.expected_expiration_time or m.expiration_time
    return t if t >= m.close_time else m.close_time


def contract_from_market(m: Market, series: str, side: ContractSide = ContractSide.YES) -> EventContract:
    return EventContract(
        series=series,
        event=m.event_ticker,
        ticker=m.ticker,
        side=side,
        close_time=m.close_time,
        settlement_time=settlement_time_of(m),
    )


def _bid(text: str | None) -> float | None:
    v = dollars(text)
    return v if v is not None and v > 0 else None  # a zero bid is an empty ladder


def quote_from_market(side: ContractSide, m: Market, now: datetime) -> Quote:
    """One side's quote from a market summary: its bid, and the other side's bid turned into
    its ask. ``volume`` is the contracts traded in the last 24 hours."""
    bid, ask = side_market(side, _bid(m.yes_bid_dollars), _bid(m.no_bid_dollars))
    last = dollars(m.last_price_dollars)
    if last is not None and side is ContractSide.NO and last > 0:
        last = round(1.0 - last, 10)
    return Quote(bid=bid, ask=ask, timestamp=now, last=last if last else None, volume=m.volume_24h)


def market_result(m: Market) -> MarketResult | None:
    """The market's result once determined (None before)."""
    return MarketResult.parse(m.result) if m.result else None


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: float
    size: int


@dataclass(frozen=True, slots=True)
class OrderBook:
    """One side's book in that side's prices: ``bids`` best first, and ``asks`` (the other
    side's bids turned around, ``1 - q``) best first. ``timestamp`` is when it was read."""

    contract: EventContract
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp: datetime

    @property
    def quote(self) -> Quote:
        bid = self.bids[0].price if self.bids else None
        ask = self.asks[0].price if self.asks else None
        return Quote(bid=bid, ask=ask, timestamp=self.timestamp)

    @property
    def bid_size(self) -> int | None:
        return self.bids[0].size if self.bids else None

    @property
    def ask_size(self) -> int | None:
        return self.asks[0].size if self.asks else None


def _levels(rows: list[list[str]]) -> list[BookLevel]:
    out = [BookLevel(float(Decimal(p)), int(Decimal(n))) for p, n in rows]
    return sorted((lv for lv in out if lv.size > 0 and lv.price > 0), key=lambda lv: -lv.price)


def book_from_orderbook(contract: EventContract, ob: Orderbook, now: datetime) -> OrderBook:
    yes, no = _levels(ob.yes_dollars), _levels(ob.no_dollars)
    own, other = (yes, no) if contract.side is ContractSide.YES else (no, yes)
    asks = tuple(BookLevel(round(1.0 - lv.price, 10), lv.size) for lv in other)
    return OrderBook(contract, tuple(own), asks, now)


# --- orders ---------------------------------------------------------------------------------

_STATUS = {"resting": OrderStatus.SUBMITTED, "canceled": OrderStatus.CANCELLED, "executed": OrderStatus.FILLED}


def state_from_order(
    o: KOrder, client_order_id: str, now: datetime, *, quantity: int | None = None
) -> OrderState:
    """Our view of a venue order. ``avg_fill_price`` is the venue's fill cost over the filled
    count, dollars per contract of the order's side; ``quantity`` what was ordered (the
    venue's own count when the caller does not know it)."""
    status = _STATUS[o.status.value if hasattr(o.status, "value") else str(o.status)]
    if status is OrderStatus.SUBMITTED and o.fill_count > 0:
        status = OrderStatus.PARTIALLY_FILLED
    side = ContractSide.parse(o.side)
    limit = dollars(o.yes_price_dollars if side is ContractSide.YES else o.no_price_dollars)
    avg = None
    if o.fill_count > 0:
        cost = (dollars(o.taker_fill_cost_dollars) or 0.0) + (dollars(o.maker_fill_cost_dollars) or 0.0)
        avg = round(cost / o.fill_count, 6)
    ordered = quantity if quantity is not None else max(o.initial_count, o.fill_count + o.remaining_count)
    reason = None
    if status is OrderStatus.CANCELLED:
        reason = "cancelled at the venue" + (f" after {o.fill_count} filled" if o.fill_count else "")
    return OrderState(
        client_order_id=client_order_id,
        broker_order_id=o.order_id,
        status=status,
        quantity=ordered,
        filled_quantity=o.fill_count,
        avg_fill_price=avg,
        limit_price=limit,
        updated_at=o.last_update_time or now,
        reason=reason,
    )


def rejected_state(client_order_id: str, quantity: int, limit: float | None, now: datetime, reason: str) -> OrderState:
    return OrderState(client_order_id, "", OrderStatus.REJECTED, quantity, 0, None, limit, now, reason)


def action_of(side: Side) -> str:
    return "buy" if side is Side.BUY else "sell"


def side_of(action: str) -> Side:
    return Side.BUY if action == "buy" else Side.SELL


# --- errors ---------------------------------------------------------------------------------


def error_message(body: str | None) -> str:
    """The venue's error code and message from an error body (``{"error": {...}}`` or a flat
    ``{"code", "message"}``), else the raw text, cut short."""
    if not body:
        return "no details"
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(doc, dict):
        inner = doc.get("error", doc)
        if isinstance(inner, dict):
            code, msg = inner.get("code"), inner.get("message")
            if code or msg:
                return f"{code or 'error'}: {msg or ''}".strip()
    return body[:200]


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not headers:
        return None
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


__all__ = [
    "AMEND_SEPARATOR",
    "BookLevel",
    "KalshiCredentials",
    "KalshiCredentialsError",
    "OrderBook",
    "action_of",
    "book_from_orderbook",
    "contract_from_market",
    "dollars",
    "error_message",
    "market_result",
    "our_client_id",
    "price_field",
    "quote_from_market",
    "rejected_state",
    "retry_after_seconds",
    "settlement_time_of",
    "side_of",
    "state_from_order",
    "venue_client_id",
]
