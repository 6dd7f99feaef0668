"""The sweep's results file: an incremental CSV (resumable), its Parquet copy, and the equity
curves."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from riskpilot.backtest.export import METRIC_KEYS
from riskpilot.backtest.sweep.execution import (
    RunOutcome,
)
from riskpilot.backtest.sweep.grid import (
    ATTRIBUTION_COLUMNS,
    PARAM_COLUMNS,
    ROW_COLUMNS,
    SweepError,
    _field_kind,
)


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


class ResultsFile:
    """The sweep's results: ``FILE.csv`` (one row per run, :data:`ROW_COLUMNS`), its Parquet copy
    ``FILE.parquet``, and the equity curves ``FILE.equity.csv`` / ``FILE.equity.parquet``
    (``run_key, date, equity``). Rows are appended (and flushed) as runs finish, the curve
    before its row, so a killed sweep leaves every finished run on disk; :meth:`load`
    reads them back, dropping a torn last line."""

    def __init__(self, path: Path) -> None:
        if path.suffix.lower() != ".csv":
            raise SweepError(f"--out {path}: name a .csv file (the Parquet copy is written beside it)")
        self.path = path
        self.parquet = path.with_suffix(".parquet")
        self.equity_path = path.with_suffix(".equity.csv")
        self.equity_parquet = path.with_suffix(".equity.parquet")

    def exists(self) -> bool:
        return self.path.exists()

    def check_resume(self, resume: bool) -> None:
        """Refuse to start over an existing results file unless ``resume`` is asked for."""
        if self.exists() and not resume:
            raise SweepError(f"--out {self.path} exists: pass --resume to finish that sweep (finished runs are "
                             f"kept), or choose another --out, or remove the file")

    @staticmethod
    def _read_lines(path: Path) -> list[list[str]]:
        import io

        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a torn last line (the sweep was killed mid-write)
        return list(csv.reader(io.StringIO(text)))

    def load(self) -> tuple[list[dict[str, str]], dict[str, list[tuple[date, float]]]]:
        """The complete rows recorded (as text) and the curves of the ``ok`` ones."""
        lines = self._read_lines(self.path)
        if not lines:
            return [], {}
        header = lines[0]
        if tuple(header) != ROW_COLUMNS:
            raise SweepError(f"--out {self.path}: not a results file of this version of the sweep (its columns "
                             f"differ); choose another --out or remove it")
        rows = [dict(zip(header, line, strict=True)) for line in lines[1:] if len(line) == len(header)]
        ok = {r["run_key"] for r in rows if r["status"] == "ok"}
        curves: dict[str, list[tuple[date, float]]] = {}
        for line in self._read_lines(self.equity_path)[1:]:
            if len(line) == 3 and line[0] in ok:
                curves.setdefault(line[0], []).append((date.fromisoformat(line[1]), float(line[2])))
        return rows, curves

    def start(self, kept: Sequence[RunOutcome]) -> None:
        """Rewrite the files with the ``kept`` outcomes only; later ones are appended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8", newline="") as f:
            f.write(",".join(ROW_COLUMNS) + "\n")
        with self.equity_path.open("w", encoding="utf-8", newline="") as f:
            f.write("run_key,date,equity\n")
        for o in kept:
            self.append(o)

    def append(self, outcome: RunOutcome) -> None:

        if outcome.curve:
            with self.equity_path.open("a", encoding="utf-8", newline="") as f:
                f.writelines(f"{outcome.key},{d.isoformat()},{float(e)!r}\n" for d, e in outcome.curve)
                f.flush()
        with self.path.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([_csv_value(outcome.row[c]) for c in ROW_COLUMNS])
            f.flush()

    def finish(self, outcomes: Sequence[RunOutcome]) -> None:
        """Write the final files: every outcome in order (CSV and Parquet), and the curves."""
        self.start(outcomes)
        frame = rows_frame([o.row for o in outcomes])
        frame.to_parquet(self.parquet, index=False)
        curves = [(o.key, d, e) for o in outcomes for d, e in o.curve]
        pd.DataFrame(curves, columns=["run_key", "date", "equity"]).astype(
            {"date": "datetime64[ns]"}).to_parquet(self.equity_parquet, index=False)


def _as_date(v: Any) -> date | None:
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Result rows as a DataFrame with :data:`ROW_COLUMNS` and stable dtypes."""
    frame = pd.DataFrame(list(rows), columns=list(ROW_COLUMNS))
    for name in (*METRIC_KEYS, *ATTRIBUTION_COLUMNS, "seconds"):
        if name != "trade_count":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in ("trade_count", "open_at_end", "trading_days", "fold"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    for name in PARAM_COLUMNS:
        kind = _field_kind(name)
        if kind == "float":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "int":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif kind == "date":
            frame[name] = frame[name].map(_as_date)
        else:
            frame[name] = frame[name].map(lambda v: None if v is None or v == "" else str(v)).astype("string")
    for name in ("first_day", "last_day"):
        frame[name] = frame[name].map(_as_date)
    for name in ("run_key", "status", "error", "window", "span"):
        frame[name] = frame[name].map(lambda v: None if v is None or v == "" else str(v)).astype("string")
    frame["model_priced"] = frame["model_priced"].map(
        lambda v: None if v is None or v == "" else v in (True, "True")).astype("boolean")
    return frame


def _typed(name: str, text: str) -> Any:
    """A CSV cell back to the value :func:`run_one` wrote."""
    if text == "":
        return None
    if name in PARAM_COLUMNS:
        kind = _field_kind(name)
        return {"float": float, "int": int, "date": date.fromisoformat}.get(kind, str)(text)  # type: ignore[operator]
    if name in ("trade_count", "open_at_end", "trading_days", "fold"):
        return int(text)
    if name in (*METRIC_KEYS, *ATTRIBUTION_COLUMNS, "seconds"):
        return float(text)
    if name in ("first_day", "last_day"):
        return date.fromisoformat(text)
    if name == "model_priced":
        return text == "True"
    return text


def _outcome_from_text(row: Mapping[str, str], curve: list[tuple[date, float]]) -> RunOutcome:
    return RunOutcome({c: _typed(c, row[c]) for c in ROW_COLUMNS}, curve)
