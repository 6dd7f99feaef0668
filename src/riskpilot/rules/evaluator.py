"""The ExitEvaluator: run every configured rule for a position and resolve the conflict.

Resolution: the firing with the highest priority wins (CRITICAL > HIGH > MEDIUM > LOW). Ties
within a priority are broken by the rule order the evaluator was built with: the order of the
names in the configuration's ``exit_priorities`` lists, then the remaining rules in SPEC
section 2's table order (stop_loss, volatility_scaled_stop, circuit_breaker, trailing_stop,
time_based_urgent, liquidity_dried_up, profit_target, partial_exit_target, time_exit_dte,
gamma_protection, early_exit, edge_disappeared, rebalance, max_holding_period). So with the
defaults a full profit_target close beats a partial stage that fired on the same check.

An evaluation on a mark that has a problem (a leg's quote missing, crossed or stale) evaluates
no rule and holds, saying why: no exit is ever decided on a bad quote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.decision import ExitDecision, RuleFiring
from riskpilot.model.enums import ExitAction, Priority
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position
from riskpilot.rules.base import EMPTY_PORTFOLIO, PortfolioView, RuleContext, RuleParams
from riskpilot.rules.screen import BoolArray, ScreenBatch
from riskpilot.rules.trailing_stop import (
    TrailingStopAction,
    TrailingStopConfig,
    TrailState,
    trail_step,
)

if TYPE_CHECKING:
    from riskpilot.rules.base import RuleRegistry


_HOLD = ExitAction.HOLD

#: One rule ready to call: its function, its settings and its configured priority.
RuleCall = tuple[Callable[[RuleContext, Any], RuleFiring | None], RuleParams, Priority]


@dataclass(frozen=True, slots=True)
class BoundRule:
    """A rule with its settings and its priority as configured."""

    name: str
    priority: Priority
    fn: Callable[[RuleContext, Any], RuleFiring | None]
    params: RuleParams
    screen: Callable[[ScreenBatch, Any], BoolArray] | None = None
    #: Silent whenever the position has no features (see RuleSpec.needs_features).
    needs_features: bool = False


class ExitEvaluator:
    """Evaluates a fixed list of bound rules. Immutable after construction; safe to share."""

    __slots__ = ("_calls", "_plain_calls", "_rules")

    def __init__(self, rules: Sequence[BoundRule]) -> None:
        seen: set[str] = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"exit rule {r.name!r} is bound twice")
            seen.add(r.name)
        # Stable sort: priority first, then the given order (the documented tie-break).
        ordered = sorted(
            (r for r in rules if r.params.enabled), key=lambda r: -int(r.priority)
        )
        self._rules: tuple[BoundRule, ...] = tuple(ordered)
        self._calls: tuple[RuleCall, ...] = tuple((r.fn, r.params, r.priority) for r in ordered)
        # The rules that may fire on a position without features (the others are silent there).
        self._plain_calls: tuple[RuleCall, ...] = tuple(
            (r.fn, r.params, r.priority) for r in ordered if not r.needs_features
        )

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, RuleParams],
        *,
        registry: RuleRegistry | None = None,
        priorities: Mapping[str, Priority] | None = None,
        order: Sequence[str] = (),
    ) -> ExitEvaluator:
        """Bind the rules named in ``settings`` (name -> params). ``priorities`` overrides the
        registered priority of a rule; ``order`` lists rule names first in tie-break order."""
        if registry is None:
            from riskpilot.rules import BUILTIN_RULES

            registry = BUILTIN_RULES
        pri = priorities or {}
        names = [n for n in order if n in settings] + [
            n for n in registry.names() if n in settings and n not in order
        ]
        names += [n for n in settings if n not in names]
        bound = []
        for n in names:
            spec = registry.get(n)
            params = settings[n]
            if not isinstance(params, spec.params_model):
                raise TypeError(
                    f"settings for rule {n!r} must be {spec.params_model.__name__}, "
                    f"got {type(params).__name__}"
                )
            bound.append(BoundRule(n, pri.get(n, spec.priority), spec.fn, params, spec.screen, spec.needs_features))
        return cls(bound)

    @classmethod
    def with_defaults(cls, registry: RuleRegistry | None = None) -> ExitEvaluator:
        """Every registered rule with its default settings."""
        if registry is None:
            from riskpilot.rules import BUILTIN_RULES

            registry = BUILTIN_RULES
        return cls.from_settings(
            {n: registry.get(n).params_model() for n in registry.names()}, registry=registry
        )

    @property
    def rules(self) -> tuple[BoundRule, ...]:
        return self._rules

    def rule_names(self) -> list[str]:
        return [r.name for r in self._rules]

    def params(self, name: str) -> RuleParams | None:
        for r in self._rules:
            if r.name == name:
                return r.params
        return None

    def screen(self, batch: ScreenBatch) -> BoolArray:
        """True for each position of ``batch`` on which some rule may fire. Positions where
        it is False would hold: the caller may skip :meth:`evaluate` for them."""
        mask = batch.everywhere(False)
        for m in self.rule_masks(batch):
            mask |= m
        return mask

    def rule_masks(self, batch: ScreenBatch) -> list[BoolArray]:
        """Per rule (in :attr:`rules` order), True where that rule may fire on ``batch``. A
        rule without a screen may fire everywhere."""
        return [
            r.screen(batch, r.params) if r.screen is not None else batch.everywhere(True)
            for r in self._rules
        ]

    def evaluate(self, ctx: RuleContext, only: Sequence[int] | None = None) -> ExitDecision:
        """The decision for ``ctx``. ``only`` restricts evaluation to those rule indexes (in
        :attr:`rules`); a caller passes the rules whose screen flagged the position, which
        gives the same decision because a screen never excludes a rule that fires."""
        pos = ctx.position
        mark = ctx.mark
        if mark.problem is not None or mark.premium is None:
            return hold_on_bad_mark(pos, mark)
        if pos.quantity <= 0:
            return ExitDecision.hold(pos.id, "nothing open")
        return self.decide(ctx, None if only is None else self.calls(only))

    def calls(self, only: Sequence[int]) -> tuple[RuleCall, ...]:
        """The rules at indexes ``only`` (of :attr:`rules`), ready for :meth:`decide`."""
        calls = self._calls
        return tuple(calls[k] for k in only)

    def decide(self, ctx: RuleContext, calls: Sequence[RuleCall] | None = None) -> ExitDecision:
        """Run ``calls`` (from :meth:`calls`; None: every rule that may fire on ``ctx``) on
        ``ctx`` and resolve: the decision for a good mark of a position with contracts open
        (:meth:`evaluate` checks both first; a caller that has checked them calls this)."""
        if calls is None:
            calls = self._calls if ctx.features else self._plain_calls
        fired: list[RuleFiring] | None = None
        for fn, params, priority in calls:
            f = fn(ctx, params)
            if f is not None:
                if f.priority is not priority:
                    f = replace(f, priority=priority)
                if fired is None:
                    fired = [f]
                else:
                    fired.append(f)
        if fired is None:
            return no_rule_fired(ctx.position.id, ctx.profit_pct, ctx.dte, ctx.premium)
        # Already in resolution order: ``calls`` run in rule order (priority, then the
        # tie-break order) and every firing carries its rule's configured priority.
        return ExitDecision.from_firings(ctx.position.id, fired)


def no_rule_fired(position_id: str, profit_pct: float, dte: int, premium: float) -> ExitDecision:
    """The HOLD of a position on which no rule fired, with the numbers it was judged on."""
    return ExitDecision(
        position_id,
        _HOLD,
        f"no rule fired: profit {profit_pct:.1%}, {dte} DTE",
        None,
        None,
        0,
        {"profit_pct": profit_pct, "dte": dte, "premium": premium},
    )


def hold_on_bad_mark(position: Position, mark: Mark) -> ExitDecision:
    """The HOLD for a mark that may not be used, naming the quote problem (and what was seen,
    where the mark says)."""
    problem = mark.problem.value if mark.problem is not None else "missing"
    if mark.detail:
        return ExitDecision.hold(position.id, f"quote {problem}: {mark.detail}; no rule evaluated",
                                 {"quote_problem": problem, "quote_detail": mark.detail})
    return ExitDecision.hold(position.id, f"quote {problem}: no rule evaluated", {"quote_problem": problem})


def observe(
    position: Position,
    premium: float,
    now: datetime,
    today: date,
    trail: TrailState | None,
    trail_config: TrailingStopConfig | None,
) -> tuple[Position, TrailState | None, TrailingStopAction]:
    """The state transition of one good observation: the position's tracked state updated and
    the trailing stop stepped (when it has a config). The caller has checked the quote."""
    position = position.marked(premium, now, today)
    if trail is not None and trail_config is not None and (trail_config.trail_credit or not trail.credit):
        trail, action = trail_step(trail, premium, trail_config)
        return position, trail, action
    return position, trail, TrailingStopAction.HOLD


def prepare_context(
    position: Position,
    mark: Mark,
    now: datetime,
    *,
    trail: TrailState | None = None,
    trail_config: TrailingStopConfig | None = None,
    portfolio: PortfolioView = EMPTY_PORTFOLIO,
    features: Mapping[str, float] | None = None,
    today: date | None = None,
) -> tuple[RuleContext, Position, TrailState | None]:
    """Observe ``mark`` purely: returns the rule context, the position with its tracked state
    updated, and the trailing stop stepped. A mark with a problem updates nothing (no peak,
    no MFE, no trailing step): a bad quote must not move a stop either."""
    action = TrailingStopAction.HOLD
    if today is None:
        today = now.astimezone(EXCHANGE_TZ).date()
    if mark.problem is None and mark.premium is not None:
        position, trail, action = observe(position, mark.premium, now, today, trail, trail_config)
    ctx = RuleContext.build(
        position,
        mark,
        now,
        portfolio=portfolio,
        features=features,
        trail=trail,
        trail_action=action,
        today=today,
    )
    return ctx, position, trail
