"""Store benchmarks; prints its figures.

1. Record one fill and its position update (``OrderRepository.record_fill``: the fill row,
   the order, the position's quantity and realized P&L, the day's P&L, in one transaction;
   on PostgreSQL one autocommitted statement of data-modifying CTEs).
   Target: under 2 ms per fill on PostgreSQL.
2. Load every open position with legs, tracked state and trailing state as model objects
   (``PositionRepository.load_open``) for 10,000 two-leg positions. Target: under 1 s.

Run: ``python benchmarks/bench_store.py [--positions 10000] [--fills 500]`` or
``pytest benchmarks/bench_store.py -m benchmark -s``. PostgreSQL is skipped (with the reason
printed) when 127.0.0.1:5432 is not reachable.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
from sqlalchemy import insert

from riskpilot.execution.port import OrderStatus
from riskpilot.model import Fill, Leg, OptionContract, Order, OrderPurpose, OrderType, Right, Side
from riskpilot.model.order import client_order_id
from riskpilot.store import OrderRepository, PositionRepository, Store
from riskpilot.store.models import LegRow, MethodRow, PositionRow, TrailingStopStateRow
from riskpilot.store.testing import postgres_unreachable_reason, temporary_store

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)


def _seed_positions(store: Store, n: int, quantity: int) -> list[str]:
    """Insert ``n`` open short put verticals in bulk (the benchmark measures reads)."""
    ids = [f"pos-{i:06d}" for i in range(n)]
    pos_rows = [
        {
            "id": pid,
            "method": "bench",
            "underlying": "SPY",
            "premium_type": "CREDIT",
            "entry_premium": 1.0,
            "quantity": quantity,
            "original_quantity": quantity,
            "status": "OPEN",
            "opened_at": T0,
            "realized_pnl": 0.0,
            "commissions": 0.0,
            "current_price": 0.8,
            "unrealized_pnl": 20.0 * quantity,
            "unrealized_pnl_pct": 0.2,
            "last_update": T0,
            "trailing_stop_active": i % 2 == 0,
            "peak_price": 1.1,
            "trough_price": 0.7,
            "trailing_stop_price": 0.75 if i % 2 == 0 else None,
            "mfe": 0.3,
            "mae": -0.1,
            "days_held": 3,
            "stages_done": [],
        }
        for i, pid in enumerate(ids)
    ]
    leg_rows = []
    for i, pid in enumerate(ids):
        strike = 400.0 + (i % 100)
        for j, (k, q) in enumerate(((strike, -1), (strike - 5, 1))):
            leg_rows.append(
                {
                    "position_id": pid,
                    "leg_index": j,
                    "underlying": "SPY",
                    "expiration": EXP,
                    "strike": k,
                    "right": "PUT",
                    "multiplier": 100,
                    "expiry_time": dtime(16, 0),
                    "quantity": q,
                }
            )
    trail_rows = [
        {"position_id": pid, "state": {"active": True, "trough": 0.7, "stop": 0.75}, "updated_at": T0}
        for i, pid in enumerate(ids)
        if i % 2 == 0
    ]
    with store.transaction() as s:
        s.add(MethodRow(name="bench", created_at=T0))
        s.flush()
        # Enum columns take the enum *names* through the ORM; in Core bulk inserts too.
        s.execute(insert(PositionRow), pos_rows)
        s.execute(insert(LegRow), leg_rows)
        if trail_rows:
            s.execute(insert(TrailingStopStateRow), trail_rows)
    return ids


def bench_fills(store: Store, n_fills: int) -> list[float]:
    ids = _seed_positions(store, n_fills, quantity=2)
    orders = OrderRepository(store)
    legs = (
        Leg(OptionContract("SPY", EXP, 480.0, Right.PUT), -1),
        Leg(OptionContract("SPY", EXP, 475.0, Right.PUT), 1),
    )
    fills: list[Fill] = []
    for pid in ids:
        o = Order(
            client_order_id(pid, OrderPurpose.CLOSE, 1),
            legs,
            Side.SELL,
            2,
            OrderType.MARKET,
            T0,
            position_id=pid,
            purpose=OrderPurpose.CLOSE,
        )
        orders.record_intent(o)
        orders.record_order(o.client_order_id, broker_order_id=None, status=OrderStatus.SUBMITTED, at=T0)
        fills.append(Fill(f"F-{pid}", o.client_order_id, 1, 0.5, T0 + timedelta(seconds=1), Side.SELL, pid, 1.3))
    times: list[float] = []
    for f in fills:
        t = time.perf_counter()
        orders.record_fill(f)
        times.append(time.perf_counter() - t)
    return times


def bench_load(store: Store, n_positions: int, repeats: int = 3) -> list[float]:
    _seed_positions(store, n_positions, quantity=1)
    repo = PositionRepository(store)
    times: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        loaded = repo.load_open()
        times.append(time.perf_counter() - t)
        if len(loaded) != n_positions:
            raise RuntimeError(f"loaded {len(loaded)} positions, expected {n_positions}")
    return times


def _ms(xs: list[float]) -> str:
    xs_ms = sorted(x * 1000 for x in xs)
    p95 = xs_ms[min(len(xs_ms) - 1, int(0.95 * len(xs_ms)))]
    return f"mean {statistics.fmean(xs_ms):.2f} ms, median {statistics.median(xs_ms):.2f} ms, p95 {p95:.2f} ms"


def run(n_positions: int, n_fills: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    configs: list[tuple[str, str, bool]] = [("sqlite", "sqlite", True)]
    reason = postgres_unreachable_reason()
    if reason is None:
        configs += [
            ("postgresql", "postgresql (durable commit)", True),
            ("postgresql", "postgresql (synchronous_commit=off)", False),
        ]
    else:
        print(f"postgresql: skipped ({reason})")
    for backend, label, durable in configs:
        with tempfile.TemporaryDirectory() as d, temporary_store(backend, Path(d), durable_commits=durable) as store:
            fills = bench_fills(store, n_fills)
        print(f"{label:38s} record_fill + position update ({n_fills} fills): {_ms(fills)}")
        results[label] = {
            "fill_mean_ms": statistics.fmean(fills) * 1000,
            "fill_median_ms": statistics.median(fills) * 1000,
        }
        if not durable:
            continue  # loading is a read: the commit mode does not matter
        with tempfile.TemporaryDirectory() as d, temporary_store(backend, Path(d)) as store:
            loads = bench_load(store, n_positions)
        print(
            f"{label:38s} load_open of {n_positions} positions: "
            f"best {min(loads):.3f} s, mean {statistics.fmean(loads):.3f} s"
        )
        results[label]["load_best_s"] = min(loads)
    return results


@pytest.mark.benchmark
def test_bench_store_prints_figures() -> None:
    run(10_000, 300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=10_000)
    ap.add_argument("--fills", type=int, default=500)
    args = ap.parse_args()
    run(args.positions, args.fills)


if __name__ == "__main__":
    main()
