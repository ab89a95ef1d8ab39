"""`render.yaml` (Render Blueprint) and `service/redis.conf` (the Redis private service).

Render runs the same design as the ECS task with two hosts on Render's private network: a
private service `fyntrix-redis` built from `service/Dockerfile.redis` (which copies the
generated `redis.conf`) and the web service `fyntrix-backend`.
"""

from __future__ import annotations

from typing import Any, Final

from infra.config import PROJECT, ConfigError, StageConfig
from infra.task_design import APP_STOP_TIMEOUT_S, NETWORK_REDIS_PROTECTED_MODE

REDIS_SERVICE: Final = f"{PROJECT}-redis"
WEB_SERVICE: Final = f"{PROJECT}-backend"
# Paths as Render resolves them: relative to the repository root.
DOCKER_CONTEXT: Final = "./service"
APP_DOCKERFILE: Final = "./service/Dockerfile"
REDIS_DOCKERFILE: Final = "./service/Dockerfile.redis"
# Relative to the repository root; Dockerfile.redis COPYs it from its build context service/.
REDIS_CONF_PATH: Final = "service/redis.conf"

# Redis is another host on Render: it must listen beyond loopback. Only Render's private
# network reaches it (a private service has no public URL), but every service of the
# workspace is on that network: Redis requires a password Render generates for the private
# service (`generateValue`), and the web service reads that same value (`envVarKey`).
RENDER_REDIS_BIND: Final = "0.0.0.0"
REDIS_PASSWORD_KEY: Final = "REDIS_PASSWORD"  # noqa: S105 - a variable name

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


def check_config(config: StageConfig) -> None:
    """Settings the config accepts but Render cannot run; raises ConfigError naming one."""
    plan_for(config.redis.memory_mib, "redis.memory_mib")
    plan_for(config.app.memory_mib, "app.memory_mib")
    for setting, port in (("app.port", config.app.port), ("redis.port", config.redis.port)):
        if port in RENDER_RESERVED_PORTS:
            raise ConfigError(
                setting,
                f"port {port} is reserved by Render",
                f"choose a port other than {', '.join(map(str, RENDER_RESERVED_PORTS))}",
            )


def blueprint(config: StageConfig) -> dict[str, Any]:
    """The Blueprint document (key order as Render's docs show it)."""
    check_config(config)
    env_vars: list[dict[str, Any]] = []
    for key, value in config.app_environment(redis_host=REDIS_SERVICE).items():
        if key == "REDIS_HOST":
            # The private service's internal hostname, resolved by Render at deploy time.
            env_vars.append(
                {
                    "key": key,
                    "fromService": {"type": "pserv", "name": REDIS_SERVICE, "property": "host"},
                }
            )
        else:
            env_vars.append({"key": key, "value": value})
    env_vars.append(
        {
            "key": REDIS_PASSWORD_KEY,
            "fromService": {
                "type": "pserv",
                "name": REDIS_SERVICE,
                "envVarKey": REDIS_PASSWORD_KEY,
            },
        }
    )
    # Secrets: Render prompts for them when the Blueprint is created and never stores them
    # in the file (`sync: false`).
    env_vars += [{"key": key, "sync": False} for key in config.app.secret_keys]
    return {
        "services": [
            {
                "type": "pserv",
                "name": REDIS_SERVICE,
                "runtime": "docker",
                "plan": plan_for(config.redis.memory_mib, "redis.memory_mib"),
                "dockerfilePath": REDIS_DOCKERFILE,
                "dockerContext": DOCKER_CONTEXT,
                # Dockerfile.redis refuses to start without it (never an open Redis).
                "envVars": [{"key": REDIS_PASSWORD_KEY, "generateValue": True}],
            },
            {
                "type": "web",
                "name": WEB_SERVICE,
                "runtime": "docker",
                "plan": plan_for(config.app.memory_mib, "app.memory_mib"),
                "dockerfilePath": APP_DOCKERFILE,
                "dockerContext": DOCKER_CONTEXT,
                "healthCheckPath": config.app.health_check_path,
                # The same drain window ECS gives the app (stopTimeout) before SIGKILL.
                "maxShutdownDelaySeconds": APP_STOP_TIMEOUT_S,
                "envVars": env_vars,
            },
        ]
    }


def redis_conf_lines(config: StageConfig) -> list[str]:
    """`redis.conf` directives: the ECS sidecar's settings with the Render bind address, and
    protected mode said explicitly (never left to how the Redis was compiled)."""
    lines = [f"{key} {value}" for key, value in config.redis.directives(bind=RENDER_REDIS_BIND)]
    return [*lines, f"protected-mode {NETWORK_REDIS_PROTECTED_MODE}"]
