"""The service stack's customer-managed KMS key: logs and ECS Exec sessions."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StageConfig


class Encryption(Construct):
    """One rotating key per stage. CloudWatch Logs may use it only for log groups of this
    account and region (the encryption-context condition); everything else is granted
    per resource by CDK."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Fyntrix {config.stage}: log groups, ECS Exec sessions",
            enable_key_rotation=True,
            # Deleting the key makes every log and secret it encrypted unreadable: a stage that
            # retains on delete (prod) keeps it; a disposable one schedules its deletion (AWS
            # waits 7-30 days).
            removal_policy=RemovalPolicy.RETAIN
            if config.retain_on_delete
            else RemovalPolicy.DESTROY,
            pending_window=Duration.days(30 if config.retain_on_delete else 7),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
