"""`ecs-task-definition.json`: the CDK task definition, as `register-task-definition` input.

Built from the same StageConfig and the same helpers as
:class:`infra.constructs.cache_sidecar_task.CacheSidecarTask`; a test compares it field by
field with the synthesized CloudFormation task definition, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Final

from infra.config import PROJECT, HealthCheck, StageConfig
from infra.task_design import (
    APP_CONTAINER,
    APP_PORT_NAME,
    APP_STOP_TIMEOUT_S,
    APP_WRITABLE_PATHS,
    CPU_ARCHITECTURE,
    ECS_REDIS_BIND,
    EXEC_AGENT_PATHS,
    LOG_DRIVER_MODE,
    OPERATING_SYSTEM_FAMILY,
    REDIS_CONTAINER,
    REDIS_PORT_NAME,
    REDIS_STOP_TIMEOUT_S,
    REDIS_WRITABLE_PATHS,
    app_health_command,
    log_max_buffer_size,
    redis_health_command,
)
from service.secrets_env import SECRETS_JSON_ENV

# ---- placeholders the operator replaces before `aws ecs register-task-definition` ----
# Every placeholder starts with YOUR_, so one grep finds them all.
ACCOUNT_PLACEHOLDER: Final = "YOUR_ACCOUNT_ID"
IMAGE_TAG_PLACEHOLDER: Final = "YOUR_IMAGE_TAG"
# The app secret's ARN: the state stack's `SecretArn` output, or a secret of your own.
SECRET_ARN_PLACEHOLDER: Final = "YOUR_APP_SECRET_ARN"  # noqa: S105 - a placeholder
EXECUTION_ROLE_PLACEHOLDER: Final = "YOUR_TASK_EXECUTION_ROLE"
TASK_ROLE_PLACEHOLDER: Final = "YOUR_TASK_ROLE"
# The Cognito pool and app client the stack creates (its outputs UserPoolId, AppClientIds).
USER_POOL_PLACEHOLDER: Final = "YOUR_USER_POOL_ID"
APP_CLIENT_PLACEHOLDER: Final = "YOUR_APP_CLIENT_ID"
PLACEHOLDERS: Final = (
    ACCOUNT_PLACEHOLDER,
    IMAGE_TAG_PLACEHOLDER,
    SECRET_ARN_PLACEHOLDER,
    EXECUTION_ROLE_PLACEHOLDER,
    TASK_ROLE_PLACEHOLDER,
    USER_POOL_PLACEHOLDER,
    APP_CLIENT_PLACEHOLDER,
)


def partition(region: str) -> tuple[str, str]:
    """(ARN partition, DNS suffix) of a region: what CloudFormation's AWS::Partition and
    AWS::URLSuffix resolve to there."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def image_uri(config: StageConfig, tag: str | None = None) -> str:
    """An image of the shared repository: the app's release tag unless `tag` names another
    (the Redis image's `redis-<tag>`)."""
    _, suffix = partition(config.region)
    return (
        f"{ACCOUNT_PLACEHOLDER}.dkr.ecr.{config.region}.{suffix}/"
        f"{config.repository_name}:{tag or config.app.image_tag}"
    )


def role_arn(config: StageConfig, role: str) -> str:
    part, _ = partition(config.region)
    return f"arn:{part}:iam::{ACCOUNT_PLACEHOLDER}:role/{role}"


def log_group_name(config: StageConfig, container: str) -> str:
    """The log group the CLI path uses per container (the CDK stack lets CloudFormation name
    its groups; this path needs a fixed name you can create beforehand)."""
    return f"{config.log_group_prefix}/{container}"


def _health(hc: HealthCheck, command: list[str]) -> dict[str, Any]:
    return {
        "command": command,
        "interval": hc.interval_s,
        "timeout": hc.timeout_s,
        "retries": hc.retries,
        "startPeriod": hc.start_period_s,
    }


def _logs(config: StageConfig, container: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group_name(config, container),
            "awslogs-region": config.region,
            "awslogs-stream-prefix": container,
            "mode": LOG_DRIVER_MODE,
            "max-buffer-size": log_max_buffer_size(),
        },
    }


def _writable(owner: str, paths: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(volume name, container path) pairs, named as the construct names them."""
    return [(f"{owner}-{name}", path) for name, path in paths]


def _mounts(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"sourceVolume": volume, "containerPath": path, "readOnly": False} for volume, path in pairs
    ]


def auth_environment(config: StageConfig) -> dict[str, str]:
    """The app's Cognito wiring: the configured pool, or placeholders for the one the stack
    creates."""
    if config.auth.user_pool_id:
        pool, clients = config.auth.user_pool_id, ",".join(config.auth.client_ids)
    else:
        pool, clients = USER_POOL_PLACEHOLDER, APP_CLIENT_PLACEHOLDER
    return config.auth_environment(user_pool_id=pool, client_ids=clients)


def task_definition(config: StageConfig) -> dict[str, Any]:
    """The `register-task-definition` input for `config` (camelCase API shape)."""
    app_volumes = _writable(APP_CONTAINER, (*APP_WRITABLE_PATHS, *EXEC_AGENT_PATHS))
    redis_volumes = _writable(REDIS_CONTAINER, (*REDIS_WRITABLE_PATHS, *EXEC_AGENT_PATHS))
    app: dict[str, Any] = {
        "name": APP_CONTAINER,
        "image": image_uri(config),
        "essential": True,
        "memory": config.app.memory_mib,
        "portMappings": [
            {"name": APP_PORT_NAME, "containerPort": config.app.port, "protocol": "tcp"}
        ],
        "environment": [
            {"name": k, "value": v}
            for k, v in {
                **config.app_environment(redis_host="localhost"),
                **auth_environment(config),
            }.items()
        ],
        # The whole secret as one variable (service/secrets_json.py), as the CDK stack does.
        "secrets": [{"name": SECRETS_JSON_ENV, "valueFrom": SECRET_ARN_PLACEHOLDER}],
        "dependsOn": [{"containerName": REDIS_CONTAINER, "condition": "HEALTHY"}],
        "healthCheck": _health(config.app.health_check, app_health_command()),
        "readonlyRootFilesystem": True,
        "user": config.app.user,
        "linuxParameters": {"initProcessEnabled": True},
        "mountPoints": _mounts(app_volumes),
        "stopTimeout": APP_STOP_TIMEOUT_S,
        "logConfiguration": _logs(config, APP_CONTAINER),
    }
    redis: dict[str, Any] = {
        "name": REDIS_CONTAINER,
        "image": image_uri(config, config.redis_image_tag),
        "essential": True,
        # Restarted inside the task once it has run the period; sooner, the task stops.
        "restartPolicy": {
            "enabled": True,
            "restartAttemptPeriod": config.redis.restart_attempt_period_s,
        },
        "memory": config.redis.memory_mib,
        "portMappings": [
            {"name": REDIS_PORT_NAME, "containerPort": config.redis.port, "protocol": "tcp"}
        ],
        "command": config.redis.command_args(bind=ECS_REDIS_BIND),
        "healthCheck": _health(config.redis.health_check, redis_health_command(config.redis.port)),
        "readonlyRootFilesystem": True,
        "linuxParameters": {"initProcessEnabled": True},
        "mountPoints": _mounts(redis_volumes),
        "startTimeout": config.redis.start_timeout_s,
        "stopTimeout": REDIS_STOP_TIMEOUT_S,
        "logConfiguration": _logs(config, REDIS_CONTAINER),
    }
    return {
        "family": config.task_family,
        "taskRoleArn": role_arn(config, TASK_ROLE_PLACEHOLDER),
        "executionRoleArn": role_arn(config, EXECUTION_ROLE_PLACEHOLDER),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(config.task_cpu),
        "memory": str(config.task_memory_mib),
        "runtimePlatform": {
            "cpuArchitecture": CPU_ARCHITECTURE,
            "operatingSystemFamily": OPERATING_SYSTEM_FAMILY,
        },
        # app first: the construct adds it first, so it is the load balancer's default target.
        "containerDefinitions": [app, redis],
        "volumes": [{"name": volume} for volume, _ in (*app_volumes, *redis_volumes)],
        "tags": [
            {"key": "project", "value": PROJECT},
            {"key": "stage", "value": config.stage},
        ],
    }
