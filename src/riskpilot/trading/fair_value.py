"""Fair probabilities of event contracts and the edge features the edge rules read.

The rules ``early_exit`` (edge below 2%), ``edge_disappeared`` (edge negative) and
``rebalance`` (another market's edge beats this one's by a margin) read the features
``edge`` and ``alternative_edge`` (fractions of the 1.00 payout, i.e. dollars per contract)
that the caller hands :meth:`riskpilot.risk.RiskManager.check_position_exits`. This module
produces exactly those, from a fair-probability source:

- ``edge`` of a held position = the fair value of the side it holds minus the price at which
  it could be closed now (the held side's bid, ``Mark.bid``): ``p - yes_bid`` for YES,
  ``(1 - p) - no_bid`` for NO, with ``p`` the fair probability of YES.
- ``alternative_edge`` = the best edge on offer elsewhere: over candidate contracts of other
  markets, fair value of the side minus the price at which it could be bought (its ask).

Sources (:class:`FairValueSource`): a Parquet/CSV feed of ``(timestamp, market,
fair_probability)`` looked up as of ``now`` (the last row at or before ``now``: never a future
value), or a Python callable named ``module:function``. A fair value that is missing, older
than ``max_age_seconds``, stamped in the future or not a probability is a bad input: the
position gets no features (so no edge rule acts) and :class:`EdgeReport` says why.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskpilot.config.event_contracts import FairValueConfig
from riskpilot.model.contract import EVENT_PAYOUT, EventContract
from riskpilot.model.enums import ContractSide
from riskpilot.model.mark import Mark
from riskpilot.model.position import Position
from riskpilot.model.quote import DEFAULT_MAX_QUOTE_AGE_SECONDS, Quote

REQUIRED_COLUMNS = ("timestamp", "market", "fair_probability")

log = logging.getLogger(__name__)
_DIGITS = re.compile(r"\d+(\.\d+)?")


class FairValueError(ValueError):
    """A fair-value feed or callable that cannot be used (bad file, bad column, bad spec)."""


@dataclass(frozen=True, slots=True)
class FairValue:
    """The fair probability that ``market`` settles YES (0..1), as of ``as_of``."""

    market: str
    probability: float
    as_of: datetime


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a source answered for one market at one instant: a usable ``value``, or
    ``problem`` saying why there is none (missing, stale, future-stamped, not a probability)."""

    value: FairValue | None
    problem: str | None = None


class FairValueSource(Protocol):
    max_age_seconds: float

    def lookup(self, market: str, now: datetime) -> Lookup:
        """The fair value of ``market`` as of ``now``, checked (fresh, a probability)."""
        ...


def _check(market: str, probability: float, as_of: datetime, now: datetime, max_age: float) -> Lookup:
    if isinstance(probability, bool) or not isinstance(probability, int | float) or math.isnan(probability):
        return Lookup(None, f"fair value of {market} is not a number ({probability!r})")
    if not 0.0 <= probability <= 1.0:
        return Lookup(None, f"fair value of {market} is not a probability ({probability!r}, expected 0..1)")
    if as_of.tzinfo is None:
        return Lookup(None, f"fair value of {market} has a naive timestamp {as_of!r} (give a time zone)")
    age = (now - as_of).total_seconds()
    if age < 0:
        return Lookup(None, f"fair value of {market} is stamped {-age:.0f} s in the future ({as_of.isoformat()})")
    if age > max_age:
        return Lookup(None, f"fair value of {market} is stale: {age:.0f} s old > max_age {max_age:g} s")
    return Lookup(FairValue(market, float(probability), as_of))


def _positive_age(max_age_seconds: float) -> float:
    if not (max_age_seconds > 0 and math.isfinite(max_age_seconds)):
        raise FairValueError(f"max_age_seconds must be a positive number of seconds, got {max_age_seconds!r}")
    return float(max_age_seconds)


# --- a feed ---------------------------------------------------------------------------------


class FeedFairValues:
    """A table of ``(timestamp, market, fair_probability)`` rows, looked up as of an instant.
    Timestamps must carry a time zone; probabilities must lie within 0..1; a market may not
    have two rows with one timestamp. A bad table is refused whole, naming the rows at fault
    (line numbers count the CSV header as line 1)."""

    def __init__(self, frame: pd.DataFrame, *, max_age_seconds: float, source: str = "<frame>") -> None:
        self.max_age_seconds = _positive_age(max_age_seconds)
        self.source = source
        self._series: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = _index(frame, source)

    @classmethod
    def from_path(cls, path: str | Path, *, max_age_seconds: float) -> FeedFairValues:
        p = Path(path)
        if not p.is_file():
            raise FairValueError(f"fair-value feed {p} not found (check fair_value.feed)")
        suffix = p.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(p)
            elif suffix == ".csv":
                frame = pd.read_csv(p, dtype={"market": str})
            else:
                raise FairValueError(f"fair-value feed {p} must be a .parquet or .csv file")
        except (OSError, ValueError) as exc:
            if isinstance(exc, FairValueError):
                raise
            raise FairValueError(f"fair-value feed {p} cannot be read: {exc}") from exc
        return cls(frame, max_age_seconds=max_age_seconds, source=str(p))

    @property
    def markets(self) -> list[str]:
        return sorted(self._series)

    def lookup(self, market: str, now: datetime) -> Lookup:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        series = self._series.get(market)
        if series is None:
            return Lookup(None, f"no fair value for {market} in {self.source}")
        stamps, probs = series
        i = int(np.searchsorted(stamps, pd.Timestamp(now).value, side="right")) - 1
        if i < 0:
            return Lookup(None, f"no fair value for {market} at or before {now.isoformat()} in {self.source}")
        as_of = pd.Timestamp(int(stamps[i]), tz="UTC").to_pydatetime()
        return _check(market, float(probs[i]), as_of, now, self.max_age_seconds)


def _index(frame: pd.DataFrame, source: str) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise FairValueError(
            f"{source}: missing column(s) {missing}; a fair-value feed has columns "
            f"{list(REQUIRED_COLUMNS)} (found {list(frame.columns)})"
        )
    df = frame.loc[:, list(REQUIRED_COLUMNS)].reset_index(drop=True)

    def rows(mask: pd.Series | npt.NDArray[np.bool_]) -> str:
        idx = np.flatnonzero(np.asarray(mask))[:5]
        return ", ".join(str(int(i) + 2) for i in idx)

    market = df["market"]
    bad_market = market.isna() | (market.astype(str).str.strip() == "")
    if bad_market.any():
        raise FairValueError(f"{source}: empty market at line(s) {rows(bad_market)}")
    try:
        stamps = pd.to_datetime(df["timestamp"], format="ISO8601") if df["timestamp"].dtype == object \
            else pd.to_datetime(df["timestamp"])
    except (ValueError, TypeError) as exc:
        raise FairValueError(f"{source}: timestamp column is not ISO 8601 date-times: {exc}") from exc
    if getattr(stamps.dt, "tz", None) is None:
        raise FairValueError(
            f"{source}: timestamps carry no time zone; write them with one (2024-12-02T15:00:00Z) "
            "so an as-of lookup cannot shift by the machine's zone"
        )
    if stamps.isna().any():
        raise FairValueError(f"{source}: missing timestamp at line(s) {rows(stamps.isna())}")
    prob = pd.to_numeric(df["fair_probability"], errors="coerce")
    bad_prob = prob.isna() | (prob < 0) | (prob > 1)
    if bad_prob.any():
        raise FairValueError(
            f"{source}: fair_probability must be a number within 0..1; line(s) {rows(bad_prob)} are not"
        )
    ns = stamps.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()  # pandas 3 may hold us
    keyed = pd.DataFrame({"market": market.astype(str), "ns": ns, "p": prob.to_numpy(np.float64)})
    dup = keyed.duplicated(["market", "ns"], keep=False)
    if dup.any():
        raise FairValueError(
            f"{source}: a market has two rows with one timestamp at line(s) {rows(dup)}; keep one per instant"
        )
    keyed = keyed.sort_values(["market", "ns"], kind="stable")
    out: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    for name, g in keyed.groupby("market", sort=False):
        out[str(name)] = (g["ns"].to_numpy(np.int64), g["p"].to_numpy(np.float64))
    return out


# --- a callable -----------------------------------------------------------------------------

FairValueFn = Callable[[str, datetime], "float | tuple[float, datetime] | None"]


class CallableFairValues:
    """Fair values from a function ``fn(market, now)`` returning the probability of YES as of
    ``now`` (a float), ``(probability, as_of)`` for an older estimate, or None when it has
    none. Whatever it returns is checked like a feed's rows; an exception it raises is not
    swallowed (a broken model is a bug to see, not a missing value)."""

    def __init__(self, fn: FairValueFn, *, max_age_seconds: float, name: str | None = None) -> None:
        if not callable(fn):
            raise FairValueError(f"fair-value callable {fn!r} is not callable")
        self.fn = fn
        self.max_age_seconds = _positive_age(max_age_seconds)
        self.name = name or getattr(fn, "__qualname__", repr(fn))

    @classmethod
    def from_spec(cls, spec: str, *, max_age_seconds: float) -> CallableFairValues:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise FairValueError(f"fair-value callable {spec!r} is not module:function")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise FairValueError(
                f"fair-value callable {spec!r}: module {module_name!r} cannot be imported ({exc}); "
                "is it installed or on PYTHONPATH?"
            ) from exc
        fn = getattr(module, attr, None)
        if fn is None or not callable(fn):
            raise FairValueError(f"fair-value callable {spec!r}: {module_name} has no function {attr!r}")
        return cls(fn, max_age_seconds=max_age_seconds, name=spec)

    def lookup(self, market: str, now: datetime) -> Lookup:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        got = self.fn(market, now)
        if got is None:
            return Lookup(None, f"{self.name} has no fair value for {market}")
        if isinstance(got, tuple):
            if len(got) != 2 or not isinstance(got[1], datetime):
                return Lookup(None, f"{self.name} returned {got!r} for {market}: expected p or (p, as_of)")
            return _check(market, got[0], got[1], now, self.max_age_seconds)
        return _check(market, got, now, now, self.max_age_seconds)


def load_fair_values(config: FairValueConfig, *, base_dir: str | Path | None = None) -> FairValueSource:
    """The source ``config`` names; a relative feed path is read from ``base_dir`` (the
    configuration file's folder) when given."""
    if config.feed is not None:
        path = Path(config.feed)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return FeedFairValues.from_path(path, max_age_seconds=config.max_age_seconds)
    if config.callable is None:  # FairValueConfig guarantees one of the two
        raise FairValueError("fair_value needs a feed or a callable")
    return CallableFairValues.from_spec(config.callable, max_age_seconds=config.max_age_seconds)


# --- edge features ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EdgeReport:
    """``features`` by position id, ready for ``check_position_exits(features=...)``: ``edge``
    and, when candidates were given, ``alternative_edge``. ``problems`` says, per event
    position left without features, why (its edge rules stay silent). Option positions
    appear in neither."""

    features: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def side_fair_value(contract: EventContract, p_yes: float) -> float:
    """Fair value of one contract of ``contract``'s side given the probability of YES."""
    return p_yes if contract.side is ContractSide.YES else EVENT_PAYOUT - p_yes


def entry_edges(
    candidates: Mapping[EventContract, Quote],
    source: FairValueSource,
    now: datetime,
    *,
    max_quote_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
) -> dict[EventContract, float]:
    """Edge of buying each candidate now: the fair value of its side minus its ask. Candidates
    with a bad quote (missing, crossed, stale) or no usable fair value are left out."""
    out: dict[EventContract, float] = {}
    cache: dict[str, Lookup] = {}
    for c, q in candidates.items():
        if q.problem(now, max_quote_age_seconds) is not None or q.ask is None:
            continue
        look = cache.get(c.ticker)
        if look is None:
            look = cache[c.ticker] = source.lookup(c.ticker, now)
        if look.value is not None:
            out[c] = side_fair_value(c, look.value.probability) - q.ask
    return out


def edge_features(
    positions: Sequence[Position],
    marks: Mapping[str, Mark],
    source: FairValueSource,
    now: datetime,
    *,
    candidates: Mapping[EventContract, Quote] | None = None,
    max_quote_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
) -> EdgeReport:
    """The edge features of every event position (module docstring). ``marks`` are the
    positions' close-out marks (the ones handed to ``check_position_exits``); a position
    whose mark is missing or bad, or whose fair value is missing or stale, gets no features
    and a line in :attr:`EdgeReport.problems`. ``candidates`` (contracts one could buy, with
    their quotes) give ``alternative_edge``: the best entry edge among markets other than the
    position's own."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = EdgeReport()
    alternatives = (
        sorted(entry_edges(candidates, source, now, max_quote_age_seconds=max_quote_age_seconds).items(),
               key=lambda kv: -kv[1])
        if candidates else []
    )
    for pos in positions:
        contract = pos.legs[0].contract
        if not isinstance(contract, EventContract):
            continue
        mark = marks.get(pos.id)
        if mark is None or not mark.is_valid or mark.bid is None:
            why = "no quote" if mark is None else (mark.problem.value if mark.problem else "no bid")
            report.problems[pos.id] = f"{contract}: no closing price ({why}), so no edge"
            continue
        look = source.lookup(contract.ticker, now)
        if look.value is None:
            report.problems[pos.id] = f"{contract}: {look.problem}"
            continue
        feats = {"edge": side_fair_value(contract, look.value.probability) - mark.bid}
        best = next((e for c, e in alternatives if c.ticker != contract.ticker), None)
        if best is not None:
            feats["alternative_edge"] = best
        report.features[pos.id] = feats
    return report


class EdgeFeatures:
    """The edge features as a cycle step's feature source
    (:class:`riskpilot.trading.step.FeatureSource`): :func:`edge_features` of the step's
    positions and marks at the step's instant, with ``candidates(now)`` (contracts one could
    buy now, with their quotes) giving ``alternative_edge``. ``last`` keeps the last report
    (``problems`` says which positions got no edge, and why); a problem is logged as a warning
    when it first appears for a position (not on every cycle it lasts)."""

    def __init__(
        self,
        source: FairValueSource,
        *,
        candidates: Callable[[datetime], Mapping[EventContract, Quote]] | None = None,
        max_quote_age_seconds: float = DEFAULT_MAX_QUOTE_AGE_SECONDS,
    ) -> None:
        self.source = source
        self.candidates = candidates
        self.max_quote_age_seconds = max_quote_age_seconds
        self.last = EdgeReport()
        self._told: dict[str, str] = {}

    def __call__(self, positions: Sequence[Position], marks: Mapping[str, Mark],
                 now: datetime) -> dict[str, dict[str, float]]:
        cands = self.candidates(now) if self.candidates is not None else None
        self.last = edge_features(positions, marks, self.source, now, candidates=cands,
                                  max_quote_age_seconds=self.max_quote_age_seconds)
        for pid, why in self.last.problems.items():
            kind = _DIGITS.sub("#", why)  # the same problem with another age is not news
            if self._told.get(pid) != kind:
                log.warning("no edge for %s, its edge rules are silent: %s", pid, why)
            self._told[pid] = kind
        for pid in self.last.features:
            self._told.pop(pid, None)
        return self.last.features


__all__ = [
    "REQUIRED_COLUMNS",
    "CallableFairValues",
    "EdgeFeatures",
    "EdgeReport",
    "FairValue",
    "FairValueError",
    "FairValueSource",
    "FeedFairValues",
    "Lookup",
    "edge_features",
    "entry_edges",
    "load_fair_values",
    "side_fair_value",
]
