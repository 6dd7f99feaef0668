"""`--help` defaults read from the effective configuration when the help is shown.

An option's help names its default with a placeholder: ``{cfg:NAME}`` for a setting of the
configuration (``min_delta``, ``profit_target``, ``width``...) and ``{spec:FIELD}`` for a
field of :class:`riskpilot.backtest.runner.BacktestSpec`. :class:`ConfigDefaultsCommand`
fills them in only when the help is rendered, from ``--config FILE`` and ``--method NAME``
when they are on the same command line (else the built-in configuration), and adds an epilog
with the method's exit rules. So `riskpilot --help` imports nothing heavy, and no default is
written twice by hand. A configuration that does not load shows the built-in defaults, and
the epilog says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typer.core import TyperCommand

if TYPE_CHECKING:
    from riskpilot.config import RiskPilotConfig
    from riskpilot.config.schema import MethodConfig

_ARGS = "riskpilot.help_defaults.args"
_PLACEHOLDER = re.compile(r"\{(cfg|spec):([a-z_]+)\}")


def _option_value(args: Sequence[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _g(x: float) -> str:
    return f"{x:g}"


def config_defaults(method_cfg: MethodConfig, config: RiskPilotConfig) -> dict[str, str]:
    """The flag-named defaults of one method of ``config``, as text."""
    m, e, rules = method_cfg, method_cfg.entry, method_cfg.exit_rules
    s = m.strategy
    if s.width_points is not None:
        width = f"{_g(s.width_points)} points"
    elif s.width_pct_of_spot is not None:
        width = f"{_g(s.width_pct_of_spot * 100)}% of spot"
    elif s.long_delta is not None:
        width = f"long leg at {_g(s.long_delta)} |delta|"
    else:
        width = "none"
    from riskpilot.config.schema import CREDIT_STRATEGIES

    credit = s.kind in CREDIT_STRATEGIES
    sl = rules.stop_loss
    stop = (sl.stop_loss_pct if credit else sl.debit_stop_loss_pct) * 100
    pt, td = rules.profit_target, rules.time_exit_dte
    return {
        "strategy": s.kind,
        "width": width,
        "min_delta": _g(e.min_delta),
        "max_delta": _g(e.max_delta),
        "min_dte": str(e.min_dte),
        "max_dte": str(e.max_dte),
        "min_iv_percentile": "off" if e.min_iv_percentile is None else _g(e.min_iv_percentile),
        "max_iv_percentile": "off" if e.max_iv_percentile is None else _g(e.max_iv_percentile),
        "profit_target": _g(pt.profit_target_pct * 100) if pt.enabled else "off",
        "stop_loss": _g(stop) if sl.enabled else "off",
        "time_exit_dte": str(td.time_exit_dte) if td.enabled else "off",
        "max_correlated_exposure": _g(config.risk.max_class_exposure_pct * 100),
    }


def rules_epilog(method_cfg: MethodConfig) -> str:
    """The method's exit rules in one paragraph (what the flags do not show)."""
    r = method_cfg.exit_rules
    parts = []
    ts = r.trailing_stop
    if ts.enabled:
        parts.append(f"trailing stop {_g(ts.activation_pct)}%/{_g(ts.trailing_pct)}% "
                     f"({'credit and debit' if ts.trail_credit else 'debit positions only; off for credit'})")
    else:
        parts.append("trailing stop off")
    pe = r.partial_exit_target
    if pe.enabled and pe.stages:
        stages = ", ".join(f"{_g(st.exit_percentage)}% at +{_g(st.profit_threshold * 100)}%" for st in pe.stages)
        parts.append(f"partial exits {stages}" + (" (only when the natural side still locks in profit)"
                                                  if pe.lock_in_profit else ""))
    else:
        parts.append("partial exits off")
    gp = r.gamma_protection
    if gp.enabled:
        parts.append(f"gamma protection at {gp.gamma_protection_dte} DTE and +{_g(gp.gamma_protection_pnl * 100)}%")
    lq = r.liquidity_dried_up
    if lq.enabled:
        parts.append(f"liquidity: the closing legs' spread over {_g(lq.max_relative_spread * 100)}% of mid, or "
                     f"volume under {lq.min_volume} above a {_g(lq.thin_market_relative_spread * 100)}% spread")
    return "; ".join(parts)


def _spec_defaults() -> dict[str, str]:
    from riskpilot.backtest.runner import BacktestSpec

    out = {}
    for name, info in BacktestSpec.model_fields.items():
        d = info.default
        out[name] = "none" if d is None else _g(d) if isinstance(d, float) else str(d)
    return out


def _effective(args: Sequence[str]) -> tuple[dict[str, str], str]:
    """(flag defaults, epilog) for the configuration the command line names."""
    from riskpilot.config import ConfigError, RiskPilotConfig, load_config

    path, method = _option_value(args, "--config"), _option_value(args, "--method")
    note = ""
    config = RiskPilotConfig()
    source = "the built-in configuration"
    if path is not None:
        try:
            config = load_config(Path(path))
            source = path
        except (ConfigError, OSError) as exc:
            note = f" (--config {path} does not load: {str(exc).splitlines()[0]})"
    names = sorted(config.methods)
    name = method if method in config.methods else names[0]
    if method is None and len(names) > 1:
        note += f" (the file defines {len(names)} methods: pass --method to see another's)"
    mcfg = config.method(name)
    epilog = (f"Defaults shown: {source}, method {name}{note}. Its exit rules: {rules_epilog(mcfg)}. "
              f"Flags are written over the configuration.")
    return config_defaults(mcfg, config), epilog


def fill_help(command: TyperCommand, args: Sequence[str]) -> None:
    """Replace every placeholder of ``command``'s options by its default (module docstring)."""
    cfg, epilog = _effective(args)
    spec = _spec_defaults()
    values = {"cfg": cfg, "spec": spec}

    def sub(m: re.Match[str]) -> str:
        value = values[m[1]].get(m[2])
        return f"(default: {value})" if value is not None else ""

    for param in command.params:
        template: str | None = getattr(param, "_riskpilot_help", None)
        if template is None:
            template = getattr(param, "help", None)
            if template is None:
                continue
            param._riskpilot_help = template  # type: ignore[attr-defined]
        param.help = _PLACEHOLDER.sub(sub, template).strip()  # type: ignore[attr-defined]
    command.epilog = epilog


class ConfigDefaultsCommand(TyperCommand):
    """A command whose option defaults are read at help time (module docstring). The
    context and formatter are typer's own (it bundles its click), hence ``Any``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        fill_help(self, ctx.meta.get(_ARGS, []))
        super().format_help(ctx, formatter)

    def get_help(self, ctx: Any) -> str:
        fill_help(self, ctx.meta.get(_ARGS, []))
        return super().get_help(ctx)


__all__ = ["ConfigDefaultsCommand", "config_defaults", "fill_help", "rules_epilog"]
