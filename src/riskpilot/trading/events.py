"""Binary event markets in the cycle step: entries from an edge threshold and settlement at the
market's result. Both drivers use them (the backtest over recorded snapshots, the live loop in
a replay of them), as they use the option planner and expiry settlement.

Entries (:class:`EventEntryPlanner`, settings ``event_entries`` of the configuration): at a
snapshot, every side of every market trading is a candidate when

- its side is one of ``event_entries.sides`` and its market is not held already;
- its quote is usable (two-sided, not crossed, not older than ``monitoring.max_quote_age_seconds``)
  and the method's ``liquidity_dried_up`` would not fire on it at once (spread within
  ``max_spread``, volume at least ``min_volume``), with contracts offered at the ask;
- its market closes no sooner than ``event_entries.min_minutes_to_close``;
- the fair value of the side (from the ``fair_value`` feed or callable, fresh) minus its ask
  is at least ``event_entries.min_edge``.

The best edge is entered first (ties: the market ticker, then YES before NO). The price is the
fill model's price for buying one contract (the ask, with the touch model of
:func:`riskpilot.execution.fees.event_fill_model`), and the size is the method's
``sizing.max_contracts`` capped by the contracts offered at the ask, then by
``validate_order`` with the binary max loss (the price paid:
:func:`riskpilot.risk.sizing.event_order_request`), heat and the per-event limit included.

Settlement (:class:`EventResults`): an open event position settles once its market's result is
known, at 1.00 a contract when its side won, 0.00 when it lost, the entry premium when the
market was voided (:func:`riskpilot.model.event.settle_event_position`); the exit reason is
``event_settlement``. Option positions are not its business.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from riskpilot.config.event_contracts import EventEntryConfig
from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.data.events import EventSnapshots
from riskpilot.execution.fills import FillModel, simulate_fill
from riskpilot.model.contract import Contract, EventContract, Leg
from riskpilot.model.enums import ContractSide, MarketResult, OrderType, PremiumType, Side, TradingState
from riskpilot.model.event import settle_event_position
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.risk.manager import RiskManager
from riskpilot.risk.sizing import event_order_request
from riskpilot.trading.entry import EntryPlan, EntryRefused
from riskpilot.trading.fair_value import EdgeFeatures, FairValueSource, side_fair_value
from riskpilot.trading.settlement import SettlementPrice

#: The label event entries carry where an option entry names its underlying (position ids).
EVENTS = "events"
#: The exit reason of a position settled at its market's result.
EVENT_SETTLEMENT = "event_settlement"


class EventMarkets(Protocol):
    """What the planner reads of a snapshot of event markets
    (:class:`riskpilot.data.events.EventSnapshot`)."""

    @property
    def quote_date(self) -> date: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def size(self) -> int: ...

    def contracts(self) -> list[EventContract]: ...

    def quotes(self, contracts: list[EventContract]) -> Mapping[Contract, Quote]: ...

    def sizes(self, contract: EventContract) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class EventCandidate:
    """A side of a market worth buying: its fair value, ask and edge (dollars per contract)
    and the contracts offered at the ask. One leg, long, bought for a debit; no delta."""

    contract: EventContract
    fair: float
    ask: float
    edge: float
    ask_size: int

    @property
    def legs(self) -> tuple[Leg, ...]:
        return (Leg(self.contract, 1),)

    @property
    def premium_type(self) -> PremiumType:
        return PremiumType.DEBIT

    @property
    def delta_per_share(self) -> float:
        return 0.0


class EventEntryPlanner:
    """The entry phase's planner for event markets (module docstring): implements
    :class:`riskpilot.trading.step.Planner`. ``fill_model`` prices the entry (None: the ask)."""

    underlying = EVENTS
    #: ``event_entries.max_new_positions`` caps the entries of each snapshot.
    entries_per: Literal["day", "snapshot"] = "snapshot"

    def __init__(self, config: RiskPilotConfig, method: str, fair_values: FairValueSource, *,
                 fill_model: FillModel | None = None, settings: EventEntryConfig | None = None) -> None:
        self.config = config
        self.method = method
        self.mcfg = config.method(method)  # KeyError naming the methods when unknown
        self.fair_values = fair_values
        self.fill_model = fill_model
        self.settings = settings or config.event_entries
        self.sides = frozenset(ContractSide.parse(s) for s in self.settings.sides)
        self.max_quote_age_seconds = config.monitoring.max_quote_age_seconds
        liquidity = self.mcfg.exit_rules.liquidity_dried_up
        self.max_spread = liquidity.max_spread if liquidity.enabled else math.inf
        self.min_volume = liquidity.min_volume if liquidity.enabled else 0
        #: Why candidates were passed over at the last snapshot (reason -> count), for logs.
        self.passed_over: dict[str, int] = {}

    def observe(self, snapshot: EventMarkets) -> None:
        return None

    def regime(self, d: date) -> RegimeName | None:
        return None

    def signal(self, d: date, reading: object, regime: RegimeName | None,
               risk: RiskManager) -> EntryRefused | None:
        if risk.trading_state is not TradingState.ACTIVE:
            return EntryRefused("trading_state", f"{risk.trading_state.value}: {risk.state_reason}")
        return None

    def occupies(self, position: Position) -> str | None:
        c = position.legs[0].contract
        return c.ticker if isinstance(c, EventContract) else None

    def key_of(self, cand: EventCandidate) -> str:
        return cand.contract.ticker

    def window_all_held(self, snapshot: EventMarkets, held: frozenset[object]) -> bool:
        """Event markets have no window to fill: a missing candidate is always ``no_candidate``."""
        return False

    def candidate(self, snapshot: EventMarkets, held: frozenset[object]) -> EventCandidate | None:
        now = snapshot.timestamp
        wanted = [c for c in snapshot.contracts() if c.side in self.sides and c.ticker not in held]
        quotes = snapshot.quotes(wanted)
        passed: dict[str, int] = {}
        best: EventCandidate | None = None
        looked: dict[str, float | None] = {}
        for c in wanted:
            why = self._unfit(c, quotes.get(c), snapshot, now)
            if why is not None:
                passed[why] = passed.get(why, 0) + 1
                continue
            if c.ticker not in looked:
                look = self.fair_values.lookup(c.ticker, now)
                looked[c.ticker] = None if look.value is None else look.value.probability
            p = looked[c.ticker]
            if p is None:
                passed["no_fair_value"] = passed.get("no_fair_value", 0) + 1
                continue
            q = quotes[c]
            ask = float(q.ask)  # type: ignore[arg-type]  # _unfit checked it
            fair = side_fair_value(c, p)
            edge = fair - ask
            if edge < self.settings.min_edge - 1e-9:
                passed["edge_below_threshold"] = passed.get("edge_below_threshold", 0) + 1
                continue
            cand = EventCandidate(c, fair, ask, edge, snapshot.sizes(c)[1])
            if best is None or _ranks_before(cand, best):
                best = cand
        self.passed_over = passed
        return best

    def _unfit(self, c: EventContract, q: Quote | None, snapshot: EventMarkets, now: datetime) -> str | None:
        if q is None or q.problem(now, self.max_quote_age_seconds) is not None or q.ask is None or q.bid is None:
            return "unfillable"
        if c.minutes_to_expiry(now) < self.settings.min_minutes_to_close:
            return "near_close"
        spread = q.ask - q.bid
        if spread > self.max_spread + 1e-9 or (self.min_volume > 0 and q.volume is not None
                                                and q.volume < self.min_volume):
            return "illiquid"
        if snapshot.sizes(c)[1] <= 0:
            return "nothing_offered"
        return None

    def price(self, cand: EventCandidate, quotes: Mapping[Contract, Quote], now: datetime) -> float | EntryRefused:
        """What one contract costs now: the fill model's market price (else the ask); the
        edge at that price must still clear the threshold."""
        q = quotes.get(cand.contract)
        problem = "no quote" if q is None else q.problem(now, self.max_quote_age_seconds)
        if problem is not None or q is None or q.ask is None:
            return EntryRefused("unfillable", f"{cand.contract}: {problem or 'no ask'}")
        if self.fill_model is not None:
            priced = simulate_fill(cand.legs, Side.BUY, 1, OrderType.MARKET, None, quotes, self.fill_model)
            if not priced.filled or priced.price is None:
                return EntryRefused("unfillable", priced.reason or "no fill-model price")
            premium = priced.price
        else:
            premium = q.ask
        if cand.fair - premium < self.settings.min_edge - 1e-9:
            return EntryRefused("edge_below_threshold", f"{cand.contract}: fair {cand.fair:.2f} - price {premium:.2f}")
        return premium

    def size(self, cand: EventCandidate, premium: float, position_id: str, *, day: EventMarkets, at: datetime,
             quotes: Mapping[Contract, Quote], risk: RiskManager, regime: RegimeName | None,
             register: bool = True) -> EntryPlan | EntryRefused:
        """``sizing.max_contracts`` capped by the ask's size, then by ``validate_order`` (the
        risk manager's equity must already be the account's)."""
        wanted = min(self.mcfg.sizing.max_contracts, cand.ask_size)
        if wanted < 1:
            return EntryRefused("nothing_offered", f"{cand.contract}: no contract offered at the ask")
        request = event_order_request(cand.contract, premium, wanted, method=self.method,
                                      position_id=position_id if register else None)
        verdict = risk.validate_order(request, regime=regime)
        if not verdict.approved:
            return EntryRefused(verdict.binding_limit or "refused", verdict.reason)
        return EntryPlan(position_id, day.quote_date, at, cand, premium, verdict.quantity, request, verdict, quotes)


def _ranks_before(a: EventCandidate, b: EventCandidate) -> bool:
    key_a = (-round(a.edge, 9), a.contract.ticker, a.contract.side is not ContractSide.YES)
    key_b = (-round(b.edge, 9), b.contract.ticker, b.contract.side is not ContractSide.YES)
    return key_a < key_b


def _settled(position: Position, c: EventContract, res: MarketResult) -> tuple[float, str, SettlementPrice]:
    done = settle_event_position(position, res)
    return done.price, EVENT_SETTLEMENT, SettlementPrice(done.price, f"result {res.value} of {c.ticker}")


class EventResults:
    """Settles event positions at their market's result (module docstring): implements
    :class:`riskpilot.trading.step.Settler`. ``result(market, now)`` says the result known at
    ``now`` (None before), e.g. :meth:`riskpilot.data.events.EventSnapshots.result`."""

    def __init__(self, result: Callable[[str, datetime], MarketResult | None]) -> None:
        self.result = result

    async def settles(self, position: Position, day: date, now: datetime, *,
                      skipped_only: bool) -> tuple[float, str, SettlementPrice] | None:
        c = position.legs[0].contract
        if not isinstance(c, EventContract):
            return None
        res = self.result(c.ticker, now)
        return None if res is None else _settled(position, c, res)


class VenueResults:
    """Settles event positions at the results a venue reports (a live loop):
    ``fetch(tickers)`` answers each market's result, None while undetermined (the Kalshi
    adapter's ``market_results``). A market is asked about only once its close has passed (no
    result exists before) and at most once every ``every_seconds`` while undetermined (a
    result can take hours after the close; the calls count against the venue's rate limit)."""

    def __init__(self, fetch: Callable[[Sequence[str]], Awaitable[Mapping[str, MarketResult | None]]], *,
                 every_seconds: float = 60.0) -> None:
        if not every_seconds >= 0:
            raise ValueError(f"every_seconds must be >= 0, got {every_seconds!r}")
        self.fetch = fetch
        self.every_seconds = every_seconds
        self._asked: dict[str, datetime] = {}

    async def settles(self, position: Position, day: date, now: datetime, *,
                      skipped_only: bool) -> tuple[float, str, SettlementPrice] | None:
        c = position.legs[0].contract
        if not isinstance(c, EventContract) or now < c.close_time:
            return None
        last = self._asked.get(c.ticker)
        if last is not None and (now - last).total_seconds() < self.every_seconds:
            return None
        self._asked[c.ticker] = now
        res = (await self.fetch([c.ticker])).get(c.ticker)
        return None if res is None else _settled(position, c, res)


class _TradingMarkets:
    """``candidates(now)`` of :class:`EdgeFeatures`: both sides of every market trading at
    ``now``, with their quotes."""

    def __init__(self, snapshots: EventSnapshots) -> None:
        self.snapshots = snapshots

    def __call__(self, now: datetime) -> dict[EventContract, Quote]:
        got = self.snapshots.quotes(self.snapshots.at(now).contracts(), now)
        return {c: q for c, q in got.items() if isinstance(c, EventContract)}


def snapshot_edges(snapshots: EventSnapshots, fair_values: FairValueSource, config: RiskPilotConfig) -> EdgeFeatures:
    """The step's feature source over recorded snapshots (both drivers use it): the edge of
    every event position and the best alternative among the markets trading at the step's
    instant."""
    return EdgeFeatures(fair_values, candidates=_TradingMarkets(snapshots),
                        max_quote_age_seconds=config.monitoring.max_quote_age_seconds)


__all__ = [
    "EVENTS",
    "EVENT_SETTLEMENT",
    "EventCandidate",
    "EventEntryPlanner",
    "EventMarkets",
    "EventResults",
    "VenueResults",
    "snapshot_edges",
]
