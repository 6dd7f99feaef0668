"""Parameters of a model-priced chain (:class:`ModelChainParams`) and the underlyings it covers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from riskpilot.data.history import UnknownSymbolError
from riskpilot.data.model_chain.expirations import DEFAULT_EXPIRATION_ERAS, ExpirationEras
from riskpilot.data.surface import SmileShape, SpreadShape

MODEL_UNDERLYINGS: tuple[str, ...] = ("IWM", "QQQ", "SPX", "SPY")


@dataclass(frozen=True, slots=True)
class ModelChainParams:
    """Parameters of a model-priced chain. Defaults are the SPX fit (see the module doc);
    use :meth:`for_underlying` for an ETF's defaults.

    Surface (dimensionless unless stated): ``atm_vix_ratio`` ATM vol / VIX-family level;
    ``vol_scale`` multiplies every vol (``None``: the trailing realized-vol ratio to SPY, for
    QQQ/IWM); ``skew``, ``skew_term_exponent``, ``curvature_put``, ``curvature_call``, ``z_min``,
    ``z_max``: the smile in ``z = ln(K/F)/(sigma_atm sqrt(T years))``. ``dividend_yield``: continuous decimal
    per year, ``None`` for the trailing yield. Spread: ``spread_b*`` coefficients,
    ``spread_scale``, ``min_spread`` and ``tick`` in price units per share, ``max_spread_frac``
    of the mid. Grid: ``min_dte``/``max_dte`` calendar days, ``near_sd``/``band_sd`` in ATM
    standard deviations, ``max_moneyness`` as |ln(K/S)|, ``strike_steps`` as (price below,
    step) pairs, ``far_step_multiplier``. ``expirations``: the weekly eras and horizons.
    """

    atm_vix_ratio: float = 0.8625
    vol_scale: float | None = 1.0
    skew: float = -0.2519
    skew_term_exponent: float = 0.0827
    curvature_put: float = 0.0
    curvature_call: float = 0.0337
    z_min: float = -3.0
    z_max: float = 3.0
    dividend_yield: float | None = None
    spread_b0: float = -6.9634
    spread_b_log_mid: float = 0.3295
    spread_b_log_dte: float = 0.0818
    spread_b_log_vol: float = 0.7143
    spread_b_abs_z: float = -0.0214
    spread_scale: float = 1.0
    min_spread: float = 0.05
    max_spread_frac: float = 1.0
    tick: float = 0.01
    min_dte: int = 1
    max_dte: int = 120
    near_sd: float = 1.0
    band_sd: float = 2.5
    max_moneyness: float = 0.25
    strike_steps: tuple[tuple[float, float], ...] = ((math.inf, 5.0),)
    far_step_multiplier: int = 5
    expirations: ExpirationEras = field(default_factory=lambda: DEFAULT_EXPIRATION_ERAS["SPX"])

    def __post_init__(self) -> None:
        def bounded(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"ModelChainParams.{name} must be a number, got {value!r}")
            if not (low <= float(value) <= high):
                raise ValueError(
                    f"ModelChainParams.{name} must be within [{low}, {high}], got {value!r}"
                )

        bounded("atm_vix_ratio", 0.3, 2.0)
        if self.vol_scale is not None:
            bounded("vol_scale", 0.2, 5.0)
        if self.dividend_yield is not None:
            bounded("dividend_yield", -0.05, 0.2)
        for name in ("skew", "curvature_put", "curvature_call"):
            bounded(name, -20.0, 20.0)
        bounded("skew_term_exponent", -2.0, 2.0)
        bounded("z_min", -10.0, 0.0)
        bounded("z_max", 0.0, 10.0)
        for name in ("spread_b0", "spread_b_log_mid", "spread_b_log_dte", "spread_b_log_vol"):
            bounded(name, -50.0, 50.0)
        bounded("spread_b_abs_z", -50.0, 50.0)
        bounded("spread_scale", 0.0, 100.0)
        bounded("tick", 1e-4, 10.0)
        bounded("min_spread", self.tick, 100.0)
        bounded("max_spread_frac", 0.0, 10.0)
        bounded("min_dte", 0, 3650)
        bounded("max_dte", self.min_dte, 3650)
        if not isinstance(self.min_dte, int) or not isinstance(self.max_dte, int):
            raise TypeError("ModelChainParams.min_dte and max_dte must be whole calendar days")
        bounded("near_sd", 0.0, 20.0)
        bounded("band_sd", self.near_sd, 20.0)
        bounded("max_moneyness", 0.001, 3.0)
        if not isinstance(self.far_step_multiplier, int) or self.far_step_multiplier < 1:
            raise ValueError(
                f"ModelChainParams.far_step_multiplier must be an int >= 1, "
                f"got {self.far_step_multiplier!r}"
            )
        steps = self.strike_steps
        if not steps or any(len(s) != 2 or s[1] <= 0 for s in steps):
            raise ValueError(
                "ModelChainParams.strike_steps must be non-empty (price_below, step) pairs with "
                f"step > 0, e.g. ((25.0, 0.5), (inf, 1.0)); got {steps!r}"
            )
        if list(s[0] for s in steps) != sorted(s[0] for s in steps) or steps[-1][0] != math.inf:
            raise ValueError(
                "ModelChainParams.strike_steps thresholds must ascend and end with inf, "
                f"got {steps!r}"
            )
        if not isinstance(self.expirations, ExpirationEras):
            raise TypeError("ModelChainParams.expirations must be an ExpirationEras")

    @classmethod
    def for_underlying(cls, underlying: str, **overrides: object) -> ModelChainParams:
        """Defaults for ``underlying`` (SPX, SPY, QQQ, IWM), with keyword overrides."""
        symbol = check_underlying(underlying)
        base: dict[str, object] = {"expirations": DEFAULT_EXPIRATION_ERAS[symbol]}
        if symbol != "SPX":
            base.update(
                strike_steps=((25.0, 0.5), (math.inf, 1.0)),
                spread_scale=0.5,
                min_spread=0.01,
                vol_scale=1.0 if symbol == "SPY" else None,
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"unknown ModelChainParams field(s) {unknown}; known fields: {sorted(known)}"
            )
        base.update(overrides)
        return replace(cls(), **base)  # type: ignore[arg-type]

    def smile(self) -> SmileShape:
        return SmileShape(
            skew=self.skew,
            skew_term_exponent=self.skew_term_exponent,
            curvature_put=self.curvature_put,
            curvature_call=self.curvature_call,
            z_min=self.z_min,
            z_max=self.z_max,
        )

    def spread(self) -> SpreadShape:
        return SpreadShape(
            b0=self.spread_b0,
            b_log_mid=self.spread_b_log_mid,
            b_log_dte=self.spread_b_log_dte,
            b_log_vol=self.spread_b_log_vol,
            b_abs_z=self.spread_b_abs_z,
            spread_scale=self.spread_scale,
            min_spread=self.min_spread,
            max_spread_frac=self.max_spread_frac,
        )


def check_underlying(underlying: str) -> str:
    if not isinstance(underlying, str) or underlying.strip().upper() not in MODEL_UNDERLYINGS:
        raise UnknownSymbolError(
            f"no model chain for underlying {underlying!r}: model chains are built for "
            f"{', '.join(MODEL_UNDERLYINGS)} (the bundled history)"
        )
    return underlying.strip().upper()
