"""Exit execution tactics by urgency (SPEC section 3): limit pricing, walks and escalation.

Pure: no clock, no broker, no I/O. The live :class:`riskpilot.execution.executor.ExitExecutor`
and the backtest's :func:`simulate_exit` both run the same :class:`Step` ladder.

Prices as spread fractions
--------------------------
A limit is placed at a *fraction* ``f`` of the combo's spread, measured from the passive side
(``f = 0``: every leg at its favourable touch) toward the far, natural side (``f = 1``: every
leg crossing its spread, what a market order pays). In the signed net debit terms of
:class:`riskpilot.execution.fills.ComboMarket`::

    limit_net_debit = passive + f * (far - passive)

so for closing a credit spread (a debit order) the limit is ``bid + f * (ask - bid)`` of the
combo, and for selling a debit position ``ask - f * (ask - bid)``. The fractions:

==============  =====  ==========================================================
strategy          f    meaning
==============  =====  ==========================================================
aggressive      0.80   crosses most (80%) of the spread
fair            0.50   the mid
conservative    0.40   asks for an improvement over the mid of 10% of the spread
==============  =====  ==========================================================

The limit handed to an :class:`riskpilot.model.Order` is the positive net premium of
:mod:`riskpilot.execution.fills` (the most a debit order pays, the least a credit order
receives; debit or credit decided by the combo's mid). A limit that would cross zero is
clamped to 0 (a net premium cannot be negative); this only happens in markets whose spread
straddles zero.

On the tick grid: given a :class:`riskpilot.execution.ticks.TickRule`, the limit is then put
on its grid in the direction that does not make it more aggressive (a debit rounds down, a
credit up; :func:`riskpilot.execution.ticks.limit_on_grid`), so a walk never asks for a price
a venue would reject. The live executor takes the rule from the broker when it knows one (IB's
market rules), else from the class table (:func:`riskpilot.execution.ticks.rule_for_legs`),
which :func:`simulate_exit` uses too.

Walks
-----
A tactic with ``max_walks = n`` starts at its strategy's fraction ``s`` and walks the limit
toward the far side, one walk per timeout:

- ``walk_price`` and ``walk_then_market``: ``f_k = s + (1 - s) * k / n``; the last walk sits
  on the natural side (a marketable limit). ``walk_then_market`` then sends a market order.
- ``walk_slowly``: half steps, ``f_k = s + (1 - s) * k / (2 n)``; after ``n`` walks the limit
  is halfway between where it started and the natural side.

Walks only ever move toward the far side and never past it (``0 <= f <= 1``, non-decreasing
along the whole ladder).

Escalation
----------
Unfilled after its walks (and its market order, for ``walk_then_market``), an exit escalates
to the next priority's tactic: LOW -> MEDIUM -> HIGH -> CRITICAL. An escalated limit tactic
starts at ``max(its own fraction, the fraction reached so far)``: escalating never moves the
limit back toward the passive side; walks that would not move the limit are dropped, and
once a market order has been sent only market orders follow (a tactic without one adds no
step).
CRITICAL is the last tactic: a market order, retried as a market order at once on each
timeout (``immediate_market``), ``market_retries`` times.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from riskpilot.config.schema import ExecutionTactic, RiskPilotConfig
from riskpilot.execution.fills import ComboMarket, FillModel, combo_market, combo_price, limit_reached, simulate_fill
from riskpilot.execution.ticks import TickRule, limit_on_grid, rule_for_legs
from riskpilot.model.contract import Contract, Leg
from riskpilot.model.enums import OrderType, Priority, Side
from riskpilot.model.quote import Quote


class PriceStrategy(enum.StrEnum):
    AGGRESSIVE = "aggressive"
    FAIR = "fair"
    CONSERVATIVE = "conservative"


class RetryStrategy(enum.StrEnum):
    IMMEDIATE_MARKET = "immediate_market"
    WALK_THEN_MARKET = "walk_then_market"
    WALK_PRICE = "walk_price"
    WALK_SLOWLY = "walk_slowly"


class StepKind(enum.StrEnum):
    """What a step of the ladder is: a tactic's first order, one of its walks, the market
    order of ``walk_then_market``, or a market retry of ``immediate_market``."""

    INITIAL = "initial"
    WALK = "walk"
    MARKET = "market"
    RETRY = "retry"


#: Spread fraction from the passive side toward the natural side, by price strategy.
PRICE_FRACTION: Mapping[PriceStrategy, float] = {
    PriceStrategy.AGGRESSIVE: 0.80,
    PriceStrategy.FAIR: 0.50,
    PriceStrategy.CONSERVATIVE: 0.40,
}

#: Escalation order: an exit unfilled under a tactic moves on to the next priority's.
NEXT_PRIORITY: Mapping[Priority, Priority | None] = {
    Priority.LOW: Priority.MEDIUM,
    Priority.MEDIUM: Priority.HIGH,
    Priority.HIGH: Priority.CRITICAL,
    Priority.CRITICAL: None,
}

#: Market retries of the last (CRITICAL) tactic before an exit is given up as failed.
DEFAULT_MARKET_RETRIES = 3

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Tactic:
    """One priority's execution tactic (a validated ``exit_execution`` entry of the config)."""

    priority: Priority
    order_type: OrderType
    price_strategy: PriceStrategy | None
    timeout_seconds: float
    retry: RetryStrategy
    max_walks: int = 0

    def __post_init__(self) -> None:
        if not (self.timeout_seconds > 0):
            raise ValueError(f"tactic {self.priority.name}: timeout_seconds must be > 0, got {self.timeout_seconds!r}")
        if self.max_walks < 0:
            raise ValueError(f"tactic {self.priority.name}: max_walks must be >= 0, got {self.max_walks}")
        if self.order_type is OrderType.LIMIT and self.price_strategy is None:
            raise ValueError(f"tactic {self.priority.name}: a limit tactic needs a price_strategy")
        if self.order_type is OrderType.MARKET and self.price_strategy is not None:
            raise ValueError(f"tactic {self.priority.name}: a market tactic takes no price_strategy")

    @classmethod
    def from_config(cls, priority: Priority, cfg: ExecutionTactic) -> Tactic:
        return cls(
            priority=priority,
            order_type=OrderType.MARKET if cfg.order_type == "market" else OrderType.LIMIT,
            price_strategy=None if cfg.price_strategy is None else PriceStrategy(cfg.price_strategy),
            timeout_seconds=float(cfg.timeout_seconds),
            retry=RetryStrategy(cfg.retry_strategy),
            max_walks=cfg.max_walks,
        )

    @property
    def name(self) -> str:
        """Short label stored with exits and attempts, e.g. ``HIGH:limit-aggressive``."""
        if self.price_strategy is None:
            return f"{self.priority.name}:market"
        return f"{self.priority.name}:limit-{self.price_strategy.value}"

    @property
    def start_fraction(self) -> float | None:
        return None if self.price_strategy is None else PRICE_FRACTION[self.price_strategy]

    def walk_fractions(self, start: float) -> tuple[float, ...]:
        """Fractions of the first order and each walk, starting at ``start`` (see the module
        docstring); empty for a market tactic."""
        if self.order_type is OrderType.MARKET:
            return ()
        if not 0.0 <= start <= 1.0:
            raise ValueError(f"start fraction must be within [0, 1], got {start!r}")
        n = self.max_walks if self.retry is not RetryStrategy.IMMEDIATE_MARKET else 0
        if n == 0:
            return (start,)
        span = (1.0 - start) / (2 * n if self.retry is RetryStrategy.WALK_SLOWLY else n)
        return tuple(min(1.0, start + span * k) for k in range(n + 1))


@dataclass(frozen=True, slots=True)
class Step:
    """One order attempt of the ladder: under ``tactic``, a ``kind`` step (``walk`` is the
    walk number, 0 for the first order), a market order or a limit at spread ``fraction``,
    given ``timeout_seconds`` to fill. ``escalated`` marks the first step of a tactic the
    exit escalated to."""

    index: int
    tactic: Tactic
    kind: StepKind
    order_type: OrderType
    fraction: float | None
    timeout_seconds: float
    walk: int = 0
    escalated: bool = False

    @property
    def label(self) -> str:
        """``<tactic name>#<index>`` (at most 32 characters): stored as the attempt's tactic so
        that a restart resumes the ladder at the right step."""
        return f"{self.tactic.name}#{self.index}"

    def limit_price(self, market: ComboMarket, rule: TickRule | None = None) -> float | None:
        """This step's limit (positive net premium per share) in ``market``, on ``rule``'s
        grid when given; None for a market order."""
        if self.fraction is None:
            return None
        return limit_price(market, self.fraction, rule)


def limit_price(market: ComboMarket, fraction: float, rule: TickRule | None = None) -> float:
    """The positive net premium limit at spread ``fraction`` of ``market`` (module
    docstring): the most a debit order pays, the least a credit order receives; with
    ``rule``, on its grid and never more aggressive than the fraction's price."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"spread fraction must be within [0, 1], got {fraction!r}")
    net_debit = market.passive + fraction * (market.far - market.passive)
    price = net_debit if market.pays else -net_debit
    price = price if price > 0 else 0.0
    return price if rule is None else limit_on_grid(price, rule, pays=market.pays)


def step_index_of(label: str | None) -> int | None:
    """The ladder index stored in a step ``label`` (``HIGH:limit-aggressive#2`` -> 2), None
    when the label carries none."""
    if not label or "#" not in label:
        return None
    tail = label.rsplit("#", 1)[1]
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True, slots=True)
class TacticBook:
    """The four tactics, by priority, and the ladders they make (built once per priority and
    number of retries, then reused: a ladder is an immutable tuple)."""

    tactics: Mapping[Priority, Tactic]
    _ladders: dict[tuple[Priority, int], tuple[Step, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        missing = [p.name for p in Priority if p not in self.tactics]
        if missing:
            raise ValueError(f"exit_execution needs a tactic for {missing}")

    @classmethod
    def from_config(cls, config: RiskPilotConfig | Mapping[str, ExecutionTactic]) -> TacticBook:
        """From a :class:`RiskPilotConfig` or its ``exit_execution`` mapping."""
        entries = config.exit_execution if isinstance(config, RiskPilotConfig) else config
        key = tuple(sorted(entries.items()))
        book = _BOOKS.get(key)
        if book is None:
            book = cls({Priority[name]: Tactic.from_config(Priority[name], t) for name, t in entries.items()})
            if len(_BOOKS) >= 64:  # configurations are few; never let this grow unbounded
                _BOOKS.clear()
            _BOOKS[key] = book
        return book

    def ladder(self, priority: Priority, *, market_retries: int = DEFAULT_MARKET_RETRIES) -> tuple[Step, ...]:
        """Every step an exit of ``priority`` may take, in order, through its escalations to
        the last (CRITICAL) tactic and that tactic's ``market_retries`` market retries."""
        if market_retries < 0:
            raise ValueError(f"market_retries must be >= 0, got {market_retries}")
        cached = self._ladders.get((priority, market_retries))
        if cached is None:
            cached = self._ladders[(priority, market_retries)] = self._build(priority, market_retries)
        return cached

    def _build(self, priority: Priority, market_retries: int) -> tuple[Step, ...]:
        steps: list[Step] = []
        reached = 0.0  # spread fraction the ladder has reached so far
        after_market = False
        current: Priority | None = priority
        first = True
        while current is not None:
            tactic = self.tactics[current]
            escalated = not first
            first = False
            if tactic.order_type is OrderType.MARKET:
                for k in range(1 + market_retries if tactic.retry is RetryStrategy.IMMEDIATE_MARKET else 1):
                    steps.append(
                        Step(
                            len(steps), tactic, StepKind.INITIAL if k == 0 else StepKind.RETRY,
                            OrderType.MARKET, None, tactic.timeout_seconds, k, escalated and k == 0,
                        )
                    )
            else:
                n_before = len(steps)
                # After a market order, a limit can only be a step back: only market orders follow.
                fractions = () if after_market else tactic.walk_fractions(max(tactic.start_fraction or 0.0, reached))
                for k, f in enumerate(fractions):
                    if k > 0 and f <= reached + _EPS:
                        continue  # a walk that would not move the limit
                    steps.append(
                        Step(
                            len(steps), tactic, StepKind.INITIAL if k == 0 else StepKind.WALK,
                            OrderType.LIMIT, f, tactic.timeout_seconds, k, escalated and k == 0,
                        )
                    )
                    reached = max(reached, f)
                if tactic.retry is RetryStrategy.WALK_THEN_MARKET:
                    steps.append(
                        Step(
                            len(steps), tactic, StepKind.MARKET, OrderType.MARKET, None, tactic.timeout_seconds,
                            escalated=escalated and len(steps) == n_before,
                        )
                    )
                    reached = 1.0
            if steps and steps[-1].order_type is OrderType.MARKET:
                after_market = True
            current = NEXT_PRIORITY[current]
        return tuple(steps)


#: Books by configuration (the sorted ``exit_execution`` items, which are frozen and hashable),
#: so a backtest asking for the book of its config every day builds it once.
_BOOKS: dict[tuple[tuple[str, ExecutionTactic], ...], TacticBook] = {}


# --- the ladder on one end-of-day bar (backtests) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulatedAttempt:
    """One simulated order of an exit: its step, order type, limit (positive net premium per
    share, None for a market order), the quantity sent and filled, and why it did not fill."""

    step: str
    order_type: OrderType
    limit_price: float | None
    quantity: int
    filled_quantity: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SimulatedExit:
    """What the ladder achieved on one bar: ``filled_quantity`` units at ``price`` (positive
    net premium per share; ``net_debit`` signed as in :mod:`riskpilot.execution.fills`),
    ``commission`` dollars, the ``tactic`` of the step that filled (of the last step tried
    when nothing filled), every attempt, and ``reason`` for anything left unfilled."""

    filled_quantity: int
    unfilled_quantity: int
    price: float | None
    net_debit: float | None
    commission: float
    tactic: str | None
    attempts: tuple[SimulatedAttempt, ...]
    reason: str | None = None

    @property
    def filled(self) -> bool:
        return self.filled_quantity > 0

    @property
    def escalations(self) -> int:
        """How many times the exit moved on to the next priority's tactic."""
        prios = [a.step.split(":", 1)[0] for a in self.attempts]
        return sum(1 for a, b in pairwise(prios) if a != b)


def simulate_exit(
    legs: Sequence[Leg],
    quantity: int,
    priority: Priority,
    quotes: Mapping[Contract, Quote],
    model: FillModel,
    tactics: TacticBook | RiskPilotConfig | Mapping[str, ExecutionTactic],
    *,
    side: Side = Side.SELL,
    market_retries: int = 0,
    tick_rule: TickRule | None = None,
) -> SimulatedExit:
    """Run the exit ladder of ``priority`` against one bar's quotes (end-of-day bid/ask).

    Each step is one attempt, tried in order, all against the same quotes: a limit (priced at
    its spread fraction of the combo's bid/ask and put on the tick grid, ``tick_rule`` or the
    legs' class table, :func:`limit_price`) fills only when the fill
    model's achievable price reaches it (:func:`riskpilot.execution.fills.limit_reached`);
    when it does, it fills like any order of the model, at the achievable price (never worse
    than the limit), with the model's commission and volume cap. A market step always fills
    when the legs are quoted. Timeouts have no meaning within one bar: a step that does not
    fill is followed at once by the next (the walk, then the escalation). The day's volume is
    spent by the first fill: what a volume cap leaves unfilled stays unfilled on this bar.
    ``market_retries`` market retries of the last tactic are pointless on one bar (the same
    quotes give the same answer), hence 0 by default. ``side`` SELL disposes of the held
    combo (the order convention of :class:`riskpilot.model.Order`)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a whole number of units >= 1, got {quantity!r}")
    book = tactics if isinstance(tactics, TacticBook) else TacticBook.from_config(tactics)
    ladder = book.ladder(priority, market_retries=market_retries)
    priced = combo_price(legs, side, quotes, model.slippage)
    market = combo_market(legs, side, quotes)
    if isinstance(priced, str) or isinstance(market, str):
        why = priced if isinstance(priced, str) else str(market)
        return SimulatedExit(0, quantity, None, None, 0.0, ladder[0].tactic.name, (), why)
    rule = tick_rule if tick_rule is not None else rule_for_legs(legs)
    attempts: list[SimulatedAttempt] = []
    for step in ladder:
        limit = step.limit_price(market, rule)
        if limit is not None and not limit_reached(priced, limit):
            kind = "debit" if priced.pays else "credit"
            attempts.append(
                SimulatedAttempt(
                    step.label, step.order_type, limit, quantity, 0,
                    f"limit {limit:.4f} not reached: achievable {kind} {priced.price:.4f}",
                )
            )
            continue
        res = simulate_fill(legs, side, quantity, step.order_type, limit, quotes, model)
        attempts.append(SimulatedAttempt(step.label, step.order_type, limit, quantity, res.filled_quantity, res.reason))
        if res.filled:
            return SimulatedExit(
                res.filled_quantity, res.unfilled_quantity, res.price, res.net_debit, res.commission,
                step.tactic.name, tuple(attempts), res.reason,
            )
        # Reached but nothing filled: only a volume cap does that, and it holds all day.
        return SimulatedExit(0, quantity, None, None, 0.0, step.tactic.name, tuple(attempts), res.reason)
    last = ladder[-1].tactic.name
    return SimulatedExit(0, quantity, None, None, 0.0, last, tuple(attempts), "no step of the ladder filled")


__all__ = [
    "DEFAULT_MARKET_RETRIES",
    "NEXT_PRIORITY",
    "PRICE_FRACTION",
    "PriceStrategy",
    "RetryStrategy",
    "SimulatedAttempt",
    "SimulatedExit",
    "Step",
    "StepKind",
    "Tactic",
    "TacticBook",
    "limit_price",
    "simulate_exit",
    "step_index_of",
]
