"""Positions: legs held as a unit, their P&L conventions (SPEC section 1) and tracked state."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from riskpilot.model._checks import positive, whole
from riskpilot.model.contract import EXCHANGE_TZ, EventContract, Leg, check_event_price
from riskpilot.model.enums import PositionStatus, PremiumType


def premium_sign(premium_type: PremiumType) -> float:
    """The one place the credit/debit P&L sign is decided (SPEC section 1): +1 for a debit
    position (long premium: a dearer close-out premium is a gain), -1 for a credit position.
    Per share of one unit: P&L = sign x (current - entry); opening moves cash by
    -sign x entry and closing by +sign x close price; a position is worth +sign x premium.
    Every other place (the store's SQL included, see :mod:`riskpilot.store.fills`) derives
    its sign from this function."""
    return -1.0 if premium_type is PremiumType.CREDIT else 1.0


def pnl_per_share(premium_type: PremiumType, entry_premium: float, current_premium: float) -> float:
    """Profit per share of one unit, in premium points, closing at ``current_premium``."""
    return premium_sign(premium_type) * (current_premium - entry_premium)


def premium_at_profit(premium_type: PremiumType, entry_premium: float, profit_pct: float) -> float:
    """The close-out premium at which P&L is ``profit_pct`` of the entry premium (negative
    for a loss): a credit's 50% target sits at 0.5 x entry, its 125% stop at 2.25 x entry."""
    return entry_premium * (1.0 + premium_sign(premium_type) * profit_pct)


@dataclass(frozen=True, slots=True)
class PositionState:
    """What a position remembers between evaluations.

    P&L figures are per share of one unit, in premium points (multiply by the multiplier and
    the quantity for dollars). ``peak_premium``/``trough_premium`` are the highest and lowest
    close-out premium seen since entry. ``stages_done`` names the partial-exit stages that
    already fired (each fires once).
    """

    peak_premium: float
    trough_premium: float
    mfe: float = 0.0
    mae: float = 0.0
    days_held: int = 0
    last_premium: float | None = None
    last_marked_at: datetime | None = None
    stages_done: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def at_entry(cls, entry_premium: float) -> PositionState:
        return cls(peak_premium=entry_premium, trough_premium=entry_premium)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position. ``legs`` carry per-unit signed quantities (a vertical is -1/+1);
    ``quantity`` is how many units are open now, ``original_quantity`` how many were opened
    (partial-exit stages are sized from it). ``entry_premium`` is the net premium per share,
    positive, whether received (CREDIT) or paid (DEBIT).

    A binary event position holds one long leg of its YES or NO side, bought for a DEBIT at
    0.01-0.99 dollars a contract (see :mod:`riskpilot.model.event`)."""

    id: str
    legs: tuple[Leg, ...]
    premium_type: PremiumType
    entry_premium: float
    quantity: int
    opened_at: datetime
    method: str
    original_quantity: int = 0
    status: PositionStatus = PositionStatus.OPEN
    state: PositionState = field(default=None)  # type: ignore[assignment]
    #: Derived once at construction (the hot path reads them on every check).
    expiration: date = field(init=False, repr=False, compare=False)
    opened_on: date = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("position id must be a non-empty string")
        if not self.legs:
            raise ValueError(f"position {self.id}: needs at least one leg")
        if not isinstance(self.legs, tuple):
            object.__setattr__(self, "legs", tuple(self.legs))
        object.__setattr__(
            self, "entry_premium", positive(f"position {self.id}: entry_premium", self.entry_premium)
        )
        whole(f"position {self.id}: quantity", self.quantity, minimum=0)
        if self.original_quantity == 0:
            object.__setattr__(self, "original_quantity", self.quantity)
        whole(f"position {self.id}: original_quantity", self.original_quantity, minimum=1)
        if self.quantity > self.original_quantity:
            raise ValueError(
                f"position {self.id}: quantity {self.quantity} exceeds original_quantity "
                f"{self.original_quantity}"
            )
        if not isinstance(self.opened_at, datetime) or self.opened_at.tzinfo is None:
            raise ValueError(f"position {self.id}: opened_at must be a timezone-aware datetime")
        opened = self.opened_at.astimezone(EXCHANGE_TZ).date()
        for leg in self.legs:
            if leg.contract.expiration < opened:
                raise ValueError(
                    f"position {self.id}: leg {leg.contract} expired before the position "
                    f"opened on {opened.isoformat()}"
                )
        if any(isinstance(leg.contract, EventContract) for leg in self.legs):
            self._check_event_shape()
        underlyings = {leg.contract.underlying for leg in self.legs}
        if len(underlyings) != 1:
            raise ValueError(f"position {self.id}: legs span several underlyings {sorted(underlyings)}")
        if self.state is None:
            object.__setattr__(self, "state", PositionState.at_entry(self.entry_premium))
        # The nearest leg expiration: the one that forces the decision.
        object.__setattr__(self, "expiration", min(leg.contract.expiration for leg in self.legs))
        object.__setattr__(self, "opened_on", opened)

    def _check_event_shape(self) -> None:
        legs = self.legs
        if len(legs) != 1 or legs[0].quantity != 1 or self.premium_type is not PremiumType.DEBIT:
            raise ValueError(
                f"position {self.id}: an event-contract position holds one long leg (quantity +1) "
                "of its YES or NO side, bought for a DEBIT; to be short YES at p, hold the NO side "
                "bought at 1 - p (riskpilot.model.event.as_long)"
            )
        check_event_price(f"position {self.id}: entry_premium", self.entry_premium)

    # --- descriptive ---------------------------------------------------------------
    @property
    def underlying(self) -> str:
        return self.legs[0].contract.underlying

    @property
    def multiplier(self) -> int:
        return self.legs[0].contract.multiplier

    @property
    def is_event(self) -> bool:
        """A binary event-contract position (one long YES or NO leg)."""
        return isinstance(self.legs[0].contract, EventContract)

    @property
    def is_credit(self) -> bool:
        return self.premium_type is PremiumType.CREDIT

    def dte(self, today: date) -> int:
        return (self.expiration - today).days

    def minutes_to_expiry(self, now: datetime) -> float:
        return min(leg.contract.minutes_to_expiry(now) for leg in self.legs)

    # --- P&L conventions (SPEC section 1) -------------------------------------------
    def profit(self, current_premium: float) -> float:
        """Profit per share of one unit, in premium points."""
        return pnl_per_share(self.premium_type, self.entry_premium, current_premium)

    def profit_pct(self, current_premium: float) -> float:
        """Profit as a fraction of the entry premium (0.35 = 35%)."""
        return self.profit(current_premium) / self.entry_premium

    def loss_pct(self, current_premium: float) -> float:
        """Loss as a fraction of the entry premium; negative when in profit."""
        return -self.profit_pct(current_premium)

    def pnl_dollars(self, current_premium: float) -> float:
        return self.profit(current_premium) * self.multiplier * self.quantity

    # --- pure transitions -----------------------------------------------------------
    def marked(self, premium: float, now: datetime, today: date | None = None) -> Position:
        """This position after observing ``premium`` (a good quote's close-out premium) at
        ``now``: peak, trough, MFE, MAE and days held updated. Pure. ``today`` (the exchange
        date of ``now``) may be passed by callers that mark many positions at once."""
        if premium != premium or premium < 0:  # NaN or negative: refuse, never record it
            raise ValueError(f"position {self.id}: cannot mark at premium {premium!r}")
        st = self.state
        pnl = self.profit(premium)
        if today is None:
            today = now.astimezone(EXCHANGE_TZ).date()
        days = (today - self.opened_on).days
        new_state = PositionState(
            peak_premium=premium if premium > st.peak_premium else st.peak_premium,
            trough_premium=premium if premium < st.trough_premium else st.trough_premium,
            mfe=pnl if pnl > st.mfe else st.mfe,
            mae=pnl if pnl < st.mae else st.mae,
            days_held=days if days > st.days_held else st.days_held,
            last_premium=premium,
            last_marked_at=now,
            stages_done=st.stages_done,
        )
        return self._with_state(new_state)

    def _with_state(self, state: PositionState) -> Position:
        # A copy that skips __post_init__: only the tracked state changes, and the rest was
        # validated when this position was built. Hot path of every evaluation, hence the
        # unrolled assignments (a test checks they cover every field).
        new = _new(Position)
        _set(new, "id", self.id)
        _set(new, "legs", self.legs)
        _set(new, "premium_type", self.premium_type)
        _set(new, "entry_premium", self.entry_premium)
        _set(new, "quantity", self.quantity)
        _set(new, "opened_at", self.opened_at)
        _set(new, "method", self.method)
        _set(new, "original_quantity", self.original_quantity)
        _set(new, "status", self.status)
        _set(new, "expiration", self.expiration)
        _set(new, "opened_on", self.opened_on)
        _set(new, "state", state)
        return new

    def reduced(self, closed_quantity: int) -> Position:
        whole("closed_quantity", closed_quantity, minimum=1)
        if closed_quantity > self.quantity:
            raise ValueError(
                f"position {self.id}: cannot close {closed_quantity} of {self.quantity} open"
            )
        left = self.quantity - closed_quantity
        return replace(
            self,
            quantity=left,
            status=PositionStatus.CLOSED if left == 0 else self.status,
        )

    def with_stage_done(self, stage: str) -> Position:
        return self._with_state(replace(self.state, stages_done=self.state.stages_done | {stage}))


_new = object.__new__
_set = object.__setattr__


def premium_is_usable(premium: float | None) -> bool:
    return premium is not None and not math.isnan(premium) and premium >= 0
