"""What an operator does to a running book through the store: halt, resume, queue closes.

The command line (`riskpilot halt`, `resume`, `close`) and the dashboard call these, so both
act exactly alike. None of them talks to a broker: a halt or resume is the trading-state row,
which the running monitor adopts on its next cycle; a close is a WORKING exit per position
(the position becomes CLOSING), which the running monitor works with the tactic named here on
its next cycle (a monitor started later resumes it after reconciling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from riskpilot.model.contract import exchange_date
from riskpilot.model.enums import PositionStatus, Priority, TradingState
from riskpilot.store.database import Store
from riskpilot.store.exits import ExitRepository
from riskpilot.store.positions import PositionRepository
from riskpilot.store.records import OPEN_STATUSES, StoreError, TradingStateRecord
from riskpilot.store.state import StateRepository


class ResumeRefusedError(StoreError):
    """A circuit-breaker halt on its own trading day, resumed without ``force``."""


class NothingToCloseError(StoreError, LookupError):
    """The selection of a close matches no open position."""


@dataclass(frozen=True, slots=True)
class StateChange:
    before: TradingStateRecord
    after: TradingStateRecord

    @property
    def changed(self) -> bool:
        return self.before.state is not self.after.state


@dataclass(frozen=True, slots=True)
class QueuedExit:
    position_id: str
    exit_id: int
    quantity: int


@dataclass(slots=True)
class CloseOutcome:
    """What a close did: the exits queued, and the positions skipped with why."""

    queued: list[QueuedExit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def halt(store: Store, reason: str, at: datetime) -> StateChange:
    """Halt new entries (exits still pass) until a manual resume: a manual halt has no
    ``halted_on`` day, so it never lifts by itself."""
    repo = StateRepository(store)
    before = repo.trading_state()
    repo.set_trading_state(TradingState.HALTED, f"manual halt: {reason}", at)
    return StateChange(before, repo.trading_state())


def resume(store: Store, at: datetime, *, force: bool = False) -> StateChange:
    """Set the trading state back to ACTIVE. A circuit-breaker halt on its own trading day
    (exchange date of ``at``) is refused unless ``force``: it lifts by itself once that day
    has rolled. Already ACTIVE: nothing changes."""
    repo = StateRepository(store)
    st = repo.trading_state()
    if st.state is TradingState.ACTIVE:
        return StateChange(st, st)
    today = exchange_date(at)
    own_day = st.state is TradingState.HALTED and st.halted_on is not None and today <= st.halted_on
    if own_day and not force:
        raise ResumeRefusedError(
            f"the circuit breaker halted entries on {st.halted_on.isoformat() if st.halted_on else '?'} "
            f"({st.reason}); that trading day has not rolled yet. It lifts by itself on the next trading day"
        )
    how = "forced, " if force and own_day else ""
    repo.set_trading_state(TradingState.ACTIVE, f"manual resume ({how}was {st.state.value}: {st.reason})", at)
    return StateChange(st, repo.trading_state())


def queue_closes(
    store: Store,
    *,
    position: str | None = None,
    underlying: str | None = None,
    close_all: bool = False,
    priority: Priority,
    tactic: str,
    reason: str,
    at: datetime,
) -> CloseOutcome:
    """Queue a WORKING exit of the whole open quantity for each selected position: exactly one
    of ``position`` (an id), ``underlying`` (a symbol, any case) or ``close_all``. A position
    whose entry is still working (PENDING) or that is already being exited (CLOSING) is
    skipped. ``tactic`` is the name of the first step of ``priority``'s ladder. Raises
    :class:`NothingToCloseError` when the selection matches no open position."""
    if sum((position is not None, underlying is not None, close_all)) != 1:
        raise ValueError("say what to close with exactly one of a position id, an underlying or all")
    if not reason.strip():
        raise ValueError("a close needs a reason (it is recorded with each exit)")
    stored = PositionRepository(store).load_open(OPEN_STATUSES)
    if position is not None:
        chosen = [sp for sp in stored if sp.position.id == position]
        if not chosen:
            raise NothingToCloseError(f"no open position with id {position!r}")
    elif underlying is not None:
        sym = underlying.upper()
        chosen = [sp for sp in stored if sp.position.underlying == sym]
        if not chosen:
            raise NothingToCloseError(f"no open position in {sym}")
    else:
        chosen = stored
    exits = ExitRepository(store)
    out = CloseOutcome()
    for sp in chosen:
        p = sp.position
        if p.status is PositionStatus.PENDING:
            out.skipped.append((p.id, "its entry order is still working"))
            continue
        if p.status is PositionStatus.CLOSING:
            out.skipped.append((p.id, "an exit is already working"))
            continue
        exit_id = exits.begin_exit(
            p.id, reason=f"manual close: {reason}", priority=priority, quantity=p.quantity, tactic=tactic,
            triggered_at=at, rule="manual_close", unrealized_pnl_at_trigger=sp.monitoring.unrealized_pnl,
        )
        out.queued.append(QueuedExit(p.id, exit_id, p.quantity))
    return out


__all__ = [
    "CloseOutcome",
    "NothingToCloseError",
    "QueuedExit",
    "ResumeRefusedError",
    "StateChange",
    "halt",
    "queue_closes",
    "resume",
]
