"""Settings (service/settings.py): names, defaults, validation, secrets."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from service.settings import LOCAL_CLIENT_ID, LOCAL_ISSUER, Settings, format_errors

# Every variable the service reads, with its default (None: unset). Deploy targets rely on these
# exact names.
DEFAULTS = {
    "APP_STAGE": "local",  # set by clean_env: the default, prod, needs Cognito settings
    "HOST": "0.0.0.0",
    "PORT": 8000,
    "LOG_LEVEL": "INFO",
    "SHUTDOWN_TIMEOUT_S": 20,
    "MAX_BODY_BYTES": 65536,
    "OPS_PORT": None,
    "MAX_HEADER_BYTES": 65536,
    "HEADER_TIMEOUT_S": 10.0,
    "FORWARDED_ALLOW_IPS": ("127.0.0.1", "::1"),
    "REDIS_HOST": "localhost",
    "REDIS_PORT": 6379,
    "REDIS_DB": 0,
    "REDIS_PASSWORD": None,
    "REDIS_SOCKET_CONNECT_TIMEOUT_MS": 100,
    "REDIS_SOCKET_TIMEOUT_MS": 200,
    "REDIS_MAX_CONNECTIONS": 64,
    "REDIS_EXPECTED_MAXMEMORY_BYTES": None,
    "REDIS_EXPECTED_MAXMEMORY_POLICY": None,
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": 3,
    "CIRCUIT_BREAKER_RESET_TIMEOUT_MS": 1000,
    "DATABASE_URL": None,
    "DATABASE_POOL_MAX_SIZE": 10,
    "DATABASE_CONNECT_TIMEOUT_S": 10,
    "DATABASE_POOL_TIMEOUT_MS": 400,
    "DATABASE_QUERY_TIMEOUT_MS": 500,
    "DATABASE_WRITE_TIMEOUT_MS": 5000,
    "DATABASE_SOCKET_CONNECT_TIMEOUT_MS": 500,
    "DATABASE_BREAKER_FAILURE_THRESHOLD": 3,
    "DATABASE_BREAKER_RESET_TIMEOUT_MS": 1000,
    "SEED_DEMO_DATA": True,  # in the local stage only
    "REQUIRE_DATABASE_URL": False,
    "CACHE_TTL_PORTFOLIO_S": 30,
    "CACHE_TTL_DASHBOARD_S": 30,
    "CACHE_TTL_TOP_PICKS_S": 300,
    "CACHE_L1_TTL_MS": 5000,
    "CACHE_L1_MAX_ENTRIES": 10_000,
    "CACHE_STALE_IF_ERROR_S": 0,
    "AWS_COGNITO_USER_POOL_ID": None,
    "AWS_COGNITO_CLIENT_ID": None,
    "AWS_COGNITO_CLIENT_SECRET": None,
    "MARKET_DATA_API_KEY": None,
    "AUTH_ISSUER": LOCAL_ISSUER,
    "AUTH_JWKS_URL": None,
    "AUTH_CLIENT_IDS": (LOCAL_CLIENT_ID,),
    "AUTH_ADMIN_GROUP": "fyntrix-admin",
    "AUTH_LEEWAY_S": 30,
    "AUTH_JWKS_TIMEOUT_MS": 2000,
    "AUTH_JWKS_MIN_REFRESH_S": 30,
    "AUTH_IDENTITY_CACHE_TTL_S": 30,
    "METRICS_EMF_ENABLED": True,
    "METRICS_FLUSH_INTERVAL_S": 60.0,
    "METRICS_NAMESPACE": "Fyntrix/Service",
    "METRICS_STAGE": "local",
    "METRICS_SERVICE": "fyntrix-service",
    "APP_SECRETS": None,
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting inherited from the machine running the tests; APP_STAGE=local."""
    for name in [*DEFAULTS, "SQLITE_PATH", "AUTH_DEV_KEY_PATH"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_STAGE", "local")
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    for name, default in DEFAULTS.items():
        assert getattr(settings, name.lower()) == default, name
    assert settings.sqlite_path.endswith("fyntrix.sqlite3")
    assert settings.source_kind == "sqlite"


def test_every_field_is_listed(clean_env: pytest.MonkeyPatch) -> None:
    paths = {"SQLITE_PATH", "AUTH_DEV_KEY_PATH"}
    assert {f.upper() for f in Settings.model_fields} == {*DEFAULTS, *paths}


def test_reads_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_HOST", "cache.internal")
    clean_env.setenv("REDIS_PORT", "6380")
    clean_env.setenv("CACHE_TTL_TOP_PICKS_S", "60")
    clean_env.setenv("DATABASE_URL", "postgresql://app@db:5432/fyntrix")
    clean_env.setenv("REDIS_EXPECTED_MAXMEMORY_BYTES", "209715200")
    clean_env.setenv("REDIS_EXPECTED_MAXMEMORY_POLICY", "allkeys-lru")
    clean_env.setenv("log_level", "debug")
    settings = Settings()
    assert (settings.redis_host, settings.redis_port) == ("cache.internal", 6380)
    assert settings.cache_ttl_top_picks_s == 60
    assert settings.source_kind == "postgres"
    assert settings.redis_expected_maxmemory_bytes == 209_715_200
    assert settings.redis_expected_maxmemory_policy == "allkeys-lru"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "name",
    [
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "AWS_COGNITO_CLIENT_SECRET",
        "MARKET_DATA_API_KEY",
        "AWS_COGNITO_USER_POOL_ID",
        "REDIS_EXPECTED_MAXMEMORY_BYTES",
        "OPS_PORT",
    ],
)
def test_an_empty_value_means_unset(clean_env: pytest.MonkeyPatch, name: str) -> None:
    # An ECS secret may hold an empty string: that must select the default, not fail or be used.
    clean_env.setenv(name, "")
    assert getattr(Settings(), name.lower()) is None


def test_secrets_never_show_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_PASSWORD", "redis-pw-123")
    clean_env.setenv("DATABASE_URL", "postgresql://app:db-pw-456@db/fyntrix")
    clean_env.setenv("AWS_COGNITO_CLIENT_SECRET", "cognito-789")
    clean_env.setenv("MARKET_DATA_API_KEY", "mkt-000")
    settings = Settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("redis-pw-123", "db-pw-456", "cognito-789", "mkt-000"):
        assert secret not in shown
    assert settings.market_data_api_key is not None
    assert settings.market_data_api_key.get_secret_value() == "mkt-000"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_PORT", "not-a-port"),
        ("REDIS_PORT", "70000"),
        ("PORT", "0"),
        ("REDIS_DB", "16"),
        ("REDIS_SOCKET_TIMEOUT_MS", "0"),
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0"),
        ("CACHE_TTL_PORTFOLIO_S", "-5"),
        ("CACHE_TTL_DASHBOARD_S", "1.5"),
        ("REDIS_EXPECTED_MAXMEMORY_POLICY", "lru-please"),
        ("LOG_LEVEL", "chatty"),
        ("SEED_DEMO_DATA", "maybe"),
        ("OPS_PORT", "8000"),  # the same as PORT
        ("OPS_PORT", "0"),
        ("DATABASE_URL", "mysql://root@db/fyntrix"),
        ("METRICS_FLUSH_INTERVAL_S", "0"),
        ("METRICS_NAMESPACE", "AWS/ECS"),
        ("METRICS_NAMESPACE", "Fyntrix|Service"),
        ("METRICS_NAMESPACE", ":Fyntrix"),
        ("METRICS_STAGE", ""),
        ("METRICS_SERVICE", " padded "),
        ("MAX_HEADER_BYTES", "1024"),
        ("HEADER_TIMEOUT_S", "0"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.0/16,lb.internal"),
    ],
)
def test_invalid_values_name_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    lines = format_errors(caught.value)
    assert len(lines) == 1
    assert lines[0].startswith(f"invalid setting {name}: ")


def test_forwarded_headers_are_believed_from_listed_networks_only(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("FORWARDED_ALLOW_IPS", " 10.0.0.0/16, 10.1.2.3 ")
    assert Settings().forwarded_allow_ips == ("10.0.0.0/16", "10.1.2.3")
    # `*` (any peer may choose the scheme and host of redirects): a laptop only.
    clean_env.setenv("FORWARDED_ALLOW_IPS", "*")
    assert Settings().forwarded_allow_ips == ("*",)
    clean_env.setenv("APP_STAGE", "dev")
    clean_env.setenv("AUTH_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc")
    clean_env.setenv("AUTH_CLIENT_IDS", "client")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = format_errors(caught.value)
    assert line.startswith("invalid setting FORWARDED_ALLOW_IPS: `*` trusts every peer")


def test_error_messages_do_not_echo_secret_values(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "mysql://root:hunter2@db/fyntrix")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "hunter2" not in "\n".join(format_errors(caught.value))


def test_several_errors_are_all_reported(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_PORT", "x")
    clean_env.setenv("CACHE_TTL_PORTFOLIO_S", "0")
    with pytest.raises(ValidationError) as caught:
        Settings()
    names = {line.split()[2].rstrip(":") for line in format_errors(caught.value)}
    assert names == {"REDIS_PORT", "CACHE_TTL_PORTFOLIO_S"}


def test_settings_are_immutable(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.redis_port = 1
    assert "REDIS_PORT" not in os.environ


# ---------------------------------------------------------------- what a deployed stage needs

_COGNITO = {
    "AWS_COGNITO_USER_POOL_ID": "us-east-1_AbCdEf123",
    "AWS_COGNITO_CLIENT_ID": "4tl7d0vq2q9example0000",
}


def _stage(env: pytest.MonkeyPatch, stage: str, **extra: str) -> None:
    env.setenv("APP_STAGE", stage)
    for name, value in {**_COGNITO, **extra}.items():
        env.setenv(name, value)


def test_prod_refuses_to_start_without_its_database(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN prod with its Cognito settings and an empty DATABASE_URL (the secret as created)
    _stage(clean_env, "prod", DATABASE_URL="")
    # THEN the settings refuse, naming the variable and where it is set
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = format_errors(caught.value)
    assert line.startswith("invalid setting DATABASE_URL: required when APP_STAGE=prod")
    assert "stage's secret" in line
    # AND with it, prod starts on Postgres
    clean_env.setenv("DATABASE_URL", "postgresql://app@db/fyntrix")
    assert Settings().source_kind == "postgres"


def test_any_stage_requiring_a_database_refuses_to_start_without_one(
    clean_env: pytest.MonkeyPatch,
) -> None:
    _stage(clean_env, "dev", REQUIRE_DATABASE_URL="true")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [e["loc"] for e in caught.value.errors()] == [("database_url",)]


@pytest.mark.parametrize(
    ("stage", "given", "seeded"),
    [
        ("local", None, True),
        ("local", "false", False),
        ("dev", None, False),  # a deployed stage gets demo data only when its config asks
        ("dev", "", False),
        ("dev", "true", True),
        ("prod", None, False),
    ],
)
def test_demo_data_only_locally_or_when_asked(
    clean_env: pytest.MonkeyPatch, stage: str, given: str | None, seeded: bool
) -> None:
    _stage(clean_env, stage, DATABASE_URL="postgresql://app@db/fyntrix")
    if given is not None:
        clean_env.setenv("SEED_DEMO_DATA", given)
    assert Settings().seed_demo_data is seeded


def test_demo_data_never_in_prod(clean_env: pytest.MonkeyPatch) -> None:
    _stage(clean_env, "prod", DATABASE_URL="postgresql://app@db/fyntrix", SEED_DEMO_DATA="true")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = format_errors(caught.value)
    assert line.startswith("invalid setting SEED_DEMO_DATA: cannot be true when APP_STAGE=prod")
