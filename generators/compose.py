"""`docker-compose.yml` and `.env.example`: the ECS task's design on one machine.

`redis` runs the sidecar's image and settings (bound to all interfaces of the compose network,
published on the host's loopback only), `app` is built from `service/` and reaches Redis by
its service name, and an optional `postgres` (profile `postgres`) stands in for the database.
Hardening mirrors the task: read-only root filesystems with tmpfs where writes are needed, an
init process, the app's non-root user, the containers' memory limits and stop timeouts.
"""

from __future__ import annotations

from typing import Any, Final

from infra.config import PROJECT, HealthCheck, StageConfig
from infra.task_design import (
    APP_CONTAINER,
    APP_STOP_TIMEOUT_S,
    APP_WRITABLE_PATHS,
    REDIS_CONTAINER,
    REDIS_STOP_TIMEOUT_S,
    REDIS_WRITABLE_PATHS,
    app_health_command,
    redis_health_command,
)

POSTGRES_SERVICE: Final = "postgres"
POSTGRES_PROFILE: Final = "postgres"
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
POSTGRES_PASSWORD_VAR: Final = "POSTGRES_PASSWORD"  # noqa: S105 - a variable name
# Variables the compose file reads for itself (besides the app's secrets).
COMPOSE_OWN_VARIABLES: Final = (POSTGRES_PASSWORD_VAR, REDIS_HOST_PORT_VAR, APP_HOST_PORT_VAR)


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


def compose_document(config: StageConfig) -> dict[str, Any]:
    redis_port = config.redis.port
    app_port = config.app.port
    app_env: dict[str, str] = {
        key: literal(value)
        for key, value in config.app_environment(redis_host=REDIS_CONTAINER).items()
    }
    # Secrets come from .env; empty means unset to the service (embedded SQLite demo data
    # instead of Postgres, no Cognito), which is a safe default on a laptop.
    app_env.update({key: f"${{{key}:-}}" for key in config.app.secret_keys})
    # A laptop run: the service's local stage trusts the local dev issuer (tokens from
    # `docker compose exec app python -m service.ops token --user 1`), or the Cognito pool
    # named in .env. Deployed stages never run from this file.
    app_env["APP_STAGE"] = "local"
    pg_user = PROJECT
    pg_db = PROJECT
    return {
        "name": PROJECT,
        "services": {
            REDIS_CONTAINER: {
                "image": literal(config.redis.image),
                "command": [
                    literal(arg) for arg in config.redis.command_args(bind=COMPOSE_REDIS_BIND)
                ],
                "ports": [f"127.0.0.1:${{{REDIS_HOST_PORT_VAR}:-{redis_port}}}:{redis_port}"],
                "healthcheck": _healthcheck(
                    config.redis.health_check, redis_health_command(redis_port)
                ),
                "mem_limit": _mem_limit(config.redis.memory_mib),
                "read_only": True,
                "tmpfs": [path for _, path in REDIS_WRITABLE_PATHS],
                "init": True,
                "stop_grace_period": _duration(REDIS_STOP_TIMEOUT_S),
            },
            POSTGRES_SERVICE: {
                "image": POSTGRES_IMAGE,
                "profiles": [POSTGRES_PROFILE],
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
                "build": {"context": "./service", "dockerfile": "Dockerfile"},
                "image": f"{config.repository_name}:local",
                "ports": [f"127.0.0.1:${{{APP_HOST_PORT_VAR}:-{app_port}}}:{app_port}"],
                "environment": app_env,
                "depends_on": {
                    REDIS_CONTAINER: {"condition": "service_healthy"},
                    # Only when the `postgres` profile is active; otherwise SQLite.
                    POSTGRES_SERVICE: {"condition": "service_healthy", "required": False},
                },
                "healthcheck": _healthcheck(config.app.health_check, app_health_command()),
                "mem_limit": _mem_limit(config.app.memory_mib),
                "read_only": True,
                "tmpfs": [path for _, path in APP_WRITABLE_PATHS],
                "user": literal(config.app.user),
                "init": True,
                "stop_grace_period": _duration(APP_STOP_TIMEOUT_S),
            },
        },
        "volumes": {POSTGRES_VOLUME: {}},
    }


def database_url_example() -> str:
    return (
        f"postgresql://{PROJECT}:${{{POSTGRES_PASSWORD_VAR}}}@{POSTGRES_SERVICE}:"
        f"{POSTGRES_PORT}/{PROJECT}"
    )


# What each secret is for, in .env.example. A key without an entry gets a generic line.
_SECRET_HINTS: Final[dict[str, str]] = {
    "DATABASE_URL": (
        "Postgres URL. Empty: the app serves its embedded SQLite demo data.\n"
        "With the postgres profile (COMPOSE_PROFILES=postgres), use:\n"
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
                    "Password of the local postgres container. Required even without the\n"
                    "postgres profile: compose checks every variable when it reads the file.\n"
                    "Generate one: openssl rand -hex 16",
                    f"{pg_var}=",
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
            ],
        ),
        (
            f"Optional: app secrets, empty = unset (ECS: secret {config.secret_name})",
            [
                (_SECRET_HINTS.get(key, f"{key} (app.secret_keys in infra/config.py)"), f"{key}=")
                for key in config.app.secret_keys
            ],
        ),
        (
            "Optional: compose itself",
            [
                (
                    "Start postgres too (the app then waits for it to be healthy)",
                    f"# COMPOSE_PROFILES={POSTGRES_PROFILE}",
                ),
            ],
        ),
    ]
