"""Netting per-leg IB executions into whole combo units (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.brokers.ibkr_fills import LegExecution, net_fills
from riskpilot.model import Side

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
SHORT, LONG = 101, 202  # conIds of a vertical's legs


def _ex(i: int, con: int, bought: bool, shares: int, price: float, commission: float | None = 0.65) -> LegExecution:
    return LegExecution(f"e{i:03d}", con, bought, shares, price, T0 + timedelta(seconds=i),
                        None if commission is None else commission * shares)


def test_vertical_close_nets_leg_prices_into_one_unit_price_with_both_commissions() -> None:
    execs = [_ex(1, SHORT, True, 2, 2.125), _ex(2, LONG, False, 2, 1.025)]
    [fill] = net_fills("rp-1", {SHORT: 1, LONG: 1}, Side.SELL, execs, position_id="p1")
    assert (fill.fill_id, fill.quantity, fill.price, fill.side) == ("rp-1#1-2", 2, pytest.approx(1.10), Side.SELL)
    assert fill.commission == pytest.approx(4 * 0.65) and fill.timestamp == T0 + timedelta(seconds=2)


def test_legs_filling_out_of_step_give_units_only_when_every_leg_has_them() -> None:
    execs = [_ex(1, SHORT, True, 3, 2.0), _ex(2, LONG, False, 1, 1.0), _ex(3, LONG, False, 2, 0.9)]
    fills = net_fills("rp-1", {SHORT: 1, LONG: 1}, Side.SELL, execs)
    assert [(f.fill_id, f.quantity) for f in fills] == [("rp-1#1-1", 1), ("rp-1#2-3", 2)]
    assert [f.price for f in fills] == [pytest.approx(1.0), pytest.approx(1.1)]


def test_group_waiting_for_a_commission_report_is_held_back_until_the_deadline() -> None:
    execs = [_ex(1, SHORT, True, 1, 2.0), _ex(2, LONG, False, 1, 1.0, commission=None)]
    assert net_fills("rp-1", {SHORT: 1, LONG: 1}, Side.SELL, execs) == []
    [late] = net_fills("rp-1", {SHORT: 1, LONG: 1}, Side.SELL, execs, commission_deadline=T0 + timedelta(seconds=5))
    assert late.commission == pytest.approx(0.65)


def test_execution_of_a_contract_not_in_the_order_is_refused() -> None:
    with pytest.raises(ValueError, match="not a leg of the order"):
        net_fills("rp-1", {SHORT: 1}, Side.SELL, [_ex(1, LONG, True, 1, 1.0)])


@st.composite
def split_executions(draw: st.DrawFn) -> tuple[dict[int, int], int, list[LegExecution]]:
    ratios = {SHORT: draw(st.integers(1, 3)), LONG: draw(st.integers(1, 3))}
    units = draw(st.integers(1, 12))
    execs: list[LegExecution] = []
    i = 0
    for con, r in ratios.items():
        left = units * r
        while left:
            n = draw(st.integers(1, left))
            execs.append(_ex(i, con, con == SHORT, n, draw(st.floats(0.05, 5.0)), draw(st.floats(0, 2))))
            i += 1
            left -= n
    order = draw(st.permutations(range(len(execs))))
    return ratios, units, [
        LegExecution(e.exec_id, e.con_id, e.bought, e.shares, e.price, T0 + timedelta(seconds=k), e.commission)
        for k, e in zip(order, execs, strict=True)
    ]


@given(split_executions())
def test_every_unit_and_every_commission_dollar_is_reported_exactly_once(
    case: tuple[dict[int, int], int, list[LegExecution]],
) -> None:
    ratios, units, execs = case
    fills = net_fills("rp-h", ratios, Side.SELL, execs)
    assert sum(f.quantity for f in fills) == units
    assert len({f.fill_id for f in fills}) == len(fills)
    # Each fill's commission is rounded to 1e-10 dollars (float noise of the pro-rata split).
    assert sum(f.commission for f in fills) == pytest.approx(sum(e.commission or 0 for e in execs), abs=1e-9)
    # the quantity-weighted net price equals the legs' money divided by the units
    money = sum((1 if e.bought else -1) * e.shares * e.price for e in execs)
    assert sum(f.price * f.quantity for f in fills) >= abs(money) - 1e-6
    assert net_fills("rp-h", ratios, Side.SELL, list(reversed(execs))) == fills  # order of arrival does not matter
