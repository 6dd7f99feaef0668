"""The sweep report: interactive Plotly heatmaps whose cells are the best run over the other
swept flags (blank for failed runs), colours in the metric's own direction, the top equity
curves, and a page that fetches nothing."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

import pytest

from riskpilot.backtest.sweep import ROW_COLUMNS, RunOutcome
from riskpilot.backtest.sweep_report import (
    CHART_IDS,
    equity_figure,
    heatmap_figure,
    render_html,
    write_figure_html,
)


def outcome(key: str, pt: float, sl: float, sharpe: float | None, *, ticker: str = "SPY", status: str = "ok",
            min_delta: float = 0.05, drawdown: float = 0.1) -> RunOutcome:
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row |= {"run_key": key, "status": status, "ticker": ticker, "profit_target": pt, "stop_loss": sl,
            "min_delta": min_delta, "sharpe": sharpe, "max_drawdown": drawdown, "model_priced": True,
            "error": None if status == "ok" else "ValueError: boom"}
    start = date(2020, 1, 2)
    curve = [(start + timedelta(days=i), 100_000.0 + i * (sharpe or 0.0)) for i in range(5)] if status == "ok" else []
    return RunOutcome(row, curve)


OUTCOMES = [
    outcome("a", 35.0, 100.0, 0.5, min_delta=0.05),
    outcome("b", 35.0, 100.0, 0.9, min_delta=0.10),  # the better of the two in this cell
    outcome("c", 50.0, 100.0, -0.2),
    outcome("d", 35.0, 200.0, None, status="failed"),
    outcome("e", 50.0, 200.0, 1.4, drawdown=0.3),
    outcome("f", 35.0, 100.0, 0.1, ticker="QQQ"),
]


def test_a_heatmap_cell_is_the_best_run_over_the_other_flags_and_failed_cells_are_blank() -> None:
    fig = heatmap_figure([o.row for o in OUTCOMES], "sharpe")
    spy, qqq = fig.data[1], fig.data[0]  # panels in ticker order: QQQ, SPY
    assert list(spy.x) == ["35", "50"] and list(spy.y) == ["100", "200"]
    assert spy.z[0][0] == 0.9 and spy.z[0][1] == -0.2 and spy.z[1][1] == 1.4
    assert math.isnan(spy.z[1][0]) and spy.text[1][0] == "n/a"
    assert qqq.z[0][0] == 0.1
    assert "best over min_delta" in fig.layout.annotations[1].text


def test_heatmap_colours_run_red_to_green_in_the_metrics_direction() -> None:
    up = heatmap_figure([o.row for o in OUTCOMES], "sharpe").data[0].colorscale
    down = heatmap_figure([o.row for o in OUTCOMES], "max_drawdown").data[0].colorscale
    assert up[0][1] == down[-1][1] == "#d73027" and up[-1][1] == down[0][1] == "#1a9850"


def test_a_heatmap_axis_that_is_not_a_flag_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="--heatmap 'alpha' is not a flag"):
        heatmap_figure([o.row for o in OUTCOMES], "sharpe", x="alpha")


def test_the_equity_chart_holds_the_top_runs_best_first() -> None:
    fig = equity_figure(OUTCOMES, "sharpe", top=2)
    assert [t.name.split("  ")[0] for t in fig.data] == ["ticker=SPY min_delta=0.05 profit_target=50 stop_loss=200",
                                                         "ticker=SPY min_delta=0.1 profit_target=35 stop_loss=100"]


def _self_contained(page: str) -> None:
    opening = re.findall(r"<script\b[^>]*>", page, flags=re.I)
    assert opening and not any(re.search(r"\bsrc\s*=", tag, flags=re.I) for tag in opening)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.I | re.S)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", markup, flags=re.I)
    assert "<link" not in markup.lower() and "@import" not in markup


def test_the_page_is_interactive_self_contained_and_lists_failures(tmp_path: Any) -> None:
    page = render_html(OUTCOMES, metric="sharpe")
    _self_contained(page)
    for cid in CHART_IDS:
        assert f'id="{cid}"' in page
    assert page.count("Plotly.newPlot(") == 2
    assert "MODEL-PRICED" in page and "Failed runs" in page and "ValueError: boom" in page
    path = tmp_path / "heat.html"
    write_figure_html(heatmap_figure([o.row for o in OUTCOMES]), path, "heatmap")
    _self_contained(path.read_text())
