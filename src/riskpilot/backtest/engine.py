"""The backtest event loop: end-of-day option chains through the live risk engine.

The backtest calls the very objects the live loop calls: :class:`riskpilot.risk.RiskManager`
(``check_position_exits`` with its :class:`~riskpilot.rules.evaluator.ExitEvaluator`,
``validate_order`` for sizing, ``record_fill`` for the book) and the shared fill model of
:mod:`riskpilot.execution.fills`. Nothing of the rules is re-implemented here.

Timing (no look-ahead)
----------------------
Each trading day *t* is processed once, in order, from that day's end-of-day chain only; the
input is consumed lazily, so nothing after *t* is read before *t* is done. Orders fill by
the ``fill`` timing (``--fill``; :mod:`riskpilot.backtest.venue`):

- ``"close"`` (the default): an exit or entry decided from day *t*'s closing quotes fills at
  once against those same quotes (the same bar).
- ``"next"``: it is decided on *t*'s close and fills at the start of day *t+1*'s step against
  *t+1*'s quotes (the next end-of-day snapshot: the data has no earlier price), before *t+1*'s
  marks and decisions. Until then the position stays exposed: it is re-marked on *t+1*
  (MFE/MAE included) and closes at *t+1*'s price. An exit whose legs are not all quoted on
  *t+1* keeps working, tried again at the start of each later day until it fills or the
  position settles (no new decision is sent for a position while its exit works). An entry
  that cannot fill on *t+1* (a leg unquoted, or no credit left at *t+1*'s prices) is
  cancelled and counted (``next_day_unfillable``, ``next_day_no_credit``); the book's worst
  loss follows the price actually paid.

0. **Carry-overs** (``"next"`` only): the orders queued on the previous day fill, exits
   first.
1. **Mark.** Every open position is marked from day *t*'s EOD quotes (each leg's bid/ask row,
   :func:`riskpilot.trading.marking.mark_for_rules`, basis ``config.monitoring.mark_basis``),
   stamped at 16:00 America/New_York on *t*. A leg without a usable row (missing, or flagged
   ``UNUSABLE_FOR_PRICING``) gives a bad mark: the rules engine holds that position; so
   does a mark that cannot be true (a one-sided short leg, a leg under its intrinsic value
   at the day's underlying close, a market outside the structure's bounds:
   ``docs/marks.md``). Jumps are not held for confirmation here by default
   (``monitoring.marks.confirm_jumps: live``): the next quote is the next day's. The
   liquidity rule judges the legs that matter to the close (a credit position's short legs,
   a debit position's long legs), not the long wings.
2. **Exits.** ``RiskManager.check_position_exits(positions, marks, close_of(t), regime=...)``
   under the regime of *t* when market data is given (its ``regimes.exit_rules`` overrides
   apply). A CLOSE
   (and a ROLL, which the backtest treats as a close; the entry step may reopen) or a
   PARTIAL_CLOSE is executed against the EOD quotes of the fill day (*t* under ``"close"``:
   the same leg rows that marked it; *t+1* under ``"next"``) by the urgency tactic of its
   priority (SPEC section 3, ``config.exit_execution``), simulated by
   :func:`riskpilot.execution.tactics.simulate_exit`:

   - The exit sees the combo's bid/ask built from each leg's bid and ask (passive side: buy
     legs at the bid, sell legs at the ask; natural side: the opposite).
   - Each step of the ladder is one attempt against those same quotes: a limit at its spread
     fraction (aggressive 80%, fair 50% = mid, conservative 40% of the way from the passive
     to the natural side), then its walks toward the natural side, then the escalations to
     the next priority's tactic, ending with a market order (CRITICAL). Timeouts are
     intraday and collapse to "not filled on this bar, try the next step".
   - A limit fills only when the fill model's achievable price reaches it
     (:func:`riskpilot.execution.fills.limit_reached`); a market order always fills when
     every leg is quoted (and no short leg that must be bought back has a zero bid).
     Whatever step fills, it fills at the **fill model's price**: every leg at its
     slippage-model price (mid for ``"none"``; mid -/+ pct for ``"pct"``; a fixed share s
     of the spread for ``"spread"``; ORATS' share by leg count for ``"orats"`` and
     ``"volume"``: ``bid + s*(ask-bid)`` to buy, ``ask - s*(ask-bid)`` to sell), never worse
     than the step's limit, plus ``commission_per_contract`` per contract per leg. So the
     tactic decides how many attempts it takes (recorded) and whether it fills at all, not a
     better price than the model allows.
   - With a volume cap (``"volume"``, or ``volume_share``), the day's volume is spent by
     the first fill: the rest of the exit stays open and the rules decide again.
3. **Entries** after the exits, from day *t*'s chain: the method's strategy picks legs
   (:mod:`riskpilot.trading.strategies`), the entry premium is the fill model's price for
   opening, ``RiskManager.validate_order`` sizes the order (starting from the method's
   ``sizing.max_contracts``) against equity as of *t*'s marks and the regime of *t*, and
   the fill is recorded (at *t*'s quotes, or *t+1*'s under ``"next"``). At most
   ``max_new_positions_per_day`` entries a day, never into an expiration already held.
   Before any of that the day's entry filters are checked, each from data on or before *t*
   only (:mod:`riskpilot.trading.signals`): VIX on *t* within ``[vix_min, vix_max]``; IV rank
   and IV percentile of *t*'s ATM IV (read from *t*'s chain) over the trailing window within
   their bounds; a known regime of *t* when market data is given. A refused attempt counts
   its reason in ``result.entries_refused`` (explained in words by
   :mod:`riskpilot.backtest.explain`).
4. **Settlement** of positions whose expiration is *t*, at the official value of *t*
   (:mod:`riskpilot.trading.settlement`): PM-settled roots at the official close of the
   bundled daily history, AM-settled roots (SPX monthlies) at its open, approximating the
   opening settlement value, and settled at the start of *t*'s step (their settlement
   instant is the morning); the chain's close only where no official series exists, with a
   warning. Cash-settled products (SPX, NDX, RUT, XSP, VIX...) pay intrinsic value in cash.
   Physically settled products (ETFs such as SPY, QQQ, IWM): an ITM short is assigned and an
   ITM long exercised (OCC exercise by exception), and the resulting shares are taken as
   closed at the same value, i.e. the position is closed at intrinsic value; the exit reason
   is ``assignment`` when a short leg was ITM. No commission is charged on settlement. A
   position whose expiration day is missing from the data is settled on the next day seen,
   at the official value of its expiration day.
5. **Equity** at *t*: cash plus every open position at its day-*t* mark (the last good mark
   when today's is bad); the capital at risk (the risk manager's heat) and the chain's
   underlying close are recorded beside it.
6. **Exit attribution**: every trade a rule closed is followed on, along the same days, held
   to expiration and held until the next rule (:mod:`riskpilot.backtest.attribution`); it
   reads day *t* after the step, and changes nothing of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date

import numpy as np
import pyarrow as pa

from riskpilot.backtest.attribution import AttributionTracker
from riskpilot.backtest.result import BacktestResult
from riskpilot.backtest.venue import FillTiming, SimulatedVenue
from riskpilot.config.schema import RiskPilotConfig
from riskpilot.data.daychain import DayChain, as_day_chain
from riskpilot.execution.fills import SlippageSpec, fill_model_for
from riskpilot.execution.tactics import TacticBook
from riskpilot.risk.manager import RiskManager
from riskpilot.trading.entry import EntryPlanner
from riskpilot.trading.settlement import ChainCloses, OfficialValues, Settlement, settlement_for
from riskpilot.trading.signals import IV_WINDOW, IVTracker, MarketData, vix_filters_set
from riskpilot.trading.step import StepInputs, TradingStep, run_sync


def run_backtest(
    chain_days: Iterable[DayChain] | Iterable[tuple[date, pa.Table]],
    config: RiskPilotConfig,
    *,
    method: str,
    underlying: str,
    equity: float,
    slippage: SlippageSpec = "orats",
    commission_per_contract: float = 0.65,
    volume_share: float | None = None,
    settlement: Settlement | None = None,
    market: MarketData | None = None,
    trade_from: date | None = None,
    iv_window: int = IV_WINDOW,
    max_new_positions_per_day: int = 1,
    multiplier: int = 100,
    fill: FillTiming = "close",
    attribution: bool = True,
) -> BacktestResult:
    """Run ``method`` of ``config`` over ``chain_days`` (one per trading day, strictly
    increasing: a ready :class:`~riskpilot.data.daychain.DayChain`, the fast path, from
    :func:`~riskpilot.data.daychain.split_days` or :func:`~riskpilot.data.daychain.iter_store_days`;
    or a ``(date, CHAIN_SCHEMA table)`` pair, e.g. from ``ChainStore.iter_days``) starting from
    ``equity`` dollars. See the module docstring for the timing of every
    step and the fill and settlement conventions.

    ``market`` (:class:`~riskpilot.trading.signals.MarketData`, e.g.
    ``MarketData.from_bundled("SPY")``) gives the VIX and the regime of each day *t*, from
    data on or before *t*: the VIX feeds the method's ``vix_min``/``vix_max`` entry filters
    and the regime goes to ``validate_order(request, regime=...)``, so its size multiplier
    applies (no entry, reason ``no_regime``, on a day whose regime is unknown). Without
    ``market`` neither is applied and the result's ``warnings`` say so.

    IV filters (``min/max_iv_rank``, ``min/max_iv_percentile``) need no market data: each day's
    ATM IV is read from that day's chain into a trailing window of ``iv_window`` observations
    (:class:`~riskpilot.trading.signals.IVTracker`). Until the window is full every entry is
    refused with reason ``iv_warmup``; ``trade_from`` lets earlier days fill it.

    ``trade_from``: days before it only feed the signals (the IV window); nothing is traded,
    marked or recorded for them (no equity points, no events). None: trade from the first day.

    Entry refusal reasons counted in ``result.entries_refused`` (one per refused attempt):
    ``vix_filter``, ``no_vix_value``, ``iv_warmup``, ``no_iv``, ``iv_rank_undefined``,
    ``iv_rank_filter``, ``iv_percentile_filter``, ``no_regime``, ``no_candidate``,
    ``unfillable``, ``no_credit``, ``no_risk``, and ``validate_order``'s binding limit
    (``regime``, ``portfolio_heat``, ``class_positions``, ...).

    ``settlement`` defaults by underlying (cash for index products in :data:`CASH_SETTLED`,
    physical otherwise). ``fill``: ``"close"`` or ``"next"`` (module docstring).
    ``attribution``: follow rule-closed trades on (:mod:`riskpilot.backtest.attribution`;
    ``result.attribution``); off saves its cost when only the run itself matters.
    """
    if math.isnan(equity) or equity <= 0:
        raise ValueError(f"equity must be a positive dollar amount, got {equity!r}")
    if max_new_positions_per_day < 0:
        raise ValueError(f"max_new_positions_per_day must be >= 0, got {max_new_positions_per_day}")
    mcfg = config.method(method)
    model = fill_model_for(slippage, commission_per_contract, volume_share)
    # End-of-day data: a jump confirmed by the next quote would act a day late (docs/marks.md).
    rm = RiskManager(config, equity=equity, confirm_jumps=config.monitoring.confirms_jumps(end_of_day=True))
    result = BacktestResult(underlying=underlying, method=method, start_equity=float(equity))
    entry = mcfg.entry
    if market is None and vix_filters_set(entry):
        result.warnings.append(
            f"entry filters vix_min={entry.vix_min} vix_max={entry.vix_max} not applied: "
            f"no market data passed (run_backtest(..., market=MarketData.from_bundled(...)))"
        )
    if market is None and any(m != 1.0 for m in config.regimes.multipliers.values()):
        result.warnings.append(
            "regime size multipliers not applied: no market data passed "
            "(run_backtest(..., market=MarketData.from_bundled(...)))"
        )
    planner = EntryPlanner(config, method, underlying, market=market, fill_model=model, multiplier=multiplier,
                           iv_window=iv_window)
    closes = ChainCloses(underlying)
    prices = OfficialValues(underlying, closes, warn=result.warnings.append)
    step = TradingStep(config, rm, underlying=underlying, planner=planner,
                       settlement=settlement_for(underlying, settlement), prices=prices,
                       max_new_positions_per_day=max_new_positions_per_day)
    tactics = TacticBook.from_config(config)
    basis, max_age = config.monitoring.mark_basis, config.monitoring.max_quote_age_seconds
    tracker = AttributionTracker(config, method, model, tactics, step.settlement, prices, fill, basis, max_age) \
        if attribution else None
    venue = SimulatedVenue(result, rm, model, tactics, strategy=mcfg.strategy.kind, equity=equity, fill=fill,
                           mark_basis=basis, max_quote_age_seconds=max_age,
                           on_rule_close=tracker.on_rule_close if tracker is not None else None)
    days: Iterator[DayChain] = (as_day_chain(item, underlying) for item in chain_days)
    if trade_from is not None:
        days = _warm_up(days, trade_from, planner.iv)
    unknown_delta_reported = False
    prev: date | None = None
    for day in days:
        d = day.quote_date
        if prev is not None and d <= prev:
            raise ValueError(f"chain days must be strictly increasing: {d} came after {prev}")
        prev = d
        result.model_priced = result.model_priced or day.model_priced
        closes.observe(d, day.underlying_price)
        venue.start_day(day)
        # The regime of t (from closes and VIX on or before t) selects the exit rules'
        # regime overrides and the entries' size multiplier.
        regime = planner.regime(d)
        report = run_sync(step.run(venue, StepInputs(day.timestamp, d, chain=day, settle=True, regime=regime)))
        if tracker is not None:
            tracker.step(day, day.timestamp, regime)
        for why, n in report.refused.items():
            result.entries_refused[why] = result.entries_refused.get(why, 0) + n
        if report.unknown_delta and not unknown_delta_reported:
            result.warnings.append(
                f"{d}: a leg of {report.unknown_delta[0]} has no delta in the chain: entries whose delta is "
                f"unknown are sized without the delta limit (first such entry; later ones not listed)"
            )
            unknown_delta_reported = True
        result.dates.append(d)
        result.equity.append(venue.equity())
        result.at_risk.append(rm.heat)
        result.underlying_closes.append(day.underlying_price)
    result.open_positions = list(venue.positions.values())
    if tracker is not None and result.dates:
        result.attribution = tracker.finish(result.dates[-1])
    return result


def _warm_up(days: Iterable[DayChain], trade_from: date, tracker: IVTracker | None) -> Iterator[DayChain]:
    """``days`` from ``trade_from`` on; earlier days only feed ``tracker`` (lazily, in order:
    a day out of order is refused here, since the engine never sees warm-up days)."""
    prev: date | None = None
    for day in days:
        d = day.quote_date
        if prev is not None and d <= prev:
            raise ValueError(f"chain days must be strictly increasing: {d} came after {prev}")
        prev = d
        if d >= trade_from:
            yield day
        elif tracker is not None:
            tracker.observe(day)


def iter_table_days(table: pa.Table) -> Iterable[tuple[date, pa.Table]]:
    """Split a multi-day ``CHAIN_SCHEMA`` table (e.g. from ``generate_model_chain`` or
    ``read_chain``) into ``(date, table)`` pairs in date order, lazily."""
    qd = np.asarray(table.column("quote_date").cast(pa.int32()).to_numpy(zero_copy_only=False))
    order = np.argsort(qd, kind="stable")
    sorted_days = qd[order]
    bounds = np.flatnonzero(np.diff(sorted_days)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [sorted_days.size]])
    epoch = date(1970, 1, 1).toordinal()
    for s, e in zip(starts, ends, strict=True):
        if e <= s:
            continue
        idx = pa.array(order[s:e])
        yield date.fromordinal(epoch + int(sorted_days[s])), table.take(idx)


__all__ = [
    "iter_table_days",
    "run_backtest",
]
