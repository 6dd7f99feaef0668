"""The RiskManager: the three hooks both the backtester and the live loop call.

- :meth:`RiskManager.validate_order` before an order: approve, resize or refuse, with a reason.
- :meth:`RiskManager.check_position_exits` each bar or cycle: exit decisions for every position.
- :meth:`RiskManager.record_fill` after a fill: the portfolio book, realized P&L, the day's P&L.

It also holds the trading-state gate (ACTIVE, REDUCING, HALTED). The circuit breaker sets
HALTED: entries are refused while exits still pass, until the next trading day or a manual
:meth:`resume`. Its persistent state is :meth:`snapshot` / :meth:`restore`.

Nothing here reads a clock or performs I/O: time comes in as arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from riskpilot.config.schema import ExitRulesConfig, RegimeName, RiskPilotConfig
from riskpilot.model.contract import EXCHANGE_TZ
from riskpilot.model.enums import PremiumType, Side, TradingState
from riskpilot.model.mark import Mark
from riskpilot.model.order import Fill
from riskpilot.model.position import Position, pnl_per_share
from riskpilot.risk.checks import ExitChecks, PositionCheck
from riskpilot.risk.column_check import TrailColumns, check_columns
from riskpilot.risk.marks import JumpRule, MarkGuard
from riskpilot.risk.regime import regime_multiplier
from riskpilot.risk.small_book import check_small_book
from riskpilot.rules.base import PortfolioView, RuleParams
from riskpilot.rules.evaluator import ExitEvaluator
from riskpilot.rules.trailing_stop import TrailingStopConfig, TrailState
from riskpilot.rules.trailing_stop_rule import TrailingStopParams

#: Books up to this many positions are checked one position at a time
#: (:mod:`riskpilot.risk.small_book`), larger ones by column (:mod:`riskpilot.risk.column_check`):
#: the crossing point of their costs on a busy book (``benchmarks/bench_risk.py``).
SMALL_BOOK = 24


class UnknownPositionError(KeyError):
    """A fill names a position the risk manager was never told about."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A proposed order, in per-unit terms.

    ``max_loss_per_unit``: dollars one unit can lose (see :mod:`riskpilot.risk.sizing`).
    ``delta_per_unit``: share-equivalent delta of one unit (sum of leg delta x quantity x
    multiplier); ``gamma_per_unit`` likewise per underlying point. ``reduces_risk`` marks
    closing orders, which pass every limit and every trading state.
    """

    underlying: str
    quantity: int
    max_loss_per_unit: float
    underlying_price: float | None = None
    delta_per_unit: float = 0.0
    gamma_per_unit: float = 0.0
    method: str = "default"
    position_id: str | None = None
    premium_type: PremiumType = PremiumType.CREDIT
    multiplier: int = 100
    reduces_risk: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 1:
            raise ValueError(f"order quantity must be a whole number >= 1, got {self.quantity!r}")
        if not self.reduces_risk and (
            math.isnan(self.max_loss_per_unit) or self.max_loss_per_unit <= 0
        ):
            raise ValueError(
                f"max_loss_per_unit must be a positive dollar amount for an opening order, "
                f"got {self.max_loss_per_unit!r} (compute it with riskpilot.risk.max_loss_per_unit)"
            )


@dataclass(frozen=True, slots=True)
class OrderValidation:
    """The answer to :meth:`RiskManager.validate_order`. ``quantity`` is what may be sent
    (0 when refused); ``binding_limit`` names the check that cut or refused it."""

    approved: bool
    quantity: int
    requested: int
    reason: str
    binding_limit: str | None = None
    regime: str | None = None
    regime_multiplier: float = 1.0

    @property
    def resized(self) -> bool:
        return self.approved and self.quantity < self.requested


@dataclass(slots=True)
class _BookEntry:
    underlying: str
    corr_class: str | None
    quantity: int
    max_loss_per_unit: float
    delta_per_unit: float
    gamma_per_unit: float
    underlying_price: float | None
    premium_type: PremiumType
    multiplier: int
    entry_premium: float = 0.0


@dataclass(slots=True)
class _Book:
    equity: float
    entries: dict[str, _BookEntry] = field(default_factory=dict)
    pending: dict[str, _BookEntry] = field(default_factory=dict)
    heat: float = 0.0
    by_underlying: dict[str, float] = field(default_factory=dict)
    by_class: dict[str, float] = field(default_factory=dict)
    class_count: dict[str, int] = field(default_factory=dict)
    delta_dollars: float = 0.0
    gamma_dollars: float = 0.0
    realized_today: float = 0.0
    realized_total: float = 0.0
    day: date | None = None
    fill_ids: set[str] = field(default_factory=set)
    sod_unrealized: dict[str, float] = field(default_factory=dict)
    last_unrealized: dict[str, float] = field(default_factory=dict)


def _dollar_delta(e: _BookEntry, qty: int) -> float:
    return e.delta_per_unit * qty * (e.underlying_price or 0.0)


def _dollar_gamma(e: _BookEntry, qty: int) -> float:
    # Change of dollar delta for a 1% move: gamma * S * 0.01 * S.
    s = e.underlying_price or 0.0
    return e.gamma_per_unit * qty * s * s * 0.01


class RiskManager:
    def __init__(
        self,
        config: RiskPilotConfig | None = None,
        *,
        equity: float,
        trading_state: TradingState = TradingState.ACTIVE,
        small_book: int = SMALL_BOOK,
        confirm_jumps: bool | None = None,
    ) -> None:
        """``small_book``: books of up to this many positions are checked one position at a
        time, larger ones by column (the decisions are the same; only the cost differs).

        ``confirm_jumps``: whether a mark that jumped beyond the recent range waits for the
        next quote to confirm it (:mod:`riskpilot.risk.marks`). The wiring chooses it by the
        data: ``monitoring.marks.confirm_jumps`` is ``live`` by default, on for the live
        monitor and off for end-of-day backtests and replays. None: on unless that setting is
        ``never`` (a manager used directly sees live quotes)."""
        if math.isnan(equity) or equity <= 0:
            raise ValueError(f"equity must be a positive dollar amount, got {equity!r}")
        if isinstance(small_book, bool) or not isinstance(small_book, int) or small_book < 0:
            raise ValueError(f"small_book must be a whole number of positions >= 0, got {small_book!r}")
        self.small_book = small_book
        self.config = config if config is not None else RiskPilotConfig()
        settings = self.config.monitoring.marks
        if confirm_jumps is None:
            confirm_jumps = settings.confirm_jumps != "never"
        #: Vets every mark before any rule, stop or tracked state sees it.
        self.marks = MarkGuard(
            self.config.monitoring.mark_checks(),
            JumpRule(settings.jump_multiple, settings.jump_lookback_marks, settings.jump_min_range_pct)
            if confirm_jumps else None,
        )
        self._book = _Book(equity=float(equity))
        self.trading_state = trading_state
        self.state_reason = ""
        self.halted_on: date | None = None
        self._symbol_class = {
            s: cls for cls, syms in self.config.risk.correlation_classes.items() for s in syms
        }
        self._evaluators: dict[tuple[str, str | None], ExitEvaluator] = {}
        self._trail_configs: dict[tuple[str, str | None], TrailingStopConfig | None] = {}
        self._trail_arrays: dict[tuple[str, str | None], TrailColumns] = {}
        self.trails: dict[str, TrailState] = {}

    # --- state gate -----------------------------------------------------------------------
    @property
    def equity(self) -> float:
        return self._book.equity

    def set_equity(self, equity: float) -> None:
        if math.isnan(equity) or equity <= 0:
            raise ValueError(f"equity must be a positive dollar amount, got {equity!r}")
        self._book.equity = float(equity)

    def halt(self, reason: str, today: date | None = None) -> None:
        self.trading_state = TradingState.HALTED
        self.state_reason = reason
        self.halted_on = today

    def reduce_only(self, reason: str) -> None:
        self.trading_state = TradingState.REDUCING
        self.state_reason = reason

    def resume(self) -> None:
        """Manual reset of the trading state to ACTIVE."""
        self.trading_state = TradingState.ACTIVE
        self.state_reason = ""
        self.halted_on = None

    def correlation_class(self, underlying: str) -> str | None:
        return self._symbol_class.get(underlying)

    # --- hook 1: validate_order -----------------------------------------------------------
    def validate_order(
        self, request: OrderRequest, *, regime: RegimeName | None = None
    ) -> OrderValidation:
        req = request.quantity
        if request.reduces_risk:
            return OrderValidation(True, req, req, "risk-reducing order: always allowed")
        if self.trading_state is not TradingState.ACTIVE:
            why = f"trading is {self.trading_state.value}"
            if self.state_reason:
                why += f" ({self.state_reason})"
            return OrderValidation(False, 0, req, f"{why}: new entries refused", "trading_state")
        risk = self.config.risk
        book = self._book
        eq = book.equity
        mult = regime_multiplier(regime, self.config.regimes)
        qty = math.floor(req * mult + 1e-9)
        if qty < 1:
            return OrderValidation(
                False, 0, req,
                f"regime {regime} multiplier {mult:g} sizes {req} to 0",
                "regime", regime, mult,
            )
        mlpu = request.max_loss_per_unit
        cls = self._symbol_class.get(request.underlying)
        limits: list[tuple[str, float, str]] = []

        def cap(name: str, room: float, what: str) -> None:
            limits.append((name, math.floor(room / mlpu + 1e-9), what))

        cap("portfolio_heat", risk.max_portfolio_heat_pct * eq - book.heat,
            f"portfolio heat {book.heat:,.0f} of {risk.max_portfolio_heat_pct:.0%} x equity")
        used = book.by_underlying.get(request.underlying, 0.0)
        cap("underlying", risk.max_underlying_pct * eq - used,
            f"{request.underlying} max loss {used:,.0f} of {risk.max_underlying_pct:.0%} x equity")
        cap("position_size", risk.max_position_pct * eq,
            f"one position's max loss capped at {risk.max_position_pct:.0%} x equity")
        try:
            sizing = self.config.method(request.method).sizing
        except KeyError as exc:
            return OrderValidation(False, 0, req, str(exc.args[0]), "method")
        cap("method_risk_per_trade", sizing.max_risk_per_trade_pct * eq,
            f"method {request.method} risks at most {sizing.max_risk_per_trade_pct:.0%} a trade")
        limits.append(("method_max_contracts", sizing.max_contracts,
                       f"method {request.method} trades at most {sizing.max_contracts} contracts"))
        if cls is not None:
            n = book.class_count.get(cls, 0)
            if n >= risk.max_positions_per_class:
                return OrderValidation(
                    False, 0, req,
                    f"correlation class {cls} already holds {n} positions "
                    f"(max {risk.max_positions_per_class})",
                    "class_positions", regime, mult,
                )
            cused = book.by_class.get(cls, 0.0)
            cap("class_exposure", risk.max_class_exposure_pct * eq - cused,
                f"class {cls} max loss {cused:,.0f} of {risk.max_class_exposure_pct:.0%} x equity")
        entry = self._entry_from(request)
        if risk.max_delta_pct is not None and request.delta_per_unit and request.underlying_price:
            d1 = _dollar_delta(entry, 1)
            limits.append(("delta", _room(book.delta_dollars, d1, risk.max_delta_pct * eq),
                           f"net dollar delta {book.delta_dollars:,.0f} within "
                           f"{risk.max_delta_pct:.0%} x equity"))
        if risk.max_gamma_pct is not None and request.gamma_per_unit and request.underlying_price:
            g1 = _dollar_gamma(entry, 1)
            limits.append(("gamma", _room(book.gamma_dollars, g1, risk.max_gamma_pct * eq),
                           f"dollar gamma {book.gamma_dollars:,.0f} within "
                           f"{risk.max_gamma_pct:.0%} x equity"))
        allowed = qty
        binding: tuple[str, float, str] | None = None
        for lim in limits:
            if lim[1] < allowed:
                allowed = int(max(lim[1], 0))
                binding = lim
        if allowed < 1 and binding is not None:
            return OrderValidation(
                False, 0, req, f"refused by {binding[0]}: {binding[2]}", binding[0], regime, mult
            )
        if request.position_id is not None:
            self._book.pending[request.position_id] = entry
        if binding is not None:
            return OrderValidation(
                True, allowed, req,
                f"resized {req} -> {allowed} by {binding[0]}: {binding[2]}",
                binding[0], regime, mult,
            )
        if qty < req:
            return OrderValidation(
                True, qty, req, f"resized {req} -> {qty} by regime {regime} x{mult:g}",
                "regime", regime, mult,
            )
        return OrderValidation(True, qty, req, "approved", None, regime, mult)

    def _entry_from(self, r: OrderRequest) -> _BookEntry:
        return _BookEntry(
            underlying=r.underlying,
            corr_class=self._symbol_class.get(r.underlying),
            quantity=0,
            max_loss_per_unit=r.max_loss_per_unit,
            delta_per_unit=r.delta_per_unit,
            gamma_per_unit=r.gamma_per_unit,
            underlying_price=r.underlying_price,
            premium_type=r.premium_type,
            multiplier=r.multiplier,
        )

    def register_position(self, position_id: str, request: OrderRequest) -> None:
        """Tell the book about a position whose opening fills will follow (validate_order
        does this for requests that carry a position_id). Restores use it too."""
        self._book.pending[position_id] = self._entry_from(request)

    # --- hook 3: record_fill --------------------------------------------------------------
    def record_fill(self, fill: Fill) -> bool:
        """Apply a fill to the book. ``fill.side`` follows the order convention: BUY of the
        held combo opens (adds), SELL closes (reduces and realizes P&L). Returns False (and
        changes nothing) for a fill id seen before: a fill is applied at most once."""
        book = self._book
        if fill.fill_id in book.fill_ids:
            return False
        pid = fill.position_id
        if pid is None:
            raise UnknownPositionError(f"fill {fill.fill_id} carries no position_id")
        e = book.entries.get(pid)
        if e is None:
            e = book.pending.pop(pid, None)
            if e is None:
                raise UnknownPositionError(
                    f"fill {fill.fill_id} is for position {pid!r}, which was never validated "
                    f"or registered (call validate_order or register_position first)"
                )
            book.entries[pid] = e
            book.sod_unrealized[pid] = 0.0
        day = fill.timestamp.astimezone(EXCHANGE_TZ).date()
        self._roll_day(day)
        book.fill_ids.add(fill.fill_id)
        # Orders and fills trade the combo as the position holds it (model.order.Order): a BUY
        # acquires it (opens, credit or debit alike), a SELL disposes of it (closes).
        opening_side = Side.BUY
        q = fill.quantity
        if fill.side is opening_side:
            total = e.quantity + q
            e.entry_premium = (e.entry_premium * e.quantity + fill.price * q) / total
            e.quantity = total
            sign = 1
        else:
            if q > e.quantity:
                raise ValueError(
                    f"fill {fill.fill_id} closes {q} of position {pid} but only {e.quantity} open"
                )
            per_share = pnl_per_share(e.premium_type, e.entry_premium, fill.price)
            pnl = per_share * e.multiplier * q - fill.commission
            book.realized_today += pnl
            book.realized_total += pnl
            # The realized part leaves the unrealized baseline of the day.
            left = e.quantity - q
            if e.quantity:
                frac = left / e.quantity
                book.sod_unrealized[pid] = book.sod_unrealized.get(pid, 0.0) * frac
                book.last_unrealized[pid] = book.last_unrealized.get(pid, 0.0) * frac
            e.quantity = left
            sign = -1
        if fill.side is opening_side:
            book.realized_today -= fill.commission
            book.realized_total -= fill.commission
        loss = e.max_loss_per_unit * q * sign
        book.heat += loss
        book.by_underlying[e.underlying] = book.by_underlying.get(e.underlying, 0.0) + loss
        if e.corr_class is not None:
            book.by_class[e.corr_class] = book.by_class.get(e.corr_class, 0.0) + loss
        book.delta_dollars += _dollar_delta(e, q * sign)
        book.gamma_dollars += _dollar_gamma(e, q * sign)
        if sign > 0 and e.quantity == q and e.corr_class is not None:
            book.class_count[e.corr_class] = book.class_count.get(e.corr_class, 0) + 1
        if e.quantity == 0:
            del book.entries[pid]
            book.sod_unrealized.pop(pid, None)
            book.last_unrealized.pop(pid, None)
            self.trails.pop(pid, None)
            self.marks.forget(pid)
            if e.corr_class is not None:
                book.class_count[e.corr_class] -= 1
        return True

    # --- hook 2: check_position_exits -------------------------------------------------------
    def check_position_exits(
        self,
        positions: Sequence[Position],
        marks: Mapping[str, Mark],
        now: datetime,
        *,
        regime: RegimeName | None = None,
        features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ExitChecks:
        """Evaluate every position against its method's rules (under ``regime``'s overrides).

        ``marks`` maps position id to its close-out mark; a position without one holds with
        reason "no quote", and one whose mark has a problem holds naming it. Every mark is
        vetted first (:mod:`riskpilot.risk.marks`: timestamps, prices, the structure's bounds,
        unconfirmed jumps): a bad one holds its position only, never raises, and is what that
        position's check carries; :attr:`ExitChecks.marks` holds the marks as vetted. The
        trailing stops advance here, once per call, on good marks only. The circuit breaker (day's
        realized + unrealized loss >= the daily limit) halts entries before the positions are
        evaluated, and fires CRITICAL on every position.

        A book of up to ``small_book`` positions is checked one position at a time, a larger
        one by column (see :mod:`riskpilot.risk.checks`; the two agree). The returned
        :class:`ExitChecks` holds one :class:`PositionCheck` per position, in order, built on
        access, and :meth:`ExitChecks.exits` the ones that do not hold.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        today = now.astimezone(EXCHANGE_TZ).date()
        self._roll_day(today)
        vetted = self.marks.vet(positions, marks, now)
        check = check_small_book if len(positions) <= self.small_book else check_columns
        checks = check(self, positions, vetted, now, today, regime, features)
        checks.marks = vetted
        return checks

    def _rules_for(
        self, method: str, regime: RegimeName | None
    ) -> tuple[ExitEvaluator, TrailingStopConfig | None]:
        key = (method, regime)
        ev = self._evaluators.get(key)
        if ev is None:
            ev = self._build_evaluator(method, regime)
        return ev, self._trail_configs[key]

    def _trail_columns(self, method: str, regime: RegimeName | None) -> TrailColumns:
        kept = self._trail_arrays.get((method, regime))
        if kept is None:
            kept = self._trail_arrays[(method, regime)] = TrailColumns()
        return kept

    def _day_view(self, ids: Sequence[str], pnl_dollars: Sequence[float], today: date) -> PortfolioView:
        """Record the unrealized P&L (dollars) of the positions just marked well and return the
        day's P&L as the rules see it; at the daily loss limit the circuit breaker halts entries
        here, before any position is evaluated."""
        book = self._book
        last = book.last_unrealized
        last.update(zip(ids, pnl_dollars, strict=True))
        sod = book.sod_unrealized
        # The start-of-day baseline of every position marked since (sod in its own order).
        day_pnl = book.realized_today + sum(last.values()) - sum(v for p, v in sod.items() if p in last)
        limit_pct = self.config.risk.daily_loss_limit_pct
        limit = limit_pct * book.equity if limit_pct is not None else None
        if limit is not None and -day_pnl >= limit and self.trading_state is not TradingState.HALTED:
            self.halt(f"circuit breaker: day P&L {day_pnl:,.0f} hit limit -{limit:,.0f}", today)
        return PortfolioView(equity=book.equity, day_pnl=day_pnl, daily_loss_limit=limit)

    def evaluator(self, method: str, regime: RegimeName | None = None) -> ExitEvaluator:
        ev = self._evaluators.get((method, regime))
        return ev if ev is not None else self._build_evaluator(method, regime)

    def _build_evaluator(self, method: str, regime: RegimeName | None) -> ExitEvaluator:
        rules: ExitRulesConfig = self.config.exit_rules_for(method, regime)
        settings: dict[str, RuleParams] = {n: getattr(rules, n) for n in type(rules).model_fields}
        ev = ExitEvaluator.from_settings(
            settings, priorities=self.config.priority_of(), order=self.config.tie_break_order()
        )
        ts: TrailingStopParams = rules.trailing_stop
        self._evaluators[(method, regime)] = ev
        self._trail_configs[(method, regime)] = ts.to_config() if ts.enabled else None
        return ev

    # --- day boundary ---------------------------------------------------------------------
    def start_day(self, today: date) -> None:
        """Enter the trading day ``today`` (exchange date): the day's P&L starts afresh and a
        circuit-breaker halt of an earlier day lifts. Called by the cycle step at every step,
        so a halt lifts on the next trading day even when no position is left to check."""
        self._roll_day(today)

    def _roll_day(self, today: date) -> None:
        book = self._book
        if book.day is None:
            book.day = today
            return
        if today <= book.day:
            return
        book.day = today
        book.realized_today = 0.0
        book.sod_unrealized = dict(book.last_unrealized)
        if (
            self.trading_state is TradingState.HALTED
            and self.halted_on is not None
            and today > self.halted_on
        ):
            self.resume()

    def restore_day(self, day: date, realized_today: float, sod_unrealized: Mapping[str, float]) -> None:
        """After a restart, set the trading day the book is in: ``realized_today`` (dollars,
        net of commissions) and, per open position id, its unrealized P&L at the start of
        ``day`` (dollars; a position missing here counts from 0, as one opened today does).
        Without it the first check starts a fresh day with no baseline, so the day's P&L
        counts each position's whole unrealized P&L since entry."""
        if not math.isfinite(realized_today):
            raise ValueError(f"realized_today must be a finite dollar amount, got {realized_today!r}")
        for pid, v in sod_unrealized.items():
            if not math.isfinite(v):
                raise ValueError(f"start-of-day unrealized P&L of {pid} must be finite, got {v!r}")
        book = self._book
        book.day = day
        book.realized_today = float(realized_today)
        for pid in book.entries:
            base = float(sod_unrealized.get(pid, 0.0))
            book.sod_unrealized[pid] = base
            # Until the first mark, the position stands where the day started.
            book.last_unrealized.setdefault(pid, base)

    # --- views ------------------------------------------------------------------------------
    @property
    def day_realized_pnl(self) -> float:
        return self._book.realized_today

    @property
    def realized_pnl(self) -> float:
        return self._book.realized_total

    @property
    def heat(self) -> float:
        return self._book.heat

    def forget(self, position_id: str) -> None:
        """Drop what the manager keeps of a position it only ever checked, never filled (its
        marks of the day and its trailing stop): for positions followed outside the book,
        such as the backtest's exit attribution. A booked position is left as it is."""
        book = self._book
        if position_id in book.entries or position_id in book.pending:
            return
        book.last_unrealized.pop(position_id, None)
        book.sod_unrealized.pop(position_id, None)
        self.trails.pop(position_id, None)

    def open_quantity(self, position_id: str) -> int:
        e = self._book.entries.get(position_id)
        return e.quantity if e is not None else 0

    def exposure(self) -> dict[str, Any]:
        b = self._book
        return {
            "equity": b.equity,
            "heat": b.heat,
            "by_underlying": dict(b.by_underlying),
            "by_class": dict(b.by_class),
            "class_count": dict(b.class_count),
            "delta_dollars": b.delta_dollars,
            "gamma_dollars": b.gamma_dollars,
            "realized_today": b.realized_today,
            "open_positions": len(b.entries),
        }

    def snapshot(self) -> dict[str, Any]:
        """The trading state and trailing stops, for the store to persist."""
        return {
            "trading_state": self.trading_state.value,
            "state_reason": self.state_reason,
            "halted_on": self.halted_on.isoformat() if self.halted_on else None,
            "trails": {pid: t.to_dict() for pid, t in self.trails.items()},
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        self.trading_state = TradingState(snap.get("trading_state", "ACTIVE"))
        self.state_reason = str(snap.get("state_reason", ""))
        h = snap.get("halted_on")
        self.halted_on = date.fromisoformat(h) if h else None
        self.trails = {pid: TrailState.from_dict(d) for pid, d in dict(snap.get("trails", {})).items()}


def _room(current: float, per_unit: float, limit: float) -> float:
    """How many units keep |current + n * per_unit| <= limit."""
    if per_unit == 0:
        return math.inf
    if current * per_unit < 0:
        # Units that offset the existing exposure may add until past zero to -limit.
        return (limit + abs(current)) / abs(per_unit)
    return (limit - abs(current)) / abs(per_unit)


__all__ = [
    "SMALL_BOOK",
    "ExitChecks",
    "OrderRequest",
    "OrderValidation",
    "PositionCheck",
    "RiskManager",
    "UnknownPositionError",
]
