"""Tables and rows the store commands print (`positions`, `exits`, `summary`): loaded only
when one of them runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from riskpilot.alerts.summary import Summary
from riskpilot.model.contract import exchange_date
from riskpilot.model.enums import PositionStatus
from riskpilot.store import OPEN_STATUSES, ExitRepository, LeaseRepository, PositionRepository, Store


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def console() -> Console:
    return Console(width=160)


def position_rows(store: Store, include_closed: bool) -> list[dict[str, Any]]:
    statuses = tuple(PositionStatus) if include_closed else OPEN_STATUSES
    # A replay's store is counted at the replay's market time, not today's.
    today = exchange_date(LeaseRepository(store).market_now(datetime.now(UTC)))
    rows = []
    for sp in PositionRepository(store).load_open(statuses):
        p, m = sp.position, sp.monitoring
        rows.append(
            {
                "id": p.id,
                "status": p.status.value,
                "underlying": p.underlying,
                "method": p.method,
                "premium_type": p.premium_type.value,
                "quantity": p.quantity,
                "original_quantity": p.original_quantity,
                "entry_premium": p.entry_premium,
                "current_premium": m.current_price,
                "unrealized_pnl": m.unrealized_pnl,
                "unrealized_pnl_pct": m.unrealized_pnl_pct,
                "realized_pnl": m.realized_pnl,
                "commissions": m.commissions,
                "expiration": p.expiration.isoformat(),
                "dte": p.dte(today),
                "trailing_stop_price": m.trailing_stop_price,
                "exit_reason": m.exit_reason,
                "opened_at": iso(p.opened_at),
                "closed_at": iso(m.closed_at),
                "last_update": iso(m.last_update),
            }
        )
    return rows


def exit_rows(store: Store, position_id: str | None) -> list[dict[str, Any]]:
    repo = ExitRepository(store)
    exits = repo.exits_for(position_id) if position_id is not None else repo.all_exits()
    return [
        {
            "id": e.id,
            "position_id": e.position_id,
            "rule": e.rule,
            "reason": e.reason,
            "priority": e.priority.name,
            "quantity": e.quantity,
            "filled_quantity": e.filled_quantity,
            "is_partial": e.is_partial,
            "price": e.fill_price,
            "tactic": e.tactic,
            "status": e.status.value,
            "unrealized_pnl_at_trigger": e.unrealized_pnl_at_trigger,
            "triggered_at": iso(e.triggered_at),
            "executed_at": iso(e.executed_at),
        }
        for e in exits
    ]


def print_summary(s: Summary) -> None:
    con = console()
    head = Table(title=f"End-of-day summary {s.day.isoformat()}", show_header=False)
    head.add_column("item")
    head.add_column("value")
    head.add_row("Day P&L", f"{s.day_pnl:+,.2f}" if s.day_pnl is not None else f"unknown: {s.day_pnl_note}")
    head.add_row(
        "Realized (net)", f"{s.realized_pnl:+,.2f} - commissions {s.commissions:,.2f} = {s.realized_net:+,.2f}"
    )
    head.add_row("Open unrealized", f"{s.open_unrealized_pnl:+,.2f}")
    head.add_row("Trading state", f"{s.trading_state} ({s.trading_state_reason})")
    for label, st in (("Trades today", s.today), ("Trades all time", s.all_time)):
        rate = f"{st.win_rate:.0%}" if st.win_rate is not None else "n/a"
        head.add_row(label, f"{st.count} trades, {st.wins} wins ({rate}), P&L {st.pnl:+,.2f}")
    if s.market is not None:
        m = s.market
        stale = " [stale]" if m.stale else ""
        head.add_row(
            "Market",
            f"{m.as_of.isoformat()}{stale}: VIX {m.vix_close:.2f}, {m.symbol} {m.close:.2f}, "
            f"regime {m.regime or 'unknown (short history)'}",
        )
    else:
        head.add_row("Market", s.market_note or "-")
    con.print(head)
    table = Table(title=f"Open positions ({len(s.positions)})")
    for col in ("id", "underlying", "method", "qty", "entry", "now", "profit %", "unrealized", "DTE"):
        table.add_column(col, overflow="fold")
    for p in s.positions:
        table.add_row(
            p.id,
            p.underlying,
            p.method,
            str(p.quantity),
            f"{p.entry_premium:.2f}",
            num(p.current_premium),
            "-" if p.profit_pct is None else f"{p.profit_pct:+.1%}",
            num(p.unrealized_pnl, "+,.2f"),
            str(p.dte),
        )
    con.print(table)
