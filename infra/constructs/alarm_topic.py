"""Where the stage's alarms go: one KMS-encrypted, TLS-only SNS topic that CloudWatch alarms
and EventBridge rules of this stage may publish to."""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces import aws_events as aws_events_refs
from constructs import Construct

from infra.config import StageConfig

# SNS encrypts each message's data key under this encryption context (the topic's ARN); a key
# policy conditioned on it lets a service use the key for this topic only.
SNS_TOPIC_CONTEXT_KEY = "kms:EncryptionContext:aws:sns:topicArn"
_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]


class AlarmTopic(Construct):
    """The topic every alarm of the stage notifies, encrypted with the stage's key.

    A topic policy replaces SNS's default policy, so the policy states every publisher: the
    stage's alarms (metric and composite, `cloudwatch.amazonaws.com`, for alarms of this
    account named `<alarm_name_prefix>-*`) and each EventBridge rule given to
    :meth:`notify_from` (`events.amazonaws.com`, for that rule only). A publishing service
    encrypts into the topic with the key's permissions, not its own, so the key policy lets the
    same services generate data keys and decrypt, for this topic only. `enforce_ssl` denies
    every request that is not over TLS (services publish over TLS). E-mail subscriptions come
    from `alarms.notification_emails`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self._events_may_use_key = False
        topic_name = f"{config.alarm_name_prefix}-alarms"
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name=f"Fyntrix {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        stack = Stack.of(self)
        # Built from the name, not a Ref: the key policy naming the topic that names the key
        # would be a dependency cycle.
        self.topic_arn_by_name = stack.format_arn(service="sns", resource=topic_name)
        # Every alarm of the stage, metric and composite, is named <prefix>-<key>.
        self.alarm_arn_pattern = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{config.alarm_name_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self._allow_alarms(stack.account)
        for address in config.alarms.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))

    def _allow_alarms(self, account: str) -> None:
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        source = {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StageAlarmsPublish",
                actions=["sns:Publish"],
                principals=[cloudwatch],
                resources=[self.topic.topic_arn],
                conditions=source,
            )
        )
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StageAlarmsEncryptIntoTheAlarmTopic",
                actions=_KEY_ACTIONS,
                principals=[cloudwatch],
                resources=["*"],  # in a key policy, `*` is this key
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        SNS_TOPIC_CONTEXT_KEY: self.topic_arn_by_name,
                    },
                    "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern},
                },
            )
        )

    def notify_from(self, rule: events.Rule, message: events.RuleTargetInput) -> None:
        """Makes the topic a target of `rule` (sending `message`) and lets that rule publish.

        The key statement cannot name the rule: SNS documents that aws:SourceArn and
        aws:SourceAccount are not supported in a key policy for EventBridge deliveries (the
        request carries neither, and every delivery would fail). The encryption context
        still limits EventBridge's use of the key to this topic, and the topic policy to this
        rule."""
        rule.add_target(_TopicTarget(self.topic, message))
        events_principal = iam.ServicePrincipal("events.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Rule{rule.node.id}Publishes",
                actions=["sns:Publish"],
                principals=[events_principal],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        if self._events_may_use_key:
            return
        self._events_may_use_key = True
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeEncryptsIntoTheAlarmTopic",
                actions=_KEY_ACTIONS,
                principals=[events_principal],
                resources=["*"],
                conditions={"StringEquals": {SNS_TOPIC_CONTEXT_KEY: self.topic_arn_by_name}},
            )
        )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The topic as a rule target, without the unconditioned publish grant that
    `aws_events_targets.SnsTopic` adds (AlarmTopic.notify_from grants it for the rule)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(
        self,
        rule: aws_events_refs.IRuleRef,
        id: str | None = None,  # the IRuleTarget protocol's parameter name
    ) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)
