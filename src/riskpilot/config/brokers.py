"""Broker connection settings: the ``brokers:`` block of the YAML, and the environment.

```yaml
brokers:
  ibkr:
    host: 127.0.0.1
    port: 4002            # IB Gateway paper; 4001 Gateway live, 7497 TWS paper, 7496 TWS live
    client_id: 17
    account: DU1234567    # required when the login manages several accounts
    market_data_type: live
    unknown_positions: ignore   # a holding the store does not know: ignore (report) or adopt
    adopt_method: default       # the method adopted positions are managed by
```

Environment variables ``RISKPILOT_IBKR_<KEY>`` (``RISKPILOT_IBKR_HOST``, ``_PORT``,
``_CLIENT_ID``, ``_ACCOUNT``, or any other key in upper case) win over the file; an unknown
``RISKPILOT_IBKR_*`` name is refused, like an unknown key in the file.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_PREFIX = "RISKPILOT_IBKR_"

#: IB's reqMarketDataType codes.
MARKET_DATA_TYPES: Mapping[str, int] = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IbkrConfig(_Strict):
    """How to reach IB Gateway or TWS, and the adapter's limits. Times in seconds."""

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(4002, ge=1, le=65535)
    client_id: int = Field(1, ge=0, le=2_147_483_647)
    account: str | None = Field(None, min_length=1, description="None: the login's only account")
    connect_timeout_seconds: float = Field(5, gt=0, le=120)
    request_timeout_seconds: float = Field(10, gt=0, le=300, description="contract details, market rules")
    order_ack_timeout_seconds: float = Field(5, gt=0, le=120, description="wait for IB to acknowledge an order")
    first_quote_timeout_seconds: float = Field(2, gt=0, le=60, description="wait for a new line's first quote")
    commission_timeout_seconds: float = Field(
        10, ge=0, le=300, description="hold a fill this long for its commission report"
    )
    reconnect_initial_delay_seconds: float = Field(1, gt=0, le=60)
    reconnect_max_delay_seconds: float = Field(30, gt=0, le=600)
    market_data_type: Literal["live", "frozen", "delayed", "delayed_frozen"] = "live"
    max_market_data_lines: int = Field(100, ge=1, le=10_000, description="streaming lines held at once")
    max_messages_per_second: float = Field(50, gt=0, le=50, description="IB's pacing limit is 50")
    exchange: str = Field("SMART", min_length=1)
    currency: str = Field("USD", min_length=3, max_length=3)
    unknown_positions: Literal["ignore", "adopt"] = Field(
        "ignore", description="reconciliation: a holding the store does not know is reported, or also adopted"
    )
    adopt_method: str | None = Field(
        None, min_length=1, description="method of adopted positions (None: the configuration's only method)"
    )

    @model_validator(mode="after")
    def _backoff_ordered(self) -> IbkrConfig:
        if self.reconnect_max_delay_seconds < self.reconnect_initial_delay_seconds:
            raise ValueError(
                f"reconnect_max_delay_seconds ({self.reconnect_max_delay_seconds:g}) must not be below "
                f"reconnect_initial_delay_seconds ({self.reconnect_initial_delay_seconds:g})"
            )
        return self

    @property
    def market_data_type_code(self) -> int:
        return MARKET_DATA_TYPES[self.market_data_type]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class BrokersConfig(_Strict):
    ibkr: IbkrConfig = IbkrConfig()


class BrokerSettingsError(ValueError):
    """Broker settings that cannot be used; ``errors`` names each bad key or variable."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def ibkr_settings(
    base: IbkrConfig | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> IbkrConfig:
    """``base`` (the YAML block, or the defaults), then ``RISKPILOT_IBKR_*`` variables of
    ``environ`` (the process environment by default), then ``overrides`` that are not None
    (command-line flags), validated together."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = (base or IbkrConfig()).model_dump()
    fields = set(IbkrConfig.model_fields)
    source: dict[str, str] = {}
    errors: list[str] = []
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
            errors.append(f"{name}: unknown setting{hint}")
            continue
        data[key] = value
        source[key] = name
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
            source[key] = f"--{key.replace('_', '-')}"
    if errors:
        raise BrokerSettingsError(errors)
    try:
        return IbkrConfig.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "brokers.ibkr"
            where = source.get(key, f"brokers.ibkr.{key}")
            msgs.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
        raise BrokerSettingsError(msgs) from None


__all__ = ["ENV_PREFIX", "MARKET_DATA_TYPES", "BrokerSettingsError", "BrokersConfig", "IbkrConfig", "ibkr_settings"]
