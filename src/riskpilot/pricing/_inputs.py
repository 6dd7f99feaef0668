"""Validation and broadcasting of pricing inputs.

Every public pricing function accepts scalars or arrays for each argument and broadcasts them
with numpy's rules. A NaN in any numeric input is allowed (option chains have holes) and makes
that element's output NaN; nonsense values (a negative strike, an infinite spot, an integer
``is_call``) raise with a message that names the argument and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_MISSING_HINT = "use NaN to mark a missing value"


def _first_bad(arr: FloatArray, bad: BoolArray) -> str:
    """Describe the first offending element so the caller can find it in a large chain."""
    idx = np.argwhere(bad)[0]
    where = "" if arr.ndim == 0 else f" at index {tuple(int(i) for i in idx)}"
    return f"{float(arr[tuple(idx)])!r}{where}"


def as_float(name: str, value: npt.ArrayLike) -> FloatArray:
    """Convert to a float64 array, refusing infinities and non-numeric input (NaN passes)."""
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}: {exc}") from exc
    infinite = np.isinf(arr)
    if infinite.any():
        raise ValueError(f"{name} must be finite, got {_first_bad(arr, infinite)}; {_MISSING_HINT}")
    return arr


def check_positive(name: str, arr: FloatArray) -> None:
    """Refuse values <= 0 (NaN passes: it marks a hole in the chain)."""
    bad = arr <= 0.0
    if bad.any():
        raise ValueError(f"{name} must be > 0, got {_first_bad(arr, bad)}; {_MISSING_HINT}")


def check_non_negative(name: str, arr: FloatArray, unit: str) -> None:
    """Refuse values < 0 (NaN passes)."""
    bad = arr < 0.0
    if bad.any():
        raise ValueError(f"{name} must be >= 0 ({unit}), got {_first_bad(arr, bad)}; {_MISSING_HINT}")


def as_bool(name: str, value: npt.ArrayLike) -> BoolArray:
    """Accept only bool or a bool array: an int or string flag is too easy to get backwards."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise TypeError(
            f"{name} must be bool or a bool array (True for calls, False for puts), got dtype "
            f"{arr.dtype}; convert first, e.g. is_call = (rights == 'C')"
        )
    return arr


@dataclass(frozen=True, slots=True)
class MarketInputs:
    """Broadcast, validated inputs. ``missing`` marks elements with a NaN in any input."""

    spot: FloatArray
    strike: FloatArray
    t_years: FloatArray
    rate: FloatArray
    div_yield: FloatArray
    is_call: BoolArray
    missing: BoolArray


def market_inputs(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
    *extra: tuple[str, FloatArray],
) -> tuple[MarketInputs, tuple[FloatArray, ...]]:
    """Validate the market arguments shared by every function and broadcast them together with
    ``extra`` (already validated named arrays such as vol or price).

    Returns the market inputs and the broadcast extras, in order. Raises ValueError when the
    shapes cannot be broadcast together, naming the shapes.
    """
    s = as_float("spot", spot)
    check_positive("spot", s)
    k = as_float("strike", strike)
    check_positive("strike", k)
    t = as_float("t_years", t_years)
    check_non_negative("t_years", t, "years to expiry, ACT/365")
    r = as_float("rate", rate)
    q = as_float("div_yield", div_yield)
    c = as_bool("is_call", is_call)
    named: list[tuple[str, npt.NDArray[np.generic]]] = [
        ("spot", s),
        ("strike", k),
        ("t_years", t),
        ("rate", r),
        ("div_yield", q),
        ("is_call", c),
        *extra,
    ]
    try:
        out = np.broadcast_arrays(*(a for _, a in named))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in named)
        raise ValueError(
            f"pricing inputs cannot be broadcast together: {shapes}; give scalars or arrays "
            "of one common (broadcastable) shape"
        ) from exc
    floats = [out[i] for i in (0, 1, 2, 3, 4)] + list(out[6:])
    missing = np.zeros(out[0].shape, dtype=np.bool_)
    for a in floats:
        missing |= np.isnan(a)
    mi = MarketInputs(
        spot=out[0].astype(np.float64, copy=False),
        strike=out[1].astype(np.float64, copy=False),
        t_years=out[2].astype(np.float64, copy=False),
        rate=out[3].astype(np.float64, copy=False),
        div_yield=out[4].astype(np.float64, copy=False),
        is_call=out[5].astype(np.bool_, copy=False),
        missing=missing,
    )
    extras = tuple(a.astype(np.float64, copy=False) for a in out[6:])
    return mi, extras
