"""validate_order: approve, resize or refuse, one scenario per limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskpilot.config import config_from_dict
from riskpilot.model import Fill, PremiumType, Side, TradingState
from riskpilot.risk import OrderRequest, RiskManager

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EQUITY = 100_000.0


def manager(**risk: object) -> RiskManager:
    base: dict[str, object] = {"max_delta_pct": None, "max_gamma_pct": None}
    base.update(risk)
    cfg = config_from_dict(
        {"risk": base, "methods": {"default": {"sizing": {"max_risk_per_trade_pct": 1.0, "max_contracts": 10_000}}}}
    )
    return RiskManager(cfg, equity=EQUITY)


def req(underlying: str = "SPY", qty: int = 1, max_loss: float = 400.0, **kw: object) -> OrderRequest:
    return OrderRequest(underlying=underlying, quantity=qty, max_loss_per_unit=max_loss, **kw)  # type: ignore[arg-type]


def open_position(rm: RiskManager, pid: str, r: OrderRequest) -> None:
    v = rm.validate_order(_with_id(r, pid))
    assert v.approved, v.reason
    rm.record_fill(Fill(f"f-{pid}", f"o-{pid}", v.quantity, 1.0, T0, Side.BUY, position_id=pid))


def _with_id(r: OrderRequest, pid: str) -> OrderRequest:
    from dataclasses import replace

    return replace(r, position_id=pid)


def test_validate_order_within_every_limit_is_approved_unchanged() -> None:
    v = manager().validate_order(req(qty=5))
    assert v.approved and v.quantity == 5 and not v.resized and v.reason == "approved"


def test_validate_order_portfolio_heat_resizes_to_the_room_left() -> None:
    rm = manager(max_portfolio_heat_pct=0.20, max_underlying_pct=0.20, max_position_pct=0.20,
                 max_class_exposure_pct=1.0, correlation_classes={})
    open_position(rm, "p1", req("SPY", qty=40, max_loss=400.0))  # 16,000 of 20,000 heat used
    v = rm.validate_order(req("QQQ", qty=20, max_loss=400.0))
    assert v.approved and v.quantity == 10 and v.binding_limit == "portfolio_heat"
    assert "resized 20 -> 10" in v.reason


def test_validate_order_portfolio_heat_full_refuses_with_reason() -> None:
    rm = manager(max_portfolio_heat_pct=0.20, max_underlying_pct=0.20, max_position_pct=0.20,
                 max_class_exposure_pct=1.0, correlation_classes={})
    open_position(rm, "p1", req("SPY", qty=50, max_loss=400.0))  # exactly 20,000
    v = rm.validate_order(req("QQQ", qty=1, max_loss=400.0))
    assert not v.approved and v.quantity == 0 and v.binding_limit == "portfolio_heat"
    assert v.reason.startswith("refused by portfolio_heat")


def test_validate_order_per_underlying_cap_is_ten_percent_of_equity() -> None:
    rm = manager(correlation_classes={})
    v = rm.validate_order(req("SPY", qty=30, max_loss=400.0))  # 10,000 / 400 = 25 units
    assert v.approved and v.quantity == 12 and v.binding_limit == "position_size"  # 5,000 / 400
    rm2 = manager(max_position_pct=0.10, correlation_classes={})
    v2 = rm2.validate_order(req("SPY", qty=30, max_loss=400.0))
    assert v2.quantity == 25 and v2.binding_limit in ("underlying", "position_size")


def test_validate_order_underlying_already_used_binds_on_underlying() -> None:
    rm = manager(max_position_pct=0.10, correlation_classes={})
    open_position(rm, "p1", req("SPY", qty=20, max_loss=400.0))  # 8,000 of 10,000
    v = rm.validate_order(req("SPY", qty=10, max_loss=400.0))
    assert v.approved and v.quantity == 5 and v.binding_limit == "underlying"
    other = rm.validate_order(req("IWM", qty=10, max_loss=400.0))
    assert other.quantity == 10


def test_validate_order_fourth_position_in_a_correlation_class_is_refused() -> None:
    rm = manager(max_positions_per_class=3)
    for i, sym in enumerate(["SPY", "QQQ", "IWM"]):
        open_position(rm, f"p{i}", req(sym, qty=1, max_loss=100.0))
    v = rm.validate_order(req("SPX", qty=1, max_loss=100.0))
    assert not v.approved and v.binding_limit == "class_positions"
    assert "us_equity_index already holds 3 positions" in v.reason
    assert rm.validate_order(req("GLD", qty=1, max_loss=100.0)).approved  # unclassed symbol


def test_validate_order_closing_a_position_frees_its_class_slot() -> None:
    rm = manager(max_positions_per_class=1)
    open_position(rm, "p1", req("SPY", qty=2, max_loss=100.0))
    assert not rm.validate_order(req("QQQ", max_loss=100.0)).approved
    rm.record_fill(Fill("close-1", "oc", 2, 0.5, T0, Side.SELL, position_id="p1"))
    assert rm.validate_order(req("QQQ", max_loss=100.0)).approved


def test_validate_order_correlated_exposure_cap_resizes() -> None:
    rm = manager(max_class_exposure_pct=0.12, max_underlying_pct=0.10, max_position_pct=0.10)
    open_position(rm, "p1", req("SPY", qty=20, max_loss=500.0))  # 10,000 in the class
    v = rm.validate_order(req("QQQ", qty=10, max_loss=500.0))  # room 2,000 -> 4 units
    assert v.approved and v.quantity == 4 and v.binding_limit == "class_exposure"


def test_validate_order_delta_limit_caps_directional_exposure() -> None:
    rm = manager(max_delta_pct=0.5, correlation_classes={})
    # one unit: 20 share-delta x $500 = $10,000 dollar delta; limit 50,000 -> 5 units
    v = rm.validate_order(req("SPY", qty=8, max_loss=100.0, delta_per_unit=20.0, underlying_price=500.0))
    assert v.approved and v.quantity == 5 and v.binding_limit == "delta"


def test_validate_order_offsetting_delta_is_allowed_past_the_current_exposure() -> None:
    rm = manager(max_delta_pct=0.5, correlation_classes={})
    open_position(rm, "long", req("SPY", qty=5, max_loss=100.0, delta_per_unit=20.0, underlying_price=500.0))
    v = rm.validate_order(req("SPY", qty=10, max_loss=100.0, delta_per_unit=-20.0, underlying_price=500.0))
    assert v.approved and v.quantity == 10  # from +50k to -50k: within the limit


def test_validate_order_gamma_limit_binds() -> None:
    rm = manager(max_gamma_pct=0.01, correlation_classes={})
    # dollar gamma per unit: 1 x 500^2 x 0.01 = 2,500; limit 1,000 -> 0 units
    v = rm.validate_order(req("SPY", qty=1, max_loss=100.0, gamma_per_unit=1.0, underlying_price=500.0))
    assert not v.approved and v.binding_limit == "gamma"


@pytest.mark.parametrize(
    ("regime", "expected"),
    [("bull_low_vol", 10), ("bull_high_vol", 7), ("bear_low_vol", 5), ("bear_high_vol", 4)],
)
def test_validate_order_regime_multiplier_scales_size(regime: str, expected: int) -> None:
    v = manager().validate_order(req(qty=10, max_loss=10.0), regime=regime)  # type: ignore[arg-type]
    assert v.approved and v.quantity == expected and v.regime_multiplier <= 1.0


def test_validate_order_regime_multiplier_rounding_to_zero_refuses() -> None:
    v = manager().validate_order(req(qty=2, max_loss=10.0), regime="bear_high_vol")
    assert not v.approved and v.binding_limit == "regime"


def test_validate_order_halted_refuses_entries_but_passes_exits() -> None:
    rm = manager()
    rm.halt("circuit breaker")
    entry = rm.validate_order(req())
    assert not entry.approved and entry.binding_limit == "trading_state"
    assert "HALTED" in entry.reason and "circuit breaker" in entry.reason
    exit_ = rm.validate_order(req(reduces_risk=True))
    assert exit_.approved and exit_.quantity == 1


def test_validate_order_reducing_state_only_passes_risk_reducing_orders() -> None:
    rm = manager()
    rm.reduce_only("end of month de-risking")
    assert rm.trading_state is TradingState.REDUCING
    assert not rm.validate_order(req()).approved
    assert rm.validate_order(req(reduces_risk=True)).approved
    rm.resume()
    assert rm.validate_order(req()).approved


def test_validate_order_method_sizing_caps_contracts() -> None:
    cfg = config_from_dict({"methods": {"m": {"sizing": {"max_contracts": 3, "max_risk_per_trade_pct": 0.5}}},
                            "risk": {"max_delta_pct": None, "max_gamma_pct": None}})
    v = RiskManager(cfg, equity=EQUITY).validate_order(req(qty=10, max_loss=10.0, method="m"))
    assert v.quantity == 3 and v.binding_limit == "method_max_contracts"


def test_validate_order_unknown_method_is_refused_by_name() -> None:
    v = manager().validate_order(req(method="nope"))
    assert not v.approved and "no method named 'nope'" in v.reason


def test_order_request_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="quantity must be a whole number >= 1"):
        req(qty=0)
    with pytest.raises(ValueError, match="max_loss_per_unit must be a positive"):
        req(max_loss=float("nan"))


def test_premium_type_debit_opens_with_a_buy() -> None:
    rm = manager(correlation_classes={})
    v = rm.validate_order(req("SPY", qty=2, max_loss=300.0, premium_type=PremiumType.DEBIT, position_id="d1"))
    assert v.approved
    rm.record_fill(Fill("fd1", "od1", 2, 3.0, T0, Side.BUY, position_id="d1"))
    assert rm.open_quantity("d1") == 2 and rm.heat == pytest.approx(600.0)
