"""The credit/debit P&L sign is decided once (model.position.premium_sign); every other
place derives it, the store's SQL included."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from riskpilot.model import Leg, OptionContract, Position, PremiumType, Right
from riskpilot.model.position import pnl_per_share, premium_at_profit, premium_sign
from riskpilot.store.fills import FILL_SQL

prices = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)
entries = st.floats(min_value=0.01, max_value=500.0, allow_nan=False)


def test_credit_gains_when_premium_falls_and_debit_when_it_rises() -> None:
    assert premium_sign(PremiumType.CREDIT) == -1.0
    assert premium_sign(PremiumType.DEBIT) == 1.0
    assert pnl_per_share(PremiumType.CREDIT, 1.00, 0.40) == 1.00 - 0.40
    assert pnl_per_share(PremiumType.DEBIT, 1.00, 2.50) == 2.50 - 1.00


@given(entries, prices)
def test_sign_form_equals_written_out_difference_to_the_bit(entry: float, price: float) -> None:
    # Negation is exact in IEEE arithmetic, so -(p - e) == e - p bit for bit: deriving the
    # sign from one function changes no stored or golden figure.
    assert pnl_per_share(PremiumType.CREDIT, entry, price) == entry - price
    assert pnl_per_share(PremiumType.DEBIT, entry, price) == price - entry


@given(st.sampled_from(list(PremiumType)), entries, st.floats(min_value=-3.0, max_value=0.99))
def test_premium_at_profit_is_where_profit_pct_reads_that_profit(pt: PremiumType, entry: float, pct: float) -> None:
    exp = date(2030, 1, 18)
    legs = (Leg(OptionContract("SPY", exp, 400, Right.PUT), -1 if pt is PremiumType.CREDIT else 1),)
    pos = Position("p", legs, pt, entry, 1, datetime(2029, 12, 1, tzinfo=UTC), "m")
    premium = premium_at_profit(pt, entry, pct)
    assert abs(pos.profit_pct(premium) - pct) < 1e-9


def test_store_sql_sign_is_generated_from_premium_sign() -> None:
    sql = str(FILL_SQL)
    for pt in PremiumType:
        assert f"WHEN '{pt.name}' THEN {premium_sign(pt):.1f}" in sql
