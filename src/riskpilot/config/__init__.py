"""Configuration: the YAML schema, loading and validation, and redaction of its secrets."""

from riskpilot.config.loader import ConfigError, config_from_dict, load_config, parse_config
from riskpilot.config.redact import redact_config_text, redact_text, redact_url
from riskpilot.config.schema import (
    ExecutionTactic,
    ExitRulesConfig,
    MethodConfig,
    MonitoringConfig,
    RegimeConfig,
    RiskLimits,
    RiskPilotConfig,
)

__all__ = [
    "ConfigError",
    "ExecutionTactic",
    "ExitRulesConfig",
    "MethodConfig",
    "MonitoringConfig",
    "RegimeConfig",
    "RiskLimits",
    "RiskPilotConfig",
    "config_from_dict",
    "load_config",
    "parse_config",
    "redact_config_text",
    "redact_text",
    "redact_url",
]
