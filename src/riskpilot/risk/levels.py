"""Where a position's exits sit: the close-out premium at which each premium rule fires, and
the monitor's near-trigger band.

The levels follow the rules exactly (premiums per share of one unit, as the rules see them):

- stop loss: credit entry x (1 + ``stop_loss_pct``), debit entry x (1 - ``debit_stop_loss_pct``);
- profit target: credit entry x (1 - ``profit_target_pct``), debit entry x (1 + ``profit_target_pct``);
- trailing stop: the stored stop while it is active; while it is not, the premium at which it
  activates (``activation_pct`` percent in the position's favour from entry);
- partial exits: the first stage not done yet, at its ``profit_threshold``;
- time exit: ``time_exit_dte`` days to expiration (options only).

A level *fires above* when the premium rising to it fires it (a credit's stop, a debit's
target); the distance to a level is signed: positive while the premium is still on the safe
side, in premium points, and as a fraction of the current premium (the move it must make).

:func:`near_trigger` is the monitor's test for checking a position at the urgent frequency:
the premium within ``urgent_conditions`` of the stop loss, the profit target or an active
trailing stop (``|premium - level| <= pct x level``). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskpilot.config.schema import ExitRulesConfig, UrgentConditions
from riskpilot.model.enums import PremiumType
from riskpilot.model.position import Position, premium_at_profit
from riskpilot.rules.partial_exit_target import PartialStage, stage_quantity
from riskpilot.rules.trailing_stop import TrailState


@dataclass(frozen=True, slots=True)
class Triggers:
    """What the levels of one method (under one regime) need of its rule settings. Disabled
    rules are None (or no stages)."""

    stop_loss: tuple[float, float] | None  # (credit stop_loss_pct, debit_stop_loss_pct)
    profit_target: float | None
    trailing_activation_pct: float | None  # percent, as the trailing stop's settings
    partial_stages: tuple[PartialStage, ...]
    time_exit_dte: int | None

    @classmethod
    def from_rules(cls, rules: ExitRulesConfig) -> Triggers:
        sl, pt, ts, pe, te = (rules.stop_loss, rules.profit_target, rules.trailing_stop, rules.partial_exit_target,
                              rules.time_exit_dte)
        return cls(
            (sl.stop_loss_pct, sl.debit_stop_loss_pct) if sl.enabled else None,
            pt.profit_target_pct if pt.enabled else None,
            ts.activation_pct if ts.enabled else None,
            pe.stages if pe.enabled else (),
            te.time_exit_dte if te.enabled else None,
        )


@dataclass(frozen=True, slots=True)
class Level:
    """One exit level: the close-out premium (per share) at which ``rule`` fires. ``armed``
    is False for a trailing stop that is not active yet (``premium`` is then where it
    activates); ``quantity`` is what a partial stage would close."""

    rule: str
    premium: float
    fires_above: bool
    armed: bool = True
    label: str = ""
    quantity: int | None = None

    def distance(self, premium: float) -> float:
        """Premium points left before the level is reached (negative once past it)."""
        return self.premium - premium if self.fires_above else premium - self.premium

    def distance_pct(self, premium: float) -> float | None:
        """:meth:`distance` as a fraction of ``premium``: the move the premium must make to
        reach the level (None at a zero premium)."""
        return self.distance(premium) / premium if premium > 0 else None


@dataclass(frozen=True, slots=True)
class PositionLevels:
    """Every premium level of one position that applies, and the time exit in days."""

    stop_loss: Level | None
    profit_target: Level | None
    trailing_stop: Level | None
    next_partial: Level | None
    time_exit_dte: int | None

    def levels(self) -> tuple[Level, ...]:
        return tuple(x for x in (self.stop_loss, self.profit_target, self.trailing_stop, self.next_partial)
                     if x is not None)


def _loss_pct(position: Position, triggers: Triggers) -> float | None:
    if triggers.stop_loss is None:
        return None
    return triggers.stop_loss[0] if position.premium_type is PremiumType.CREDIT else triggers.stop_loss[1]


def stop_loss_premium(position: Position, triggers: Triggers) -> float | None:
    """The premium at which ``stop_loss`` fires (None when disabled)."""
    pct = _loss_pct(position, triggers)
    return None if pct is None else premium_at_profit(position.premium_type, position.entry_premium, -pct)


def profit_target_premium(position: Position, triggers: Triggers) -> float | None:
    """The premium at which ``profit_target`` fires (None when disabled)."""
    t = triggers.profit_target
    return None if t is None else premium_at_profit(position.premium_type, position.entry_premium, t)


def exit_levels(position: Position, trail: TrailState | None, triggers: Triggers) -> PositionLevels:
    """The levels of ``position`` under ``triggers`` (module docstring); ``trail`` is its
    trailing stop's state (None: not tracked yet, the stop activates from entry)."""
    credit = position.premium_type is PremiumType.CREDIT
    stop = stop_loss_premium(position, triggers)
    target = profit_target_premium(position, triggers)
    pct = _loss_pct(position, triggers)
    sl = None if stop is None or pct is None else Level("stop_loss", stop, credit, label=f"loss {pct:.0%}")
    pt = None if target is None or triggers.profit_target is None else Level(
        "profit_target", target, not credit, label=f"profit {triggers.profit_target:.0%}")
    ts = None
    if trail is not None and trail.active and trail.stop is not None:
        ts = Level("trailing_stop", trail.stop, credit, label="active")
    elif triggers.trailing_activation_pct is not None:
        act = triggers.trailing_activation_pct
        ts = Level("trailing_stop", premium_at_profit(position.premium_type, position.entry_premium, act / 100.0),
                   not credit, armed=False, label=f"activates at {act:g}% gain")
    nxt = None
    done = position.state.stages_done
    for stage in triggers.partial_stages:
        if stage.name in done:
            continue
        qty = stage_quantity(position.original_quantity, position.quantity, stage.exit_percentage)
        nxt = Level("partial_exit_target",
                    premium_at_profit(position.premium_type, position.entry_premium, stage.profit_threshold),
                    not credit, label=f"{stage.name}: profit {stage.profit_threshold:.0%}", quantity=qty)
        break
    dte = None if position.is_event else triggers.time_exit_dte
    return PositionLevels(sl, pt, ts, nxt, dte)


def near_trigger(
    position: Position, premium: float, trail: TrailState | None, triggers: Triggers, cond: UrgentConditions
) -> str | None:
    """The trigger ``premium`` is within ``cond`` of (module docstring), or None: the stop
    loss first, then the profit target, then an active trailing stop."""
    s = stop_loss_premium(position, triggers)
    if s is not None and s > 0 and abs(premium - s) <= cond.near_stop_loss_pct * s:
        return "stop_loss"
    t = profit_target_premium(position, triggers)
    if t is not None and t > 0 and abs(premium - t) <= cond.near_profit_target_pct * t:
        return "profit_target"
    stop = trail.stop if trail is not None and trail.active else None
    if stop is not None and stop > 0 and abs(premium - stop) <= cond.near_trailing_stop_pct * stop:
        return "trailing_stop"
    return None


__all__ = [
    "Level",
    "PositionLevels",
    "Triggers",
    "exit_levels",
    "near_trigger",
    "profit_target_premium",
    "stop_loss_premium",
]
