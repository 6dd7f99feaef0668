"""The cycle step: the order of a trading cycle, written once and run by both drivers.

:meth:`TradingStep.run` performs, in this order (``docs/architecture.md`` says which quote
each phase sees in each driver):

0. **Begin** (``venue.begin``): what the venue carries over from before (the backtest fills
   orders it queued on the previous day under ``--fill next``; the live loop takes the
   trading state set outside and picks up exits queued in the store); then the risk manager
   enters the day (a circuit-breaker halt of an earlier day lifts, even with nothing to check).
1. **Expiries the data skipped**: positions whose expiration is before today settle first,
   at the underlying's value on their expiration (:mod:`riskpilot.trading.settlement`); so do
   AM-settled positions expiring today, whose settlement instant (the opening) has passed.
2. **Mark**: every position due now is marked from the venue's quotes
   (:func:`riskpilot.trading.marking.mark_for_rules`: the close-out mark under
   ``monitoring.marks``, with the liquidity of the legs that matter to the close; a leg quote
   that is missing, crossed, naive, future-stamped or stale, a one-sided short leg, a leg or a
   market outside its bounds give a bad mark, on which no rule acts; with a chain, the day's
   underlying price bounds each option by its intrinsic value; ``docs/marks.md``).
3. **Decide**: ``RiskManager.check_position_exits`` under the day's regime (its exit-rule
   overrides apply) vets every mark (an unconfirmed jump holds too), advances the tracked
   state and the trailing stops; the venue observes every check with the marks as vetted
   (``venue.observe``: the backtest keeps the last good mark for equity, the live loop
   stores marks and schedules the next check).
4. **Execute exits**: every non-HOLD decision goes to ``venue.exit`` (the backtest's
   simulated tactics fill it against the same quotes; the live loop starts the urgency
   tactic at the broker), then ``venue.after_exits`` (the live loop closes what the
   circuit breaker caught outside this step's positions).
5. **Entries** (only with a snapshot): the exits of this step are awaited (``venue.exits_done``),
   then up to ``max_new_positions_per_day`` entries are planned by the step's
   :class:`Planner` (signal, candidate, price, size) and executed by ``venue.enter``. The
   planner observes every snapshot, traded or not (the option planner feeds its IV window).
6. **Settlement** (only when asked): positions the :class:`Settler` says are due settle. A
   live loop that must not wait on exits in flight asks for the first pass only
   (``settle="before_marks"``: what is due settles before the marks, nothing after).

What the step reads is small, so that more than one kind of market plugs in: a
:class:`Snapshot` (a day's option chain, :class:`~riskpilot.data.daychain.DayChain`, or the
event markets at an instant, :class:`~riskpilot.data.events.EventSnapshot`), a
:class:`Planner` (the option :class:`~riskpilot.trading.entry.EntryPlanner`, or
:class:`~riskpilot.trading.events.EventEntryPlanner`), a :class:`Settler` (expiries at the
underlying's value, :class:`ExpirySettler`, or event markets at their result,
:class:`~riskpilot.trading.events.EventResults`), and ``StepInputs.features``: fixed features,
or a :class:`FeatureSource` computed from this step's marks (the edge of event contracts,
:class:`~riskpilot.trading.fair_value.EdgeFeatures`).

Both drivers are async-shaped: the backtest's venue never suspends, so :func:`run_sync`
drives one step without an event loop; the live loop awaits it inside asyncio.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Coroutine, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, TypeVar

from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.model.contract import Contract
from riskpilot.model.enums import ExitAction, PositionStatus
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position
from riskpilot.model.quote import Quote
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.manager import RiskManager
from riskpilot.trading.entry import Candidate, EntryPlan, EntryRefused
from riskpilot.trading.marking import mark_for_rules
from riskpilot.trading.settlement import (
    Settlement,
    SettlementPrice,
    is_am_settled,
    settlement_close,
    settles_before,
)

#: Features handed to the rules per position (e.g. ``edge`` for event contracts).
Features = Mapping[str, Mapping[str, float]]


class FeatureSource(Protocol):
    """Features computed from this step's marks: called once per step with the positions
    checked, their marks (by position id) and the step's instant."""

    def __call__(self, positions: Sequence[Position], marks: Mapping[str, Mark], now: datetime) -> Features: ...


class Snapshot(Protocol):
    """What the step reads of a market snapshot: its exchange date, its instant, and how many
    quotes it holds (an empty one enters nothing)."""

    @property
    def quote_date(self) -> date: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def size(self) -> int: ...


class QuotedSnapshot(Snapshot, Protocol):
    """A snapshot that also answers quotes (what the backtest's venue fills against)."""

    def quotes(self, contracts: Iterable[Contract]) -> Mapping[Contract, Quote]: ...


class Planner(Protocol):
    """What the entry phase calls, in order (:mod:`riskpilot.trading.entry` for the option
    planner). ``occupies`` names what a held position takes (an expiration of the underlying,
    a market), or None when the planner does not trade it; ``key_of`` names what a candidate
    would take; no candidate is offered for a key held. ``entries_per`` says what the step's
    ``max_new_positions_per_day`` counts: entries of the ``day`` (options, one snapshot a day)
    or of the ``snapshot`` (event markets, many a day)."""

    method: str
    entries_per: Literal["day", "snapshot"]

    def observe(self, snapshot: Any) -> Any: ...

    def regime(self, d: date) -> RegimeName | None: ...

    def signal(self, d: date, reading: Any, regime: RegimeName | None, risk: RiskManager) -> EntryRefused | None: ...

    def occupies(self, position: Position) -> Hashable | None: ...

    def key_of(self, candidate: Any) -> Hashable: ...

    def candidate(self, snapshot: Any, held: frozenset[Any]) -> Candidate | None: ...

    def window_all_held(self, snapshot: Any, held: frozenset[Any]) -> bool:
        """When no candidate came: whether one would have, but for the keys held (the
        refusal then reads ``expirations_held`` instead of ``no_candidate``)."""
        ...

    def price(self, cand: Any, quotes: Mapping[Contract, Quote], now: datetime) -> float | EntryRefused: ...

    def size(self, cand: Any, premium: float, position_id: str, *, day: Any, at: datetime,
             quotes: Mapping[Contract, Quote], risk: RiskManager, regime: RegimeName | None,
             register: bool = True) -> EntryPlan | EntryRefused: ...

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One entry the venue executed or refused. ``status``: ``refused`` (``reason`` names
    why, as the refusal counts do), ``filled``, ``partial`` (``quantity`` of ``requested``
    units), ``unfilled`` (nothing filled; closed unopened), ``dry_run`` (would have sent),
    ``pending`` (the broker could not be reached; the restart reconciliation settles it).
    ``price`` is the average fill, net premium per share."""

    status: Literal["refused", "filled", "partial", "unfilled", "dry_run", "pending"]
    reason: str
    position_id: str | None = None
    quantity: int = 0
    requested: int = 0
    price: float | None = None


class SettlementPrices(Protocol):
    """Where settlement values come from (:class:`riskpilot.trading.settlement.OfficialValues`:
    the official series, the chain's close where there is none)."""

    def on(self, underlying: str, expiration: date, am: bool = False) -> SettlementPrice:
        """The value positions of ``underlying`` expiring on ``expiration`` settle at (``am``:
        AM-settled, at the opening value; else the close); raises ``ValueError`` naming what
        is missing when there is none."""
        ...


class Settler(Protocol):
    """Who settles now and at what: ``settles(position, day, now, skipped_only)`` returns the
    close-out premium (per share, >= 0), the exit reason and the value it settled at, or None
    when the position does not settle in this pass. ``skipped_only`` is the step's first pass
    (before marking): options settle there only when the data skipped their expiration day.
    Async, so that a settler may ask a venue for a market's result."""

    async def settles(self, position: Position, day: date, now: datetime, *,
                      skipped_only: bool) -> tuple[float, str, SettlementPrice] | None: ...


class ExpirySettler:
    """Options at expiration (:func:`riskpilot.trading.settlement.settlement_close`): a
    position settles on its expiration day (in the first pass, only when that day was skipped
    by the data), at the value ``prices`` give for its underlying."""

    def __init__(self, settlement: Settlement, prices: SettlementPrices | None) -> None:
        self.settlement: Settlement = settlement
        self.prices = prices

    async def settles(self, position: Position, day: date, now: datetime, *,
                      skipped_only: bool) -> tuple[float, str, SettlementPrice] | None:
        # The first pass settles what expired before today, and what expires today at the
        # morning's opening value (AM-settled roots); the last pass the rest of today's.
        if position.expiration > day or (skipped_only and position.expiration == day
                                         and not settles_before(position, now)):
            return None
        if self.prices is None:
            raise ValueError(f"{day}: position {position.id} expired on {position.expiration} but the step has no "
                             "settlement prices (TradingStep(prices=...))")
        spot = self.prices.on(position.underlying, position.expiration, is_am_settled(position))
        price, reason = settlement_close(position, spot.spot, self.settlement)
        return price, reason, spot


class Venue(Protocol):
    """What a driver hands the cycle step: its book, quotes and executor (module docstring
    for when each is called). ``dry_run``: entries are planned but not booked as pending."""

    dry_run: bool

    async def begin(self, now: datetime) -> None: ...

    def due(self, now: datetime) -> Sequence[Position]:
        """The open positions to check in this step."""
        ...

    def holding(self) -> Iterable[Position]:
        """Every position held or being entered in the step's underlying (settlement, and
        expirations already held, which entries avoid)."""
        ...

    async def quotes(self, contracts: Collection[Contract], now: datetime) -> Mapping[Contract, Quote]:
        ...

    def observe(self, checks: ExitChecks, marks: Mapping[str, Mark], now: datetime) -> None: ...

    async def exit(self, check: PositionCheck, quotes: Mapping[Contract, Quote], now: datetime) -> None: ...

    async def after_exits(self, now: datetime) -> None: ...

    async def exits_done(self) -> None: ...

    def equity(self) -> float:
        """The account's equity in dollars now, for sizing entries."""
        ...

    def new_position_id(self, day: date) -> str: ...

    def entries_on(self, day: date) -> int:
        """Entries already made on ``day`` (a step run again for the same day, after a
        restart, counts them against the day's maximum instead of entering twice)."""
        ...

    async def enter(self, plan: EntryPlan) -> EntryResult: ...

    async def settle(self, position: Position, price: float, reason: str, spot: SettlementPrice, day: date) -> None:
        ...


@dataclass(slots=True)
class StepReport:
    """What one step did."""

    at: datetime
    checks: ExitChecks | None = None
    exits: list[PositionCheck] = field(default_factory=list)
    entries: list[EntryResult] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    settled: list[tuple[Position, float, str]] = field(default_factory=list)
    unknown_delta: list[str] = field(default_factory=list)

    def refuse(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1


@dataclass(frozen=True, slots=True)
class StepInputs:
    """One step's inputs. ``day`` is the exchange date of ``now``; ``chain`` (the market
    snapshot: a day's chain, the event markets at ``now``) turns on the entries; ``settle``
    the settlement of what is due; ``regime`` the day's regime (its exit-rule overrides apply;
    None: the base rules); ``features`` the rules' features by position id, or a
    :class:`FeatureSource` the step calls with this step's marks."""

    now: datetime
    day: date
    chain: Snapshot | None = None
    settle: bool | Literal["before_marks"] = False
    regime: RegimeName | None = None
    features: Features | FeatureSource | None = None


class TradingStep:
    """The cycle step (module docstring). ``planner`` enters one method (None: the step never
    enters, e.g. a live loop that only manages what it holds); ``settler`` settles what is
    due (default: :class:`ExpirySettler` of ``settlement`` and ``prices``), positions of
    ``underlying`` only when it is given. ``max_new_positions_per_day`` caps the entries of
    one step (one snapshot)."""

    def __init__(
        self,
        config: RiskPilotConfig,
        risk: RiskManager,
        *,
        underlying: str | None = None,
        planner: Planner | None = None,
        settlement: Settlement = "cash",
        prices: SettlementPrices | None = None,
        settler: Settler | None = None,
        max_new_positions_per_day: int = 1,
    ) -> None:
        if max_new_positions_per_day < 0:
            raise ValueError(f"max_new_positions_per_day must be >= 0, got {max_new_positions_per_day}")
        self.config = config
        self.risk = risk
        self.underlying = underlying
        self.planner = planner
        self.settlement = settlement
        self.prices = prices
        self.settler: Settler = settler if settler is not None else ExpirySettler(settlement, prices)
        self.max_new_positions_per_day = max_new_positions_per_day
        self.basis = config.monitoring.mark_basis
        self.mark_checks = config.monitoring.mark_checks()

    async def run(self, venue: Venue, inputs: StepInputs) -> StepReport:
        now, d = inputs.now, inputs.day
        report = StepReport(now)
        await venue.begin(now)
        self.risk.start_day(d)
        if inputs.settle:
            await self._settle(venue, d, now, report, skipped_only=True)
        due = venue.due(now)
        if due:
            quotes = await venue.quotes({leg.contract for p in due for leg in p.legs}, now)
            spot = _spot(inputs.chain)
            marks = {p.id: mark_for_rules(p, quotes, now, basis=self.basis, checks=self.mark_checks,
                                          underlying_price=spot.get(p.underlying)) for p in due}
            features = inputs.features
            if features is not None and not isinstance(features, Mapping):
                features = features(due, marks, now)
            checks = self.risk.check_position_exits(due, marks, now, regime=inputs.regime, features=features)
            report.checks = checks
            venue.observe(checks, checks.marks, now)
            for check in checks.exits():
                report.exits.append(check)
                await venue.exit(check, quotes, now)
        await venue.after_exits(now)
        if inputs.chain is not None and self.planner is not None:
            await venue.exits_done()
            await self._enter(venue, inputs.chain, inputs.regime, now, report)
        if inputs.settle is True:
            await venue.exits_done()
            await self._settle(venue, d, now, report, skipped_only=False)
        return report

    async def _enter(self, venue: Venue, day: Snapshot, regime: RegimeName | None, now: datetime,
                     report: StepReport) -> None:
        planner = self.planner
        if planner is None:
            raise RuntimeError("the entry phase needs a planner")  # run() calls it only with one
        reading = planner.observe(day)  # fed every snapshot, whatever happens next
        if self.max_new_positions_per_day == 0 or day.size == 0:
            return
        refused = planner.signal(day.quote_date, reading, regime, self.risk)
        if refused is not None:
            report.refuse(refused.reason)
            return
        held: set[Hashable] = set()
        for p in venue.holding():
            key = planner.occupies(p)
            if key is None:
                continue
            if p.status is PositionStatus.PENDING:
                report.refuse("conflicting_position")  # an entry the planner trades is still working
                return
            held.add(key)
        # A day's cap counts what the day already entered (a step run again for the same day
        # after a restart enters no more); a snapshot's cap is the snapshot's own.
        already = venue.entries_on(day.quote_date) if planner.entries_per == "day" else 0
        for _ in range(self.max_new_positions_per_day - already):
            cand = planner.candidate(day, frozenset(held))
            if cand is None:
                # Every expiration of the window already held is a refusal of its own: the
                # delta and DTE ranges found something, the book's one-per-expiration rule did not.
                report.refuse("expirations_held" if held and planner.window_all_held(day, frozenset(held))
                              else "no_candidate")
                return
            quotes = await venue.quotes([leg.contract for leg in cand.legs], now)
            premium = planner.price(cand, quotes, now)
            if isinstance(premium, EntryRefused):
                report.refuse(premium.reason)
                return
            pid = venue.new_position_id(day.quote_date)
            if not math.isfinite(cand.delta_per_share):
                report.unknown_delta.append(pid)  # sized without the delta limit
            self.risk.set_equity(max(venue.equity(), 1e-6))
            plan = planner.size(cand, premium, pid, day=day, at=now, quotes=quotes, risk=self.risk, regime=regime,
                                register=not venue.dry_run)
            if isinstance(plan, EntryRefused):
                report.refuse(plan.reason)
                return
            result = await venue.enter(plan)
            report.entries.append(result)
            if result.status == "refused":
                report.refuse(result.reason)
                return
            held.add(planner.key_of(cand))

    async def _settle(self, venue: Venue, d: date, now: datetime, report: StepReport, *,
                      skipped_only: bool) -> None:
        for pos in list(venue.holding()):
            if self.underlying is not None and pos.underlying != self.underlying:
                continue
            # An entry still pending or an exit still working is not settled here: the step
            # settles it once its order is final and it is OPEN again.
            if pos.status is not PositionStatus.OPEN or pos.quantity <= 0:
                continue
            due = await self.settler.settles(pos, d, now, skipped_only=skipped_only)
            if due is None:
                continue
            price, reason, spot = due
            report.settled.append((pos, price, reason))
            await venue.settle(pos, price, reason, spot, d)


def _spot(chain: Snapshot | None) -> dict[str, float]:
    """The underlying's price the chain was quoted at, by underlying (none when unknown, and
    for a snapshot of event markets, which has no underlying price)."""
    px = getattr(chain, "underlying_price", None)
    if chain is None or px is None or not math.isfinite(px) or px <= 0:
        return {}
    return {str(getattr(chain, "underlying", "")): float(px)}


def run_sync(step: Coroutine[Any, Any, _T]) -> _T:
    """Drive a coroutine that never suspends (the backtest's step, whose venue fills at
    once) to its result without an event loop. A venue that suspends is a wiring error."""
    try:
        step.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    step.close()
    raise RuntimeError("the step suspended: a synchronous driver needs a venue whose calls complete at once")


def closes_all(action: ExitAction) -> bool:
    """Whether a decision closes the whole position (CLOSE, ROLL) rather than a part."""
    return action in (ExitAction.CLOSE, ExitAction.ROLL)


__all__ = [
    "EntryResult",
    "ExpirySettler",
    "FeatureSource",
    "Features",
    "Planner",
    "QuotedSnapshot",
    "SettlementPrice",
    "SettlementPrices",
    "Settler",
    "Snapshot",
    "StepInputs",
    "StepReport",
    "TradingStep",
    "Venue",
    "closes_all",
    "run_sync",
]
