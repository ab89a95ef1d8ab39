"""`render.yaml` (Render Blueprint) and `service/redis.conf` (the Redis private service).

One Render project with an environment per stage (dev, prod), each the ECS task's design on two
hosts of Render's private network: the web service `fyntrix-<stage>-backend` and its cache,
a private service `fyntrix-<stage>-redis` built from `service/Dockerfile.redis` (which
copies the generated `redis.conf`) or, with `render.cache = keyvalue`, Render Key Value. Every
service of a stage sits in the stage's Render region, and the app runs with the stage's
APP_STAGE, so Render applies the same rules as ECS (Cognito required; a database in prod).
Build filters redeploy a service only when the files it is built from change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from infra.config import PROJECT, ConfigError, StageConfig
from infra.config.render import POSTGRES_MAJOR_VERSION, RENDER_REGIONS
from infra.task_design import APP_STOP_TIMEOUT_S, NETWORK_REDIS_PROTECTED_MODE

# Roles; each stage names its services by the naming rule (`fyntrix-<stage>-<role>`), as the
# AWS names do (infra/config/names.py).
REDIS_SERVICE: Final = "redis"
WEB_SERVICE: Final = "backend"
KEYVALUE_SERVICE: Final = "cache"
DATABASE: Final = "db"
# Paths as Render resolves them: relative to the repository root.
DOCKER_CONTEXT: Final = "./service"
APP_DOCKERFILE: Final = "./service/Dockerfile"
REDIS_DOCKERFILE: Final = "./service/Dockerfile.redis"
# Relative to the repository root; Dockerfile.redis COPYs it from its build context service/.
REDIS_CONF_PATH: Final = "service/redis.conf"
# What each image is built from: a push that changes nothing here does not redeploy it (a
# docs-only commit restarts neither the app nor, emptying the cache, Redis).
REDIS_BUILD_FILES: Final = ("service/Dockerfile.redis", REDIS_CONF_PATH)
APP_BUILD_FILTER: Final = {"paths": ["service/**"], "ignoredPaths": list(REDIS_BUILD_FILES)}
REDIS_BUILD_FILTER: Final = {"paths": list(REDIS_BUILD_FILES)}

# Redis is another host on Render: it must listen beyond loopback. Only Render's private
# network reaches it (a private service has no public URL), but every service of the
# workspace is on that network: Redis requires a password Render generates for the private
# service (`generateValue`), and the web service reads that same value (`envVarKey`).
RENDER_REDIS_BIND: Final = "0.0.0.0"
REDIS_PASSWORD_KEY: Final = "REDIS_PASSWORD"  # noqa: S105 - a variable name
DATABASE_URL_KEY: Final = "DATABASE_URL"

# Paid Render instance types and their RAM in MiB, smallest first (https://render.com/pricing;
# Render states MB/GB, read here as MiB/GiB). `free` is left out on purpose: Render offers it
# to web services only, and a free web service sleeps when idle.
RENDER_PLANS_MIB: Final[tuple[tuple[str, int], ...]] = (
    ("starter", 512),
    ("standard", 2048),
    ("pro", 4096),
    ("pro plus", 8192),
    ("pro max", 16384),
    ("pro ultra", 32768),
)
# Ports Render reserves for its own processes on every instance; a service cannot bind them.
RENDER_RESERVED_PORTS: Final = (18012, 18013, 19099)
# Render's default PORT: never reachable on the private network, so never the ops port.
RENDER_PUBLIC_DEFAULT_PORT: Final = 10000


def redis_service_name(config: StageConfig) -> str:
    return config.names.named(REDIS_SERVICE)


def web_service_name(config: StageConfig) -> str:
    return config.names.named(WEB_SERVICE)


def keyvalue_name(config: StageConfig) -> str:
    return config.names.named(KEYVALUE_SERVICE)


def database_name(config: StageConfig) -> str:
    return config.names.named(DATABASE)


def plan_for(memory_mib: int, setting: str) -> str:
    """The smallest paid plan whose RAM holds the container's hard limit from the config, so
    a Render instance gives the process at least what the ECS task gives it."""
    for plan, ram_mib in RENDER_PLANS_MIB:
        if memory_mib <= ram_mib:
            return plan
    largest, ram_mib = RENDER_PLANS_MIB[-1]
    raise ConfigError(
        setting,
        f"{memory_mib} MiB is more than Render's largest instance type ({largest}, {ram_mib} MiB)",
        f"lower {setting} to at most {ram_mib}",
    )


def render_region(config: StageConfig) -> str:
    """The stage's Render region, or ConfigError when its AWS region has no Render twin."""
    region = config.render.region_for(config.region)
    if region is None:
        raise ConfigError(
            "render.region",
            f"no Render region sits in {config.region} (the stage's `region`), so the "
            "Blueprint cannot follow it",
            f"set render.region to the nearest of {', '.join(RENDER_REGIONS)} in the stage file",
        )
    return region


def check_config(config: StageConfig) -> None:
    """Settings the config accepts but Render cannot run; raises ConfigError naming one."""
    plan_for(config.redis.memory_mib, "redis.memory_mib")
    plan_for(config.app.memory_mib, "app.memory_mib")
    render_region(config)
    for setting, port in (
        ("app.port", config.app.port),
        ("redis.port", config.redis.port),
        ("app.ops_port", config.app.ops_port),
    ):
        if port in RENDER_RESERVED_PORTS:
            raise ConfigError(
                setting,
                f"port {port} is reserved by Render",
                f"choose a port other than {', '.join(map(str, RENDER_RESERVED_PORTS))}",
            )
    if config.app.ops_port == RENDER_PUBLIC_DEFAULT_PORT:
        raise ConfigError(
            "app.ops_port",
            f"port {RENDER_PUBLIC_DEFAULT_PORT} is Render's public port and is never reachable "
            "on the private network",
            "choose another port for the ops endpoints",
        )


def check_configs(configs: Sequence[StageConfig]) -> None:
    """Every stage's checks, and what the stages share: the private services of every stage
    are built from the one `service/redis.conf`, so their Redis settings must agree."""
    for config in configs:
        check_config(config)
    own_redis = [c for c in configs if c.render.cache == "private-service"]
    for config in own_redis[1:]:
        if redis_conf_lines(config) != redis_conf_lines(own_redis[0]):
            raise ConfigError(
                "redis.memory_mib",
                f"{own_redis[0].stage} and {config.stage} run different Redis settings, but "
                f"every Render private service is built from the one {REDIS_CONF_PATH}",
                "give the stages the same redis settings, or run one on Render Key Value "
                "(render.cache = keyvalue)",
            )


def blueprint(configs: Sequence[StageConfig]) -> dict[str, Any]:
    """The Blueprint document: one project, an environment per stage (key order as Render's
    docs show it)."""
    check_configs(configs)
    return {"projects": [{"name": PROJECT, "environments": [environment(c) for c in configs]}]}


def environment(config: StageConfig) -> dict[str, Any]:
    """One stage's services (and its database, with `render.database = render-postgres`)."""
    cache = _keyvalue(config) if config.render.cache == "keyvalue" else _redis_service(config)
    env: dict[str, Any] = {"name": config.stage, "services": [cache, _web_service(config)]}
    if config.render.database == "render-postgres":
        env["databases"] = [
            {
                "name": database_name(config),
                "databaseName": PROJECT,
                "user": PROJECT,
                "region": render_region(config),
                "plan": config.render.postgres_plan,
                "postgresMajorVersion": POSTGRES_MAJOR_VERSION,
                "ipAllowList": [],  # no access from outside Render's private network
            }
        ]
    return env


def _redis_service(config: StageConfig) -> dict[str, Any]:
    return {
        "type": "pserv",
        "name": redis_service_name(config),
        "runtime": "docker",
        "region": render_region(config),
        "plan": plan_for(config.redis.memory_mib, "redis.memory_mib"),
        "dockerfilePath": REDIS_DOCKERFILE,
        "dockerContext": DOCKER_CONTEXT,
        "autoDeployTrigger": config.render.auto_deploy,
        "buildFilter": REDIS_BUILD_FILTER,
        # Dockerfile.redis refuses to start without it (never an open Redis).
        "envVars": [{"key": REDIS_PASSWORD_KEY, "generateValue": True}],
    }


def _keyvalue(config: StageConfig) -> dict[str, Any]:
    return {
        "type": "keyvalue",
        "name": keyvalue_name(config),
        "region": render_region(config),
        "plan": config.render.keyvalue_plan,
        "maxmemoryPolicy": config.redis.maxmemory_policy,
        "persistenceMode": "off",  # a cache: no RDB, no AOF, a restart starts empty
        "ipAllowList": [],  # no access from outside Render's private network
    }


def _web_service(config: StageConfig) -> dict[str, Any]:
    return {
        "type": "web",
        "name": web_service_name(config),
        "runtime": "docker",
        "region": render_region(config),
        "plan": plan_for(config.app.memory_mib, "app.memory_mib"),
        "dockerfilePath": APP_DOCKERFILE,
        "dockerContext": DOCKER_CONTEXT,
        "healthCheckPath": config.app.health_check_path,
        # The same drain window ECS gives the app (stopTimeout) before SIGKILL.
        "maxShutdownDelaySeconds": APP_STOP_TIMEOUT_S,
        "autoDeployTrigger": config.render.auto_deploy,
        "buildFilter": APP_BUILD_FILTER,
        "envVars": web_environment(config),
    }


def web_environment(config: StageConfig) -> list[dict[str, Any]]:
    """The app's environment on Render: the ECS task's, wired to the stage's cache and
    database, with the stage's rules and the ops endpoints on the private port."""
    keyvalue = config.render.cache == "keyvalue"
    cache_ref: dict[str, str] = (
        {"type": "keyvalue", "name": keyvalue_name(config)}
        if keyvalue
        else {"type": "pserv", "name": redis_service_name(config)}
    )
    env_vars: list[dict[str, Any]] = []
    for key, value in config.app_environment(redis_host="-").items():
        if key == "REDIS_HOST" or (key == "REDIS_PORT" and keyvalue):
            # Resolved by Render at deploy time: the cache's internal hostname (and port).
            prop = "host" if key == "REDIS_HOST" else "port"
            env_vars.append({"key": key, "fromService": {**cache_ref, "property": prop}})
        elif key == "REDIS_EXPECTED_MAXMEMORY_BYTES" and keyvalue:
            continue  # the Key Value plan sets maxmemory, not redis.maxmemory_mib
        else:
            env_vars.append({"key": key, "value": value})
    env_vars += [
        {"key": "OPS_PORT", "value": str(config.app.ops_port)},
        {"key": "APP_STAGE", "value": config.stage},
        {"key": "AUTH_ADMIN_GROUP", "value": config.auth.admin_group},
    ]
    if not keyvalue:
        env_vars.append(
            {
                "key": REDIS_PASSWORD_KEY,
                "fromService": {**cache_ref, "envVarKey": REDIS_PASSWORD_KEY},
            }
        )
    for key in config.app.secret_keys:
        if key == DATABASE_URL_KEY and config.render.database == "render-postgres":
            ref = {"name": database_name(config), "property": "connectionString"}
            env_vars.append({"key": key, "fromDatabase": ref})
        else:
            # Render prompts for it when the Blueprint is applied; never stored in the file.
            env_vars.append({"key": key, "sync": False})
    return env_vars


def redis_conf_lines(config: StageConfig) -> list[str]:
    """`redis.conf` directives: the ECS sidecar's settings with the Render bind address, and
    protected mode said explicitly (never left to how the Redis was compiled)."""
    lines = [f"{key} {value}" for key, value in config.redis.directives(bind=RENDER_REDIS_BIND)]
    return [*lines, f"protected-mode {NETWORK_REDIS_PROTECTED_MODE}"]
