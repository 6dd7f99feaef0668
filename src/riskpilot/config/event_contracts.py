"""Configuration of binary event contracts: the fair-probability source behind the edge rules
(``fair_value``) and the Kalshi venue (``kalshi``). Strict like every section: unknown keys are
refused and every number is bounded.

Secrets never appear here: the YAML names the environment variables (or a file path) that
hold the Kalshi API key id and RSA private key, so a stored copy of the configuration carries
no credential.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The Kalshi API's ceiling, calls per minute, under which the configured limit must stay.
KALSHI_VENUE_CALLS_PER_MINUTE = 600

KALSHI_HOSTS = {
    "production": "https://api.elections.kalshi.com/trade-api/v2",
    "demo": "https://demo-api.kalshi.co/trade-api/v2",
}

_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FairValueConfig(_Strict):
    """Where fair probabilities of YES come from: ``feed``, a Parquet or CSV file of
    ``(timestamp, market, fair_probability)`` rows (a relative path is read from the
    configuration file's folder), or ``callable``, a Python function named
    ``module:function`` called as ``function(market, now)``. A fair value older than
    ``max_age_seconds`` is stale, and no edge rule acts on it."""

    feed: str | None = None
    callable: str | None = None
    max_age_seconds: float = Field(300, gt=0, le=7 * 86_400, description="seconds")

    @model_validator(mode="after")
    def _one_source(self) -> FairValueConfig:
        if (self.feed is None) == (self.callable is None):
            raise ValueError(
                "give exactly one of feed (a .parquet or .csv file of timestamp, market, "
                "fair_probability) or callable (module:function)"
            )
        if self.feed is not None and not self.feed.lower().endswith((".parquet", ".csv")):
            raise ValueError(f"feed {self.feed!r} must be a .parquet or .csv file")
        if self.callable is not None and not _CALLABLE.match(self.callable):
            raise ValueError(
                f"callable {self.callable!r} is not module:function (for example mymodels.weather:fair_yes)"
            )
        return self


class EventEntryConfig(_Strict):
    """Entries into binary event markets (a backtest or replay of recorded snapshots, and
    any run that enters): buy the side of a market whose fair value minus its ask is at least
    ``min_edge`` (dollars per contract, i.e. a fraction of the 1.00 payout), best edge first,
    at most ``max_new_positions`` per snapshot, sized by the method's ``sizing.max_contracts``,
    the ask's size and the risk limits (max loss = the price paid). ``sides`` limits which
    sides are bought; no entry within ``min_minutes_to_close`` of a market's close (the
    ``time_based_urgent`` rule would close it at once); a market whose spread or volume
    would fire ``liquidity_dried_up`` at once is not entered either."""

    min_edge: float = Field(0.05, gt=0, le=0.98, description="fair value - ask, dollars per contract")
    max_new_positions: int = Field(1, ge=0, le=1000, description="per snapshot")
    sides: tuple[Literal["yes", "no"], ...] = ("yes", "no")
    min_minutes_to_close: float = Field(30.0, ge=0, le=7 * 24 * 60)

    @field_validator("sides", mode="before")
    @classmethod
    def _quoted(cls, v: Any) -> Any:
        if isinstance(v, list | tuple) and any(isinstance(x, bool) for x in v):
            raise ValueError('write the sides in quotes, sides: ["yes", "no"]: YAML reads a bare yes or no as '
                             "true or false")
        return v

    @model_validator(mode="after")
    def _sides(self) -> EventEntryConfig:
        if not self.sides or len(set(self.sides)) != len(self.sides):
            raise ValueError(f"sides {list(self.sides)!r} must name yes, no or both, each once")
        return self


class KalshiConfig(_Strict):
    """The Kalshi venue. ``environment`` picks the API host (``base_url`` overrides it: a
    test's loopback fake). The API key id is read from the environment variable
    ``api_key_id_env``; the RSA private key (PEM) from the file ``private_key_path`` when
    given, else from the environment variable ``private_key_path_env`` (a path), else from
    ``private_key_env`` (the PEM text). Calls are limited to ``max_api_calls_per_minute``
    (SPEC's 60 for monitoring) under the venue's ceiling of 600; an HTTP 429 is retried up to
    ``max_retries`` times after the server's Retry-After (or an exponential back-off)."""

    environment: Literal["production", "demo"] = "production"
    base_url: str | None = None
    api_key_id_env: str = "KALSHI_API_KEY_ID"
    private_key_path: str | None = None
    private_key_path_env: str = "KALSHI_PRIVATE_KEY_PATH"
    private_key_env: str = "KALSHI_PRIVATE_KEY"
    max_api_calls_per_minute: int = Field(
        60, ge=1, le=KALSHI_VENUE_CALLS_PER_MINUTE, description="under the venue's ceiling of 600"
    )
    max_retries: int = Field(5, ge=0, le=20, description="retries of a call answered 429")
    max_backoff_seconds: float = Field(60, gt=0, le=600)
    request_timeout_seconds: float = Field(10, gt=0, le=120)
    quote_batch_size: int = Field(100, ge=1, le=1000, description="market tickers per GET /markets")

    @model_validator(mode="after")
    def _names(self) -> KalshiConfig:
        for name in ("api_key_id_env", "private_key_path_env", "private_key_env"):
            v = getattr(self, name)
            if not _ENV_NAME.match(v):
                raise ValueError(f"{name} {v!r} is not an environment variable name (letters, digits, _)")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} must be an http(s) URL")
        return self

    @property
    def host(self) -> str:
        return self.base_url.rstrip("/") if self.base_url else KALSHI_HOSTS[self.environment]


__all__ = ["KALSHI_HOSTS", "KALSHI_VENUE_CALLS_PER_MINUTE", "EventEntryConfig", "FairValueConfig", "KalshiConfig"]
