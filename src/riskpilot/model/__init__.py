"""Value objects: contracts, legs, quotes, positions, marks, orders, fills and decisions.
Pure: nothing here performs I/O or reads a clock."""

from riskpilot.model.contract import EXCHANGE_TZ, Contract, EventContract, Leg, OptionContract
from riskpilot.model.decision import ExitDecision, RuleFiring
from riskpilot.model.enums import (
    ContractSide,
    ExitAction,
    MarketResult,
    OrderType,
    PositionStatus,
    PremiumType,
    Priority,
    QuoteProblem,
    Right,
    Side,
    TradingState,
)
from riskpilot.model.mark import Mark, MarkBasis, mark_position
from riskpilot.model.order import Fill, Order, OrderPurpose, client_order_id
from riskpilot.model.position import Position, PositionState
from riskpilot.model.quote import Quote
from riskpilot.model.status import OrderEvent, OrderState, OrderStatus

__all__ = [
    "EXCHANGE_TZ",
    "Contract",
    "ContractSide",
    "EventContract",
    "ExitAction",
    "ExitDecision",
    "Fill",
    "Leg",
    "Mark",
    "MarkBasis",
    "MarketResult",
    "OptionContract",
    "Order",
    "OrderEvent",
    "OrderPurpose",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionState",
    "PositionStatus",
    "PremiumType",
    "Priority",
    "Quote",
    "QuoteProblem",
    "Right",
    "RuleFiring",
    "Side",
    "TradingState",
    "client_order_id",
    "mark_position",
]
