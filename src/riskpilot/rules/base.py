"""The rule protocol: a rule is a pure function ``(context, params) -> RuleFiring | None``.

A rule never performs I/O, never reads a clock (time is ``context.now``) and never fails the
evaluation for want of an optional feature: a rule that needs a feature the caller did not
supply (model edge, ATR) returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.decision import RuleFiring
from riskpilot.model.enums import Priority
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position
from riskpilot.rules.screen import BoolArray, ScreenBatch
from riskpilot.rules.trailing_stop import TrailingStopAction, TrailState

_NO_FEATURES: Mapping[str, float] = MappingProxyType({})


class RuleParams(BaseModel):
    """Base of every rule's settings: strict (unknown keys refused), frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """What a rule may know of the portfolio. Money in dollars. ``day_pnl`` is today's
    realized plus unrealized P&L; ``daily_loss_limit`` is a positive dollar amount (None = no
    limit)."""

    equity: float
    day_pnl: float = 0.0
    daily_loss_limit: float | None = None

    def __post_init__(self) -> None:
        for name in ("equity", "day_pnl"):
            v = getattr(self, name)
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"PortfolioView.{name} must be a finite number, got {v!r}")
        lim = self.daily_loss_limit
        if lim is not None and not lim > 0:
            raise ValueError(
                f"PortfolioView.daily_loss_limit must be a positive dollar amount or None, got {lim!r}"
            )


EMPTY_PORTFOLIO = PortfolioView(equity=0.0)


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Everything a rule sees for one position at one instant. Immutable.

    ``position`` has already observed ``mark`` (its peak, trough, MFE and MAE include it).
    ``premium``, ``profit_pct``, ``dte`` and ``today`` are derived once here so each rule does
    not recompute them. ``trail`` is the trailing stop's state after this observation and
    ``trail_action`` what that step returned. ``features`` are caller-supplied numbers:
    ``edge`` (model edge, fraction), ``atr`` (ATR of the position's premium, premium points),
    ``implied_move`` (expected one-day move of the premium, premium points).
    """

    position: Position
    mark: Mark
    now: datetime
    portfolio: PortfolioView = EMPTY_PORTFOLIO
    features: Mapping[str, float] = field(default_factory=lambda: _NO_FEATURES)
    trail: TrailState | None = None
    trail_action: TrailingStopAction = TrailingStopAction.HOLD
    premium: float = 0.0
    profit_pct: float = 0.0
    dte: int = 0
    today: date = date.min

    @classmethod
    def build(
        cls,
        position: Position,
        mark: Mark,
        now: datetime,
        *,
        portfolio: PortfolioView = EMPTY_PORTFOLIO,
        features: Mapping[str, float] | None = None,
        trail: TrailState | None = None,
        trail_action: TrailingStopAction = TrailingStopAction.HOLD,
        today: date | None = None,
    ) -> RuleContext:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware; rules never guess a time zone")
        if today is None:
            today = now.astimezone(EXCHANGE_TZ).date()
        premium = mark.premium if mark.premium is not None else float("nan")
        return cls(
            position=position,
            mark=mark,
            now=now,
            portfolio=portfolio,
            features=features if features is not None else _NO_FEATURES,
            trail=trail,
            trail_action=trail_action,
            premium=premium,
            profit_pct=position.profit_pct(premium),
            dte=(position.expiration - today).days,
            today=today,
        )


def feature(ctx: RuleContext, name: str) -> float | None:
    """A caller-supplied feature, or None when it is absent or not a finite number (a model
    that produced NaN has said nothing; a rule must not act on it)."""
    v = ctx.features.get(name)
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return None
    return v


P = TypeVar("P", bound=RuleParams)
RuleFn = Callable[[RuleContext, Any], "RuleFiring | None"]


@dataclass(frozen=True, slots=True)
class RuleSpec(Generic[P]):
    """A registered rule: its name, default priority, settings model and function."""

    name: str
    priority: Priority
    params_model: type[P]
    fn: Callable[[RuleContext, P], RuleFiring | None]
    doc: str = ""
    #: Vectorized "may fire" pre-screen over a batch (see riskpilot.rules.screen); None means
    #: the rule is evaluated for every position.
    screen: Callable[[ScreenBatch, P], BoolArray] | None = None
    #: True for a rule that is silent whenever the position has no features at all (it needs
    #: a caller-supplied number such as ``edge`` or ``atr``): an evaluation skips it then.
    needs_features: bool = False


class RuleRegistry:
    """Named rules. The built-in registry is :data:`riskpilot.rules.BUILTIN_RULES`; make a
    copy with :meth:`copy` to add your own without touching the shared one."""

    def __init__(self, specs: Iterable[RuleSpec[Any]] = ()) -> None:
        self._specs: dict[str, RuleSpec[Any]] = {}
        for s in specs:
            self.add(s)

    def add(self, spec: RuleSpec[Any]) -> None:
        if spec.name in self._specs:
            raise ValueError(f"an exit rule named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def rule(
        self, name: str, priority: Priority, params_model: type[P]
    ) -> Callable[[Callable[[RuleContext, P], RuleFiring | None]], Callable[[RuleContext, P], RuleFiring | None]]:
        """Decorator registering a rule function."""

        def deco(
            fn: Callable[[RuleContext, P], RuleFiring | None],
        ) -> Callable[[RuleContext, P], RuleFiring | None]:
            self.add(RuleSpec(name, priority, params_model, fn, (fn.__doc__ or "").strip()))
            return fn

        return deco

    def get(self, name: str) -> RuleSpec[Any]:
        try:
            return self._specs[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self._specs, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"no exit rule named {name!r}{hint} (known: {', '.join(sorted(self._specs))})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def copy(self) -> RuleRegistry:
        return RuleRegistry(self._specs.values())
