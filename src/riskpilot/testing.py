"""Scenario builders: contracts, positions, quotes, marks, rule contexts and evaluators in one line.

Shipped with the package so that tests, notebooks and users' own rule tests describe a scenario
in trader's terms instead of constructing value objects by hand::

    from riskpilot.testing import make_vertical, make_context, run_rule

    pos = make_vertical(entry_premium=1.00)          # 1 lot SPY 400/395 put credit spread
    ctx = make_context(2.25, position=pos)           # it now costs 2.25 to close
    assert run_rule("stop_loss", ctx) is not None    # 125% of the credit lost: stop fires

Conventions (the same as the model layer's): premiums are per share of one unit of the position
(1.00 on a 100-multiplier contract is $100); every time is timezone-aware; the default clock is
:data:`NOW`, a Friday morning in New York during regular trading hours. Days to expiration are
calendar days counted from ``now``'s date on the exchange calendar (New York), as in SPEC
section 1. Nothing here reads the wall clock or performs I/O, so a scenario means the same thing
on every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from riskpilot.model.contract import DEFAULT_EXPIRY_TIME, EXCHANGE_TZ, Leg, OptionContract
from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import PremiumType, Priority, QuoteProblem, Right
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position, PositionState
from riskpilot.model.quote import Quote
from riskpilot.rules.base import EMPTY_PORTFOLIO, PortfolioView, RuleContext, RuleParams, RuleRegistry
from riskpilot.rules.evaluator import ExitEvaluator, prepare_context
from riskpilot.rules.trailing_stop import TrailingStopConfig, TrailState

#: The default scenario clock: Friday 2024-03-01 10:30 New York (regular trading hours).
NOW = datetime(2024, 3, 1, 10, 30, tzinfo=EXCHANGE_TZ)

__all__ = [
    "NOW",
    "make_context",
    "make_contract",
    "make_evaluator",
    "make_mark",
    "make_position",
    "make_quote",
    "make_vertical",
    "rule_params",
    "run_rule",
]


def _registry(registry: RuleRegistry | None) -> RuleRegistry:
    if registry is not None:
        return registry
    from riskpilot.rules import BUILTIN_RULES

    return BUILTIN_RULES


def make_contract(
    strike: float = 400.0,
    right: Right | str = Right.PUT,
    *,
    underlying: str = "SPY",
    dte: int = 30,
    now: datetime = NOW,
    multiplier: int = 100,
    expiry_time: time = DEFAULT_EXPIRY_TIME,
) -> OptionContract:
    """One listed option expiring ``dte`` calendar days after ``now``'s exchange date.
    ``multiplier=1`` makes a binary event contract priced in dollars."""
    today = now.astimezone(EXCHANGE_TZ).date()
    return OptionContract(
        underlying=underlying,
        expiration=today + timedelta(days=dte),
        strike=strike,
        right=right if isinstance(right, Right) else Right.parse(right),
        multiplier=multiplier,
        expiry_time=expiry_time,
    )


def make_position(
    entry_premium: float = 1.00,
    *,
    credit: bool = True,
    quantity: int = 1,
    original_quantity: int | None = None,
    dte: int = 30,
    now: datetime = NOW,
    opened_days_ago: int = 0,
    legs: Sequence[Leg] | None = None,
    id: str = "pos-1",
    method: str = "default",
    underlying: str = "SPY",
    multiplier: int = 100,
    expiry_time: time = DEFAULT_EXPIRY_TIME,
    stages_done: Sequence[str] = (),
) -> Position:
    """An open position at ``entry_premium`` per share.

    Without ``legs``: a credit position is a 400/395 put credit spread, a debit position
    (``credit=False``) one long 400 call, each expiring ``dte`` days after ``now``. It was
    opened ``opened_days_ago`` calendar days before ``now``; ``original_quantity`` defaults to
    ``quantity`` (pass it larger to model contracts already closed); ``stages_done`` names
    partial-exit stages that already fired.
    """
    if legs is None:
        if credit:
            legs = _vertical_legs(400.0, 5.0, underlying, dte, now, multiplier, expiry_time)
        else:
            legs = (Leg(make_contract(400.0, Right.CALL, underlying=underlying, dte=dte, now=now,
                                      multiplier=multiplier, expiry_time=expiry_time), 1),)
    state = PositionState(
        peak_premium=entry_premium, trough_premium=entry_premium, stages_done=frozenset(stages_done)
    )
    return Position(
        id=id,
        legs=tuple(legs),
        premium_type=PremiumType.CREDIT if credit else PremiumType.DEBIT,
        entry_premium=entry_premium,
        quantity=quantity,
        opened_at=now - timedelta(days=opened_days_ago),
        method=method,
        original_quantity=original_quantity if original_quantity is not None else 0,
        state=state,
    )


def _vertical_legs(
    short_strike: float, width: float, underlying: str, dte: int, now: datetime, multiplier: int,
    expiry_time: time,
) -> tuple[Leg, Leg]:
    if not width > 0 or width >= short_strike:
        raise ValueError(
            f"width must be > 0 and below the short strike {short_strike:g} (the long put is "
            f"short_strike - width), got {width!r}"
        )
    short = make_contract(short_strike, Right.PUT, underlying=underlying, dte=dte, now=now,
                          multiplier=multiplier, expiry_time=expiry_time)
    long = make_contract(short_strike - width, Right.PUT, underlying=underlying, dte=dte, now=now,
                         multiplier=multiplier, expiry_time=expiry_time)
    return Leg(short, -1), Leg(long, 1)


def make_vertical(
    entry_premium: float = 1.00,
    *,
    short_strike: float = 400.0,
    width: float = 5.0,
    quantity: int = 1,
    dte: int = 30,
    now: datetime = NOW,
    underlying: str = "SPY",
    id: str = "pcs-1",
    method: str = "default",
    opened_days_ago: int = 0,
) -> Position:
    """A put credit spread: short the ``short_strike`` put, long the put ``width`` points
    lower, opened for a net credit of ``entry_premium`` per share."""
    if not 0 < entry_premium < width:
        raise ValueError(
            f"a credit spread's entry_premium must be between 0 and its width {width:g} "
            f"(above the width the position could never lose), got {entry_premium!r}"
        )
    legs = _vertical_legs(short_strike, width, underlying, dte, now, 100, DEFAULT_EXPIRY_TIME)
    return make_position(
        entry_premium, credit=True, quantity=quantity, dte=dte, now=now, legs=legs, id=id,
        method=method, underlying=underlying, opened_days_ago=opened_days_ago,
    )


def make_quote(
    bid: float | None,
    ask: float | None,
    *,
    now: datetime = NOW,
    age_seconds: float = 0.0,
    volume: int | None = None,
    last: float | None = None,
) -> Quote:
    """A top-of-book quote taken ``age_seconds`` before ``now`` (so ``age_seconds=120`` with
    the default 60 s limit is a stale quote)."""
    return Quote(bid=bid, ask=ask, timestamp=now - timedelta(seconds=age_seconds), last=last, volume=volume)


def make_mark(
    premium: float | None,
    *,
    spread: float = 0.0,
    volume: int | None = None,
    problem: QuoteProblem | str | None = None,
    now: datetime = NOW,
) -> Mark:
    """A position's close-out mark at ``premium`` per share with a ``spread`` around it.

    ``problem`` ("missing", "crossed", "stale" or a :class:`QuoteProblem`) makes a mark that no
    rule may act on: a missing one has no prices at all; a crossed one has bid above ask; a
    stale one keeps its prices but is two minutes old."""
    if problem is None:
        if premium is None:
            raise ValueError("a mark without a problem needs a premium; pass problem='missing' for none")
        return Mark.from_premium(premium, now, spread=spread, volume=volume)
    prob = problem if isinstance(problem, QuoteProblem) else QuoteProblem(problem)
    if prob is QuoteProblem.MISSING:
        return Mark(None, None, None, now, prob, volume)
    if premium is None:
        raise ValueError(f"a {prob.value} mark still has prices: pass a premium")
    half = max(spread, 0.02) / 2.0
    if prob is QuoteProblem.CROSSED:
        return Mark(premium, premium + half, max(premium - half, 0.0), now, prob, volume)
    return Mark(premium, max(premium - half, 0.0), premium + half, now - timedelta(minutes=2), prob, volume)


def make_context(
    premium: float | None = None,
    *,
    position: Position | None = None,
    mark: Mark | None = None,
    now: datetime = NOW,
    features: Mapping[str, float] | None = None,
    portfolio: PortfolioView = EMPTY_PORTFOLIO,
    trail: TrailState | None = None,
    trail_config: TrailingStopConfig | None = None,
) -> RuleContext:
    """The context a rule sees when ``position`` (default: :func:`make_position`) is marked at
    ``premium`` (or at ``mark``) at ``now``. Built with :func:`prepare_context`, exactly as the
    risk manager does: the position observes the mark (peak, trough, MFE, MAE, days held) and
    the trailing stop ``trail`` (if given with ``trail_config``) takes one step."""
    if mark is None:
        if premium is None:
            raise ValueError("make_context needs a premium or a mark")
        mark = make_mark(premium, now=now)
    elif premium is not None:
        raise ValueError("give make_context a premium or a mark, not both")
    pos = position if position is not None else make_position(now=now)
    ctx, _, _ = prepare_context(
        pos, mark, now, trail=trail, trail_config=trail_config, portfolio=portfolio, features=features
    )
    return ctx


def rule_params(name: str, registry: RuleRegistry | None = None, **settings: Any) -> RuleParams:
    """The settings model of rule ``name`` with ``settings`` applied (validated, so a typo in a
    setting name is an error, never ignored)."""
    spec = _registry(registry).get(name)
    params: RuleParams = spec.params_model(**settings)
    return params


def run_rule(name: str, ctx: RuleContext, registry: RuleRegistry | None = None, **settings: Any) -> RuleFiring | None:
    """Run one rule on ``ctx`` with its defaults overridden by ``settings``. Honours
    ``enabled=False`` the way the evaluator does: a disabled rule never fires."""
    spec = _registry(registry).get(name)
    params = rule_params(name, registry, **settings)
    if not params.enabled:
        return None
    firing: RuleFiring | None = spec.fn(ctx, params)
    return firing


def make_evaluator(
    rules: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
    *,
    priorities: Mapping[str, Priority] | None = None,
    order: Sequence[str] = (),
    registry: RuleRegistry | None = None,
) -> ExitEvaluator:
    """An :class:`ExitEvaluator` over ``rules``: a list of rule names (defaults) or a mapping of
    name to settings overrides. ``None`` binds every registered rule with its defaults."""
    reg = _registry(registry)
    if rules is None:
        return ExitEvaluator.with_defaults(reg)
    items: Mapping[str, Mapping[str, Any]] = (
        {n: {} for n in rules} if not isinstance(rules, Mapping) else rules
    )
    settings = {n: rule_params(n, reg, **dict(s)) for n, s in items.items()}
    return ExitEvaluator.from_settings(settings, registry=reg, priorities=priorities, order=order)
