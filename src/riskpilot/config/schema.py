"""The YAML configuration (SPEC section 8 plus risk limits, exit-rule settings, methods and
regimes) as strict, frozen pydantic models.

Every model refuses unknown keys, every number is bounded, and cross-field rules are checked.
Loading (:func:`riskpilot.config.load_config`) turns pydantic's errors into messages that name
the dotted path and suggest the closest known key.

Layering of exit-rule settings: the top-level ``exit_rules`` (with SPEC's top-level
``trailing_stop``, ``partial_exits`` and ``liquidity`` sections standing for the rules
``trailing_stop``, ``partial_exit_target`` and ``liquidity_dried_up``) are the defaults; a
method's ``exit_rules`` override them key by key; ``regimes.exit_rules.<regime>`` override
them again while that regime holds.

Settings that can never act are refused (:meth:`RiskPilotConfig._cross_checks`; the list with
the reasoning is in ``docs/configuration.md``): on a credit method, a profit target, partial
stage or gamma-protection profit of 100% of the credit or more, or a trailing stop activating
at 100% or more; a partial stage at or beyond a profit target that outranks it; and (any
method) a trailing stop whose ``min_move_pct`` is not below its ``trailing_pct``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskpilot.config.brokers import BrokersConfig
from riskpilot.config.event_contracts import EventEntryConfig, FairValueConfig, KalshiConfig
from riskpilot.model.enums import Priority
from riskpilot.model.mark import MarkBasis, MarkChecks
from riskpilot.rules.circuit_breaker import CircuitBreakerParams
from riskpilot.rules.early_exit import EarlyExitParams
from riskpilot.rules.edge_disappeared import EdgeDisappearedParams
from riskpilot.rules.gamma_protection import GammaProtectionParams
from riskpilot.rules.liquidity_dried_up import LiquidityParams
from riskpilot.rules.max_holding_period import MaxHoldingPeriodParams
from riskpilot.rules.partial_exit_target import PartialExitParams
from riskpilot.rules.profit_target import ProfitTargetParams
from riskpilot.rules.rebalance import RebalanceParams
from riskpilot.rules.stop_loss import StopLossParams
from riskpilot.rules.time_based_urgent import TimeBasedUrgentParams
from riskpilot.rules.time_exit_dte import TimeExitDteParams
from riskpilot.rules.trailing_stop_rule import TrailingStopParams
from riskpilot.rules.volatility_scaled_stop import VolatilityScaledStopParams

PriorityName = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]
RegimeName = Literal["bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol"]
REGIME_NAMES: tuple[RegimeName, ...] = ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- monitoring ----------------------------------------------------------------------------
class UrgentConditions(Strict):
    near_stop_loss_pct: float = Field(0.02, ge=0, le=1)
    near_profit_target_pct: float = Field(0.02, ge=0, le=1)
    near_trailing_stop_pct: float = Field(0.02, ge=0, le=1)


class MarkSettings(Strict):
    """Marks that cannot be true hold their position (``docs/marks.md``): a quote stamped
    more than ``max_clock_skew_seconds`` in the future; a short leg bid at 0 whose half ask
    (times its quantity) exceeds ``one_sided_error_pct`` of the entry premium, its ask above
    ``one_sided_min_ask``; an option
    under its intrinsic value less a carry of ``carry_rate`` a year, by more than its spread;
    and (``confirm_jumps``) a move beyond ``jump_multiple`` x the range of the last
    ``jump_lookback_marks`` good marks (at least ``jump_min_range_pct`` of the entry premium),
    until the next quote confirms it. ``confirm_jumps``: ``live`` (the live monitor only:
    an end-of-day backtest or replay would act a whole day late), ``always``, ``never``."""

    max_clock_skew_seconds: float = Field(5, ge=0, le=300, description="seconds a quote may be ahead of now")
    one_sided_error_pct: float = Field(0.10, gt=0, le=10, description="share of the entry premium")
    one_sided_min_ask: float = Field(0.05, ge=0, le=100, description="dollars per share: never wide at or under")
    carry_rate: float = Field(0.10, ge=0, le=1, description="per year, interest rate or dividend yield")
    jump_multiple: float = Field(5, ge=1, le=1000, description="times the recent range")
    jump_lookback_marks: int = Field(10, ge=1, le=1000, description="good marks the recent range spans")
    jump_min_range_pct: float = Field(0.10, gt=0, le=10, description="share of the entry premium")
    confirm_jumps: Literal["live", "always", "never"] = "live"


class MonitoringConfig(Strict):
    normal_frequency: float = Field(30, gt=0, le=3600, description="seconds between checks")
    urgent_frequency: float = Field(5, gt=0, le=3600, description="seconds, near a trigger")
    urgent_conditions: UrgentConditions = UrgentConditions()
    price_cache_ttl_seconds: float = Field(10, ge=0, le=3600)
    max_api_calls_per_minute: int = Field(60, ge=1, le=10_000)
    max_quote_age_seconds: float = Field(60, gt=0, le=86_400)
    mark_basis: MarkBasis = MarkBasis.MID
    marks: MarkSettings = MarkSettings()

    def mark_checks(self) -> MarkChecks:
        """The checks :func:`riskpilot.model.mark.mark_position` and the risk manager apply."""
        m = self.marks
        return MarkChecks(self.max_quote_age_seconds, m.max_clock_skew_seconds, m.one_sided_error_pct,
                          m.one_sided_min_ask, m.carry_rate)

    def confirms_jumps(self, *, end_of_day: bool) -> bool:
        """Whether jumps wait for confirmation on this data (``marks.confirm_jumps``)."""
        mode = self.marks.confirm_jumps
        return mode == "always" or (mode == "live" and not end_of_day)

    @model_validator(mode="after")
    def _urgent_not_slower(self) -> MonitoringConfig:
        if self.urgent_frequency > self.normal_frequency:
            raise ValueError(
                f"urgent_frequency ({self.urgent_frequency:g}s) must not be slower than "
                f"normal_frequency ({self.normal_frequency:g}s)"
            )
        return self


# --- exit execution ------------------------------------------------------------------------
class ExecutionTactic(Strict):
    order_type: Literal["market", "limit"]
    price_strategy: Literal["aggressive", "fair", "conservative"] | None = None
    timeout_seconds: float = Field(gt=0, le=3600)
    retry_strategy: Literal["immediate_market", "walk_then_market", "walk_price", "walk_slowly"]
    max_walks: int = Field(0, ge=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionTactic:
        if self.order_type == "limit" and self.price_strategy is None:
            raise ValueError("a limit tactic needs a price_strategy (aggressive, fair or conservative)")
        if self.order_type == "market" and self.price_strategy is not None:
            raise ValueError("a market tactic takes no price_strategy")
        if self.order_type == "market" and self.retry_strategy != "immediate_market":
            raise ValueError("a market tactic retries with retry_strategy: immediate_market")
        if self.retry_strategy.startswith("walk") and self.max_walks < 1:
            raise ValueError(f"retry_strategy {self.retry_strategy} needs max_walks >= 1")
        return self


def _default_tactics() -> dict[PriorityName, ExecutionTactic]:
    return {
        "CRITICAL": ExecutionTactic(
            order_type="market", timeout_seconds=5, retry_strategy="immediate_market"
        ),
        "HIGH": ExecutionTactic(
            order_type="limit", price_strategy="aggressive", timeout_seconds=10,
            retry_strategy="walk_then_market", max_walks=2,
        ),
        "MEDIUM": ExecutionTactic(
            order_type="limit", price_strategy="fair", timeout_seconds=30,
            retry_strategy="walk_price", max_walks=5,
        ),
        "LOW": ExecutionTactic(
            order_type="limit", price_strategy="conservative", timeout_seconds=60,
            retry_strategy="walk_slowly", max_walks=10,
        ),
    }


def _default_priorities() -> dict[PriorityName, list[str]]:
    return {
        "CRITICAL": ["stop_loss", "volatility_scaled_stop", "circuit_breaker"],
        "HIGH": ["trailing_stop", "time_based_urgent", "liquidity_dried_up"],
        "MEDIUM": ["profit_target", "partial_exit_target", "time_exit_dte", "gamma_protection"],
        "LOW": ["early_exit", "edge_disappeared", "rebalance", "max_holding_period"],
    }


# --- exit rules ----------------------------------------------------------------------------
class ExitRulesConfig(Strict):
    """Settings of every exit rule, by rule name."""

    stop_loss: StopLossParams = StopLossParams()
    volatility_scaled_stop: VolatilityScaledStopParams = VolatilityScaledStopParams()
    circuit_breaker: CircuitBreakerParams = CircuitBreakerParams()
    trailing_stop: TrailingStopParams = TrailingStopParams()
    time_based_urgent: TimeBasedUrgentParams = TimeBasedUrgentParams()
    liquidity_dried_up: LiquidityParams = LiquidityParams()
    profit_target: ProfitTargetParams = ProfitTargetParams()
    partial_exit_target: PartialExitParams = PartialExitParams()
    time_exit_dte: TimeExitDteParams = TimeExitDteParams()
    gamma_protection: GammaProtectionParams = GammaProtectionParams()
    early_exit: EarlyExitParams = EarlyExitParams()
    edge_disappeared: EdgeDisappearedParams = EdgeDisappearedParams()
    rebalance: RebalanceParams = RebalanceParams()
    max_holding_period: MaxHoldingPeriodParams = MaxHoldingPeriodParams()

    @field_validator("trailing_stop")
    @classmethod
    def _trail_moves_within_its_trail(cls, ts: TrailingStopParams) -> TrailingStopParams:
        # The stop moves only once the peak has gained min_move_pct over the stop's last base,
        # so it can lag the peak by trailing_pct + min_move_pct: a min_move at or above the
        # trail makes the stop lag by more than twice what the trail says.
        if ts.min_move_pct >= ts.trailing_pct:
            raise ValueError(
                f"min_move_pct ({ts.min_move_pct:g}) must be below trailing_pct "
                f"({ts.trailing_pct:g}): the stop moves only after the premium gains "
                "min_move_pct, so it would trail by more than twice trailing_pct"
            )
        return ts


RULE_NAMES: tuple[str, ...] = tuple(ExitRulesConfig.model_fields)

#: SPEC section 8's top-level sections and the rule each configures.
TOP_LEVEL_RULE_SECTIONS = {
    "trailing_stop": "trailing_stop",
    "partial_exits": "partial_exit_target",
    "liquidity": "liquidity_dried_up",
}


# --- risk ----------------------------------------------------------------------------------
def _default_classes() -> dict[str, list[str]]:
    return {"us_equity_index": ["SPY", "QQQ", "IWM", "SPX", "XSP", "NDX", "RUT", "DIA"]}


class RiskLimits(Strict):
    """Portfolio limits, as fractions of account equity unless stated."""

    max_portfolio_heat_pct: float = Field(0.20, gt=0, le=1, description="sum of max losses")
    max_underlying_pct: float = Field(0.10, gt=0, le=1, description="max loss in one underlying")
    max_position_pct: float = Field(0.05, gt=0, le=1, description="max loss of one position")
    max_positions_per_class: int = Field(3, ge=1, le=1000)
    max_class_exposure_pct: float = Field(
        0.50, gt=0, le=10, description="max loss in one correlation class"
    )
    correlation_classes: dict[str, list[str]] = Field(default_factory=_default_classes)
    max_delta_pct: float | None = Field(
        1.0, gt=0, le=100, description="|net dollar delta| / equity"
    )
    max_gamma_pct: float | None = Field(
        0.10, gt=0, le=100, description="|dollar gamma per 1% move| / equity"
    )
    daily_loss_limit_pct: float | None = Field(0.03, gt=0, le=1)

    @model_validator(mode="after")
    def _checks(self) -> RiskLimits:
        if self.max_underlying_pct > self.max_portfolio_heat_pct:
            raise ValueError(
                f"max_underlying_pct ({self.max_underlying_pct}) cannot exceed "
                f"max_portfolio_heat_pct ({self.max_portfolio_heat_pct})"
            )
        if self.max_position_pct > self.max_underlying_pct:
            raise ValueError(
                f"max_position_pct ({self.max_position_pct}) cannot exceed "
                f"max_underlying_pct ({self.max_underlying_pct})"
            )
        seen: dict[str, str] = {}
        for cls, symbols in self.correlation_classes.items():
            for s in symbols:
                if s in seen:
                    raise ValueError(
                        f"symbol {s} is in two correlation classes: {seen[s]} and {cls}"
                    )
                seen[s] = cls
        return self


def _default_multipliers() -> dict[RegimeName, float]:
    return {"bull_low_vol": 1.0, "bull_high_vol": 0.75, "bear_low_vol": 0.5, "bear_high_vol": 0.40}


class RegimeConfig(Strict):
    """Regime = trend (close above/below its ``trend_sma_days`` moving average) x volatility
    (VIX at/above ``vix_high_threshold`` is high)."""

    trend_sma_days: int = Field(200, ge=2, le=1000)
    vix_high_threshold: float = Field(20.0, gt=0, le=200)
    multipliers: dict[RegimeName, float] = Field(default_factory=_default_multipliers)
    exit_rules: dict[RegimeName, dict[str, dict[str, Any]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _multipliers(self) -> RegimeConfig:
        missing = [r for r in REGIME_NAMES if r not in self.multipliers]
        if missing:
            raise ValueError(f"multipliers missing for regimes {missing}")
        for name, m in self.multipliers.items():
            if not 0 <= m <= 2:
                raise ValueError(f"multipliers.{name} must be between 0 and 2, got {m}")
        return self


# --- methods -------------------------------------------------------------------------------
StrategyKind = Literal[
    "put_credit_spread", "call_credit_spread", "iron_condor", "short_put", "short_call",
    "short_strangle", "long_call", "long_put",
]
#: Strategies opened for a net credit (the rest are bought for a debit).
CREDIT_STRATEGIES: frozenset[str] = frozenset({
    "put_credit_spread", "call_credit_spread", "iron_condor", "short_put", "short_call",
    "short_strangle",
})


#: The spread width used when a method names none: a share of the underlying's price (0.01 =
#: 1%: about 30 points on SPX at 3,000, 3 on SPY at 300), so a spread is as wide, relative to
#: the underlying, whatever it trades at. A fixed width in points is not: 5 points is 1.7% of
#: SPY at 300 and 0.17% of SPX at 3,000, where a 0.10-delta spread collects 0.10-0.20.
DEFAULT_WIDTH_PCT_OF_SPOT = 0.01


class StrategyConfig(Strict):
    """The structure a method trades. A spread's wing (the long leg) is placed by one of
    ``width_points`` (points), ``width_pct_of_spot`` (a fraction of the underlying's price on
    the entry day) or ``long_delta`` (the long leg's |delta|); with none of them given, the
    width is :data:`DEFAULT_WIDTH_PCT_OF_SPOT` of spot."""

    kind: StrategyKind = "put_credit_spread"
    width_points: float | None = Field(None, gt=0, le=10_000)
    width_pct_of_spot: float | None = Field(None, gt=0, le=0.5, description="width as a fraction of spot")
    long_delta: float | None = Field(None, gt=0, lt=1, description="width by the long leg's |delta|")

    @model_validator(mode="before")
    @classmethod
    def _default_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and all(data.get(k) is None
                                          for k in ("width_points", "width_pct_of_spot", "long_delta")):
            data = {**data, "width_pct_of_spot": DEFAULT_WIDTH_PCT_OF_SPOT}
        return data

    @model_validator(mode="after")
    def _width(self) -> StrategyConfig:
        given = [k for k in ("width_points", "width_pct_of_spot", "long_delta") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of width_points, width_pct_of_spot or long_delta, not {' and '.join(given)}")
        return self


class EntryFilters(Strict):
    min_delta: float = Field(0.05, gt=0, lt=1, description="short strike |delta|")
    max_delta: float = Field(0.15, gt=0, lt=1)
    min_dte: int = Field(30, ge=0, le=3650)
    max_dte: int = Field(60, ge=0, le=3650)
    min_iv_rank: float | None = Field(None, ge=0, le=100)
    max_iv_rank: float | None = Field(None, ge=0, le=100)
    min_iv_percentile: float | None = Field(
        None, ge=0, le=100, description="% of the trailing year's days with a lower IV"
    )
    max_iv_percentile: float | None = Field(None, ge=0, le=100)
    vix_min: float | None = Field(None, ge=0, le=200)
    vix_max: float | None = Field(45.0, ge=0, le=200, description="no entries above (extreme)")

    @model_validator(mode="after")
    def _ranges(self) -> EntryFilters:
        if self.min_delta > self.max_delta:
            raise ValueError(f"min_delta ({self.min_delta}) is above max_delta ({self.max_delta})")
        if self.min_dte > self.max_dte:
            raise ValueError(f"min_dte ({self.min_dte}) is above max_dte ({self.max_dte})")
        if (
            self.min_iv_rank is not None
            and self.max_iv_rank is not None
            and self.min_iv_rank > self.max_iv_rank
        ):
            raise ValueError(
                f"min_iv_rank ({self.min_iv_rank}) is above max_iv_rank ({self.max_iv_rank})"
            )
        if (
            self.min_iv_percentile is not None
            and self.max_iv_percentile is not None
            and self.min_iv_percentile > self.max_iv_percentile
        ):
            raise ValueError(
                f"min_iv_percentile ({self.min_iv_percentile}) is above "
                f"max_iv_percentile ({self.max_iv_percentile})"
            )
        if self.vix_min is not None and self.vix_max is not None and self.vix_min > self.vix_max:
            raise ValueError(f"vix_min ({self.vix_min}) is above vix_max ({self.vix_max})")
        return self


class SizingConfig(Strict):
    max_risk_per_trade_pct: float = Field(0.02, gt=0, le=1, description="max loss / equity")
    max_contracts: int = Field(10, ge=1, le=100_000)


class MethodConfig(Strict):
    """A named bundle: strategy, entry filters, exit rules and sizing."""

    description: str = ""
    strategy: StrategyConfig = StrategyConfig()
    entry: EntryFilters = EntryFilters()
    exit_rules: ExitRulesConfig = ExitRulesConfig()
    sizing: SizingConfig = SizingConfig()


def _default_methods() -> dict[str, MethodConfig]:
    return {"default": MethodConfig()}


# --- alerts --------------------------------------------------------------------------------
class AlertsConfig(Strict):
    """Notification channels as apprise URLs (``discord://...``, ``slack://...``,
    ``mailto://...``, ``json://host/path``); ``RISKPILOT_ALERT_URLS`` adds more. With none, the
    console (stderr) is the channel. Every alert is stored whatever the channels."""

    urls: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(10, gt=0, le=300, description="per delivery, all channels")

    @model_validator(mode="after")
    def _urls_look_like_urls(self) -> AlertsConfig:
        for i, url in enumerate(self.urls):
            if "://" not in url:
                raise ValueError(f"urls[{i}] {url!r} is not an apprise URL such as discord://webhook_id/token")
        return self


# --- root ----------------------------------------------------------------------------------
class RiskPilotConfig(Strict):
    monitoring: MonitoringConfig = MonitoringConfig()
    alerts: AlertsConfig = AlertsConfig()
    exit_priorities: dict[PriorityName, list[str]] = Field(default_factory=_default_priorities)
    exit_execution: dict[PriorityName, ExecutionTactic] = Field(default_factory=_default_tactics)
    exit_rules: ExitRulesConfig = ExitRulesConfig()
    risk: RiskLimits = RiskLimits()
    regimes: RegimeConfig = RegimeConfig()
    methods: dict[str, MethodConfig] = Field(default_factory=_default_methods)
    brokers: BrokersConfig = BrokersConfig()
    #: Binary event contracts: the fair-probability source of the edge rules, and the venue.
    fair_value: FairValueConfig | None = None
    event_entries: EventEntryConfig = EventEntryConfig()
    kalshi: KalshiConfig = KalshiConfig()

    @model_validator(mode="before")
    @classmethod
    def _layer_rule_settings(cls, data: Any) -> Any:
        """Fold SPEC's top-level rule sections into ``exit_rules`` and layer the defaults
        under every method's overrides, so the typed validation below sees complete
        settings and reports exact dotted paths."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not isinstance(data.get("exit_rules") or {}, dict):
            return data  # the field's own validation names the problem
        base = dict(data.get("exit_rules") or {})
        for section, rule in TOP_LEVEL_RULE_SECTIONS.items():
            if section in data:
                if rule in base:
                    raise ValueError(
                        f"{section} and exit_rules.{rule} configure the same rule; keep one"
                    )
                base[rule] = data.pop(section)
        data["exit_rules"] = base
        # Without a methods section the one default method still inherits the defaults.
        methods = data.setdefault("methods", {"default": {}})
        if isinstance(methods, dict):
            layered = {}
            for name, m in methods.items():
                if isinstance(m, dict) and isinstance(m.get("exit_rules") or {}, dict):
                    m = dict(m)
                    m["exit_rules"] = _deep_merge(base, m.get("exit_rules") or {})
                layered[name] = m
            data["methods"] = layered
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> RiskPilotConfig:
        problems: list[str] = []
        seen: dict[str, str] = {}
        for pri, names in self.exit_priorities.items():
            for n in names:
                if n not in RULE_NAMES:
                    import difflib

                    close = difflib.get_close_matches(n, RULE_NAMES, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    problems.append(f"exit_priorities.{pri}: unknown rule {n!r}{hint}")
                elif n in seen:
                    problems.append(f"exit_priorities: rule {n!r} is under both {seen[n]} and {pri}")
                seen[n] = pri
        missing = [p for p in ("CRITICAL", "HIGH", "MEDIUM", "LOW") if p not in self.exit_execution]
        if missing:
            problems.append(f"exit_execution needs a tactic for {missing}")
        if not self.methods:
            problems.append("methods: define at least one method")
        for regime, overrides in self.regimes.exit_rules.items():
            try:
                ExitRulesConfig.model_validate(_deep_merge(self.exit_rules.model_dump(), overrides))
            except ValidationError as exc:
                problems.extend(_override_errors(f"regimes.exit_rules.{regime}", exc))
        if not problems:
            problems.extend(self._unreachable_settings())
        if problems:
            raise ValueError("\n".join(dict.fromkeys(problems)))
        return self

    def _unreachable_settings(self) -> list[str]:
        """Settings that can never act (see :func:`_unreachable`), each under the path where it
        was written: the top level when a method inherits it, else ``methods.M``; a problem
        only a regime's overrides create, under ``regimes.exit_rules.R``."""
        order = self.tie_break_order()
        found: dict[tuple[str, str], list[str]] = {}

        def add(path: str, why: str, method: str) -> None:
            found.setdefault((path, why), []).append(method)

        for name, method in self.methods.items():
            kind = method.strategy.kind
            own = {(rule, key): why for rule, key, why in _unreachable(method.exit_rules, kind, order)}
            for (rule, key), why in own.items():
                inherited = _same_setting(getattr(method.exit_rules, rule),
                                          getattr(self.exit_rules, rule), key)
                path = f"exit_rules.{rule}.{key}" if inherited else f"methods.{name}.exit_rules.{rule}.{key}"
                add(path, why, f"{name} ({kind})")
            for regime, overrides in self.regimes.exit_rules.items():
                merged = ExitRulesConfig.model_validate(_deep_merge(method.exit_rules.model_dump(), overrides))
                for rule, key, why in _unreachable(merged, kind, order, relations=False):
                    if (rule, key) not in own:
                        add(f"regimes.exit_rules.{regime}.{rule}.{key}", why, f"{name} ({kind})")
        return [f"{path}: {why} (method{'s' if len(methods) > 1 else ''} {', '.join(methods)})"
                for (path, why), methods in found.items()]

    # --- accessors -------------------------------------------------------------------
    def priority_of(self) -> dict[str, Priority]:
        return {n: Priority[p] for p, names in self.exit_priorities.items() for n in names}

    def tie_break_order(self) -> list[str]:
        """Rule names in priority order as listed (the evaluator's tie-break)."""
        order: list[str] = []
        for names in self.exit_priorities.values():
            order.extend(names)
        return order

    def method(self, name: str) -> MethodConfig:
        try:
            return self.methods[name]
        except KeyError:
            raise KeyError(
                f"no method named {name!r} in the configuration (methods: {sorted(self.methods)})"
            ) from None

    def exit_rules_for(self, method: str, regime: RegimeName | None = None) -> ExitRulesConfig:
        rules = self.method(method).exit_rules
        if regime is None or regime not in self.regimes.exit_rules:
            return rules
        return ExitRulesConfig.model_validate(
            _deep_merge(rules.model_dump(), self.regimes.exit_rules[regime])
        )


def _unreachable(rules: ExitRulesConfig, kind: str, order: list[str], *,
                 relations: bool = True) -> Iterator[tuple[str, str, str]]:
    """(rule, setting, why) for each enabled setting of ``rules`` that can never act for a
    method trading ``kind``, given the rule order ``order`` (priority, then tie-break).
    ``relations``: also check settings made unreachable by another rule (a partial stage at or
    beyond a profit target that outranks it); off for regime overrides, where a lower target
    that takes the whole position in one regime is a choice, not a contradiction."""
    credit = kind in CREDIT_STRATEGIES
    never = ("can never fire: a credit position's profit is at most 100% of the credit (bought "
             "back at 0); give a fraction below 1 (0.50 = 50%) or disable the rule")
    pt, pe = rules.profit_target, rules.partial_exit_target
    if credit and pt.enabled and pt.profit_target_pct >= 1:
        yield "profit_target", "profit_target_pct", f"{pt.profit_target_pct:g} {never}"
    if pe.enabled:
        for i, stage in enumerate(pe.stages):
            key = f"stages.{i}.profit_threshold"
            if credit and stage.profit_threshold >= 1:
                yield "partial_exit_target", key, f"{stage.profit_threshold:g} {never}"
            elif (relations and pt.enabled and stage.profit_threshold >= pt.profit_target_pct
                  and _ranks_before("profit_target", "partial_exit_target", order)):
                yield "partial_exit_target", key, (
                    f"stage {stage.name!r} at {stage.profit_threshold:g} can never fire: the profit "
                    f"target at {pt.profit_target_pct:g} fires first (or with it, and outranks "
                    "it) and closes the whole position; put the stage below the target")
    gp = rules.gamma_protection
    if credit and gp.enabled and gp.gamma_protection_pnl >= 1:
        yield "gamma_protection", "gamma_protection_pnl", f"{gp.gamma_protection_pnl:g} {never}"
    ts = rules.trailing_stop
    if credit and ts.enabled and ts.trail_credit and ts.activation_pct >= 100:
        yield "trailing_stop", "activation_pct", (
            f"{ts.activation_pct:g} can never activate: a credit premium can fall at most 100% "
            "(to 0); give a percent below 100, or enabled: false to turn the stop off")


def _ranks_before(first: str, second: str, order: list[str]) -> bool:
    """True when ``first`` wins over ``second`` when both fire (earlier in priority order; a
    rule missing from exit_priorities ranks last)."""
    def rank(name: str) -> int:
        return order.index(name) if name in order else len(order)

    return rank(first) < rank(second)


def _same_setting(a: BaseModel, b: BaseModel, key: str) -> bool:
    """Whether two rule settings agree on ``key`` (``stages.0.profit_threshold`` compares the
    stages) and on ``enabled``: the method inherited it from the top level."""
    field = key.split(".", 1)[0]
    return bool(getattr(a, field) == getattr(b, field)
                and getattr(a, "enabled", True) == getattr(b, "enabled", True))


def _override_errors(prefix: str, exc: ValidationError) -> list[str]:
    """One line per error of a partial override, with its full dotted path."""
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {err['loc'][-1]!r}"
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        out.append(f"{prefix}.{loc}: {msg}{shown}" if loc else f"{prefix}: {msg}{shown}")
    return out


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
