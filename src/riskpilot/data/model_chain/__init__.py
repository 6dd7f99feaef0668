"""Model-priced end-of-day option chains from the bundled underlying, VIX-family and rate history.

Where no vendor chain is at hand, :func:`generate_model_chain` builds one in
:data:`~riskpilot.data.schema.CHAIN_SCHEMA` with ``source='model'`` and ``model_priced=True``,
for SPY, QQQ, IWM and SPX over any span of the bundled history. The rows are clearly labelled
so that results computed on them can say so.

What a day's chain is made of (every input is known at that day's close; nothing looks ahead):

- **Underlying price**: the day's raw close (ETFs: split-adjusted, not dividend-adjusted, as the
  strikes are listed; SPX: the index close).
- **Rate**: FRED DTB3 as of the day (holidays carry the last value; after the file ends on
  2025-05-02 its last value is carried forward), converted from the bank-discount basis of a
  91-day bill to a continuously compounded rate: ``r = -ln(1 - d * 91/360) * 365/91``.
- **Dividend yield** (continuous, per year): by default the trailing one-year dividend yield from
  the ETF's adjusted/raw close ratio, ``ln(ratio_t / ratio_{t-1y})`` (each dividend raises the
  ratio by 1/(1 - D/P)); before one year of history exists, a constant (SPY 1.8%, QQQ 0.6%,
  IWM 1.3%, rough long-run averages). SPX uses SPY's yield plus SPY's 0.0945% expense ratio
  (SPY pays the index dividends net of its fee). ``ModelChainParams.dividend_yield`` overrides.
- **Implied volatility**: the parametric surface of :mod:`riskpilot.data.surface` (ATM term
  structure from VIX9D/VIX/VIX3M closes of the day, put skew in ``ln(K/F)/sqrt(T)`` measured
  in ATM standard deviations), times a
  per-underlying ``vol_scale``: 1.0 for SPX and SPY (SPY tracks SPX); for QQQ and IWM by default
  the trailing 252-day realized-volatility ratio to SPY (adjusted closes, bounded to 0.8..2.5),
  or 1.25 / 1.35 before 126 days of history (typical VXN/VIX and RVX/VIX ratios).
- **Prices and greeks**: Black-Scholes-Merton (:mod:`riskpilot.pricing`) on the mid; time is
  calendar days / 365 to the expiration date.
- **Bid and ask**: a spread from :func:`riskpilot.data.surface.model_spread` (wider in relative
  terms for cheap, short-dated, far-from-the-money options and when volatility is high) placed
  around the model price; the bid is rounded down and the ask up to ``tick`` (0.01), bid >= 0 and
  ask >= one tick.
- ``volume``, ``open_interest`` and ``last`` are null (not modelled); ``quality`` is 0.

Listed expirations (a simplified calendar; dates are the last trading day):

- Monthly: the third Friday of each month, or the trading day before it when that Friday is an
  exchange holiday (Good Friday -> Thursday). Before 2015 standard monthly options formally
  expired on the Saturday after; the model uses the Friday, their last trading day.
- Weeklies (root ``SPXW`` for SPX, else the ETF symbol), not listed where a monthly falls:
  Friday weeklies listed up to ``weekly_horizon_days`` (35) ahead; Monday to Thursday up to
  ``midweek_horizon_days`` (14) ahead, a size-saving simplification of the real 5-6 weeks. A
  Friday (or Tuesday to Thursday) expiration on a holiday moves to the trading day before; a
  Monday expiration moves to the next trading day (as Cboe specifies for Monday Weeklys).
- Eras (first quote date on which each kind is listed), see :data:`DEFAULT_EXPIRATION_ERAS`:

  ======  ==========  ==========  ==========  ==========  ==========
  symbol  Friday      Monday      Tuesday     Wednesday   Thursday
  ======  ==========  ==========  ==========  ==========  ==========
  SPX     2005-10-28  2016-08-15  2022-04-18  2016-02-23  2022-05-11
  SPY     2010-01-08  2018-02-16  2022-11-14  2016-09-07  2022-11-14
  QQQ     2010-01-08  -           -           -           -
  IWM     2010-01-08  -           -           -           -
  ======  ==========  ==========  ==========  ==========  ==========

  Sources: Cboe introduced Weeklys (SPXW Fridays) in October 2005 and extended Weeklys to other
  underlyings in 2010 (the ETF date is the first Friday of 2010, approximate); SPX Wednesday
  Weeklys from 2016-02-23 and Monday Weeklys from 2016-08-15 (Cboe notices); SPX Tuesday from
  2022-04-18 and Thursday from 2022-05-11 (Cboe press release); SPY Wednesday from 2016-09-07
  (MIAX listing alert) and Monday from 2018-02-16 (Cboe press release);
  SPY Tuesday/Thursday (daily expirations) from November 2022 is from memory and not verified.
  QQQ and IWM also gained Monday/Wednesday and later daily expirations, on dates not verified
  here, so they are not listed by default; pass ``ExpirationEras`` to add them. Quarterly and
  end-of-month expirations are not modelled.

Strikes: multiples of a step chosen by the underlying's price (ETFs: 0.5 below $25, else 1;
SPX: 5), within ``near_sd`` ATM standard deviations (sigma_atm sqrt(T)) of the spot; further
out, to ``band_sd`` standard deviations but never beyond ``max_moneyness`` (25%) in log terms,
multiples of ``far_step_multiplier`` (5) steps. That band is each day's *grid*; as on an exchange,
a strike once listed stays listed until its expiration and strikes are added as the spot moves:
the strikes of an expiration on day t are the union of its grids on every day from its listing
to t (so after a large move an expiration also carries strikes beyond today's band; this makes
the chain about 1.8 times as many rows as the day's grids alone). Generating a span starts from
the listing of each expiration quoted in it (up to ``max_dte`` days before its start), so a span
gives the same rows as a longer one sliced. Expirations from ``min_dte`` (1: an expiring
contract has no end-of-day row on its expiration day; settle it at intrinsic value) to
``max_dte`` (120) calendar days.

Surface and spread defaults for SPX were fitted by ``scripts/validate_model_chain.py`` on the
first half of the days of the real 2019 SPX chain (see ``docs/model_chain_validation.md``); the
ETFs use the same shape, scaled by ``vol_scale``; spreads are scale-free (relative to the
underlying price) with ``spread_scale`` 0.5 for the ETFs (penny-wide SPY markets are tighter in
relative terms than SPX's; a rough choice, not fitted).
"""

from riskpilot.data.model_chain.disk_cache import ChainCacheError, ModelChainCache, default_chain_cache
from riskpilot.data.model_chain.expirations import DEFAULT_EXPIRATION_ERAS, ExpirationEras, monthly_expiration
from riskpilot.data.model_chain.generate import (
    cache_model_chain,
    generate_model_chain,
    iter_model_chain_by_year,
    listed_expirations,
    price_contracts,
)
from riskpilot.data.model_chain.inputs import MarketHistory, market_history
from riskpilot.data.model_chain.params import MODEL_UNDERLYINGS, ModelChainParams

__all__ = [
    "DEFAULT_EXPIRATION_ERAS",
    "MODEL_UNDERLYINGS",
    "ChainCacheError",
    "ExpirationEras",
    "MarketHistory",
    "ModelChainCache",
    "ModelChainParams",
    "cache_model_chain",
    "default_chain_cache",
    "generate_model_chain",
    "iter_model_chain_by_year",
    "listed_expirations",
    "market_history",
    "monthly_expiration",
    "price_contracts",
]
