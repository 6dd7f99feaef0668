"""The entry flow both drivers run, up to a sized order: signal, strategy, price, size.

One attempt on a chain snapshot (a :class:`~riskpilot.data.daychain.DayChain` of day *t*):

1. **Signal** (:meth:`EntryPlanner.signal`): the trading state must be ACTIVE (reason
   ``trading_state``), then :func:`riskpilot.trading.signals.entry_refusal`: the VIX of *t*
   within ``vix_min``/``vix_max``, IV rank and percentile of *t*'s ATM IV over the trailing
   window (``iv_warmup`` until it is full), a known regime of *t* when market data is given.
2. **Strategy** (:meth:`EntryPlanner.candidate`): :func:`riskpilot.trading.strategies.select_entry`,
   never into an expiration already held in the underlying (``no_candidate``; the cycle step
   says ``expirations_held`` when every expiration of the DTE window is held).
3. **Price** (:meth:`EntryPlanner.price`): every leg needs a quote that is not missing,
   crossed or stale, and the combo a two-sided market (``unfillable``); the entry premium
   is the fill model's market price for one unit when a fill model is given (the backtest's
   and the paper broker's), else the combo's mid; it must collect a credit for a credit
   strategy (``no_credit``) and cost a debit for a debit one (``no_debit``).
4. **Size** (:meth:`EntryPlanner.size`): the worst loss of one unit
   (:func:`riskpilot.risk.sizing.max_loss_per_unit`; ``no_risk`` when it is not positive),
   then ``RiskManager.validate_order`` from the method's ``sizing.max_contracts`` under the
   regime's multiplier and every portfolio limit; a refusal is named by its binding limit
   (``portfolio_heat``, ``class_positions``, ``regime``, ...).

The result is an :class:`EntryPlan` the driver executes (the backtest fills it against the
day's quotes; the live loop sends it as one combo order) or an :class:`EntryRefused`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.data.daychain import DayChain, day_number
from riskpilot.execution.fills import ComboMarket, FillModel, combo_market, simulate_fill
from riskpilot.model.contract import Contract, Leg
from riskpilot.model.enums import OrderType, PremiumType, Side, TradingState
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.risk.manager import OrderRequest, OrderValidation, RiskManager
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.trading.signals import IV_WINDOW, IVReading, IVTracker, MarketData, entry_refusal, iv_filters_set
from riskpilot.trading.strategies import EntryCandidate, expirations_by_preference, select_entry


@dataclass(frozen=True, slots=True)
class EntryRefused:
    """Why no entry was made: ``reason`` is the refusal's name (counted by reason in the
    results), ``detail`` says more in words."""

    reason: str
    detail: str = ""


class Candidate(Protocol):
    """What an entry executes: legs per unit, credit or debit, and the delta per share of one
    unit (NaN when unknown; 0 for a binary event contract, which has no underlying delta)."""

    @property
    def legs(self) -> tuple[Leg, ...]: ...

    @property
    def premium_type(self) -> PremiumType: ...

    @property
    def delta_per_share(self) -> float: ...


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """An entry ready to execute: ``quantity`` units of ``candidate.legs`` approved by
    ``validate_order`` (``verdict``), priced at ``premium`` (net per share of one unit, the
    fill model's market price or the mid) on ``quotes``."""

    position_id: str
    day: date
    at: datetime
    candidate: Candidate
    premium: float
    quantity: int
    request: OrderRequest
    verdict: OrderValidation
    quotes: Mapping[Contract, Quote]

    @property
    def premium_type(self) -> PremiumType:
        return self.candidate.premium_type


class EntryPlanner:
    """Entries of ``method`` in ``underlying`` (module docstring). ``market`` gives the VIX
    and trend behind the regime (None: no VIX filter and no regime, which the caller
    reports); ``fill_model`` prices the entry (None: the combo's mid). The step's entry cap
    counts the day's entries (``entries_per``)."""

    entries_per: Literal["day", "snapshot"] = "day"

    def __init__(
        self,
        config: RiskPilotConfig,
        method: str,
        underlying: str,
        *,
        market: MarketData | None = None,
        fill_model: FillModel | None = None,
        multiplier: int = 100,
        iv_window: int = IV_WINDOW,
    ) -> None:
        self.config = config
        self.method = method
        self.mcfg = config.method(method)  # KeyError naming the methods when unknown
        self.underlying = underlying
        self.market = market
        self.fill_model = fill_model
        self.multiplier = multiplier
        self.max_quote_age_seconds = config.monitoring.max_quote_age_seconds
        self.iv: IVTracker | None = IVTracker(iv_window) if iv_filters_set(self.mcfg.entry) else None

    def observe(self, day: DayChain) -> IVReading | None:
        """Feed day ``day`` to the IV window (once per chain snapshot, traded or warm-up)."""
        return self.iv.observe(day) if self.iv is not None else None

    def regime(self, d: date) -> RegimeName | None:
        return self.market.regime(d, self.config.regimes) if self.market is not None else None

    def signal(self, d: date, reading: IVReading | None, regime: RegimeName | None,
               risk: RiskManager) -> EntryRefused | None:
        if risk.trading_state is not TradingState.ACTIVE:
            return EntryRefused("trading_state", f"{risk.trading_state.value}: {risk.state_reason}")
        why = entry_refusal(self.mcfg.entry, self.market, d, reading, regime)
        return EntryRefused(why) if why is not None else None

    def occupies(self, position: Position) -> int | None:
        """What a held position takes from this planner: its expiration (as a day number)
        when it is in the planner's underlying; None otherwise. Entries avoid expirations
        held."""
        return day_number(position.expiration) if position.underlying == self.underlying else None

    def key_of(self, cand: EntryCandidate) -> int:
        return day_number(cand.legs[0].contract.expiration)

    def candidate(self, day: DayChain, held_expirations: frozenset[int]) -> EntryCandidate | None:
        return select_entry(day, self.mcfg.strategy, self.mcfg.entry, multiplier=self.multiplier,
                            exclude_expirations=held_expirations)

    def window_all_held(self, day: DayChain, held_expirations: frozenset[int]) -> bool:
        """Whether ``day`` lists expirations in the DTE window and every one is held (the
        refusal ``expirations_held`` rather than ``no_candidate``)."""
        entry = self.mcfg.entry
        return bool(expirations_by_preference(day, entry).size) and \
            not expirations_by_preference(day, entry, held_expirations).size

    def price(self, cand: EntryCandidate, quotes: Mapping[Contract, Quote],
              now: datetime) -> float | EntryRefused:
        """The entry premium per share of one unit (step 3), or why there is none."""
        credit = cand.premium_type is PremiumType.CREDIT
        for leg in cand.legs:
            q = quotes.get(leg.contract)
            # Entries are priced after the step's exits were worked, which in a live or replayed
            # venue takes clock time past the step's ``now``: quotes fetched then are stamped later
            # than ``now`` without being future-stamped, so only their age is checked here.
            problem = "no quote" if q is None else q.problem(now, self.max_quote_age_seconds, math.inf)
            if problem is not None:
                return EntryRefused("unfillable", f"{leg.contract}: {problem}")
        market = combo_market(cand.legs, Side.BUY, quotes)
        if not isinstance(market, ComboMarket):
            return EntryRefused("unfillable", market)
        if self.fill_model is not None:
            priced = simulate_fill(cand.legs, Side.BUY, 1, OrderType.MARKET, None, quotes, self.fill_model)
            if not priced.filled or priced.net_debit is None:
                return EntryRefused("unfillable", priced.reason or "no fill-model price")
            premium = -priced.net_debit if credit else priced.net_debit
        else:
            premium = -market.mid if credit else market.mid
        if not premium > 0:
            return EntryRefused("no_credit" if credit else "no_debit", f"entry price {premium:+.4f}")
        return premium

    def size(self, cand: EntryCandidate, premium: float, position_id: str, *, day: DayChain, at: datetime,
             quotes: Mapping[Contract, Quote], risk: RiskManager, regime: RegimeName | None,
             register: bool = True) -> EntryPlan | EntryRefused:
        """Step 4. The risk manager's equity must already be the account's (``set_equity``).
        ``register=False`` (a dry run) asks ``validate_order`` without booking the position
        as pending."""
        spot = day.underlying_price if math.isfinite(day.underlying_price) else None
        mlpu = max_loss_per_unit(cand.legs, premium, cand.premium_type, underlying_price=spot)
        if mlpu <= 0:
            return EntryRefused("no_risk", f"worst loss of one unit {mlpu:.2f}")
        delta = cand.delta_per_share * self.multiplier
        request = OrderRequest(
            underlying=self.underlying, quantity=self.mcfg.sizing.max_contracts, max_loss_per_unit=mlpu,
            underlying_price=spot, delta_per_unit=delta if math.isfinite(delta) else 0.0, method=self.method,
            position_id=position_id if register else None, premium_type=cand.premium_type,
            multiplier=self.multiplier,
        )
        verdict = risk.validate_order(request, regime=regime)
        if not verdict.approved:
            return EntryRefused(verdict.binding_limit or "refused", verdict.reason)
        return EntryPlan(position_id, day.quote_date, at, cand, premium, verdict.quantity, request, verdict, quotes)


__all__ = ["Candidate", "EntryPlan", "EntryPlanner", "EntryRefused"]
