"""The Fargate task: the app and its Redis sidecar sharing one awsvpc network namespace."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import HealthCheck, StageConfig
from infra.constructs.logging import aws_log_driver, log_group
from infra.nag import acknowledge
from infra.task_design import (
    APP_CONTAINER,
    APP_PORT_NAME,
    APP_STOP_TIMEOUT_S,
    APP_WRITABLE_PATHS,
    CPU_ARCHITECTURE,
    ECS_REDIS_BIND,
    EXEC_AGENT_PATHS,
    OPERATING_SYSTEM_FAMILY,
    REDIS_CONTAINER,
    REDIS_PORT_NAME,
    REDIS_STOP_TIMEOUT_S,
    REDIS_WRITABLE_PATHS,
    app_health_command,
    redis_health_command,
)


def _health(hc: HealthCheck, command: list[str]) -> ecs.HealthCheck:
    return ecs.HealthCheck(
        command=command,
        interval=Duration.seconds(hc.interval_s),
        timeout=Duration.seconds(hc.timeout_s),
        retries=hc.retries,
        start_period=Duration.seconds(hc.start_period_s),
    )


class CacheSidecarTask(Construct):
    """Task definition with the `app` container (added first, so it is the default container a
    load balancer targets) and the `redis` sidecar it waits for (condition HEALTHY).

    Both containers run with read-only root filesystems, an init process (signal forwarding,
    zombie reaping, required for ECS Exec) and writable volumes only where needed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        repository: ecr.IRepository,
        secrets: Mapping[str, ecs.Secret],
        auth_environment: Mapping[str, str],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_on_delete else RemovalPolicy.DESTROY
        self.app_log_group: logs.LogGroup = log_group(
            self,
            "AppLogs",
            retention_days=config.log_retention_days,
            removal_policy=removal,
            encryption_key=key,
        )
        self.redis_log_group: logs.LogGroup = log_group(
            self,
            "RedisLogs",
            retention_days=config.log_retention_days,
            removal_policy=removal,
            encryption_key=key,
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=config.task_family,
            cpu=config.task_cpu,
            memory_limit_mib=config.task_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.of(OPERATING_SYSTEM_FAMILY),
                cpu_architecture=ecs.CpuArchitecture.of(CPU_ARCHITECTURE),
            ),
        )

        # --- app: first essential container => default container => load-balancer target
        self.app = self.task_definition.add_container(
            APP_CONTAINER,
            container_name=APP_CONTAINER,
            image=ecs.ContainerImage.from_ecr_repository(repository, config.app.image_tag),
            memory_limit_mib=config.app.memory_mib,
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=config.app.port, name=APP_PORT_NAME)],
            # The shared wiring plus the stage's Cognito issuer and app client ids: public
            # facts (tokens are verified against the pool's public keys), none of them secret.
            environment={
                **config.app_environment(redis_host="localhost"),
                **auth_environment,
            },
            secrets=dict(secrets),
            health_check=_health(config.app.health_check, app_health_command()),
            readonly_root_filesystem=True,
            user=config.app.user,
            linux_parameters=ecs.LinuxParameters(self, "AppLinux", init_process_enabled=True),
            stop_timeout=Duration.seconds(APP_STOP_TIMEOUT_S),
            logging=aws_log_driver(stream_prefix="app", group=self.app_log_group),
        )
        self._writable(self.app, APP_CONTAINER, (*APP_WRITABLE_PATHS, *EXEC_AGENT_PATHS))

        # --- redis: the cache sidecar, reachable only on the task's loopback
        self.redis = self.task_definition.add_container(
            REDIS_CONTAINER,
            container_name=REDIS_CONTAINER,
            # Built from service/Dockerfile.redis with the app image, from the same commit, and
            # pushed beside it: scanned on push, immutable, pulled with the task's own role.
            image=ecs.ContainerImage.from_ecr_repository(repository, config.redis_image_tag),
            memory_limit_mib=config.redis.memory_mib,
            # A crash restarts redis inside the task (the app keeps serving from the source
            # meanwhile, X-Cache: BYPASS), once it has run restartAttemptPeriod. Essential, so
            # a redis that cannot stay up that long stops the task and ECS replaces it, rather
            # than leaving the app without its cache until the next deploy.
            essential=True,
            enable_restart_policy=True,
            restart_attempt_period=Duration.seconds(config.redis.restart_attempt_period_s),
            port_mappings=[ecs.PortMapping(container_port=config.redis.port, name=REDIS_PORT_NAME)],
            command=config.redis.command_args(bind=ECS_REDIS_BIND),
            health_check=_health(
                config.redis.health_check, redis_health_command(config.redis.port)
            ),
            start_timeout=Duration.seconds(config.redis.start_timeout_s),
            stop_timeout=Duration.seconds(REDIS_STOP_TIMEOUT_S),
            readonly_root_filesystem=True,
            linux_parameters=ecs.LinuxParameters(self, "RedisLinux", init_process_enabled=True),
            logging=aws_log_driver(stream_prefix="redis", group=self.redis_log_group),
        )
        self._writable(self.redis, REDIS_CONTAINER, (*REDIS_WRITABLE_PATHS, *EXEC_AGENT_PATHS))

        self.app.add_container_dependencies(
            ecs.ContainerDependency(
                container=self.redis, condition=ecs.ContainerDependencyCondition.HEALTHY
            )
        )
        # Explicit, so adding containers later can never retarget the load balancer.
        self.task_definition.default_container = self.app
        acknowledge(self.task_definition, "AwsSolutions-ECS2")
        # Pulling from ECR needs ecr:GetAuthorizationToken, which has no resource scope.
        execution_policy = self.task_definition.obtain_execution_role().node.try_find_child(
            "DefaultPolicy"
        )
        if execution_policy is not None:
            acknowledge(
                execution_policy,
                "AwsSolutions-IAM5[Resource::*]",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )

    def _writable(
        self, container: ecs.ContainerDefinition, owner: str, paths: tuple[tuple[str, str], ...]
    ) -> None:
        for name, path in paths:
            volume = f"{owner}-{name}"
            self.task_definition.add_volume(name=volume)
            container.add_mount_points(
                ecs.MountPoint(container_path=path, source_volume=volume, read_only=False)
            )
