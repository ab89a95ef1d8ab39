"""`docker-compose.yml`, `docker-compose.postgres.yml` and `.env.example`: the ECS task's
design on one machine.

`redis` runs the sidecar's image (built from `service/Dockerfile.redis`, as `make images` and
the deploy build it) and settings (bound to all interfaces of the compose network, protected
mode said explicitly, published on the host's loopback only), `app` is built from `service/` and
reaches Redis by its service name. Postgres is optional: an override file adds it
(`docker-compose -f docker-compose.yml -f docker-compose.postgres.yml up -d`). Both files work
with docker-compose 1.29 (Debian 12's, the deployment guide's) and Compose v2: no top-level
`name:`, no `depends_on.required` (Compose 2.20+ keys that 1.29 rejects).
Hardening mirrors the task: read-only root filesystems with tmpfs where writes are needed, an
init process, the app's non-root user, the containers' memory limits and stop timeouts.
Base images are variables (REDIS_IMAGE, PYTHON_IMAGE, POSTGRES_IMAGE), for a registry mirror.
Redis listens on the compose network, so it requires a password: `--requirepass` from the
required REDIS_PASSWORD variable (`${REDIS_PASSWORD:?...}`, no default), which the app gets too.
"""

from __future__ import annotations

from typing import Any, Final

from infra.config import PROJECT, HealthCheck, StageConfig
from infra.task_design import (
    APP_CONTAINER,
    APP_STOP_TIMEOUT_S,
    APP_WRITABLE_PATHS,
    NETWORK_REDIS_PROTECTED_MODE,
    REDIS_CONTAINER,
    REDIS_STOP_TIMEOUT_S,
    REDIS_WRITABLE_PATHS,
    app_health_command,
    redis_health_command,
)

POSTGRES_SERVICE: Final = "postgres"
POSTGRES_OVERRIDE: Final = "docker-compose.postgres.yml"
# Postgres is compose-only (ECS and Render take DATABASE_URL from a secret).
POSTGRES_IMAGE: Final = "postgres:16-alpine"
POSTGRES_PORT: Final = 5432
POSTGRES_VOLUME: Final = "postgres-data"
POSTGRES_HEALTH: Final = HealthCheck(interval_s=5, timeout_s=3, retries=10, start_period_s=10)
# Other containers reach Redis over the compose network, so it listens on all interfaces of
# the container; the host sees it on 127.0.0.1 only (see `ports`).
COMPOSE_REDIS_BIND: Final = "0.0.0.0"
# Host-side ports are variables so a local redis-server/app on the default port does not
# block `docker compose up`.
REDIS_HOST_PORT_VAR: Final = "REDIS_HOST_PORT"
APP_HOST_PORT_VAR: Final = "APP_HOST_PORT"
OPS_HOST_PORT_VAR: Final = "OPS_HOST_PORT"
POSTGRES_PASSWORD_VAR: Final = "POSTGRES_PASSWORD"  # noqa: S105 - a variable name
# Redis listens on the compose network here, so it requires a password (from .env, no default).
REDIS_PASSWORD_VAR: Final = "REDIS_PASSWORD"  # noqa: S105 - a variable name
# Base images, as the Dockerfiles' build arguments name them: a mirror can stand in.
REDIS_IMAGE_VAR: Final = "REDIS_IMAGE"
PYTHON_IMAGE_VAR: Final = "PYTHON_IMAGE"
POSTGRES_IMAGE_VAR: Final = "POSTGRES_IMAGE"
PYTHON_IMAGE_DEFAULT: Final = "python:3.11-slim"  # service/Dockerfile's ARG default
REDIS_IMAGE_DEFAULT: Final = "redis:7-alpine"  # service/Dockerfile.redis's ARG default
# The local images' names, as `make images` tags them (tools/containers/images.py).
REDIS_LOCAL_IMAGE: Final = f"{PROJECT}-redis:local"
# Variables the compose files read for themselves (besides the app's secrets).
COMPOSE_OWN_VARIABLES: Final = (
    POSTGRES_PASSWORD_VAR,
    REDIS_PASSWORD_VAR,
    REDIS_HOST_PORT_VAR,
    APP_HOST_PORT_VAR,
    OPS_HOST_PORT_VAR,
    REDIS_IMAGE_VAR,
    PYTHON_IMAGE_VAR,
    POSTGRES_IMAGE_VAR,
)


def required_variable(name: str) -> str:
    """`${NAME:?message}`: compose (v1 and v2) stops with the message when NAME is unset or
    empty, before it starts anything."""
    return f"${{{name}:?set {name} in .env (cp .env.example .env)}}"


def literal(value: str) -> str:
    """A config value as a compose literal: `$` starts an interpolation, `$$` is a dollar."""
    return value.replace("$", "$$")


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def _healthcheck(hc: HealthCheck, test: list[str]) -> dict[str, Any]:
    return {
        "test": [literal(part) for part in test],
        "interval": _duration(hc.interval_s),
        "timeout": _duration(hc.timeout_s),
        "retries": hc.retries,
        "start_period": _duration(hc.start_period_s),
    }


def _mem_limit(mib: int) -> str:
    return f"{mib}m"  # compose reads `m` as MiB


def _variable(name: str, default: str) -> str:
    return f"${{{name}:-{literal(default)}}}"


def _redis_service(config: StageConfig) -> dict[str, Any]:
    port = config.redis.port
    args = [
        *config.redis.command_args(bind=COMPOSE_REDIS_BIND),
        "--protected-mode",
        NETWORK_REDIS_PROTECTED_MODE,
    ]
    password = required_variable(REDIS_PASSWORD_VAR)
    return {
        "build": {
            "context": "./service",
            "dockerfile": "Dockerfile.redis",
            "args": {REDIS_IMAGE_VAR: _variable(REDIS_IMAGE_VAR, REDIS_IMAGE_DEFAULT)},
        },
        "image": REDIS_LOCAL_IMAGE,
        "command": [*(literal(arg) for arg in args), "--requirepass", password],
        # redis-cli (the health check) reads the password from here, not from argv.
        "environment": {"REDISCLI_AUTH": password},
        "ports": [f"127.0.0.1:${{{REDIS_HOST_PORT_VAR}:-{port}}}:{port}"],
        "healthcheck": _healthcheck(config.redis.health_check, redis_health_command(port)),
        "mem_limit": _mem_limit(config.redis.memory_mib),
        "read_only": True,
        "tmpfs": [path for _, path in REDIS_WRITABLE_PATHS],
        "init": True,
        "stop_grace_period": _duration(REDIS_STOP_TIMEOUT_S),
    }


def _app_service(config: StageConfig) -> dict[str, Any]:
    app_env: dict[str, str] = {
        key: literal(value)
        for key, value in config.app_environment(redis_host=REDIS_CONTAINER).items()
    }
    # Secrets come from .env; empty means unset to the service (embedded SQLite demo data
    # instead of Postgres, no Cognito), which is a safe default on a laptop.
    app_env.update({key: f"${{{key}:-}}" for key in config.app.secret_keys})
    # A laptop run: the service's local stage trusts the local dev issuer (tokens from
    # `docker-compose exec app python -m service.ops token --user 1`), or the Cognito pool
    # named in .env. Deployed stages never run from this file.
    app_env["APP_STAGE"] = "local"
    # As on Render: the ops endpoints on a port of their own, never on the app's.
    app_env["OPS_PORT"] = str(config.app.ops_port)
    # The app authenticates to Redis with the same password redis-server requires.
    app_env[REDIS_PASSWORD_VAR] = required_variable(REDIS_PASSWORD_VAR)
    app_port, ops_port = config.app.port, config.app.ops_port
    return {
        "build": {
            "context": "./service",
            "dockerfile": "Dockerfile",
            "args": {PYTHON_IMAGE_VAR: _variable(PYTHON_IMAGE_VAR, PYTHON_IMAGE_DEFAULT)},
        },
        "image": f"{config.repository_name}:local",
        "ports": [
            f"127.0.0.1:${{{APP_HOST_PORT_VAR}:-{app_port}}}:{app_port}",
            f"127.0.0.1:${{{OPS_HOST_PORT_VAR}:-{ops_port}}}:{ops_port}",
        ],
        "environment": app_env,
        "depends_on": {REDIS_CONTAINER: {"condition": "service_healthy"}},
        "healthcheck": _healthcheck(config.app.health_check, app_health_command()),
        "mem_limit": _mem_limit(config.app.memory_mib),
        "read_only": True,
        "tmpfs": [path for _, path in APP_WRITABLE_PATHS],
        "user": literal(config.app.user),
        "init": True,
        "stop_grace_period": _duration(APP_STOP_TIMEOUT_S),
    }


def compose_document(config: StageConfig) -> dict[str, Any]:
    return {
        "services": {
            REDIS_CONTAINER: _redis_service(config),
            APP_CONTAINER: _app_service(config),
        },
    }


def postgres_override(config: StageConfig) -> dict[str, Any]:
    """`docker-compose.postgres.yml`: adds Postgres and makes the app wait for it."""
    pg_user = PROJECT
    pg_db = PROJECT
    return {
        "services": {
            POSTGRES_SERVICE: {
                "image": _variable(POSTGRES_IMAGE_VAR, POSTGRES_IMAGE),
                "environment": {
                    "POSTGRES_USER": pg_user,
                    "POSTGRES_DB": pg_db,
                    # No default: a guessable database password is never safe to ship.
                    "POSTGRES_PASSWORD": (
                        f"${{{POSTGRES_PASSWORD_VAR}:?set {POSTGRES_PASSWORD_VAR} in .env "
                        "(cp .env.example .env)}"
                    ),
                },
                "volumes": [f"{POSTGRES_VOLUME}:/var/lib/postgresql/data"],
                "healthcheck": _healthcheck(
                    POSTGRES_HEALTH,
                    ["CMD", "pg_isready", "-U", pg_user, "-d", pg_db, "-p", str(POSTGRES_PORT)],
                ),
            },
            APP_CONTAINER: {
                "depends_on": {POSTGRES_SERVICE: {"condition": "service_healthy"}},
            },
        },
        "volumes": {POSTGRES_VOLUME: {}},
    }


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """What Compose loads from `-f base -f override` for these two files: services merged
    key by key, mappings (environment, depends_on) merged, everything else replaced."""
    out: dict[str, Any] = {**base, "services": dict(base["services"])}
    for name, service in override["services"].items():
        current = dict(out["services"].get(name, {}))
        for key, value in service.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key] = {**current[key], **value}
            else:
                current[key] = value
        out["services"][name] = current
    if "volumes" in override:
        out["volumes"] = {**base.get("volumes", {}), **override["volumes"]}
    return out


def database_url_example() -> str:
    return (
        f"postgresql://{PROJECT}:${{{POSTGRES_PASSWORD_VAR}}}@{POSTGRES_SERVICE}:"
        f"{POSTGRES_PORT}/{PROJECT}"
    )


# What each secret is for, in .env.example. A key without an entry gets a generic line.
_SECRET_HINTS: Final[dict[str, str]] = {
    "DATABASE_URL": (
        "Postgres URL. Empty: the app serves its embedded SQLite demo data.\n"
        f"With the postgres override ({POSTGRES_OVERRIDE}), use:\n"
        "DATABASE_URL=" + database_url_example()
    ),
    "AWS_COGNITO_USER_POOL_ID": "Cognito user pool id, e.g. us-east-1_AbCdEf123",
    "AWS_COGNITO_CLIENT_ID": "Cognito app client id",
    "AWS_COGNITO_CLIENT_SECRET": "Cognito app client secret",
    "MARKET_DATA_API_KEY": "API key of the market-data provider",
}


def env_example_sections(config: StageConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section comment, [(comment, `KEY=value` line)]) for `.env.example`."""
    pg_var = POSTGRES_PASSWORD_VAR
    return [
        (
            "Required",
            [
                (
                    "Password Redis requires (it listens on the compose network) and the app\n"
                    "sends. Generate one: openssl rand -hex 24",
                    f"{REDIS_PASSWORD_VAR}=",
                ),
            ],
        ),
        (
            "Optional: host ports (published on 127.0.0.1 only)",
            [
                (
                    "Host port of redis (redis-cli -p ...)",
                    f"{REDIS_HOST_PORT_VAR}={config.redis.port}",
                ),
                (
                    "Host port of the app (curl localhost:...)",
                    f"{APP_HOST_PORT_VAR}={config.app.port}",
                ),
                (
                    "Host port of the ops endpoints: /ready, /metrics, /cache/stats, /docs",
                    f"{OPS_HOST_PORT_VAR}={config.app.ops_port}",
                ),
            ],
        ),
        (
            "Optional: app secrets, empty = unset (ECS: the state stack's secret "
            f"{config.secret_name_prefix}-<stack id>, as one variable APP_SECRETS)",
            [
                (
                    _SECRET_HINTS.get(key, f"{key} (app.secret_keys, infra/config/settings.py)"),
                    f"{key}=",
                )
                for key in config.app.secret_keys
            ],
        ),
        (
            f"Postgres ({POSTGRES_OVERRIDE}): docker-compose -f docker-compose.yml "
            f"-f {POSTGRES_OVERRIDE} up -d",
            [
                (
                    "Password of the local postgres container; required with the override.\n"
                    "Generate one: openssl rand -hex 16",
                    f"{pg_var}=",
                ),
            ],
        ),
        (
            "Optional: base images (point them at a registry mirror)",
            [
                (
                    "Base of the Redis image (service/Dockerfile.redis)",
                    f"{REDIS_IMAGE_VAR}={REDIS_IMAGE_DEFAULT}",
                ),
                (
                    "Base of the app image (service/Dockerfile)",
                    f"{PYTHON_IMAGE_VAR}={PYTHON_IMAGE_DEFAULT}",
                ),
                ("Postgres image (with the override)", f"{POSTGRES_IMAGE_VAR}={POSTGRES_IMAGE}"),
            ],
        ),
    ]
