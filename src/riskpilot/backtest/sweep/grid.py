"""A sweep's grid: its axes (every ``backtest run`` flag, as lists and ranges), the stress
windows, walk-forward folds, and the runs with their stable keys."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pandas as pd

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.runner import (
    BacktestSpec,
)
from riskpilot.config.schema import RULE_NAMES


class SweepError(ValueError):
    """A sweep that cannot start: the flag or file at fault and what to do about it."""


#: Every flag of ``backtest run`` (the fields of BacktestSpec), in its order: the sweep's axes.
FLAGS: tuple[str, ...] = tuple(BacktestSpec.model_fields)

#: Result columns of the parameters: the flags, named as the fields (``profit_target``...).
PARAM_COLUMNS: tuple[str, ...] = FLAGS

#: Exit attribution per rule (dollars: the rule's trades' P&L minus the same units held to
#: expiration, or to the next rule; :mod:`riskpilot.backtest.attribution`), named
#: ``edge_vs_expiration.<rule>`` and ``edge_vs_next_rule.<rule>``; empty for a rule that
#: closed nothing.
ATTRIBUTION_COLUMNS: tuple[str, ...] = tuple(
    f"edge_vs_{path}.{rule}" for rule in RULE_NAMES for path in ("expiration", "next_rule")
)

#: Result columns of the metrics, named as in the backtest JSON, then facts of the run.
METRIC_COLUMNS: tuple[str, ...] = (*METRIC_KEYS, "open_at_end", "trading_days", "first_day", "last_day",
                                   "model_priced", *ATTRIBUTION_COLUMNS)

#: Every result column, in order. ``seconds`` (wall time of the run) is the only column that
#: differs between two executions of the same run.
ROW_COLUMNS: tuple[str, ...] = (
    "run_key", "status", "error", "window", "fold", "span", *PARAM_COLUMNS, *METRIC_COLUMNS, "seconds",
)

#: Metrics a sweep can be sorted and a walk-forward can select by.
SELECTABLE_METRICS: tuple[str, ...] = (
    "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count", "win_rate", "profit_factor",
    "avg_days_held", "total_return", "total_pnl", "end_equity", "exit_edge_vs_expiration", "exit_edge_vs_next_rule",
    *ATTRIBUTION_COLUMNS,
)

#: Metrics where less is better (max_drawdown is a positive fraction: 0.12 = 12%).
LOWER_IS_BETTER = frozenset({"max_drawdown"})

Kind = Literal["float", "int", "date", "path", "str"]


def _field_kind(name: str) -> Kind:
    annotation = BacktestSpec.model_fields[name].annotation
    args = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) is not None else []
    base = args[0] if len(args) == 1 and get_origin(annotation) is not Literal else annotation
    if base is float:
        return "float"
    if base is int:
        return "int"
    if base is date:
        return "date"
    if base is Path:
        return "path"
    return "str"


# ---------------------------------------------------------------------------------------------
# Axes, windows, walk-forward specifications
# ---------------------------------------------------------------------------------------------


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _decimal(flag: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise SweepError(f"{flag} {text!r} is not a number") from None
    if not value.is_finite():
        raise SweepError(f"{flag} {text!r} is not a finite number")
    return value


def _scalar(name: str, text: str) -> Any:
    flag, kind, t = _flag(name), _field_kind(name), text.strip()
    if not t:
        raise SweepError(f"{flag}: an empty value in the list; write values such as 25,35,50")
    if kind == "float":
        return float(_decimal(flag, t))
    if kind == "int":
        d = _decimal(flag, t)
        if d != d.to_integral_value():
            raise SweepError(f"{flag} {t!r} is not a whole number")
        return int(d)
    if kind == "date":
        try:
            return date.fromisoformat(t)
        except ValueError:
            raise SweepError(f"{flag} {t!r} is not a date (YYYY-MM-DD)") from None
    if kind == "path":
        return Path(t)
    return t.upper() if name == "ticker" else t


def _range(name: str, text: str) -> list[Any]:
    flag, kind = _flag(name), _field_kind(name)
    parts = text.split(":")
    if kind not in ("float", "int"):
        raise SweepError(f"{flag} {text!r}: ranges LO:HI:STEP are for numeric flags; list the values with commas")
    if len(parts) != 3:
        raise SweepError(f"{flag} {text!r}: a range is LO:HI:STEP (such as 0.05:0.20:0.05)")
    lo, hi, step = (_decimal(flag, p) for p in parts)
    if step <= 0:
        raise SweepError(f"{flag} {text!r}: the step must be positive")
    if lo > hi:
        raise SweepError(f"{flag} {text!r}: LO is above HI; write the range low to high")
    if kind == "int" and any(x != x.to_integral_value() for x in (lo, hi, step)):
        raise SweepError(f"{flag} {text!r}: {flag} takes whole numbers, so LO, HI and STEP must be whole")
    count = int((hi - lo) / step) + 1
    if count > 10_000:
        raise SweepError(f"{flag} {text!r}: {count} values; choose a larger step")
    values = [lo + k * step for k in range(count)]
    return [int(v) if kind == "int" else float(v) for v in values]


def parse_axis(name: str, text: str) -> tuple[Any, ...]:
    """The values of flag ``name`` (a BacktestSpec field) given as ``text``: one value, a comma
    list, or (numeric flags) ranges ``LO:HI:STEP``, inclusive of HI when HI is on the grid
    (see the module docstring for float handling). Items may mix: ``10,20:40:10`` is
    10, 20, 30, 40. Repeated values are kept once, first occurrence first."""
    if name not in BacktestSpec.model_fields:
        raise SweepError(f"unknown flag {_flag(name)}; the flags are those of `riskpilot backtest run`")
    if not text.strip():
        raise SweepError(f"{_flag(name)}: no value given")
    values: list[Any] = []
    for item in text.split(","):
        if ":" in item and _field_kind(name) in ("float", "int"):
            values.extend(_range(name, item))
        else:
            values.append(_scalar(name, item))
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True, slots=True)
class Window:
    """A span of dates (inclusive) runs are restricted to; ``name`` is the preset's or ``START:END``."""

    name: str
    start: date
    end: date
    description: str = ""


#: Named stress windows (see the module docstring for their source).
WINDOWS: dict[str, Window] = {
    w.name: w for w in (
        Window("gfc-2008", date(2007, 10, 9), date(2009, 3, 9),
               "global financial crisis: S&P 500 closing peak 1565.15 to trough 676.53"),
        Window("volmageddon-2018", date(2018, 1, 26), date(2018, 2, 8),
               "Volmageddon: S&P 500 closing peak 2872.87 to 2581.00, VIX spike of 2018-02-05"),
        Window("covid-2020", date(2020, 2, 19), date(2020, 3, 23),
               "COVID-19 crash: S&P 500 closing peak 3386.15 to trough 2237.40"),
        Window("bear-2022", date(2022, 1, 3), date(2022, 10, 12),
               "2022 bear market: S&P 500 closing peak 4796.56 to trough 3577.03"),
    )
}


def parse_window(text: str) -> Window:
    """A preset name of :data:`WINDOWS` or ``START:END`` (ISO dates, inclusive)."""
    t = text.strip()
    if t in WINDOWS:
        return WINDOWS[t]
    if ":" in t:
        a, _, b = t.partition(":")
        try:
            start, end = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        except ValueError:
            raise SweepError(f"--window {text!r}: write START:END as ISO dates (2020-01-01:2020-12-31)") from None
        if start > end:
            raise SweepError(f"--window {text!r}: START is after END")
        return Window(f"{start}:{end}", start, end)
    raise SweepError(f"--window {text!r}: unknown window; use one of {', '.join(WINDOWS)} or START:END "
                     f"(2020-01-01:2020-12-31)")


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Rolling walk-forward: ``train`` and ``test`` lengths as ``(years, months, days)``."""

    train: tuple[int, int, int]
    test: tuple[int, int, int]
    text: str = ""


_LENGTH = re.compile(r"^\s*(\d+)\s*([ymd])\s*$")


def _length(part: str, text: str) -> tuple[int, int, int]:
    m = _LENGTH.match(part)
    if m is None or int(m.group(1)) <= 0:
        raise SweepError(f"--walk-forward {text!r}: {part!r} is not a length such as 3y, 18m or 90d")
    n, unit = int(m.group(1)), m.group(2)
    return (n, 0, 0) if unit == "y" else (0, n, 0) if unit == "m" else (0, 0, n)


def parse_walk_forward(text: str) -> WalkForward:
    """``train=3y,test=1y`` (lengths in y, m or d)."""
    parts: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in ("train", "test"):
            raise SweepError(f"--walk-forward {text!r}: write train=LENGTH,test=LENGTH (train=3y,test=1y)")
        parts[key.strip()] = value
    if set(parts) != {"train", "test"}:
        raise SweepError(f"--walk-forward {text!r}: give both train= and test= (train=3y,test=1y)")
    return WalkForward(_length(parts["train"], text), _length(parts["test"], text), text.strip())


def _add(d: date, length: tuple[int, int, int]) -> date:
    years, months, days = length
    ts = pd.Timestamp(d) + pd.DateOffset(years=years, months=months, days=days)
    return ts.date()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold; every bound inclusive."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


def walk_forward_folds(start: date, end: date, wf: WalkForward) -> list[Fold]:
    """Rolling folds over ``[start, end]``: train ``[s, s+train)``, test ``[s+train, s+train+test)``,
    then ``s += test``. A last, shorter test span is kept if it holds at least half of ``test``
    (in calendar days). Raises :class:`SweepError` when not one fold fits."""
    folds: list[Fold] = []
    s = start
    while True:
        test_start = _add(s, wf.train)
        full_end = _add(test_start, wf.test) - timedelta(days=1)
        if test_start > end:
            break
        test_end = min(full_end, end)
        if test_end < full_end and (test_end - test_start).days + 1 < ((full_end - test_start).days + 1) / 2:
            break
        folds.append(Fold(len(folds), s, test_start - timedelta(days=1), test_start, test_end))
        s = _add(s, wf.test)
    if not folds:
        raise SweepError(f"--walk-forward {wf.text}: {start} .. {end} is too short for one training span and "
                         f"half a test span; widen --start/--end or shorten train/test")
    return folds


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    if isinstance(v, date | Path):
        return str(v)
    return v


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One combination: the flag values (every flag, defaults filled in), the window name it
    belongs to, and its walk-forward fold and span (``train``/``test``) if any."""

    params: tuple[tuple[str, Any], ...]
    window: str | None = None
    fold: int | None = None
    span: Literal["train", "test"] | None = None
    config_digest: str | None = None
    # The key, computed on first use (not part of equality, hashing or repr).
    _key: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def key(self) -> str:
        """A stable 16-hex-digit key from everything that defines the run."""
        if self._key is not None:
            return self._key
        doc = {
            "params": {k: _jsonable(v) for k, v in self.params},
            "window": self.window, "fold": self.fold, "span": self.span, "config": self.config_digest,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        object.__setattr__(self, "_key", key)
        return key

    def spec(self) -> BacktestSpec:
        return BacktestSpec.parse(**self.param_dict)

    def with_dates(self, start: date, end: date, *, window: str | None = None, fold: int | None = None,
                   span: Literal["train", "test"] | None = None) -> SweepRun:
        params = {**self.param_dict, "start": start, "end": end}
        return SweepRun(tuple(params.items()), window if window is not None else self.window, fold, span,
                        self.config_digest)


def _defaults() -> dict[str, Any]:
    return {name: f.default for name, f in BacktestSpec.model_fields.items()}


def _config_digest(path: Any) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    if not p.is_file():
        return None  # the run fails with the runner's own message naming --config
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def expand_grid(axes: Mapping[str, Sequence[Any]], windows: Sequence[Window] = ()) -> list[SweepRun]:
    """The cartesian product of ``axes`` (flag -> values, in the order given, the last axis
    varying fastest) and, when given, of ``windows`` (outermost), as runs with every other
    flag at its ``backtest run`` default. A window sets ``start`` and ``end``, so it cannot be
    combined with a ``start`` or ``end`` axis. Combinations that make no valid spec (say
    ``min_delta`` above ``max_delta``) are kept: they become failed rows naming the problem."""
    for name, values in axes.items():
        if name not in BacktestSpec.model_fields:
            raise SweepError(f"unknown flag {_flag(name)}; the flags are those of `riskpilot backtest run`")
        if not values:
            raise SweepError(f"{_flag(name)}: no value given")
    if windows and ({"start", "end"} & set(axes)):
        raise SweepError("--window sets --start and --end; give one or the other")
    names = list(axes)
    combos = list(itertools.product(*(axes[n] for n in names)))
    runs: list[SweepRun] = []
    window_list: list[Window | None] = list(windows) or [None]
    digests: dict[Any, str | None] = {}  # each --config file is read and hashed once
    for window in window_list:
        for combo in combos:
            params = _defaults() | dict(zip(names, combo, strict=True))
            if window is not None:
                params |= {"start": window.start, "end": window.end}
            config = params["config"]
            if config not in digests:
                digests[config] = _config_digest(config)
            runs.append(SweepRun(tuple(params.items()), window.name if window else None, None, None,
                                 digests[config]))
    seen: set[str] = set()
    unique = []
    for r in runs:
        if r.key not in seen:
            seen.add(r.key)
            unique.append(r)
    return unique
