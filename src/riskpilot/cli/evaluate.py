"""`riskpilot evaluate`: run the rules engine on a portfolio snapshot and print each decision."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import typer


def sample_path(name: str) -> Path:
    return Path(str(resources.files("riskpilot.samples").joinpath(name)))


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        portfolio: Path = typer.Option(None, help="portfolio snapshot YAML (default: the bundled sample)"),
        config: Path = typer.Option(None, help="configuration YAML (default: the bundled sample)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    ) -> None:
        """Evaluate every position of a portfolio snapshot and print its exit decision."""
        from rich.console import Console
        from rich.table import Table

        from riskpilot.config import ConfigError, load_config
        from riskpilot.portfolio_file import load_portfolio
        from riskpilot.risk import RiskManager
        from riskpilot.trading.marking import mark_for_rules

        cfg_path = config or sample_path("position_management.yaml")
        pf_path = portfolio or sample_path("sample_portfolio.yaml")
        try:
            cfg = load_config(cfg_path)
            snap = load_portfolio(pf_path)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        missing = sorted({p.method for p in snap.positions} - set(cfg.methods))
        if missing:
            typer.echo(
                f"{pf_path}: positions use methods {missing} that {cfg_path} does not define "
                f"(defined: {sorted(cfg.methods)})",
                err=True,
            )
            raise typer.Exit(1)
        rm = RiskManager(cfg, equity=snap.equity)
        basis = cfg.monitoring.mark_basis
        mark_checks = cfg.monitoring.mark_checks()
        marks = {p.id: mark_for_rules(p, snap.quotes, snap.as_of, basis=basis, checks=mark_checks)
                 for p in snap.positions}
        checks = rm.check_position_exits(snap.positions, marks, snap.as_of)
        today = snap.as_of.date()
        rows = []
        for c in checks:
            d, p, m = c.decision, c.position, c.mark
            rows.append(
                {
                    "id": p.id,
                    "underlying": p.underlying,
                    "method": p.method,
                    "dte": p.dte(today),
                    "quantity": p.quantity,
                    "entry_premium": p.entry_premium,
                    "current_premium": m.premium if m.is_valid else None,
                    "profit_pct": p.profit_pct(m.premium) if m.is_valid and m.premium is not None else None,
                    "action": d.action.value,
                    "rule": d.rule,
                    "priority": d.priority.name if d.priority else None,
                    "close_quantity": d.quantity,
                    "reason": d.reason,
                    "also_fired": [f.rule for f in d.also_fired],
                }
            )
        if as_json:
            typer.echo(json.dumps({"as_of": snap.as_of.isoformat(), "decisions": rows}, indent=2))
            return
        table = Table(title=f"Exit decisions as of {snap.as_of.isoformat()}")
        for col in ("position", "method", "DTE", "qty", "entry", "now", "P&L %", "decision", "rule",
                    "priority", "close", "reason"):
            table.add_column(col, overflow="fold")
        for r in rows:
            pct = r["profit_pct"]
            table.add_row(
                str(r["id"]), str(r["method"]), str(r["dte"]), str(r["quantity"]),
                f"{r['entry_premium']:.2f}",
                "-" if r["current_premium"] is None else f"{r['current_premium']:.2f}",
                "-" if pct is None else f"{pct:+.1%}",
                str(r["action"]), str(r["rule"] or "-"), str(r["priority"] or "-"),
                str(r["close_quantity"] or "-"), str(r["reason"]),
            )
        Console(width=200).print(table)

