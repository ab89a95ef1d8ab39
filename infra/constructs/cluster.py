"""ECS cluster with Container Insights (enhanced) and audited, encrypted ECS Exec."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.logging import log_group


class ServiceCluster(Construct):
    """The cluster. ECS Exec sessions are encrypted with a customer-managed key and every
    command typed in them is logged to a KMS-encrypted log group (`logging=OVERRIDE`).

    Attributes: `cluster`, `exec_key`, `exec_log_group`, `capacity_providers` (the FARGATE and
    FARGATE_SPOT association a capacity provider strategy needs first).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.exec_key = key
        self.exec_log_group = log_group(
            self,
            "ExecAuditLogs",
            retention_days=config.log_retention_days,
            removal_policy=RemovalPolicy.DESTROY,
            encryption_key=self.exec_key,
        )
        # No fixed name: CloudFormation names it, so nothing ever blocks replacing it. Tools read
        # the name from the stack's `ClusterName` output (docs/reference/names.md).
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            # Enhanced observability: per-container CPU and memory (ContainerName dimension),
            # which the alarms need to tell the app from its Redis sidecar.
            container_insights_v2=(
                ecs.ContainerInsights.ENHANCED
                if config.container_insights
                else ecs.ContainerInsights.DISABLED
            ),
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                kms_key=self.exec_key,
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=self.exec_log_group,
                    cloud_watch_encryption_enabled=True,
                ),
            ),
        )
        # FARGATE and FARGATE_SPOT: the service places its tasks by a capacity provider
        # strategy (infra/constructs/app_service.py), so Spot is a setting, not a rebuild.
        # Declared here rather than with `enable_fargate_capacity_providers`, which adds the
        # association only at synth, where the service cannot be ordered after it alone.
        self.capacity_providers = ecs.CfnClusterCapacityProviderAssociations(
            self,
            "CapacityProviders",
            cluster=self.cluster.cluster_name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[],
        )
