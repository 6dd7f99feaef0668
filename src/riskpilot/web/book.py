"""The book page's figures: every open position with its exit levels and the distance to each,
the monitor's urgent band, totals, and the portfolio limits used against their caps.

Units: premiums are net premium per share of one unit; P&L, max loss and heat are dollars;
percentages are fractions (0.25 = 25%). A position's max loss is
:func:`riskpilot.risk.sizing.max_loss_per_unit` times its open quantity, as the monitor's risk
book counts it on restart (``riskpilot.live.reconcile.restore_risk``); heat is their sum over
the positions holding contracts (OPEN and CLOSING).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from riskpilot.config.schema import RegimeName, RiskPilotConfig
from riskpilot.model.contract import OptionContract, exchange_date
from riskpilot.model.enums import PositionStatus
from riskpilot.risk.levels import Level, exit_levels, near_trigger
from riskpilot.risk.sizing import max_loss_per_unit
from riskpilot.rules.trailing_stop import TrailState
from riskpilot.store import OPEN_STATUSES, PositionRepository, StateRepository, Store, StoredPosition
from riskpilot.web.context import MonitorContext

_HOLDING = (PositionStatus.OPEN, PositionStatus.CLOSING)
log = logging.getLogger("riskpilot.web")


@dataclass(frozen=True, slots=True)
class LevelCell:
    """One exit level as the book shows it: where, how far (premium points and the fraction of
    the current premium, positive while not reached), in the urgent band or past it."""

    rule: str
    premium: float
    distance: float | None
    distance_pct: float | None
    armed: bool
    label: str
    quantity: int | None
    near: bool
    passed: bool


@dataclass(frozen=True, slots=True)
class BookRow:
    id: str
    underlying: str
    method: str
    status: str
    legs: str
    expiration: date
    quantity: int
    original_quantity: int
    entry: float
    current: float | None
    pnl: float | None
    pnl_pct: float | None
    dte: int
    max_loss: float
    regime: RegimeName | None
    stop: LevelCell | None
    target: LevelCell | None
    trailing: LevelCell | None
    partial: LevelCell | None
    time_exit_dte: int | None
    near: str | None
    last_update: datetime | None
    problem: str | None  # why the levels are unknown (a method the configuration lacks)


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One portfolio limit: what is used (dollars, or a count) against its cap; ``used``
    None when the store does not record it."""

    name: str
    used: float | None
    cap: float | None
    unit: str  # "$" or "count"
    note: str = ""

    @property
    def share(self) -> float | None:
        if self.used is None or self.cap is None or self.cap <= 0:
            return None
        return self.used / self.cap


@dataclass(slots=True)
class Book:
    as_of: datetime
    clock: str
    today: date
    equity: float
    config_source: str
    rows: list[BookRow] = field(default_factory=list)
    unrealized: float = 0.0
    contracts: int = 0
    heat: float = 0.0
    realized_today: float | None = None
    day_pnl: float | None = None
    day_pnl_note: str | None = None
    limits: list[LimitUse] = field(default_factory=list)
    by_underlying: list[tuple[str, int, float, float]] = field(default_factory=list)  # sym, n, heat, unrealized

    @property
    def urgent(self) -> int:
        return sum(1 for r in self.rows if r.near is not None)


def legs_text(sp: StoredPosition) -> str:
    """``-1 P2800 +1 P2795`` (signed quantity per unit, right, strike)."""
    out = []
    for leg in sp.position.legs:
        c = leg.contract
        if isinstance(c, OptionContract):
            out.append(f"{leg.quantity:+d} {c.right.value[0]}{c.strike:g}")
        else:
            out.append(f"{leg.quantity:+d} {c}")
    return " ".join(out)


def _cell(level: Level | None, premium: float | None, near: str | None) -> LevelCell | None:
    if level is None:
        return None
    dist = level.distance(premium) if premium is not None else None
    pct = level.distance_pct(premium) if premium is not None else None
    return LevelCell(level.rule, level.premium, dist, pct, level.armed, level.label, level.quantity,
                     near == level.rule and level.armed, dist is not None and dist < 0 and level.armed)


def _trail(sp: StoredPosition) -> TrailState | None:
    if not sp.trailing_state:
        return None
    try:
        return TrailState.from_dict(dict(sp.trailing_state))
    except (ValueError, TypeError) as exc:
        # The monitor owns this state and refuses it itself on restart; the book still shows
        # the position's other levels, and says in the log why the trailing stop is missing.
        log.warning("position %s: trailing-stop state unreadable (%s); shown as not active", sp.position.id, exc)
        return None


def book_row(sp: StoredPosition, ctx: MonitorContext, cfg: RiskPilotConfig, today: date) -> BookRow:
    p, m = sp.position, sp.monitoring
    regime = ctx.regime(p.underlying, today)
    triggers = ctx.triggers(p.method, regime)
    premium = m.current_price
    trail = _trail(sp)
    mlpu = max_loss_per_unit(p.legs, p.entry_premium, p.premium_type)
    cells: list[LevelCell | None] = [None, None, None, None]
    time_exit = None
    near = None
    problem = None
    if triggers is None:
        problem = f"method {p.method!r} is not in the configuration ({ctx.config_source})"
    else:
        lv = exit_levels(p, trail, triggers)
        if premium is not None and p.status is PositionStatus.OPEN:
            near = near_trigger(p, premium, trail, triggers, cfg.monitoring.urgent_conditions)
        cells = [_cell(x, premium, near) for x in (lv.stop_loss, lv.profit_target, lv.trailing_stop, lv.next_partial)]
        time_exit = lv.time_exit_dte
    return BookRow(
        id=p.id, underlying=p.underlying, method=p.method, status=p.status.value, legs=legs_text(sp),
        expiration=p.expiration, quantity=p.quantity, original_quantity=p.original_quantity,
        entry=p.entry_premium, current=premium, pnl=m.unrealized_pnl, pnl_pct=m.unrealized_pnl_pct,
        dte=p.dte(today), max_loss=mlpu * p.quantity, regime=regime, stop=cells[0], target=cells[1],
        trailing=cells[2], partial=cells[3], time_exit_dte=time_exit, near=near, last_update=m.last_update,
        problem=problem,
    )


def build_book(store: Store, ctx: MonitorContext, equity: float) -> Book:
    """The book as of the monitor's clock (:meth:`MonitorContext.now`)."""
    ctx.refresh()
    cfg = ctx.config
    as_of, clock = ctx.now()
    today = exchange_date(as_of)
    book = Book(as_of, clock, today, equity, ctx.config_source)
    stored = PositionRepository(store).load_open(OPEN_STATUSES)
    per_und: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    per_class: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    classes = {s: c for c, syms in cfg.risk.correlation_classes.items() for s in syms}
    largest = 0.0
    opened_before = False
    for sp in stored:
        row = book_row(sp, ctx, cfg, today)
        book.rows.append(row)
        if sp.position.status not in _HOLDING:
            continue
        book.unrealized += row.pnl or 0.0
        book.contracts += row.quantity
        book.heat += row.max_loss
        largest = max(largest, row.max_loss)
        u = per_und[row.underlying]
        u[0] += 1
        u[1] += row.max_loss
        u[2] += row.pnl or 0.0
        cls = classes.get(row.underlying)
        if cls is not None:
            per_class[cls][0] += 1
            per_class[cls][1] += row.max_loss
        opened_before |= exchange_date(sp.position.opened_at) < today
    book.by_underlying = sorted(((s, int(v[0]), v[1], v[2]) for s, v in per_und.items()), key=lambda t: -t[2])
    _day_pnl(book, StateRepository(store), opened_before)
    _limits(book, cfg, largest, per_class)
    return book


def _day_pnl(book: Book, state: StateRepository, opened_before: bool) -> None:
    """Day P&L as the end-of-day summary counts it (riskpilot.alerts.summary): realized net of
    commissions + open unrealized - the previous day's closing unrealized; unknown when no
    earlier day is stored while a position was already open at the day's start."""
    row = state.daily_pnl(book.today)
    realized = 0.0 if row is None else row.realized_pnl - row.commissions
    book.realized_today = realized
    prev = state.daily_pnl_before(book.today)
    if prev is not None:
        book.day_pnl = realized + book.unrealized - prev.unrealized_pnl
    elif not opened_before:
        book.day_pnl = realized + book.unrealized
    else:
        book.day_pnl_note = "no earlier day's closing unrealized P&L is stored"


def _limits(book: Book, cfg: RiskPilotConfig, largest: float, per_class: dict[str, list[float]]) -> None:
    r = cfg.risk
    eq = book.equity
    out = book.limits
    out.append(LimitUse("portfolio heat (sum of max losses)", book.heat, r.max_portfolio_heat_pct * eq, "$",
                        f"{r.max_portfolio_heat_pct:.0%} of equity"))
    worst = max(book.by_underlying, key=lambda t: t[2], default=None)
    out.append(LimitUse(f"max loss in one underlying{f' ({worst[0]})' if worst else ''}",
                        worst[2] if worst else 0.0, r.max_underlying_pct * eq, "$",
                        f"{r.max_underlying_pct:.0%} of equity"))
    out.append(LimitUse("largest position's max loss", largest, r.max_position_pct * eq, "$",
                        f"{r.max_position_pct:.0%} of equity"))
    for cls, (n, exposure) in sorted(per_class.items()):
        out.append(LimitUse(f"class {cls}: max loss", exposure, r.max_class_exposure_pct * eq, "$",
                            f"{r.max_class_exposure_pct:.0%} of equity"))
        out.append(LimitUse(f"class {cls}: positions", n, r.max_positions_per_class, "count"))
    if r.daily_loss_limit_pct is not None:
        loss = -book.day_pnl if book.day_pnl is not None else None
        out.append(LimitUse("day loss (circuit breaker)", None if loss is None else max(loss, 0.0),
                            r.daily_loss_limit_pct * eq, "$", f"{r.daily_loss_limit_pct:.0%} of equity"))
    why = "not recorded: the store keeps no leg Greeks"
    if r.max_delta_pct is not None:
        out.append(LimitUse("|net dollar delta|", None, r.max_delta_pct * eq, "$", why))
    if r.max_gamma_pct is not None:
        out.append(LimitUse("|dollar gamma per 1% move|", None, r.max_gamma_pct * eq, "$", why))
