"""Kalshi's trading fee on a fill of binary event contracts. Pure.

Source: the Kalshi Fee Schedule, https://kalshi.com/docs/kalshi-fee-schedule.pdf (its
"General Trading Fees Table", and its "Maker Fees" section for series that charge makers), as
in force since 2025-07-01; the Trade API says per series which table applies (``fee_type``:
``quadratic``, ``quadratic_with_maker_fees`` or ``flat``) and scales it (``fee_multiplier``),
on ``GET /series/{series_ticker}`` (the SDK's ``Series`` model documents both fields and links
the schedule). Read on 2026-12-02 through the API documentation and published summaries of the
schedule; check the PDF before trading a series whose ``fee_multiplier`` is not 1::

    fee = round up to the next cent ( rate x fee_multiplier x C x P x (1 - P) )

with ``C`` the contracts of the fill, ``P`` its price in dollars, ``rate`` 0.07 for a taker
(the order took resting liquidity) and, for a maker (the order rested and was hit), 0.0175 on
``quadratic_with_maker_fees`` series and nothing on ``quadratic`` ones. The fee peaks at
P = 0.50 (1.75 cents a contract before rounding) and falls toward 0.01 and 0.99. ``flat``
series use the schedule's "Specific Trading Fees Table" and are refused here.

Rounding: the schedule rounds each trade's fee up to the next cent. Since 2025 the exchange
also keeps a per-order rounding accumulator that rebates whole cents of rounding overpaid
across many small fills (docs.kalshi.com/getting_started/fee_rounding); that rebate is not
modelled, so a fill's fee here is the published per-trade figure (an upper bound on what an
order of many fills pays). There is no fee at settlement.

Exact decimal arithmetic: ``0.07 x 100 x 0.5 x 0.5`` is 1.75 dollars, and a float product
(1.7500000000000002) would round up to 1.76.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from riskpilot.execution.fills import FillModel, TouchSlippage
from riskpilot.model.contract import check_event_price

#: Fee rates of the schedule's quadratic formula (dollars per contract at P(1-P) = 1).
TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")
_CENT = Decimal("0.01")


class KalshiFeeType(enum.StrEnum):
    """A series' fee structure, as the Trade API names it (``Series.fee_type``)."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    FLAT = "flat"


def kalshi_fee(
    price: float,
    contracts: int,
    *,
    maker: bool = False,
    fee_type: KalshiFeeType | str = KalshiFeeType.QUADRATIC,
    fee_multiplier: float = 1.0,
) -> float:
    """The fee in dollars (whole cents) of one fill of ``contracts`` at ``price`` dollars
    (module docstring). ``maker`` when our order was resting and got hit."""
    if isinstance(contracts, bool) or not isinstance(contracts, int) or contracts < 1:
        raise ValueError(f"contracts must be a whole number >= 1, got {contracts!r}")
    p = Decimal(repr(round(check_event_price("fill price", price), 6)))
    kind = KalshiFeeType(fee_type)
    if kind is KalshiFeeType.FLAT:
        raise ValueError(
            "series with fee_type 'flat' are charged by the Specific Trading Fees Table of the Kalshi "
            "fee schedule, which riskpilot does not model: trade a quadratic series or add that table"
        )
    if not (fee_multiplier >= 0 and fee_multiplier == fee_multiplier and fee_multiplier != float("inf")):
        raise ValueError(f"fee_multiplier must be a finite number >= 0, got {fee_multiplier!r}")
    if maker:
        rate = MAKER_RATE if kind is KalshiFeeType.QUADRATIC_WITH_MAKER_FEES else Decimal(0)
    else:
        rate = TAKER_RATE
    exact = rate * Decimal(repr(fee_multiplier)) * contracts * p * (1 - p)
    return float(exact.quantize(_CENT, rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class KalshiFees:
    """:func:`kalshi_fee` as a fill model's fee schedule
    (:class:`riskpilot.execution.fills.FeeSchedule`): every fill pays the fee of its price
    and contract count, as a taker unless ``maker``."""

    maker: bool = False
    fee_type: KalshiFeeType = KalshiFeeType.QUADRATIC
    fee_multiplier: float = 1.0

    def __call__(self, price: float, contracts: int) -> float:
        return kalshi_fee(price, contracts, maker=self.maker, fee_type=self.fee_type,
                          fee_multiplier=self.fee_multiplier)


def event_fill_model(fees: KalshiFees | None = None) -> FillModel:
    """How event-contract orders fill in a backtest and a paper replay: at the touch, as a
    marketable order takes the book on Kalshi (buy at the ask, sell at the bid: the whole
    spread, on the 1-cent grid the quotes sit on), paying Kalshi's taker fee on each fill. A
    limit fills only once the touch reaches it."""
    return FillModel(slippage=TouchSlippage(), fee=fees or KalshiFees())


__all__ = ["MAKER_RATE", "TAKER_RATE", "KalshiFeeType", "KalshiFees", "event_fill_model", "kalshi_fee"]
