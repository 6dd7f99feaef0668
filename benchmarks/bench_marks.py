"""What vetting marks costs (docs/marks.md), in time and on real data.

Run:  python benchmarks/bench_marks.py          (wall clock; --cpu for process CPU time)
  or  pytest benchmarks/bench_marks.py -m benchmark -s

- ``vet_10000_us_per_position``: ``MarkGuard.vet`` alone (timestamps, prices, structure bounds,
  the jump check) on the busy 10,000-spread book of ``bench_risk.py``, per position (target:
  under 1 us, so the 10,000 check of bench_risk stays within its 25 ms).
- On the real SPX 2019 chain (``../shared/data`` or ``$RISKPILOT_SHARED_DATA``; skipped when
  absent): the marks the golden backtest and the short-DTE replay spec check, counted by problem,
  under the defaults and with ``confirm_jumps: always``, with each run's trade count and P&L and
  (with ``always``) the largest day-to-day move over the recent range the jump rule measures it
  by. Every mark is good in both, so neither run's trades change.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_risk import NOW, all_rules_manager, book

from riskpilot.model import Mark, Position
from riskpilot.risk.manager import RiskManager

CLOCK: Callable[[], float] = time.perf_counter
CHAIN = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
SPECS: dict[str, dict[str, Any]] = {
    "golden": dict(profit_target=50, stop_loss=125),
    "short_dte": dict(min_dte=3, max_dte=8, profit_target=95, stop_loss=500),
}


def vet_cost_us() -> float:
    positions, marks = book(10_000)
    rm = all_rules_manager()
    rm.check_position_exits(positions, marks, NOW)  # bounds cached and histories started, as in a live loop
    best = float("inf")
    for _ in range(5):
        t = CLOCK()
        for _ in range(5):
            rm.marks.vet(positions, marks, NOW)
        best = min(best, (CLOCK() - t) / 5)
    return best / 10_000 * 1e6


def _shared_chain() -> Path | None:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    path = (Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data") / CHAIN
    return path if path.exists() else None


def real_data() -> dict[str, str]:
    """The marks of the real-data backtests by problem, under both jump settings."""
    path = _shared_chain()
    if path is None:
        return {}
    from riskpilot.backtest.runner import BacktestSpec, run_spec
    from riskpilot.data.readers import read_chain
    from riskpilot.data.store import ChainStore

    out: dict[str, str] = {}
    counts: Counter[str] = Counter()
    moves: list[float] = []
    original = RiskManager.check_position_exits

    def counting(self: RiskManager, positions: Sequence[Position], marks: Mapping[str, Mark], now: datetime,
                 **kw: Any) -> Any:
        # Each good mark's move from the previous one, over the recent range the jump rule uses.
        rule = self.marks.jumps
        for p in positions:
            seen, m = self.marks.history(p.id)[0], marks.get(p.id)
            if rule is not None and seen and m is not None and m.premium is not None:
                scale = max(max(seen) - min(seen), m.spread or 0.0, rule.min_range_pct * p.entry_premium)
                moves.append(abs(m.premium - seen[-1]) / scale)
        checks = original(self, positions, marks, now, **kw)
        counts.update(m.problem.value if m.problem else "good" for m in checks.marks.values())
        return checks

    with tempfile.TemporaryDirectory() as tmp:
        ChainStore(tmp).import_table(read_chain(path, "historicaloptiondata"))
        RiskManager.check_position_exits = counting  # type: ignore[method-assign]
        try:
            for name, extra in SPECS.items():
                for mode in ("live", "always"):
                    counts.clear()
                    moves.clear()
                    cfg = Path(tmp) / f"{mode}.yaml"
                    cfg.write_text(f"monitoring: {{marks: {{confirm_jumps: {mode}}}}}\n")
                    run = run_spec(BacktestSpec(ticker="SPX", data=Path(tmp), start="2019-04-25", end="2019-07-22",
                                                equity=1_000_000, min_delta=0.05, max_delta=0.15, slippage="orats",
                                                config=cfg, **extra))
                    m = run.metrics
                    largest = f"; largest move {max(moves):.2f} x the recent range" if moves else ""
                    out[f"{name}, confirm_jumps {mode}"] = (
                        f"marks {dict(counts)}; trades {m.trade_count}, P&L {m.total_pnl:,.2f}{largest}")
        finally:
            RiskManager.check_position_exits = original  # type: ignore[method-assign]
    return out


def report() -> str:
    one, five, _ = os.getloadavg()
    clock = "process CPU time" if CLOCK is time.process_time else "wall time"
    v = vet_cost_us()
    lines = [f"clock: {clock}; load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs",
             f"vet_10000_us_per_position {v:8.3f}   target < 1  {'meets' if v < 1 else 'misses'}"]
    data = real_data()
    if not data:
        lines.append(f"real SPX 2019 chain not found ({CHAIN}; set RISKPILOT_SHARED_DATA): skipped")
    for k, text in data.items():
        lines.append(f"{k:32s} {text}")
    return "\n".join(lines)


@pytest.mark.benchmark
def test_bench_marks() -> None:
    print()
    print(report())


if __name__ == "__main__":
    if "--cpu" in sys.argv or os.environ.get("RISKPILOT_BENCH_CLOCK") == "cpu":
        CLOCK = time.process_time
    print(report())
