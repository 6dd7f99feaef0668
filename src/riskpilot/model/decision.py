"""Exit decisions: data with their reason, never a bare bool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from riskpilot.model.enums import ExitAction, Priority

InputValue = float | int | str | bool | None

_EMPTY: Mapping[str, InputValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RuleFiring:
    """What one rule concluded: its action, quantity (contracts to close; for CLOSE the whole
    open quantity), reason, and the inputs that made it fire."""

    rule: str
    priority: Priority
    action: ExitAction
    reason: str
    quantity: int = 0
    inputs: Mapping[str, InputValue] = field(default_factory=lambda: _EMPTY)
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """The evaluator's verdict for one position: the winning firing (or HOLD) and every other
    rule that fired, highest priority first."""

    position_id: str
    action: ExitAction
    reason: str
    rule: str | None = None
    priority: Priority | None = None
    quantity: int = 0
    inputs: Mapping[str, InputValue] = field(default_factory=lambda: _EMPTY)
    also_fired: tuple[RuleFiring, ...] = ()
    stage: str | None = None

    @property
    def is_hold(self) -> bool:
        return self.action is ExitAction.HOLD

    @classmethod
    def hold(cls, position_id: str, reason: str, inputs: Mapping[str, InputValue] | None = None) -> ExitDecision:
        return cls(position_id, ExitAction.HOLD, reason, inputs=inputs or _EMPTY)

    @classmethod
    def from_firings(cls, position_id: str, firings: list[RuleFiring]) -> ExitDecision:
        """``firings`` must already be in resolution order (winner first)."""
        win = firings[0]
        # Positional: this runs once per exit decision, and keyword passing costs a third more.
        return cls(position_id, win.action, win.reason, win.rule, win.priority, win.quantity, win.inputs,
                   tuple(firings[1:]), win.stage)
