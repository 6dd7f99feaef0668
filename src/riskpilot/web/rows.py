"""The book's table rows as HTML, built in Python rather than in the template: a book of
1,000 positions is 15,000 cells, and an f-string per row renders it several times faster
than template expressions (benchmarks/bench_dashboard.py). Every string from the store is
escaped; numbers go through the same formatters as the templates' filters."""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import Markup, escape

from riskpilot.web.book import BookRow, LevelCell
from riskpilot.web.filters import money, pct, prem, sign_class


def level(c: LevelCell | None) -> str:
    """An exit level's cell: the premium where it fires (marked near, passed or not armed), the
    distance to it (points and % of the current premium), a partial stage's quantity."""
    if c is None:
        return '<span class="muted">-</span>'
    cls = "lv" + (" near" if c.near else "") + (" passed" if c.passed else "") + ("" if c.armed else " unarmed")
    out = f'<span class="{cls}" title="{escape(c.label)}">{prem(c.premium)}</span>'
    if c.distance is not None:
        out += f'<small class="dist">{c.distance:+.2f} ({pct(c.distance_pct)})</small>'
    if c.quantity is not None:
        out += f'<small class="dist">{escape(c.label.split(":")[0])}: {c.quantity}</small>'
    elif not c.armed:
        out += '<small class="dist">not active</small>'
    return out


def _row(r: BookRow, actions: bool) -> str:
    rid = escape(r.id)
    badges = ""
    if r.status != "OPEN":
        badges += f' <span class="badge">{r.status}</span>'
    near = ""
    if r.near:
        badges += f' <span class="badge urgent-badge">near {r.near.replace("_", " ")}</span>'
        near = f' data-near="{r.near}"'
    cls = ("urgent" if r.near else "") + (" closing" if r.status != "OPEN" else "")
    regime = f'<small class="dist">{r.regime}</small>' if r.regime else ""
    qty = f"{r.quantity}" + (f"/{r.original_quantity}" if r.quantity != r.original_quantity else "")
    if r.problem:
        levels = f'<td colspan="5" class="warn">{escape(r.problem)}</td>'
    else:
        te = "-" if r.time_exit_dte is None else (
            f'≤ {r.time_exit_dte}<small class="dist">{r.dte - r.time_exit_dte} days</small>')
        levels = (f'<td class="num">{level(r.stop)}</td><td class="num">{level(r.target)}</td>'
                  f'<td class="num">{level(r.trailing)}</td><td class="num">{level(r.partial)}</td>'
                  f'<td class="num">{te}</td>')
    close = (f'<a href="/actions/close-position?position={quote(r.id, safe="")}">close…</a>'
             if actions and r.status == "OPEN" else "")
    return (
        f'<tr id="pos-{rid}" data-id="{rid}" class="{cls}"{near}>'
        f'<td class="id">{rid}{badges}</td>'
        f"<td>{escape(r.method)}{regime}</td>"
        f'<td class="legs">{escape(r.underlying)} {r.expiration}<small class="dist">{escape(r.legs)}</small></td>'
        f'<td class="num">{qty}</td><td class="num">{prem(r.entry)}</td><td class="num">{prem(r.current)}</td>'
        f'<td class="num {sign_class(r.pnl)}">{money(r.pnl)}</td>'
        f'<td class="num {sign_class(r.pnl_pct)}">{pct(r.pnl_pct)}</td><td class="num">{r.dte}</td>'
        f"{levels}<td>{close}</td></tr>\n"
    )


def book_rows(rows: list[BookRow], actions: bool) -> Markup:
    """The ``<tr>`` of every row; ``actions`` adds each open position's close link."""
    if not rows:
        return Markup('<tr><td colspan="15" class="muted">No open position.</td></tr>')
    return Markup("".join(_row(r, actions) for r in rows))
