"""All runtime configuration, read once from the environment (one class, validated at start).

Every field maps to the upper-case environment variable of the same name (``redis_port`` is
``REDIS_PORT``). Invalid values make ``python -m service`` exit with status 2 naming the variable,
so a bad deploy fails at task start instead of at the first request.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from service.emf_catalog import DEFAULT_NAMESPACE as DEFAULT_METRICS_NAMESPACE
from service.secrets_env import parse_secrets_json
from service.secrets_json import SecretsJsonSource

Stage = Literal["local", "dev", "prod"]
DEPLOYED_STAGES: tuple[Stage, ...] = ("dev", "prod")
# The issuer and app client of tokens minted by `python -m service.ops token` (local stage only).
# A URN, not a URL: it can never be mistaken for, or collide with, a real Cognito issuer.
LOCAL_ISSUER = "urn:fyntrix:local-dev-issuer"
LOCAL_CLIENT_ID = "fyntrix-local"
# `<region>_<id>`: the region a Cognito user pool lives in is the first part of its id.
_POOL_ID = re.compile(r"([a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+")

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

# The longest stale-if-error bound, in seconds (the infra config enforces the same range).
MAX_STALE_IF_ERROR_S = 3600

# Optional values that an ECS secret or an env file may hold as an empty string: an empty value
# means "unset", never "a password that is the empty string".
_EMPTY_MEANS_UNSET = (
    "ops_port",
    "redis_password",
    "database_url",
    "aws_cognito_user_pool_id",
    "aws_cognito_client_id",
    "aws_cognito_client_secret",
    "market_data_api_key",
    "redis_expected_maxmemory_bytes",
    "redis_expected_maxmemory_policy",
)

# CloudWatch's namespace characters (PutMetricData); EMF uses the same namespaces.
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9.\-_/#: ]+")


def _default_sqlite_path() -> str:
    # The container's root filesystem is read-only; only the temp dir (/tmp) is writable.
    return os.path.join(tempfile.gettempdir(), "fyntrix.sqlite3")


def _default_dev_key_path() -> str:
    return os.path.join(tempfile.gettempdir(), "fyntrix-dev-jwt-key.pem")


def _stage(info: ValidationInfo) -> Stage | None:
    stage: Stage | None = info.data.get("app_stage")
    return stage


def cognito_issuer(pool_id: str) -> str:
    match = _POOL_ID.fullmatch(pool_id)
    if match is None:
        raise ValueError(f"{pool_id!r} is not a Cognito user pool id (<region>_<id>)")
    return f"https://cognito-idp.{match[1]}.amazonaws.com/{pool_id}"


class Settings(BaseSettings):
    """The service's whole configuration. Secrets are SecretStr: their repr never shows them."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # Where this process runs. `local` (a developer's machine, tests, `make up`) is the only
    # stage that accepts tokens of the local dev issuer; the default is the strictest stage, so a
    # deployed task that forgot the setting fails closed (no dev issuer, database required).
    app_stage: Stage = "prod"

    # HTTP server
    host: str = Field(default="0.0.0.0", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_timeout_s: int = Field(default=20, ge=1, le=300)
    # Larger request bodies get 413 before anything reads them (the API's bodies are ~50 bytes).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Where no load balancer filters paths (Render, compose), the ops endpoints (/ready,
    # /metrics, /cache/stats, /docs) are served on this port only, never on PORT; unset: on PORT.
    ops_port: int | None = Field(default=None, ge=1, le=65535)
    # A request head (request line and headers) larger than this gets 431 from the server, which
    # never holds more of it (service/protocol.py). 64 KiB: what the load balancer lets through.
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    # A request head not complete this long after its first byte (or after the connection
    # opened) gets 408 and the connection is closed, so slow heads cannot hold connections.
    header_timeout_s: float = Field(default=10.0, ge=0.1, le=300)
    # Peers whose X-Forwarded-For/-Proto are believed (comma-separated IPs or CIDRs): the load
    # balancer's network. Anyone else's are ignored, so a client cannot choose the scheme and
    # host of redirects. The default trusts only this host.
    forwarded_allow_ips: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1", "::1")

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

    # Several tasks must share one database: without DATABASE_URL the process then refuses to
    # start (exit 2) instead of keeping a private SQLite copy. Unset: true in prod.
    require_database_url: bool | None = None
    # Source of truth: Postgres when DATABASE_URL is set, else an embedded SQLite file.
    database_url: SecretStr | None = None
    database_pool_max_size: int = Field(default=10, ge=1, le=1000)
    # How long the start waits for the database before giving up (exit status 3), in seconds.
    database_connect_timeout_s: int = Field(default=10, ge=1, le=300)
    # Fail fast while the database is down (service/source/guard.py): a request waits at most
    # this long for a pooled connection, a call (query and its one retry) at most
    # DATABASE_QUERY_TIMEOUT_MS, and a half-open probe's fresh connection at most
    # DATABASE_SOCKET_CONNECT_TIMEOUT_MS. Together they keep every answer under a second.
    database_pool_timeout_ms: int = Field(default=400, ge=10, le=30_000)
    database_query_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    # A write may wait on row locks other transactions hold: it gets longer before its 503.
    database_write_timeout_ms: int = Field(default=5000, ge=10, le=60_000)
    database_socket_connect_timeout_ms: int = Field(default=500, ge=10, le=30_000)
    # Circuit breaker around the database: after this many consecutive failures calls fail at
    # once (503) for DATABASE_BREAKER_RESET_TIMEOUT_MS, then one probe decides.
    database_breaker_failure_threshold: int = Field(default=3, ge=1, le=1000)
    database_breaker_reset_timeout_ms: int = Field(default=1000, ge=10, le=600_000)
    sqlite_path: str = Field(default_factory=_default_sqlite_path, min_length=1)
    # The demo users and portfolios, loaded into an empty database at start. Unset: only in the
    # local stage; a deployed stage gets them only when its config asks (never in prod).
    seed_demo_data: bool | None = None

    # Cache TTLs per namespace, in seconds
    cache_ttl_portfolio_s: int = Field(default=30, ge=1, le=86_400)
    cache_ttl_dashboard_s: int = Field(default=30, ge=1, le=86_400)
    cache_ttl_top_picks_s: int = Field(default=300, ge=1, le=86_400)
    # In-process L1 in front of Redis; 0 entries disables it. An L1 copy never outlives the
    # Redis copy it came from, and every invalidation clears it, so this only caps its life.
    cache_l1_ttl_ms: int = Field(default=5000, ge=1, le=60_000)
    cache_l1_max_entries: int = Field(default=10_000, ge=0, le=10_000_000)
    # Stale if error (RFC 5861): while the database fails, a cached read whose copy expired
    # less than this many seconds ago is answered from it, marked `X-Cache: STALE`; 0 = off.
    # Copies are kept this much longer in Redis (evictable like any other key).
    cache_stale_if_error_s: int = Field(default=0, ge=0, le=MAX_STALE_IF_ERROR_S)

    # ECS passes the stage's app secret whole (service/secrets_json.py): its keys are settings,
    # read after the environment's own variables. Kept only to validate it.
    app_secrets: SecretStr | None = None

    # Third-party credentials, passed through to the code that needs them, never logged.
    aws_cognito_user_pool_id: str | None = None
    aws_cognito_client_id: str | None = None
    aws_cognito_client_secret: SecretStr | None = None
    market_data_api_key: SecretStr | None = None

    # Authentication of /api/* (Cognito access tokens). Unset values are derived from the
    # AWS_COGNITO_* settings above (local stage: the local dev issuer); see service/auth/.
    auth_issuer: str = ""
    # Unset outside `local`: <issuer>/.well-known/jwks.json. Unset in `local` with the dev
    # issuer: the keys come from AUTH_DEV_KEY_PATH, no HTTP.
    auth_jwks_url: str | None = None
    auth_client_ids: Annotated[tuple[str, ...], NoDecode] = ()
    auth_admin_group: str = Field(default="fyntrix-admin", min_length=1, max_length=128)
    # Clock skew tolerated on exp, nbf and iat, in seconds.
    auth_leeway_s: int = Field(default=30, ge=0, le=300)
    # One JWKS download may take this long (then 503 for tokens whose key is not cached).
    auth_jwks_timeout_ms: int = Field(default=2000, ge=100, le=30_000)
    # An unknown `kid` refetches the JWKS at most this often (a forged kid cannot flood it).
    auth_jwks_min_refresh_s: int = Field(default=30, ge=1, le=3600)
    # How long a `sub` -> user mapping read from the database is reused, in seconds.
    auth_identity_cache_ttl_s: int = Field(default=30, ge=1, le=3600)
    # Local stage only: the dev signing key (created on first use, mode 0600).
    auth_dev_key_path: str = Field(default_factory=_default_dev_key_path, min_length=1)

    # CloudWatch embedded metric format records on stdout (service/emf.py), aggregated in the
    # process and flushed every interval; names in service/emf_catalog.py.
    metrics_emf_enabled: bool = True
    metrics_flush_interval_s: float = Field(default=60.0, ge=0.05, le=3600)
    metrics_namespace: str = Field(default=DEFAULT_METRICS_NAMESPACE, min_length=1, max_length=255)
    # Dimension values: the stage (dev, prod, ...) and the service's name.
    metrics_stage: str = Field(default="local", min_length=1, max_length=255)
    metrics_service: str = Field(default="fyntrix-service", min_length=1, max_length=255)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets = SecretsJsonSource(settings_cls)
        return (init_settings, env_settings, secrets, dotenv_settings, file_secret_settings)

    @field_validator("app_secrets")
    @classmethod
    def _secrets_json(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            parse_secrets_json(value.get_secret_value())  # raises naming the problem
        return value

    @field_validator(*_EMPTY_MEANS_UNSET, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("auth_client_ids", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("auth_jwks_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("require_database_url")
    @classmethod
    def _database_in_prod(cls, value: bool | None, info: ValidationInfo) -> bool:
        if _stage(info) == "prod":
            if value is False:
                raise ValueError(
                    "cannot be false when APP_STAGE=prod: prod tasks share one database"
                )
            return True
        return bool(value)

    @field_validator("ops_port")
    @classmethod
    def _ops_port_apart(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value == info.data.get("port"):
            raise ValueError(
                "must differ from PORT: the ops endpoints are kept off the public port"
            )
        return value

    @field_validator("seed_demo_data", mode="before")
    @classmethod
    def _demo_data_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return _stage(info) == "local"
        return value

    @field_validator("seed_demo_data")
    @classmethod
    def _no_demo_data_in_prod(cls, value: bool | None, info: ValidationInfo) -> bool:
        if value and _stage(info) == "prod":
            raise ValueError(
                "cannot be true when APP_STAGE=prod: demo users never enter prod's database"
            )
        return bool(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if "*" in value:
            if _stage(info) != "local":
                raise ValueError(
                    "`*` trusts every peer's X-Forwarded-* headers: only with APP_STAGE=local; "
                    "list the load balancer's network instead (e.g. 10.0.0.0/16)"
                )
            return value
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return value

    @field_validator("aws_cognito_user_pool_id")
    @classmethod
    def _pool_id(cls, value: str | None) -> str | None:
        if value is not None:
            cognito_issuer(value)  # raises with the expected format
        return value

    @field_validator("auth_issuer")
    @classmethod
    def _issuer(cls, value: str, info: ValidationInfo) -> str:
        stage = _stage(info)
        pool_id = info.data.get("aws_cognito_user_pool_id")
        value = value.strip()
        if not value and pool_id is not None:
            value = cognito_issuer(pool_id)
        if stage == "local":
            return value or LOCAL_ISSUER
        if not value:
            raise ValueError(
                f"required when APP_STAGE={stage} (prod is the default): set "
                "AWS_COGNITO_USER_POOL_ID (e.g. us-east-1_AbCdEf123) or AUTH_ISSUER; "
                "APP_STAGE=local for a local run"
            )
        if value == LOCAL_ISSUER or not value.startswith("https://"):
            raise ValueError(f"must be an https:// Cognito issuer when APP_STAGE={stage}")
        return value.rstrip("/")

    @field_validator("auth_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        issuer = info.data.get("auth_issuer")
        if value is None and issuer and issuer != LOCAL_ISSUER:
            value = f"{issuer}/.well-known/jwks.json"
        if value is not None:
            https = value.startswith("https://")
            if not (https or (_stage(info) == "local" and value.startswith("http://"))):
                raise ValueError("must be an https:// URL (http:// only with APP_STAGE=local)")
        return value

    @field_validator("auth_client_ids")
    @classmethod
    def _client_ids(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value and info.data.get("aws_cognito_client_id"):
            value = (info.data["aws_cognito_client_id"],)
        if not value and info.data.get("auth_issuer") == LOCAL_ISSUER:
            value = (LOCAL_CLIENT_ID,)
        if not value:
            raise ValueError(
                "no app client allowed: set AWS_COGNITO_CLIENT_ID or AUTH_CLIENT_IDS "
                "(comma-separated Cognito app client ids)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("require_database_url"):
            # A deployed stage without its database fails its start, so the deploy fails
            # (ECS's circuit breaker rolls it back) instead of running tasks that serve 503.
            raise ValueError(
                f"required when APP_STAGE={_stage(info)}: the stage's tasks share one Postgres "
                "and never fall back to a private SQLite file. Set DATABASE_URL in the stage's "
                "secret (ECS: the stack's app secret, docs/deploy.md; Render: the DATABASE_URL "
                "prompt or a Render Postgres; compose: .env)"
            )
        if value is not None:
            url = value.get_secret_value()
            if not url.startswith(("postgresql://", "postgres://")):
                # The value may hold a password: name the rule, never echo the value.
                raise ValueError("must be a postgresql:// or postgres:// URL")
        return value

    @field_validator("metrics_namespace")
    @classmethod
    def _cloudwatch_namespace(cls, value: str) -> str:
        if not _NAMESPACE_RE.fullmatch(value) or value.startswith((":", "AWS/")):
            raise ValueError(
                "must be a CloudWatch namespace: letters, digits and . - _ / # : or space, "
                "not starting with ':' or 'AWS/' (e.g. Fyntrix/Service)"
            )
        return value

    @field_validator("metrics_stage", "metrics_service")
    @classmethod
    def _dimension_value(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("must be printable text without leading or trailing spaces")
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
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {message}")
    return lines
