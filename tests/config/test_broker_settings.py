"""IBKR connection settings: YAML block, environment variables and flags, strictly checked."""

from __future__ import annotations

import pytest

from riskpilot.config import ConfigError, parse_config
from riskpilot.config.brokers import BrokerSettingsError, ibkr_settings


def test_yaml_block_is_read_and_environment_wins_over_it() -> None:
    cfg = parse_config("brokers:\n  ibkr: {port: 4001, client_id: 3, account: U123}\n")
    s = ibkr_settings(cfg.brokers.ibkr, {"RISKPILOT_IBKR_PORT": "4002", "RISKPILOT_IBKR_HOST": "10.0.0.5"})
    assert (s.host, s.port, s.client_id, s.account) == ("10.0.0.5", 4002, 3, "U123")
    assert ibkr_settings(s, {}, port=7497, client_id=None).port == 7497  # flags win; None flags do not count


def test_unknown_yaml_key_under_brokers_ibkr_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"brokers.ibkr.prot: unknown key 'prot'; did you mean 'port'"):
        parse_config("brokers: {ibkr: {prot: 4001}}")


def test_unknown_environment_variable_is_refused_with_a_suggestion() -> None:
    with pytest.raises(BrokerSettingsError, match="RISKPILOT_IBKR_CLIENTID: unknown setting; did you mean "
                                                  "RISKPILOT_IBKR_CLIENT_ID"):
        ibkr_settings(None, {"RISKPILOT_IBKR_CLIENTID": "3"})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(BrokerSettingsError, match=r"RISKPILOT_IBKR_PORT: .*65535"):
        ibkr_settings(None, {"RISKPILOT_IBKR_PORT": "99999"})


def test_pacing_above_ibs_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_messages_per_second"):
        parse_config("brokers: {ibkr: {max_messages_per_second: 80}}")
