"""One backtest from a flat specification: what ``riskpilot backtest run`` does, as a library.

:class:`BacktestSpec` holds every command-line flag as a field (flag ``--min-delta`` is field
``min_delta``). :func:`build_config` layers the flags over the YAML configuration (or the
built-in defaults), :func:`run_spec` resolves the chain (a :class:`~riskpilot.data.store.ChainStore`
for ``data``, else the model-priced chain generated from the bundled daily history) and runs
:func:`riskpilot.backtest.engine.run_backtest`; :func:`riskpilot.backtest.export.to_json_dict`
turns the outcome into the JSON document of the command line.

``data`` may also name an event-market snapshot file (``.csv`` or ``.parquet``, the format of
:mod:`riskpilot.data.events`): :func:`run_spec` then backtests binary event contracts over it
(:func:`riskpilot.backtest.events.run_event_backtest`) with the configuration's ``fair_value``
source and ``event_entries``, filling at the touch with Kalshi's taker fee; the option-only flags
(strategy, deltas, DTEs, IV, time exit, volume share, correlated exposure, settlement) are
refused there, and ``ticker``, ``slippage`` and ``commission`` do not apply.

A spec is a small frozen pydantic model and :func:`run_spec` a plain function of it, so both
pickle and can be shipped to worker processes (parameter sweeps). Nothing here keeps global
settings. Inputs worth sharing between runs in one process are cached explicitly:

- the bundled daily history and the model chain's per-day inputs are cached by
  :mod:`riskpilot.data.history` and :func:`riskpilot.data.model_chain.market_history`;
- opened chain stores (their Parquet footers) are cached per resolved path;
- generated model-chain years are cached only when a :class:`ChainCache` is passed
  (``run_spec(spec, cache=process_chain_cache())``): a year of SPY is 10-80 MB of Arrow data,
  2006-2024 about 650 MB, so a single command-line run streams the years instead.

Units of the flags (as on the command line): ``profit_target`` and ``stop_loss`` are percent
of the entry premium (50 = 50%; the rules take fractions, 0.50), ``max_correlated_exposure``
percent of equity, ``min_iv_percentile`` / ``max_iv_percentile`` 0-100, deltas are |delta|
fractions (0.05-0.15), DTEs calendar days, ``equity`` and ``commission`` dollars
(commission per contract per leg), ``slippage_pct`` percent off the mid, ``spread_share`` and
``volume_share`` fractions.
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskpilot.backtest.engine import run_backtest
from riskpilot.backtest.events import run_event_backtest
from riskpilot.backtest.explain import MAX_GAP_TRADING_DAYS, find_holes
from riskpilot.backtest.metrics import Metrics
from riskpilot.backtest.result import BacktestResult
from riskpilot.config.loader import ConfigError, config_from_dict, load_config
from riskpilot.config.schema import RiskPilotConfig, StrategyKind
from riskpilot.data.daychain import DayChain, iter_store_days, split_days
from riskpilot.data.history import UnknownSymbolError
from riskpilot.data.store import ChainStore
from riskpilot.execution.fills import fill_model_for
from riskpilot.model.enums import PremiumType
from riskpilot.trading.signals import IV_WINDOW, MarketData, iv_filters_set
from riskpilot.trading.strategies import PREMIUM_TYPES

__all__ = [
    "DEBIT_STRATEGIES",
    "SLIPPAGE_MODELS",
    "BacktestRun",
    "BacktestSpec",
    "BacktestSpecError",
    "ChainCache",
    "DataSource",
    "Progress",
    "build_config",
    "process_chain_cache",
    "resolve_data",
    "resolve_method",
    "run_event_spec",
    "run_spec",
]

#: ``--data`` naming one of these is an event-market snapshot file, not a chain store.
EVENT_FILE_SUFFIXES = (".csv", ".parquet")
#: Flags that choose or filter option entries: meaningless over event markets.
OPTION_ONLY_FLAGS = ("strategy", "width", "long_delta", "min_delta", "max_delta", "min_dte", "max_dte",
                     "min_iv_percentile", "max_iv_percentile", "time_exit_dte", "volume_share",
                     "max_correlated_exposure", "settlement")

SlippageName = Literal["none", "pct", "spread", "orats", "volume"]
SLIPPAGE_MODELS: tuple[str, ...] = ("none", "pct", "spread", "orats", "volume")

#: Strategy kinds that pay a premium (debit); every other kind collects one (credit).
DEBIT_STRATEGIES = frozenset(kind for kind, t in PREMIUM_TYPES.items() if t is PremiumType.DEBIT)


#: ``progress(days_done, days_total, day)``: called as the engine takes each day.
Progress = Callable[[int, int, date], None]


class BacktestSpecError(ValueError):
    """A specification that cannot run, with the flag at fault and what to do about it."""


class BacktestSpec(BaseModel):
    """Every flag of ``riskpilot backtest run``; ``None`` means "as the configuration says"
    (the YAML of ``config``, else the built-in defaults of :mod:`riskpilot.config.schema`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticker: str = Field("SPY", description="underlying symbol")
    start: date | None = Field(None, description="first trading day (default: the data's first)")
    end: date | None = Field(None, description="last trading day, inclusive (default: the data's last)")
    data: Path | None = Field(None, description="a chain store directory; None = the bundled model-priced chain")
    equity: float = Field(100_000.0, gt=0, description="starting equity, dollars")
    config: Path | None = Field(None, description="a YAML configuration (any setting)")
    method: str | None = Field(None, description="method of the configuration to trade")
    strategy: StrategyKind | None = None
    width: float | None = Field(None, gt=0, description="spread width, points")
    width_pct: float | None = Field(None, gt=0, le=50, description="spread width, percent of spot")
    long_delta: float | None = Field(None, gt=0, lt=1, description="spread width by the long leg's |delta|")
    min_delta: float | None = Field(None, gt=0, lt=1, description="short strike |delta|, lower bound")
    max_delta: float | None = Field(None, gt=0, lt=1, description="short strike |delta|, upper bound")
    min_dte: int | None = Field(None, ge=0, le=3650, description="calendar days")
    max_dte: int | None = Field(None, ge=0, le=3650, description="calendar days")
    min_iv_percentile: float | None = Field(None, ge=0, le=100)
    max_iv_percentile: float | None = Field(None, ge=0, le=100)
    profit_target: float | None = Field(None, gt=0, le=10_000, description="percent of the entry premium")
    stop_loss: float | None = Field(None, gt=0, le=5_000, description="percent of the entry premium")
    time_exit_dte: int | None = Field(None, ge=0, le=3650, description="close at or below this DTE")
    slippage: SlippageName = "orats"
    slippage_pct: float = Field(1.0, ge=0, lt=100, description="percent off the mid, for slippage 'pct'")
    spread_share: float = Field(0.5, ge=0, le=1, description="share of the spread paid, for slippage 'spread'")
    volume_share: float | None = Field(None, ge=0, le=1, description="cap fills at this share of day volume")
    commission: float = Field(0.65, ge=0, le=100, description="dollars per contract per leg")
    max_correlated_exposure: float | None = Field(
        None, gt=0, le=1000, description="max loss in one correlation class, percent of equity"
    )
    settlement: Literal["cash", "physical"] | None = None
    fill: Literal["close", "next"] = Field(
        "close", description="fill at the deciding day's close quotes, or at the next day's")
    seed: int = Field(0, ge=0, description="recorded with the results; the engine is deterministic")

    @field_validator("ticker")
    @classmethod
    def _ticker(cls, v: str) -> str:
        t = v.strip().upper()
        if not t or not all(c.isalnum() or c in "._^-" for c in t) or len(t) > 16:
            raise ValueError(f"ticker {v!r} is not a symbol (letters and digits, such as SPY)")
        return t

    @field_validator("equity")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("equity must be a finite dollar amount")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> BacktestSpec:
        pairs = (
            ("min_delta", "max_delta", "the short strike's |delta| range is empty"),
            ("min_dte", "max_dte", "the DTE window is empty"),
            ("min_iv_percentile", "max_iv_percentile", "the IV percentile range is empty"),
            ("start", "end", "the period is empty"),
        )
        for lo_name, hi_name, why in pairs:
            lo, hi = getattr(self, lo_name), getattr(self, hi_name)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(
                    f"--{lo_name.replace('_', '-')} {lo} is above --{hi_name.replace('_', '-')} {hi}: "
                    f"{why}; swap them or change one"
                )
        given = [f"--{n.replace('_', '-')}" for n in ("width", "width_pct", "long_delta")
                 if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of --width (points), --width-pct (percent of spot) or --long-delta, not "
                             f"{' and '.join(given)}")
        return self

    @classmethod
    def parse(cls, **fields: Any) -> BacktestSpec:
        """Build a spec, raising :class:`BacktestSpecError` with one line per problem."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            lines = []
            for err in exc.errors(include_url=False):
                msg = str(err["msg"]).removeprefix("Value error, ")
                loc = ".".join(str(x) for x in err["loc"])
                lines.append(f"--{loc.replace('_', '-')}: {msg}" if loc else msg)
            raise BacktestSpecError("; ".join(lines)) from None


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def _base_config(spec: BacktestSpec) -> RiskPilotConfig:
    if spec.config is None:
        return RiskPilotConfig()
    try:
        return load_config(spec.config)
    except ConfigError as exc:
        raise BacktestSpecError(f"--config {exc}") from None


def resolve_method(spec: BacktestSpec, config: RiskPilotConfig) -> str:
    """The method to trade: ``spec.method``, else the configuration's only method."""
    names = sorted(config.methods)
    if spec.method is not None:
        if spec.method not in config.methods:
            raise BacktestSpecError(
                f"--method {spec.method!r} is not a method of the configuration (methods: {', '.join(names)})"
            )
        return spec.method
    if len(names) == 1:
        return names[0]
    raise BacktestSpecError(
        f"the configuration defines {len(names)} methods ({', '.join(names)}): choose one with --method"
    )


def build_config(spec: BacktestSpec) -> RiskPilotConfig:
    """The configuration the run uses: ``spec.config`` (or the defaults) with every flag that
    is set written over it, on the method :func:`resolve_method` picks.

    Mapping (flag -> setting, with the unit change):

    - ``strategy``, ``width``, ``width_pct`` W, ``long_delta`` -> ``methods.M.strategy.kind /
      width_points / width_pct_of_spot = W / 100 / long_delta`` (one replaces the others)
    - ``min_delta``, ``max_delta``, ``min_dte``, ``max_dte``, ``min_iv_percentile``,
      ``max_iv_percentile`` -> ``methods.M.entry.*`` (same units)
    - ``profit_target`` P -> ``methods.M.exit_rules.profit_target.profit_target_pct = P / 100``
    - ``stop_loss`` S -> ``methods.M.exit_rules.stop_loss.stop_loss_pct = S / 100`` for a credit
      strategy, ``debit_stop_loss_pct = S / 100`` for a debit one (long_call, long_put; at most 100)
    - ``time_exit_dte`` D -> ``methods.M.exit_rules.time_exit_dte.time_exit_dte = D``
    - ``max_correlated_exposure`` X -> ``risk.max_class_exposure_pct = X / 100``

    A flag that sets a rule also enables it and replaces the same key in every
    ``regimes.exit_rules`` override, so that the run uses the value given on every day.
    Raises :class:`BacktestSpecError` naming the flag or setting at fault.
    """
    base = _base_config(spec)
    method = resolve_method(spec, base)
    data = base.model_dump(mode="python")
    m = data["methods"][method]
    strategy = m["strategy"]
    if spec.strategy is not None:
        strategy["kind"] = spec.strategy
    for name, key, scale in (("width", "width_points", 1.0), ("width_pct", "width_pct_of_spot", 0.01),
                             ("long_delta", "long_delta", 1.0)):
        value = getattr(spec, name)
        if value is not None:
            strategy.update(width_points=None, width_pct_of_spot=None, long_delta=None)
            strategy[key] = value * scale
    for name in ("min_delta", "max_delta", "min_dte", "max_dte", "min_iv_percentile", "max_iv_percentile"):
        value = getattr(spec, name)
        if value is not None:
            m["entry"][name] = value
    debit = strategy["kind"] in DEBIT_STRATEGIES
    rule_overrides: dict[str, dict[str, Any]] = {}
    if spec.profit_target is not None:
        rule_overrides["profit_target"] = {"profit_target_pct": spec.profit_target / 100.0}
    if spec.stop_loss is not None:
        if debit and spec.stop_loss > 100:
            raise BacktestSpecError(
                f"--stop-loss {spec.stop_loss:g} is above 100: a {strategy['kind']} pays its premium and "
                f"cannot lose more than 100% of it; give a stop of at most 100"
            )
        key = "debit_stop_loss_pct" if debit else "stop_loss_pct"
        rule_overrides["stop_loss"] = {key: spec.stop_loss / 100.0}
    if spec.time_exit_dte is not None:
        rule_overrides["time_exit_dte"] = {"time_exit_dte": spec.time_exit_dte}
    for rule, values in rule_overrides.items():
        m["exit_rules"][rule].update(values, enabled=True)
        for overrides in data["regimes"]["exit_rules"].values():
            if rule in overrides:
                overrides[rule] = {**overrides[rule], **values}
    if spec.max_correlated_exposure is not None:
        data["risk"]["max_class_exposure_pct"] = spec.max_correlated_exposure / 100.0
    source = f"{spec.config} with the command-line flags" if spec.config else "the command-line flags"
    try:
        return config_from_dict(data, source=source)
    except ConfigError as exc:
        raise BacktestSpecError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSource:
    """Where a run's chains come from. ``first_day``/``last_day`` span the whole source for
    the ticker; ``days`` are the trading days the engine is fed (warm-up included)."""

    kind: Literal["model", "store", "events"]
    ticker: str
    description: str
    first_day: date
    last_day: date
    days: tuple[date, ...]
    path: Path | None = None
    synthetic: bool = False

    @property
    def model_priced(self) -> bool:
        return self.kind == "model"


@functools.lru_cache(maxsize=16)
def _store(path: str) -> ChainStore:
    # One ChainStore per store directory and process: it caches the Parquet footers.
    return ChainStore(path)


@functools.cache
def _model_days(ticker: str) -> tuple[date, ...]:
    import pandas as pd  # the model chain's calendar (model chains load pandas anyway)

    from riskpilot.data.model_chain import market_history

    dates = market_history(ticker).dates
    return tuple(pd.DatetimeIndex(dates).date)


def _store_days(path: str, ticker: str) -> tuple[date, ...]:
    return tuple(_store(path).days(ticker))


def resolve_data(spec: BacktestSpec, warmup_days: int = 0) -> tuple[DataSource, date, date]:
    """The data source and the period ``(trade_from, end)`` the spec asks for, checked against
    what the data holds. ``warmup_days`` trading days of the data before ``trade_from`` (as
    many as exist) are fed to the engine too: they only fill signals such as the IV window.
    Raises :class:`BacktestSpecError` for an unknown ticker (listing the known ones) or dates
    outside the data (giving its range)."""
    if spec.data is None:
        from riskpilot.data.model_chain import MODEL_UNDERLYINGS  # model chains only: they load pandas

        if spec.ticker not in MODEL_UNDERLYINGS:
            raise BacktestSpecError(
                f"--ticker {spec.ticker}: unknown ticker; the bundled model-priced chain covers "
                f"{', '.join(MODEL_UNDERLYINGS)} (pass --data STORE for another underlying)"
            )
        all_days = _model_days(spec.ticker)
        what = f"the bundled model-priced {spec.ticker} chain"
        kind: Literal["model", "store"] = "model"
        path = None
    else:
        path = spec.data.expanduser().resolve()
        if not path.is_dir():
            raise BacktestSpecError(
                f"--data {spec.data}: no chain store there (import chains with `riskpilot data import "
                f"--store {spec.data} ...`, or leave --data out to use the bundled model-priced chain)"
            )
        known = _store(str(path)).underlyings()
        if spec.ticker not in known:
            listing = ", ".join(known) if known else "nothing (the store is empty)"
            raise BacktestSpecError(f"--ticker {spec.ticker}: unknown ticker; the store {spec.data} holds {listing}")
        all_days = _store_days(str(path), spec.ticker)
        if not all_days:
            raise BacktestSpecError(f"--ticker {spec.ticker}: the store {spec.data} holds no days of it")
        what = f"the store {spec.data} ({spec.ticker})"
        kind = "store"
    first, last = all_days[0], all_days[-1]
    span = f"{what} covers {first} .. {last}"
    start = spec.start if spec.start is not None else first
    end = spec.end if spec.end is not None else last
    if start < first:
        raise BacktestSpecError(f"--start {start} is before the data: {span}")
    if end > last:
        raise BacktestSpecError(f"--end {end} is after the data: {span}")
    if start > last:
        raise BacktestSpecError(f"--start {start} is after the data: {span}")
    if end < first:
        raise BacktestSpecError(f"--end {end} is before the data: {span}")
    lo = bisect.bisect_left(all_days, start)
    hi = bisect.bisect_right(all_days, end)
    if lo >= hi:
        raise BacktestSpecError(f"no trading day between --start {start} and --end {end}: {span}")
    days = all_days[max(0, lo - warmup_days):hi]
    if kind == "model":
        description = (
            f"{spec.ticker} chain generated from the bundled daily history by riskpilot.data.model_chain "
            f"(model prices, not market quotes)"
        )
    else:
        description = f"chain store {path} ({spec.ticker})"
    return DataSource(kind, spec.ticker, description, first, last, days, path), start, end


class ChainCache:
    """Model-chain years generated in this process, kept as ready :class:`DayChain` days (so
    a sweep's runs share the generation *and* the conversion), least recently used dropped
    first once their array size passes ``max_bytes``. Share one per worker process across
    runs of a sweep (:func:`process_chain_cache`); it is not thread safe. The days are
    immutable in use: the engine only reads them."""

    def __init__(self, max_bytes: int = 2 * 2**30) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        # Each entry is (days, their array bytes): the size is summed once, when the year is made.
        self._years: LRUCache[tuple[str, int], tuple[tuple[DayChain, ...], int]] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: max(entry[1], 1)
        )

    def days(self, ticker: str, year: int) -> tuple[DayChain, ...]:
        """``ticker``'s model chain over the trading days of ``year`` in the bundled history,
        one :class:`DayChain` per day."""
        from riskpilot.data.model_chain import generate_model_chain

        key = (ticker, year)
        hit = self._years.get(key)
        if hit is not None:
            return hit[0]
        days = _model_days(ticker)
        lo = max(days[0], date(year, 1, 1))
        hi = min(days[-1], date(year, 12, 31))
        chains = tuple(split_days(generate_model_chain(ticker, lo, hi), ticker))
        nbytes = sum(_day_nbytes(d) for d in chains)
        if nbytes <= self.max_bytes:
            self._years[key] = (chains, nbytes)
        return chains

    def __len__(self) -> int:
        return len(self._years)

    @property
    def nbytes(self) -> int:
        return int(self._years.currsize)


def _day_nbytes(day: DayChain) -> int:
    return sum(int(a.nbytes) for a in (day.expiration, day.strike, day.is_call, day.bid, day.ask, day.delta,
                                       day.volume))


@functools.cache
def process_chain_cache() -> ChainCache:
    """This process's shared :class:`ChainCache` (created on first use, 2 GiB)."""
    return ChainCache()


def _model_chain_days(ticker: str, lo: date, hi: date, cache: ChainCache | None) -> Iterator[DayChain]:
    from riskpilot.data.model_chain import generate_model_chain

    for year in range(lo.year, hi.year + 1):
        y_lo, y_hi = max(lo, date(year, 1, 1)), min(hi, date(year, 12, 31))
        if cache is not None:
            for day in cache.days(ticker, year):
                if y_lo <= day.quote_date <= y_hi:
                    yield day
            continue
        table = generate_model_chain(ticker, y_lo, y_hi)
        yield from split_days(table, ticker)
        del table


def _chain_days(source: DataSource, cache: ChainCache | None) -> Iterator[DayChain]:
    lo, hi = source.days[0], source.days[-1]
    if source.kind == "model":
        yield from _model_chain_days(source.ticker, lo, hi, cache)
    else:
        if source.path is None:
            raise ValueError(f"a store data source needs its path: {source}")
        yield from iter_store_days(_store(str(source.path)), source.ticker, lo, hi)


def _with_progress(days: Iterator[DayChain], total: int, progress: Progress | None) -> Iterator[DayChain]:
    done = 0
    last: date | None = None
    for day in days:
        if progress is not None:
            progress(done, total, day.quote_date)
        yield day
        done += 1
        last = day.quote_date
    if progress is not None and last is not None:
        progress(done, total, last)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BacktestRun:
    """A finished run: what was asked, what ran, on which data, and the outcome."""

    spec: BacktestSpec
    config: RiskPilotConfig
    method: str
    source: DataSource
    trade_from: date
    end: date
    result: BacktestResult
    metrics: Metrics
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def model_priced(self) -> bool:
        """True when any chain row was model priced: every display of the results says so."""
        return self.source.model_priced or self.result.model_priced


@functools.lru_cache(maxsize=8)
def _bundled_market(ticker: str) -> MarketData:
    return MarketData.from_bundled(ticker)


def _market_data(ticker: str) -> tuple[MarketData | None, list[str]]:
    """VIX and regime inputs from the bundled history (cached per process), or None with the
    reason for a ticker without bundled history (a store of another underlying)."""
    try:
        return _bundled_market(ticker), []
    except UnknownSymbolError as exc:
        return None, [f"no bundled history for {ticker} ({exc}): VIX entry filters and regime multipliers not applied"]


def run_spec(spec: BacktestSpec, progress: Progress | None = None, *,
             cache: ChainCache | None = None) -> BacktestRun:
    """Run one backtest as ``riskpilot backtest run`` would. ``progress(done, total, day)`` is
    called as the engine takes each day (warm-up days included). ``cache`` keeps generated
    model-chain years for later runs in this process (see :class:`ChainCache`); without it
    the years are generated and dropped one at a time.

    Raises :class:`BacktestSpecError` for a spec that does not fit the configuration or the
    data (the message names the flag and the fix)."""
    if spec.data is not None and spec.data.suffix.lower() in EVENT_FILE_SUFFIXES:
        return run_event_spec(spec)
    t0 = time.perf_counter()
    config = build_config(spec)
    method = resolve_method(spec, config)
    model = fill_model_for(spec.slippage, spec.commission, spec.volume_share,
                           pct=spec.slippage_pct / 100.0, spread_share=spec.spread_share)
    warmup = IV_WINDOW if iv_filters_set(config.method(method).entry) else 0
    source, trade_from, end = resolve_data(spec, warmup)
    if source.kind == "model" and model.volume_share is not None:
        raise BacktestSpecError(
            f"--slippage {spec.slippage}"
            f"{'' if spec.volume_share is None else f' --volume-share {spec.volume_share:g}'}: volume-aware fills "
            "need each contract's traded volume, which the model-priced chain does not have; use --data with a "
            "vendor chain store, or --slippage none, pct, spread or orats without --volume-share"
        )
    market, warnings = _market_data(spec.ticker)
    days = _with_progress(_chain_days(source, cache), len(source.days), progress)
    result = run_backtest(
        days, config, method=method, underlying=spec.ticker, equity=spec.equity,
        slippage=model.slippage, commission_per_contract=model.commission_per_contract,
        volume_share=model.volume_share, settlement=spec.settlement,
        market=market, trade_from=trade_from, iv_window=IV_WINDOW, fill=spec.fill,
    )
    if not result.dates:
        raise BacktestSpecError(f"the run processed no trading day between {trade_from} and {end}")
    result.holes = find_holes(result.dates) if source.kind == "store" else []
    if result.holes:
        longest = max(result.holes, key=lambda h: h.missing)
        warnings.append(
            f"the data has {len(result.holes)} hole(s) of more than {MAX_GAP_TRADING_DAYS} trading days without a "
            f"chain (longest {longest}): positions held across one were not marked or managed, and the CAGR is "
            f"annualised over the days with data only ({sum(h.calendar_days for h in result.holes)} calendar days "
            f"left out)"
        )
    metrics = result.metrics()
    return BacktestRun(spec, config, method, source, trade_from, end, result, metrics,
                       time.perf_counter() - t0, warnings)



# ---------------------------------------------------------------------------------------------
# Event markets
# ---------------------------------------------------------------------------------------------


def _event_config(spec: BacktestSpec) -> tuple[RiskPilotConfig, str]:
    """The configuration of an event backtest: ``spec.config`` with ``--profit-target`` and
    ``--stop-loss`` written over the method's rules as a debit position's (every event
    position is bought for a debit)."""
    set_flags = [f"--{name.replace('_', '-')}" for name in OPTION_ONLY_FLAGS if getattr(spec, name) is not None]
    if set_flags:
        raise BacktestSpecError(
            f"{', '.join(set_flags)}: option settings have no meaning over event markets (--data {spec.data} is an "
            "event snapshot file); entries follow the configuration's event_entries"
        )
    base = build_config(spec.model_copy(update={"profit_target": None, "stop_loss": None}))
    method = resolve_method(spec, base)
    if spec.profit_target is None and spec.stop_loss is None:
        return base, method
    if spec.stop_loss is not None and spec.stop_loss > 100:
        raise BacktestSpecError(f"--stop-loss {spec.stop_loss:g} is above 100: an event contract bought for a debit "
                                "cannot lose more than 100% of its price; give a stop of at most 100")
    data = base.model_dump(mode="python")
    overrides: dict[str, dict[str, Any]] = {}
    if spec.profit_target is not None:
        overrides["profit_target"] = {"profit_target_pct": spec.profit_target / 100.0}
    if spec.stop_loss is not None:
        overrides["stop_loss"] = {"debit_stop_loss_pct": spec.stop_loss / 100.0}
    for rule, values in overrides.items():
        data["methods"][method]["exit_rules"][rule].update(values, enabled=True)
        for regime in data["regimes"]["exit_rules"].values():
            if rule in regime:
                regime[rule] = {**regime[rule], **values}
    try:
        return config_from_dict(data, source=f"{spec.config or 'the defaults'} with the command-line flags"), method
    except ConfigError as exc:
        raise BacktestSpecError(str(exc)) from None


def run_event_spec(spec: BacktestSpec) -> BacktestRun:
    """Backtest the event markets of the snapshot file ``spec.data`` (module docstring):
    fair values from the configuration's ``fair_value`` (a relative feed path is read from the
    configuration file's folder), entries by its ``event_entries``, exits by the method's
    rules. Raises :class:`BacktestSpecError` naming the fix for a file or setting that cannot
    run."""
    from riskpilot.data.events import EventSnapshots, SnapshotFormatError
    from riskpilot.trading.fair_value import FairValueError, load_fair_values

    t0 = time.perf_counter()
    if spec.data is None:
        raise BacktestSpecError("an event backtest needs --data FILE (an event snapshot file)")
    config, method = _event_config(spec)
    try:
        snapshots = EventSnapshots.from_path(spec.data)
    except SnapshotFormatError as exc:
        raise BacktestSpecError(f"--data {exc}") from None
    if config.fair_value is None:
        raise BacktestSpecError(
            "an event backtest needs fair values: add fair_value: {feed: FILE} (or callable: module:function) to "
            "the --config file"
        )
    try:
        fair = load_fair_values(config.fair_value, base_dir=spec.config.parent if spec.config else None)
    except FairValueError as exc:
        raise BacktestSpecError(f"fair_value: {exc}") from None
    days = tuple(snapshots.days())
    start = spec.start if spec.start is not None else days[0]
    end = spec.end if spec.end is not None else days[-1]
    span = f"{spec.data} covers {days[0]} .. {days[-1]}"
    if start > days[-1] or end < days[0]:
        raise BacktestSpecError(f"--start {start} / --end {end} lie outside the recording: {span}")
    synthetic = " (generated, not recorded)" if snapshots.synthetic else ""
    source = DataSource("events", "events", f"event snapshots {spec.data}{synthetic}", days[0], days[-1],
                        tuple(d for d in days if start <= d <= end), spec.data, synthetic=snapshots.synthetic)
    try:
        result = run_event_backtest(snapshots, config, method=method, equity=spec.equity, fair_values=fair,
                                    start=start, end=end)
    except ValueError as exc:
        raise BacktestSpecError(str(exc)) from None
    warnings = ["fills take the touch (buy at the ask, sell at the bid) and pay Kalshi's taker fee; --slippage "
                "and --commission do not apply to event contracts"]
    return BacktestRun(spec, config, method, source, start, end, result, result.metrics(),
                       time.perf_counter() - t0, warnings)
