"""Mutable trailing-stop holders for the live loop and backtests, around the pure
:func:`riskpilot.rules.trailing_stop.trail_step`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from riskpilot.model.quote import DEFAULT_MAX_QUOTE_AGE_SECONDS, Quote
from riskpilot.rules.trailing_stop import (
    TrailingStopAction,
    TrailingStopConfig,
    TrailState,
    trail_step,
)

PremiumInput = float | Quote | None


class TrailingStop:
    """A trailing stop on one position's premium.

    ``TrailingStop(entry_premium)`` trails a long-premium (debit) position; pass
    ``credit=True`` for the credit mirror (the premium falls in the position's favour, the stop
    sits above the trough). ``update`` takes the current close-out premium (a float, or a
    :class:`Quote` whose mid is used; a missing, crossed or stale quote, None or NaN changes
    nothing and returns HOLD).
    """

    __slots__ = ("_state", "config")

    def __init__(
        self,
        entry_premium: float,
        config: TrailingStopConfig | None = None,
        *,
        credit: bool = False,
    ) -> None:
        self.config = config if config is not None else TrailingStopConfig()
        self._state = TrailState.new(entry_premium, credit=credit)

    # --- state ------------------------------------------------------------------------
    @property
    def state(self) -> TrailState:
        return self._state

    @property
    def entry_premium(self) -> float:
        return self._state.entry_premium

    @property
    def credit(self) -> bool:
        return self._state.credit

    @property
    def is_active(self) -> bool:
        return self._state.active

    @property
    def stop_premium(self) -> float | None:
        return self._state.stop

    @property
    def highest_premium(self) -> float:
        """Highest premium seen (the peak that trails a long-premium stop)."""
        return self._state.highest if self._state.highest is not None else self.entry_premium

    @property
    def lowest_premium(self) -> float:
        """Lowest premium seen (the trough that trails a credit stop)."""
        return self._state.lowest if self._state.lowest is not None else self.entry_premium

    @property
    def best_premium(self) -> float:
        """The favourable extreme the stop trails: the peak, or the trough for credit."""
        return self._state.best if self._state.best is not None else self.entry_premium

    # --- transitions ------------------------------------------------------------------
    def update(
        self,
        current_premium: PremiumInput,
        now: datetime | None = None,
        *,
        max_quote_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
    ) -> tuple[float | None, TrailingStopAction]:
        premium = _premium_of(current_premium, now, max_quote_age_seconds)
        self._state, action = trail_step(self._state, premium, self.config)
        return self._state.stop, action

    def reset(self) -> None:
        """Manual override: deactivate and re-arm from the entry premium. The next update
        tracks the peak (trough) afresh from the current premium."""
        self._state = TrailState.new(self._state.entry_premium, credit=self._state.credit)

    # --- persistence ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "state": self._state.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrailingStop:
        try:
            config = TrailingStopConfig(**data["config"])
            state = TrailState.from_dict(dict(data["state"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"trailing-stop record is malformed ({exc}): {dict(data)!r}") from exc
        stop = cls(state.entry_premium, config, credit=state.credit)
        stop._state = state
        return stop

    def __repr__(self) -> str:
        kind = "credit" if self.credit else "long"
        return (
            f"TrailingStop({kind}, entry={self.entry_premium}, active={self.is_active}, "
            f"stop={self.stop_premium}, best={self.best_premium})"
        )


def _premium_of(value: PremiumInput, now: datetime | None, max_age: float) -> float | None:
    if isinstance(value, Quote):
        if value.is_missing or value.is_crossed or value.is_naive:
            return None
        if now is not None and value.problem(now, max_age) is not None:
            return None  # stale or future-stamped
        return value.mid
    return value


class TrailingStopManager:
    """One trailing stop per position id."""

    def __init__(self, default_config: TrailingStopConfig | None = None) -> None:
        self.default_config = default_config if default_config is not None else TrailingStopConfig()
        self._stops: dict[str, TrailingStop] = {}

    def add_trailing_stop(
        self,
        position_id: str,
        entry_premium: float,
        config: TrailingStopConfig | None = None,
        *,
        credit: bool = False,
    ) -> TrailingStop:
        """Add (or replace) the stop of ``position_id``."""
        stop = TrailingStop(entry_premium, config or self.default_config, credit=credit)
        self._stops[position_id] = stop
        return stop

    async def update_stops(
        self, premiums: Mapping[str, PremiumInput], now: datetime | None = None
    ) -> dict[str, tuple[float | None, TrailingStopAction]]:
        """Update every stop that has a premium in ``premiums``; positions without a premium
        (absent, or None) are skipped and left out of the result."""
        out: dict[str, tuple[float | None, TrailingStopAction]] = {}
        for pid, premium in premiums.items():
            stop = self._stops.get(pid)
            if stop is None or premium is None:
                continue
            out[pid] = stop.update(premium, now)
        return out

    def get_stop(self, position_id: str) -> TrailingStop | None:
        return self._stops.get(position_id)

    def remove_stop(self, position_id: str) -> None:
        """Forget a position's stop (on close). A missing id is not an error."""
        self._stops.pop(position_id, None)

    def reset_stop(self, position_id: str) -> bool:
        """Reset one stop; returns False when there is none."""
        stop = self._stops.get(position_id)
        if stop is None:
            return False
        stop.reset()
        return True

    def get_all_stops(self) -> dict[str, TrailingStop]:
        return dict(self._stops)

    def __len__(self) -> int:
        return len(self._stops)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default_config": asdict(self.default_config),
            "stops": {pid: s.to_dict() for pid, s in self._stops.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrailingStopManager:
        mgr = cls(TrailingStopConfig(**data.get("default_config", {})))
        for pid, rec in dict(data.get("stops", {})).items():
            mgr._stops[str(pid)] = TrailingStop.from_dict(rec)
        return mgr
