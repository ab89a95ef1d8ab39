"""All runtime configuration, read once from the environment (one class, validated at start).

Every field maps to the upper-case environment variable of the same name (``redis_port`` is
``REDIS_PORT``). Invalid values make ``python -m service`` exit with status 2 naming the variable,
so a bad deploy fails at task start instead of at the first request.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every Redis maxmemory policy, `noeviction` included (the doctor must be able to name the one it
# finds). The infra config accepts only the evicting ones (infra/config/limits.py
# EVICTION_POLICIES); tests/service/test_infra_parity.py pins the two lists together.
MaxmemoryPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]

# Optional values that an ECS secret or an env file may hold as an empty string: an empty value
# means "unset", never "a password that is the empty string".
_EMPTY_MEANS_UNSET = (
    "redis_password",
    "database_url",
    "aws_cognito_user_pool_id",
    "aws_cognito_client_id",
    "aws_cognito_client_secret",
    "market_data_api_key",
    "redis_expected_maxmemory_bytes",
    "redis_expected_maxmemory_policy",
)


def _default_sqlite_path() -> str:
    # The container's root filesystem is read-only; only the temp dir (/tmp) is writable.
    return os.path.join(tempfile.gettempdir(), "fyntrix.sqlite3")


class Settings(BaseSettings):
    """The service's whole configuration. Secrets are SecretStr: their repr never shows them."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # HTTP server
    host: str = Field(default="0.0.0.0", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_timeout_s: int = Field(default=20, ge=1, le=300)

    # Redis (the task's private cache; never the source of truth)
    redis_host: str = Field(default="localhost", min_length=1)
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_db: int = Field(default=0, ge=0, le=15)
    redis_password: SecretStr | None = None
    # Short socket timeouts: a dead or hung Redis must cost milliseconds per request, not seconds.
    redis_socket_connect_timeout_ms: int = Field(default=100, ge=1, le=10_000)
    redis_socket_timeout_ms: int = Field(default=200, ge=1, le=10_000)
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    # Carried for the ops `doctor` command, which compares them with the live Redis.
    redis_expected_maxmemory_bytes: int | None = Field(default=None, ge=0)
    redis_expected_maxmemory_policy: MaxmemoryPolicy | None = None

    # Circuit breaker around Redis
    circuit_breaker_failure_threshold: int = Field(default=3, ge=1, le=1000)
    circuit_breaker_reset_timeout_ms: int = Field(default=1000, ge=10, le=600_000)

    # Source of truth: Postgres when DATABASE_URL is set, else an embedded SQLite file.
    database_url: SecretStr | None = None
    database_pool_max_size: int = Field(default=10, ge=1, le=1000)
    # How long the start waits for the database before giving up (exit status 3), in seconds.
    database_connect_timeout_s: int = Field(default=10, ge=1, le=300)
    sqlite_path: str = Field(default_factory=_default_sqlite_path, min_length=1)
    seed_demo_data: bool = True

    # Cache TTLs per namespace, in seconds
    cache_ttl_portfolio_s: int = Field(default=30, ge=1, le=86_400)
    cache_ttl_dashboard_s: int = Field(default=30, ge=1, le=86_400)
    cache_ttl_top_picks_s: int = Field(default=300, ge=1, le=86_400)
    # In-process L1 in front of Redis; 0 entries disables it. An L1 copy never outlives the
    # Redis copy it came from, and every invalidation clears it, so this only caps its life.
    cache_l1_ttl_ms: int = Field(default=5000, ge=1, le=60_000)
    cache_l1_max_entries: int = Field(default=10_000, ge=0, le=10_000_000)

    # Third-party credentials, passed through to the code that needs them, never logged.
    aws_cognito_user_pool_id: str | None = None
    aws_cognito_client_id: str | None = None
    aws_cognito_client_secret: SecretStr | None = None
    market_data_api_key: SecretStr | None = None

    # Mounts GET /bench/baseline/{user_id} for the load benchmark only.
    bench_endpoints: bool = False

    @field_validator(*_EMPTY_MEANS_UNSET, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            url = value.get_secret_value()
            if not url.startswith(("postgresql://", "postgres://")):
                # The value may hold a password: name the rule, never echo the value.
                raise ValueError("must be a postgresql:// or postgres:// URL")
        return value

    @property
    def source_kind(self) -> Literal["postgres", "sqlite"]:
        return "postgres" if self.database_url is not None else "sqlite"


def env_name(field: str) -> str:
    return field.upper()


def format_errors(error: ValidationError) -> list[str]:
    """One line per invalid setting, naming the environment variable, without secret values."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = item.get("loc") or ("?",)
        name = env_name(str(loc[0]))
        lines.append(f"invalid setting {name}: {item['msg']}")
    return lines
