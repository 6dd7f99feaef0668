"""Fit the model chain's surface and spread on real SPX quotes, then measure it out of sample.

Run as ``python scripts/validate_model_chain.py [--data DIR] [--output FILE]``.

Data: the real SPX end-of-day chain ``spx_eod_chain_2019-04-25_2019-07-22.parquet`` (CBOE delayed
quotes, 56 trading days) from the shared data directory (``RISKPILOT_SHARED_DATA`` or
``<repo>/../shared/data``).

Method (an honest out-of-sample figure):

1. Clean quotes only: bid > 0, ask > bid, 0.01 < IV < 3, quote date a trading day of the bundled
   SPX history.
2. Split by date: the first half of the quote days trains, the second half tests.
3. On the training days fit, by robust least squares on IV (|delta| 0.03..0.60, 5..120 DTE),
   the surface's ``atm_vix_ratio``, ``skew``, ``skew_term_exponent``, ``curvature_put`` and
   ``curvature_call``; then fit the spread model by ordinary least squares of
   ``ln(real spread / S)`` on the model's own features (model mid, DTE, ATM vol, |z|).
4. On the test days price the real chain's contracts with
   :func:`riskpilot.data.model_chain.price_contracts` (the same code path that generates model
   chains: bundled SPX close, VIX-family closes, DTB3, trailing dividend yield) and compare with
   the real quotes for puts and calls of 0.05 to 0.50 |delta| (the real delta) and 7 to 60 DTE,
   by bucket: median and 90th percentile of |IV error| (vol points), |mid error| (% of the real
   mid) and |spread error| (dollars; the real median spread is shown for scale).

The printed report is also written to ``docs/model_chain_validation.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import least_squares

from riskpilot.data.model_chain import ModelChainParams, market_history, price_contracts
from riskpilot.data.surface import atm_vol, smile_vol, smile_z, term_nodes
from riskpilot.pricing import bsm_price

FloatArray = npt.NDArray[np.float64]

CHAIN_FILE = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "model_chain_validation.md"

DELTA_BUCKETS: tuple[tuple[float, float], ...] = ((0.05, 0.10), (0.10, 0.30), (0.30, 0.50))
DTE_BUCKETS: tuple[tuple[int, int], ...] = ((7, 19), (20, 60))
TARGET_BUCKET = ("P", (0.10, 0.30), (20, 60))
TARGET_MEDIAN_IV_ERROR = 2.0  # vol points


def shared_data_dir() -> Path:
    """``RISKPILOT_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def load_real_chain(data_dir: Path) -> pd.DataFrame:
    """The clean real SPX quotes with normalized columns: quote_date, expiration (datetime64),
    root, strike, right ('C'/'P'), bid, ask, mid, spread (dollars), iv (decimal), delta, dte."""
    path = data_dir / CHAIN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"real SPX chain not found at {path}; set RISKPILOT_SHARED_DATA to the directory "
            f"holding {CHAIN_FILE} or pass --data"
        )
    raw = pd.read_parquet(
        path,
        columns=["quotedate", "expiration", "root", "strike", "type", "bid", "ask", "impliedvol",
                 "delta", "underlying_last"],
    )
    frame = pd.DataFrame(
        {
            "quote_date": raw["quotedate"].astype("datetime64[s]"),
            "expiration": raw["expiration"].astype("datetime64[s]"),
            "root": raw["root"].astype(str),
            "strike": raw["strike"].astype(np.float64),
            "right": np.where(raw["type"].astype(str).str.lower() == "call", "C", "P"),
            "bid": raw["bid"].astype(np.float64),
            "ask": raw["ask"].astype(np.float64),
            "iv": raw["impliedvol"].astype(np.float64),
            "delta": raw["delta"].astype(np.float64),
        }
    )
    frame["dte"] = (frame["expiration"] - frame["quote_date"]).dt.days
    frame["mid"] = (frame["bid"] + frame["ask"]) / 2.0
    frame["spread"] = frame["ask"] - frame["bid"]
    clean = (
        (frame["bid"] > 0)
        & (frame["ask"] > frame["bid"])
        & (frame["iv"] > 0.01)
        & (frame["iv"] < 3.0)
        & (frame["dte"] >= 1)
    )
    sessions = market_history("SPX").dates
    on_session = np.isin(frame["quote_date"].values.astype("datetime64[D]"), sessions)
    return frame.loc[clean & on_session].reset_index(drop=True)


def split_by_date(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First half of the quote days (train), second half (test)."""
    days = np.sort(frame["quote_date"].unique())
    cut = days[len(days) // 2]
    return frame.loc[frame["quote_date"] < cut], frame.loc[frame["quote_date"] >= cut]


@dataclass(frozen=True)
class _Inputs:
    spot: FloatArray
    rate: FloatArray
    div: FloatArray
    vix: FloatArray
    vix9d: FloatArray
    vix3m: FloatArray
    t: FloatArray
    dte: FloatArray
    strike: FloatArray
    is_call: npt.NDArray[np.bool_]


def _inputs(frame: pd.DataFrame) -> _Inputs:
    mh = market_history("SPX")
    pos = np.searchsorted(mh.dates, frame["quote_date"].values.astype("datetime64[D]"))
    dte = frame["dte"].to_numpy(dtype=np.float64)
    return _Inputs(
        spot=mh.spot[pos],
        rate=mh.rate[pos],
        div=mh.div_yield[pos],
        vix=mh.vix[pos],
        vix9d=mh.vix9d[pos],
        vix3m=mh.vix3m[pos],
        t=dte / 365.0,
        dte=dte,
        strike=frame["strike"].to_numpy(dtype=np.float64),
        is_call=(frame["right"] == "C").to_numpy(),
    )


def _model_iv(x: _Inputs, p: ModelChainParams) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(iv, ATM 30-day vol, |z|) per row, as the model chain computes them."""
    s9, s30, s93 = term_nodes(x.vix, x.vix9d, x.vix3m, p.atm_vix_ratio)
    sigma_atm = atm_vol(x.t, s9, s30, s93)
    log_m = np.log(x.strike / x.spot) - (x.rate - x.div) * x.t
    return smile_vol(sigma_atm, log_m, x.t, p.smile()), s30, np.abs(smile_z(log_m, x.t, sigma_atm))


_SURFACE_FIELDS = ("atm_vix_ratio", "skew", "skew_term_exponent", "curvature_put", "curvature_call")


def _with_surface(base: ModelChainParams, theta: FloatArray) -> ModelChainParams:
    return replace(
        base,
        atm_vix_ratio=float(theta[0]),
        skew=float(theta[1]),
        skew_term_exponent=float(theta[2]),
        curvature_put=float(theta[3]),
        curvature_call=float(theta[4]),
    )


def fit_surface(train: pd.DataFrame, base: ModelChainParams) -> ModelChainParams:
    """Fit the smile and ATM level on the training quotes (robust least squares on IV)."""
    sel = train.loc[train["delta"].abs().between(0.03, 0.60) & train["dte"].between(5, 120)]
    x = _inputs(sel)
    target = sel["iv"].to_numpy(dtype=np.float64)

    def residual(theta: FloatArray) -> FloatArray:
        p = _with_surface(base, theta)
        iv, _, _ = _model_iv(x, p)
        out: FloatArray = (iv - target) * 100.0
        return out

    start = np.array([getattr(base, f) for f in _SURFACE_FIELDS], dtype=np.float64)
    # Curvatures are kept >= 0 so that the wings never turn down (no butterfly arbitrage from
    # a vol that falls as the strike moves further out).
    fit = least_squares(
        residual,
        start,
        bounds=([0.4, -2.0, -1.5, 0.0, 0.0], [1.5, 2.0, 1.5, 1.0, 1.0]),
        loss="soft_l1",
        f_scale=1.0,
    )
    return _with_surface(base, np.asarray(fit.x, dtype=np.float64))


def fit_spread(train: pd.DataFrame, p: ModelChainParams) -> ModelChainParams:
    """Fit the spread coefficients: OLS of ln(real spread / S) on the model's features."""
    sel = train.loc[train["delta"].abs().between(0.03, 0.60) & train["dte"].between(5, 120)]
    x = _inputs(sel)
    iv, s30, abs_z = _model_iv(x, p)
    mid = bsm_price(x.spot, x.strike, x.t, x.rate, x.div, iv, x.is_call)
    keep = mid > 0.05
    design = np.column_stack(
        [
            np.ones(int(keep.sum())),
            np.log(mid[keep] / x.spot[keep]),
            np.log(np.maximum(x.dte[keep], 1.0) / 30.0),
            np.log(s30[keep] / 0.2),
            abs_z[keep],
        ]
    )
    y = np.log(sel["spread"].to_numpy(dtype=np.float64)[keep] / x.spot[keep])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return replace(
        p,
        spread_b0=float(coef[0]),
        spread_b_log_mid=float(coef[1]),
        spread_b_log_dte=float(coef[2]),
        spread_b_log_vol=float(coef[3]),
        spread_b_abs_z=float(coef[4]),
    )


def compare(test: pd.DataFrame, p: ModelChainParams) -> pd.DataFrame:
    """Model quotes for the test contracts next to the real ones, with bucket labels."""
    sel = test.loc[test["delta"].abs().between(0.05, 0.50) & test["dte"].between(7, 60)].copy()
    model = price_contracts(
        "SPX",
        sel["quote_date"].values.astype("datetime64[D]"),
        sel["expiration"].values.astype("datetime64[D]"),
        sel["strike"].to_numpy(),
        sel["right"].to_numpy(),
        roots=sel["root"].to_numpy(),
        params=p,
    ).to_pandas()
    sel["model_iv"] = model["iv"].to_numpy()
    sel["model_mid"] = ((model["bid"] + model["ask"]) / 2.0).to_numpy()
    sel["model_spread"] = (model["ask"] - model["bid"]).to_numpy()
    sel["iv_err"] = (sel["model_iv"] - sel["iv"]).abs() * 100.0
    sel["mid_err_pct"] = (sel["model_mid"] - sel["mid"]).abs() / sel["mid"] * 100.0
    sel["spread_err"] = (sel["model_spread"] - sel["spread"]).abs()
    abs_delta = sel["delta"].abs()
    sel["delta_bucket"] = ""
    for lo, hi in DELTA_BUCKETS:
        inside = (abs_delta >= lo) & ((abs_delta < hi) if hi < 0.5 else (abs_delta <= hi))
        sel.loc[inside, "delta_bucket"] = f"{lo:.2f}-{hi:.2f}"
    sel["dte_bucket"] = ""
    for lo_d, hi_d in DTE_BUCKETS:
        sel.loc[sel["dte"].between(lo_d, hi_d), "dte_bucket"] = f"{lo_d}-{hi_d}"
    return sel


def bucket_table(compared: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of each error per (right, delta bucket, DTE bucket)."""
    grouped = compared.groupby(["right", "delta_bucket", "dte_bucket"], sort=True)
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "iv_med": grouped["iv_err"].median(),
            "iv_p90": grouped["iv_err"].quantile(0.9),
            "mid_med_pct": grouped["mid_err_pct"].median(),
            "mid_p90_pct": grouped["mid_err_pct"].quantile(0.9),
            "spr_med": grouped["spread_err"].median(),
            "spr_p90": grouped["spread_err"].quantile(0.9),
            "real_spr_med": grouped["spread"].median(),
        }
    ).reset_index()


def target_median_iv_error(table: pd.DataFrame) -> float:
    """Median |IV error| (vol points) in the target bucket: puts, 0.10-0.30 delta, 20-60 DTE."""
    right, (dlo, dhi), (tlo, thi) = TARGET_BUCKET
    row = table.loc[
        (table["right"] == right)
        & (table["delta_bucket"] == f"{dlo:.2f}-{dhi:.2f}")
        & (table["dte_bucket"] == f"{tlo}-{thi}")
    ]
    if len(row) != 1:
        raise RuntimeError("the target bucket is empty: the test days hold no such quotes")
    return float(row["iv_med"].iloc[0])


@dataclass(frozen=True)
class ValidationResult:
    params: ModelChainParams
    table: pd.DataFrame
    train_days: tuple[str, str, int]
    test_days: tuple[str, str, int]
    target: float


def run_validation(data_dir: Path) -> ValidationResult:
    """Fit on the first half of the days, evaluate on the second half."""
    real = load_real_chain(data_dir)
    train, test = split_by_date(real)
    base = ModelChainParams.for_underlying("SPX")
    params = fit_spread(train, fit_surface(train, base))
    table = bucket_table(compare(test, params))

    def span(frame: pd.DataFrame) -> tuple[str, str, int]:
        days = frame["quote_date"]
        return (
            str(days.min().date()),
            str(days.max().date()),
            int(days.nunique()),
        )

    return ValidationResult(params, table, span(train), span(test), target_median_iv_error(table))


def render(result: ValidationResult) -> str:
    p = result.params
    lines = [
        "# Model-priced chain: validation against real SPX quotes",
        "",
        "Produced by `python scripts/validate_model_chain.py` (do not edit by hand).",
        "",
        f"- Real chain: `{CHAIN_FILE}` (CBOE delayed quotes, SPX + SPXW).",
        f"- Fit (train) days: {result.train_days[0]} .. {result.train_days[1]} "
        f"({result.train_days[2]} days); report (test) days: {result.test_days[0]} .. "
        f"{result.test_days[1]} ({result.test_days[2]} days).",
        "- Model: bundled SPX close, VIX/VIX9D/VIX3M closes, DTB3 and SPY's trailing dividend "
        "yield of each day; real strikes and expirations; |delta| and DTE buckets by the real "
        "quote's delta.",
        "- Errors are absolute: IV in vol points, mid as % of the real mid, spread in dollars "
        "(`real_spr_med` is the real median spread).",
        "",
        "Fitted parameters (the SPX defaults of `ModelChainParams`):",
        "",
        "```",
        f"atm_vix_ratio={p.atm_vix_ratio:.4f} skew={p.skew:.4f} "
        f"skew_term_exponent={p.skew_term_exponent:.4f}",
        f"curvature_put={p.curvature_put:.4f} curvature_call={p.curvature_call:.4f}",
        f"spread_b0={p.spread_b0:.4f} spread_b_log_mid={p.spread_b_log_mid:.4f} "
        f"spread_b_log_dte={p.spread_b_log_dte:.4f}",
        f"spread_b_log_vol={p.spread_b_log_vol:.4f} spread_b_abs_z={p.spread_b_abs_z:.4f}",
        "```",
        "",
        "Out-of-sample errors by bucket (test days):",
        "",
    ]
    table = result.table.copy()
    header = "| " + " | ".join(table.columns) + " |"
    lines.append(header)
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for _, row in table.iterrows():
        cells = []
        for col in table.columns:
            value = row[col]
            cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    status = "met" if result.target < TARGET_MEDIAN_IV_ERROR else "NOT met"
    lines += [
        "",
        f"Target: median |IV error| under {TARGET_MEDIAN_IV_ERROR:.0f} vol points for 0.10-0.30 "
        f"delta puts at 20-60 DTE: {result.target:.2f} vol points ({status}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="directory holding the chain")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report")
    args = parser.parse_args(argv)
    data_dir = args.data if args.data is not None else shared_data_dir()
    result = run_validation(data_dir)
    text = render(result)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    return 0 if result.target < TARGET_MEDIAN_IV_ERROR else 1


if __name__ == "__main__":
    sys.exit(main())
