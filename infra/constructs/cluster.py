"""ECS cluster with Container Insights and audited, encrypted ECS Exec."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.logging import log_group


class ServiceCluster(Construct):
    """The cluster. ECS Exec sessions are encrypted with a customer-managed key and every
    command typed in them is logged to a KMS-encrypted log group (`logging=OVERRIDE`)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, vpc: ec2.IVpc
    ) -> None:
        super().__init__(scope, construct_id)
        self.exec_key = kms.Key(
            self,
            "ExecKey",
            description=f"Encrypts ECS Exec sessions and their audit log ({config.cluster_name})",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        region = Stack.of(self).region
        # CloudWatch Logs needs the key to encrypt the exec audit log group.
        self.exec_key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                resources=["*"],
                conditions={
                    # Only log groups of this account and region may use the key.
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": Stack.of(self).format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.exec_log_group = log_group(
            self,
            "ExecAuditLogs",
            retention_days=config.log_retention_days,
            removal_policy=RemovalPolicy.DESTROY,
            encryption_key=self.exec_key,
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=config.cluster_name,
            vpc=vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
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
