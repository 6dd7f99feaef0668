"""The end-of-day summary (SPEC §4): the day's P&L, open positions with profit % and DTE, trade
statistics all time and for the day, and market context (VIX and regime).

Conventions (dollars unless named otherwise; days are exchange dates, America/New_York):

- **Realized** is the day's ``daily_pnl`` row: P&L realized by the day's fills and exits, and
  ``commissions`` paid that day; ``realized_net`` = realized - commissions.
- **Open unrealized** is the sum of the open positions' stored ``unrealized_pnl`` (their last
  marks in the store, as written by the monitor).
- **Day P&L** (mark to market) = realized_net + open unrealized - the previous day's closing
  unrealized, where that is the ``unrealized_pnl`` of the latest ``daily_pnl`` row before the
  day (the monitor records it with ``StateRepository.set_unrealized``). When there is no such
  row and some position was already open when the day began, the day P&L is unknown (None) and
  the summary says why, rather than treating the missing figure as zero.
- **Trades** are closed positions with at least one filled exit (an entry that never filled
  closes with none and is not a trade); a trade's P&L is its realized P&L less its commissions, a
  win is a trade with P&L > 0. "Today" counts trades closed on the day.
- **Positions** are those open in the store now (the summary is meant for the end of the
  current day); DTE counts calendar days from the summary's day to the expiration.
- **Market context** is the bundled daily history as of the day (the latest close on or before
  it): VIX close, and the regime from the market symbol's close (as quoted, split-adjusted)
  against its ``regimes.trend_sma_days`` moving average and the VIX threshold (``classify_regime``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from riskpilot.config.schema import RegimeConfig
from riskpilot.data import history
from riskpilot.model.contract import exchange_date
from riskpilot.model.enums import PositionStatus
from riskpilot.risk.regime import classify_regime
from riskpilot.store import OPEN_STATUSES, ExitRepository, PositionRepository, StateRepository, Store, StoredPosition

#: A market close older than this many calendar days before the summary's day is reported as
#: stale (the bundled history ends at its last update).
STALE_MARKET_DAYS = 5


@dataclass(frozen=True, slots=True)
class MarketContext:
    """Market context as of ``as_of`` (the latest bundled close on or before the day)."""

    symbol: str
    as_of: date
    vix_close: float
    close: float
    trend_average: float | None
    regime: str | None
    stale: bool


@dataclass(frozen=True, slots=True)
class OpenPositionLine:
    id: str
    underlying: str
    method: str
    status: str
    quantity: int
    entry_premium: float
    current_premium: float | None
    profit_pct: float | None
    unrealized_pnl: float | None
    dte: int
    expiration: date


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Closed trades: count, wins, win rate (None without trades) and P&L net of commissions."""

    count: int
    wins: int
    win_rate: float | None
    pnl: float


@dataclass(frozen=True, slots=True)
class Summary:
    day: date
    realized_pnl: float
    commissions: float
    realized_net: float
    open_unrealized_pnl: float
    previous_unrealized_pnl: float | None
    day_pnl: float | None
    day_pnl_note: str | None
    positions: tuple[OpenPositionLine, ...]
    today: TradeStats
    all_time: TradeStats
    market: MarketContext | None
    market_note: str | None
    trading_state: str
    trading_state_reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings."""
        out: dict[str, Any] = _iso(asdict(self))
        return out

    def to_text(self) -> str:
        """Plain text, for alert channels."""
        lines = [f"riskpilot end-of-day summary {self.day.isoformat()}"]
        if self.day_pnl is not None:
            lines.append(f"Day P&L: {_money(self.day_pnl)}")
        else:
            lines.append(f"Day P&L: unknown ({self.day_pnl_note})")
        lines.append(
            f"Realized: {_money(self.realized_pnl)} - commissions {_money(self.commissions)} = "
            f"{_money(self.realized_net)}; open unrealized {_money(self.open_unrealized_pnl)}"
        )
        lines.append(f"Trading state: {self.trading_state} ({self.trading_state_reason})")
        lines.append(f"Open positions: {len(self.positions)}")
        for p in self.positions:
            pct = f"{p.profit_pct:+.1%}" if p.profit_pct is not None else "no mark"
            lines.append(
                f"  {p.id} {p.underlying} {p.method} x{p.quantity}: {pct}, {p.dte} DTE, "
                f"entry {p.entry_premium:.2f} now {_opt(p.current_premium)}"
            )
        for label, st in (("Today", self.today), ("All time", self.all_time)):
            rate = f"{st.win_rate:.0%}" if st.win_rate is not None else "n/a"
            lines.append(f"{label}: {st.count} trades, win rate {rate}, P&L {_money(st.pnl)}")
        if self.market is not None:
            m = self.market
            regime = m.regime or "unknown (too little history for the trend average)"
            stale = " (stale)" if m.stale else ""
            lines.append(
                f"Market {m.as_of.isoformat()}{stale}: VIX {m.vix_close:.2f}, {m.symbol} {m.close:.2f}, {regime}"
            )
        elif self.market_note:
            lines.append(f"Market: {self.market_note}")
        return "\n".join(lines)


def _money(x: float) -> str:
    return f"{'-' if x < 0 else '+'}${abs(x):,.2f}"


def _opt(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "n/a"


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _stats(trades: list[StoredPosition]) -> TradeStats:
    pnls = [t.monitoring.realized_pnl - t.monitoring.commissions for t in trades]
    wins = sum(1 for p in pnls if p > 0)
    return TradeStats(len(pnls), wins, wins / len(pnls) if pnls else None, float(sum(pnls)))


def market_context(day: date, symbol: str = "SPY", regimes: RegimeConfig | None = None) -> MarketContext:
    """VIX close and regime as of ``day`` from the bundled history (latest close on or before
    ``day``; no later data). Raises ``LookupError`` when the history starts after ``day``."""
    cfg = regimes if regimes is not None else RegimeConfig()
    vix = history.load_index("VIX")["close"].dropna()
    px = history.load_underlying(symbol)["close"].dropna()
    stamp = datetime(day.year, day.month, day.day)
    vix = vix[vix.index <= stamp]
    px = px[px.index <= stamp]
    if vix.empty or px.empty:
        raise LookupError(f"the bundled history of VIX and {symbol} starts after {day.isoformat()}")
    # Both series as of the same day: the earlier of their last closes.
    last = min(vix.index[-1], px.index[-1])
    vix, px = vix[vix.index <= last], px[px.index <= last]
    as_of = last.date()
    vix_close = float(vix.iloc[-1])
    close = float(px.iloc[-1])
    n = cfg.trend_sma_days
    trend = float(px.iloc[-n:].mean()) if len(px) >= n else None
    regime = classify_regime(close, trend, vix_close, cfg) if trend is not None and math.isfinite(trend) else None
    return MarketContext(symbol.upper(), as_of, vix_close, close, trend, regime, (day - as_of).days > STALE_MARKET_DAYS)


def build_summary(
    store: Store, day: date, market: MarketContext | None = None, *, market_note: str | None = None
) -> Summary:
    """The end-of-day summary of ``day`` from the store (see the module docstring for what each
    figure means). ``market`` comes from :func:`market_context` (or None, with
    ``market_note`` saying why)."""
    positions = PositionRepository(store)
    state = StateRepository(store)
    open_now = positions.load_open(OPEN_STATUSES)
    exited = {e.position_id for e in ExitRepository(store).all_exits() if e.filled_quantity > 0}
    closed = [p for p in positions.load_open((PositionStatus.CLOSED,)) if p.position.id in exited]

    row = state.daily_pnl(day)
    realized = row.realized_pnl if row is not None else 0.0
    commissions = row.commissions if row is not None else 0.0
    realized_net = realized - commissions
    open_unrealized = float(sum(p.monitoring.unrealized_pnl or 0.0 for p in open_now))

    prev = state.daily_pnl_before(day)
    note: str | None = None
    prev_unrealized: float | None
    if prev is not None:
        prev_unrealized = prev.unrealized_pnl
    else:
        # No closing marks stored before the day: zero only if nothing was open when it began.
        open_at_start = [
            p
            for p in (*open_now, *closed)
            if exchange_date(p.position.opened_at) < day
            and (p.monitoring.closed_at is None or exchange_date(p.monitoring.closed_at) >= day)
        ]
        if open_at_start:
            prev_unrealized = None
            note = (
                f"{len(open_at_start)} position(s) were open when the day began but no earlier day's "
                "closing unrealized P&L is stored (the monitor records it with set_unrealized)"
            )
        else:
            prev_unrealized = 0.0
    day_pnl = realized_net + open_unrealized - prev_unrealized if prev_unrealized is not None else None

    lines = tuple(
        OpenPositionLine(
            id=p.position.id,
            underlying=p.position.underlying,
            method=p.position.method,
            status=p.position.status.value,
            quantity=p.position.quantity,
            entry_premium=p.position.entry_premium,
            current_premium=p.monitoring.current_price,
            profit_pct=p.monitoring.unrealized_pnl_pct,
            unrealized_pnl=p.monitoring.unrealized_pnl,
            dte=p.position.dte(day),
            expiration=p.position.expiration,
        )
        for p in open_now
    )
    closed_today = [
        p for p in closed if p.monitoring.closed_at is not None and exchange_date(p.monitoring.closed_at) == day
    ]
    gate = state.trading_state()
    return Summary(
        day=day,
        realized_pnl=realized,
        commissions=commissions,
        realized_net=realized_net,
        open_unrealized_pnl=open_unrealized,
        previous_unrealized_pnl=prev_unrealized,
        day_pnl=day_pnl,
        day_pnl_note=note,
        positions=lines,
        today=_stats(closed_today),
        all_time=_stats(closed),
        market=market,
        market_note=market_note,
        trading_state=gate.state.value,
        trading_state_reason=gate.reason,
    )
