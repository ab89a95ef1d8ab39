"""Where the stage's alarms go: one KMS-encrypted, TLS-only SNS topic."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StageConfig


class AlarmTopic(Construct):
    """The topic every alarm of the stage notifies, encrypted with the stage's key.

    CloudWatch publishes into an encrypted topic with the key's permissions, not the
    publisher's: the key policy lets cloudwatch.amazonaws.com generate data keys and decrypt,
    for alarms of this account only. `enforce_ssl` denies every publish or subscribe that is
    not over TLS. E-mail subscriptions come from `alarms.notification_emails`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{config.alarm_name_prefix}-alarms",
            display_name=f"Fyntrix {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheEncryptedTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy, `*` is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                        f"{stack.account}:alarm:*"
                    },
                },
            )
        )
        for address in config.alarms.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
