"""The backtest's slippage names (``--slippage {none,pct,spread,orats,volume}``), each priced by
hand: closing a short put spread, buying P480 (2.00/2.20) back and selling P475 (1.00/1.10)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from riskpilot.execution.fills import (
    DEFAULT_VOLUME_SHARE,
    FillModel,
    MidSlippage,
    SpreadShareSlippage,
    fill_model_for,
    simulate_fill,
)
from riskpilot.model import Leg, OptionContract, OrderType, Quote, Right, Side

T = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
P480 = OptionContract("SPY", date(2024, 4, 19), 480.0, Right.PUT)
P475 = OptionContract("SPY", date(2024, 4, 19), 475.0, Right.PUT)
VERTICAL = (Leg(P480, -1), Leg(P475, 1))
QUOTES = {P480: Quote(2.00, 2.20, T, volume=300), P475: Quote(1.00, 1.10, T, volume=50)}


def _close(model: FillModel, qty: int = 8) -> tuple[float, int, float]:
    r = simulate_fill(VERTICAL, Side.SELL, qty, OrderType.MARKET, None, QUOTES, model)
    assert r.net_debit is not None
    return r.net_debit, r.filled_quantity, r.commission


def test_none_fills_every_leg_at_its_mid() -> None:
    assert _close(fill_model_for("none", 0.65)) == pytest.approx((2.10 - 1.05, 8, 0.65 * 2 * 8))
    assert isinstance(fill_model_for("mid", 0.0).slippage, MidSlippage)


def test_pct_fills_a_fixed_fraction_worse_than_the_mid() -> None:
    price, qty, _ = _close(fill_model_for("pct", 0.0, pct=0.01))
    assert price == pytest.approx(2.10 * 1.01 - 1.05 * 0.99)  # 1.0815
    assert qty == 8
    # A bare float is the same model.
    assert _close(fill_model_for(0.01, 0.0))[0] == pytest.approx(1.0815)


def test_spread_pays_a_fixed_share_of_each_legs_spread() -> None:
    price, _, _ = _close(fill_model_for("spread", 0.0, spread_share=0.25))
    assert price == pytest.approx((2.00 + 0.25 * 0.20) - (1.10 - 0.25 * 0.10))  # 0.975
    assert _close(fill_model_for("spread", 0.0))[0] == pytest.approx(1.05)  # default 0.5 = mid


def test_orats_pays_66_percent_of_the_spread_on_two_legs() -> None:
    price, qty, _ = _close(fill_model_for("orats", 0.0))
    assert price == pytest.approx((2.00 + 0.66 * 0.20) - (1.10 - 0.66 * 0.10))  # 1.098
    assert qty == 8


def test_volume_is_orats_with_a_cap_at_a_tenth_of_the_days_volume() -> None:
    model = fill_model_for("volume", 0.65)
    assert model.volume_share == DEFAULT_VOLUME_SHARE == 0.1
    price, qty, commission = _close(model)
    # min(floor(0.1 * 300), floor(0.1 * 50)) = 5 of the 8 units.
    assert (price, qty, commission) == pytest.approx((1.098, 5, 0.65 * 2 * 5))
    assert fill_model_for("volume", 0.0, 0.2).volume_share == 0.2
    assert _close(fill_model_for("volume", 0.0, 0.2))[1] == 8  # 0.2 * 50 = 10 units allowed


def test_slippage_objects_pass_through() -> None:
    obj = SpreadShareSlippage(0.3)
    assert fill_model_for(obj, 0.0).slippage is obj


def test_unknown_names_and_bools_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'none', 'orats', 'pct', 'spread', 'volume'"):
        fill_model_for("bogus", 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a bool"):
        fill_model_for(True, 0.0)
    with pytest.raises(ValueError, match="fraction"):
        fill_model_for("pct", 0.0, pct=1.5)
