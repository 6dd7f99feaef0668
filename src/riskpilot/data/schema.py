"""The normalized end-of-day option-chain schema every reader writes and every consumer reads.

Units and conventions:

- ``quote_date``: the trading day the quote was taken at (end of day), exchange date.
- ``underlying``: the product symbol the user trades against (``SPX``, ``SPY``); ``root`` the
  option root as listed (``SPX``, ``SPXW``, ``SPY``).
- ``underlying_price``: the underlying's close on ``quote_date``, index points or dollars.
- ``expiration``: the expiration date; ``strike`` in underlying price units; ``right`` 'C'/'P'.
- ``bid``, ``ask``, ``last``: per-share option prices in dollars (null = not sent; a vendor's
  NaN is read as not sent, as pandas writes missing values).
- ``volume``, ``open_interest``: contracts (null = not sent).
- ``iv``: implied volatility as a decimal (0.18 = 18%), null when the vendor has none or it is
  not positive.
- ``delta`` per share (calls 0..1, puts -1..0); ``gamma`` per point; ``theta`` per calendar
  day, per share; ``vega`` per vol point (1% = 0.01 absolute), per share. Null when absent.
- ``quality``: a bitmask of :class:`Quality` flags; 0 is a clean quote. Consumers must not mark
  or fill at a row whose flags intersect :data:`UNUSABLE_FOR_PRICING`.
- ``source``: the vendor layout the row came from, or ``model`` for model-priced chains;
  ``model_priced`` is true for model-priced rows and must be shown wherever results are.
"""

from __future__ import annotations

from enum import IntFlag

import pyarrow as pa


class Quality(IntFlag):
    """Per-row data-quality flags; the exact tests and bounds are in
    :func:`riskpilot.data.quality.flag_rows`. The last four mark values that cannot be true."""

    OK = 0
    CROSSED = 1  # bid > ask
    NO_MARKET = 2  # bid or ask missing, or both zero
    BAD_IV = 4  # iv missing, NaN, infinite or <= 0
    DUPLICATE = 8  # a second row for the same (quote_date, root, expiration, strike, right)
    HOLIDAY_RESCRAPE = 16  # quote_date is not a trading day (a re-scrape of the previous day)
    BAD_PRICE = 32  # bid, ask, last or underlying_price negative or infinite
    BAD_STRIKE = 64  # strike infinite, <= 0, above a hard ceiling or absurd for the underlying
    BAD_EXPIRATION = 128  # expiration before the quote date or beyond any listed term
    BAD_VOLUME = 256  # volume or open interest negative


#: Flags that make a row unusable as a mark or a fill price.
UNUSABLE_FOR_PRICING = (
    Quality.CROSSED | Quality.NO_MARKET | Quality.DUPLICATE | Quality.HOLIDAY_RESCRAPE
    | Quality.BAD_PRICE | Quality.BAD_STRIKE | Quality.BAD_EXPIRATION | Quality.BAD_VOLUME
)

CHAIN_SCHEMA = pa.schema(
    [
        pa.field("quote_date", pa.date32(), nullable=False),
        pa.field("underlying", pa.string(), nullable=False),
        pa.field("underlying_price", pa.float64()),
        pa.field("root", pa.string(), nullable=False),
        pa.field("expiration", pa.date32(), nullable=False),
        pa.field("strike", pa.float64(), nullable=False),
        pa.field("right", pa.string(), nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("last", pa.float64()),
        pa.field("volume", pa.int64()),
        pa.field("open_interest", pa.int64()),
        pa.field("iv", pa.float64()),
        pa.field("delta", pa.float64()),
        pa.field("gamma", pa.float64()),
        pa.field("theta", pa.float64()),
        pa.field("vega", pa.float64()),
        pa.field("quality", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("model_priced", pa.bool_(), nullable=False),
    ]
)

COLUMNS: tuple[str, ...] = tuple(CHAIN_SCHEMA.names)
