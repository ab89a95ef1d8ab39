"""The task's design facts: container names, ports, stop timeouts, bind addresses, writable
paths and health-check commands. Not tunables (those are in `infra.config`).

CDK-free on purpose: the CDK construct (`infra/constructs/cache_sidecar_task.py`), the deploy-file
generators (`generators/`) and the local rehearsal all import these, so writing a YAML file never
starts jsii.
"""

from __future__ import annotations

from typing import Final

APP_CONTAINER = "app"
REDIS_CONTAINER = "redis"

# The SSM agent behind ECS Exec writes here; with a read-only root filesystem these must be
# writable volumes or `execute-command` fails inside the container.
EXEC_AGENT_PATHS: tuple[tuple[str, str], ...] = (
    ("managed-agents", "/managed-agents"),
    ("ssm-lib", "/var/lib/amazon/ssm"),
    ("ssm-log", "/var/log/amazon/ssm"),
)


APP_STOP_TIMEOUT_S: Final = 30
REDIS_STOP_TIMEOUT_S: Final = 10
# Loopback only, IPv4 and IPv6 (`-` makes ::1 optional where IPv6 is off): the app shares the
# task's network namespace, nothing else may reach Redis.
ECS_REDIS_BIND: Final = "127.0.0.1 -::1"
# Where Redis listens on a network (compose, Render) it says `protected-mode` explicitly: Redis's
# compiled-in default is `yes`, which answers every non-loopback client DENIED while there is no
# password; only the official images compile `no` in. Its network is private to the app (the
# compose network, Render's private network), so `no`; a password (requirepass) is the
# protection to add there, and protected mode changes nothing once one is set.
NETWORK_REDIS_PROTECTED_MODE: Final = "no"
APP_PORT_NAME: Final = "http"
REDIS_PORT_NAME: Final = "redis"
# Writable paths under the read-only root filesystems (besides ECS Exec's agent paths).
# /tmp inside the container: a private, task-scoped volume, not the host temp dir.
APP_WRITABLE_PATHS: Final = (("tmp", "/tmp"),)  # noqa: S108
REDIS_WRITABLE_PATHS: Final = (("data", "/data"),)
CPU_ARCHITECTURE: Final = "X86_64"
OPERATING_SYSTEM_FAMILY: Final = "LINUX"


def redis_health_command(port: int) -> list[str]:
    # `redis-cli ping` exits 0 on an error reply such as LOADING; only PONG means ready.
    return ["CMD-SHELL", f"redis-cli -p {port} ping | grep -q PONG"]


def app_health_command() -> list[str]:
    # The image has no curl; the service ships a stdlib-only probe of GET /health.
    return ["CMD", "python", "-m", "service.healthcheck"]


# awslogs delivery, set explicitly (otherwise the account's `defaultLogDriverMode` decides).
# Non-blocking: a slow or unreachable CloudWatch Logs must never block the containers' stdout;
# a blocked write stalls the app's requests until its health checks fail and ECS replaces the
# task, turning a logging outage into a service outage. Lines wait in the buffer meanwhile and
# are dropped only once it is full. The app's EMF lines are its metrics, so a drop loses
# figures, but they cannot become metrics while CloudWatch Logs is unreachable anyway; 25 MiB
# holds hours of the service's EMF output and bursts of error logs on top.
LOG_DRIVER_MODE: Final = "non-blocking"
LOG_MAX_BUFFER_MIB: Final = 25


def log_max_buffer_size() -> str:
    """The `max-buffer-size` option as CDK renders a Size: bytes with a `b` suffix."""
    return f"{LOG_MAX_BUFFER_MIB * 1024 * 1024}b"
