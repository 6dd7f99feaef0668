"""Adopting an account's option legs as riskpilot positions (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskpilot.config import ConfigError
from riskpilot.execution.port import BrokerPosition
from riskpilot.live.adopt import apply_grouping, group_holdings, load_grouping
from riskpilot.model import OptionContract, PremiumType, Right

NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
EXP = date(2024, 4, 19)


def _opt(strike: float, right: Right = Right.PUT, exp: date = EXP, und: str = "SPY") -> OptionContract:
    return OptionContract(und, exp, strike, right)


def _bp(strike: float, right: Right, qty: int, avg: float, exp: date = EXP) -> BrokerPosition:
    return BrokerPosition(_opt(strike, right, exp), qty, avg)


def test_iron_condor_is_recognised_with_its_credit_from_average_costs() -> None:
    holdings = [_bp(470, Right.PUT, 2, 0.80), _bp(480, Right.PUT, -2, 1.60),
                _bp(520, Right.CALL, -2, 1.40), _bp(530, Right.CALL, 2, 0.70)]
    plan = group_holdings(holdings, method="moderate", now=NOW)
    [a] = plan.adopted
    p = a.position
    assert a.structure == "iron_condor" and p.quantity == 2 and p.method == "moderate"
    assert p.premium_type is PremiumType.CREDIT and p.entry_premium == pytest.approx(1.50)
    assert [(leg.contract.strike, leg.quantity) for leg in p.legs] == [(470, 1), (480, -1), (520, -1), (530, 1)]
    assert p.id == "adopt-SPY-20240419-iron_condor-1" and plan.unadopted == ()


def test_unequal_legs_give_a_vertical_and_a_single_leg_remainder() -> None:
    plan = group_holdings([_bp(480, Right.PUT, -3, 2.0), _bp(475, Right.PUT, 2, 1.2)], method="m", now=NOW)
    got = sorted((a.structure, a.position.quantity, a.position.entry_premium) for a in plan.adopted)
    assert got == [("single", 1, pytest.approx(2.0)), ("vertical", 2, pytest.approx(0.8))]


def test_short_strangle_and_a_long_debit_single_are_recognised() -> None:
    holdings = [_bp(450, Right.PUT, -1, 3.0), _bp(550, Right.CALL, -1, 2.5),
                _bp(500, Right.CALL, 4, 5.0, exp=date(2024, 6, 21))]
    plan = group_holdings(holdings, method="m", now=NOW)
    by = {a.structure: a.position for a in plan.adopted}
    assert by["strangle"].premium_type is PremiumType.CREDIT and by["strangle"].entry_premium == pytest.approx(5.5)
    assert by["single"].premium_type is PremiumType.DEBIT and by["single"].quantity == 4


def test_zero_net_premium_is_left_out_with_the_reason() -> None:
    plan = group_holdings([_bp(480, Right.PUT, -1, 1.0), _bp(475, Right.PUT, 1, 1.0)], method="m", now=NOW)
    assert plan.adopted == () and all("explicit grouping" in why for _, why in plan.unadopted)


strikes = st.sampled_from([440.0, 450.0, 460.0, 470.0, 480.0, 490.0, 500.0, 510.0])
holding = st.tuples(strikes, st.sampled_from([Right.PUT, Right.CALL]), st.sampled_from([EXP, date(2024, 5, 17)]),
                    st.integers(-6, 6).filter(bool), st.floats(0.05, 20.0))


@given(st.lists(holding, max_size=12, unique_by=lambda h: (h[0], h[1], h[2])))
def test_every_contract_is_used_exactly_once_and_quantities_are_conserved(
    raw: list[tuple[float, Right, date, int, float]],
) -> None:
    holdings = [_bp(k, r, q, avg, exp=e) for k, r, e, q, avg in raw]
    plan = group_holdings(holdings, method="m", now=NOW)
    used: Counter[OptionContract] = Counter()
    for a in plan.adopted:
        p = a.position
        assert len({leg.contract for leg in p.legs}) == len(p.legs) and p.quantity >= 1
        assert {leg.contract.expiration for leg in p.legs} == {p.expiration}
        for leg in p.legs:
            used[leg.contract] += leg.quantity * p.quantity
    for bp, _ in plan.unadopted:
        used[bp.contract] += bp.quantity
    assert used == Counter({h.contract: h.quantity for h in holdings})


def test_explicit_grouping_file_is_applied_and_checked_against_the_account(tmp_path: Path) -> None:
    f = tmp_path / "grouping.yaml"
    f.write_text(
        "positions:\n"
        "  - id: spy-pcs\n    quantity: 2\n    legs:\n"
        "      - {underlying: SPY, expiration: 2024-04-19, strike: 480, right: P, quantity: -1}\n"
        "      - {underlying: SPY, expiration: 2024-04-19, strike: 475, right: P, quantity: 1}\n"
    )
    holdings = [_bp(480, Right.PUT, -3, 2.0), _bp(475, Right.PUT, 2, 1.2)]
    plan = apply_grouping(holdings, load_grouping(f), method="moderate", now=NOW)
    [a] = plan.adopted
    assert (a.position.id, a.position.quantity, a.position.entry_premium) == ("spy-pcs", 2, pytest.approx(0.8))
    assert [(bp.contract.strike, bp.quantity, why) for bp, why in plan.unadopted] == [
        (480, -1, "not in the grouping file")]
    with pytest.raises(ConfigError, match=r"positions\[0\]: needs \+4 of SPY 2024-04-19 475P"):
        apply_grouping(holdings, [g.model_copy(update={"quantity": 4}) for g in load_grouping(f)],
                       method="m", now=NOW)


def test_grouping_file_with_an_unknown_key_names_it(tmp_path: Path) -> None:
    f = tmp_path / "g.yaml"
    f.write_text("positions:\n  - quantity: 1\n    legz: []\n")
    with pytest.raises(ConfigError, match="legz"):
        load_grouping(f)
