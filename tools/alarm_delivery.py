"""Can every alarm action and every rule target of a template actually be delivered?

The emulator accepts any alarm action and rule target; AWS authorizes each delivery against
the target's resource policy and, for an encrypted topic, the key policy. This walks a
synthesized template: every `AlarmActions`/`OKActions`/`InsufficientDataActions` ARN of a
metric or composite alarm (published by `cloudwatch.amazonaws.com`) and every EventBridge
rule target (published by `events.amazonaws.com`), and evaluates with :mod:`tools.iam_policy`
the requests AWS would make: `sns:Publish` on the topic (over TLS, with the source's account
and ARN), then `kms:GenerateDataKey` and `kms:Decrypt` on the topic's key.

What each service's requests carry comes from AWS's documentation: both services send
aws:SourceAccount and aws:SourceArn with the publish; SNS calls KMS with the encryption
context `aws:sns:topicArn`; CloudWatch's KMS requests carry the source keys, EventBridge's do
not (SNS documents that aws:SourceAccount/aws:SourceArn are not supported in a key policy for
EventBridge), so a key statement conditioned on them fails every EventBridge delivery here as
it would on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tools.iam_policy import CfnValues, Request, UnsupportedPolicy, evaluate

ALARM_TYPES: Final = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
ACTION_PROPERTIES: Final = ("AlarmActions", "OKActions", "InsufficientDataActions")
CLOUDWATCH: Final = "cloudwatch.amazonaws.com"
EVENTBRIDGE: Final = "events.amazonaws.com"
# Services whose KMS requests (made by SNS on their behalf) carry the source keys.
_KMS_SOURCE_KEYS: Final = {CLOUDWATCH: True, EVENTBRIDGE: False}
KMS_ACTIONS: Final = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class Delivery:
    """`service` publishes to `target` on behalf of `source` (an alarm or a rule)."""

    service: str
    source: str  # logical id
    source_arn: str
    target: str  # resolved ARN


def deliveries(values: CfnValues) -> Iterator[Delivery]:
    for logical_id, resource in _resources(values.template, *ALARM_TYPES):
        props = resource.get("Properties", {})
        arn = values.get_att(logical_id, "Arn")
        for prop in ACTION_PROPERTIES:
            for action in props.get(prop, []):
                yield Delivery(CLOUDWATCH, logical_id, arn, values.resolve(action))
    for logical_id, resource in _resources(values.template, "AWS::Events::Rule"):
        arn = values.get_att(logical_id, "Arn")
        for target in resource.get("Properties", {}).get("Targets", []):
            if "RoleArn" in target:
                raise UnsupportedPolicy(f"{logical_id}: a target delivered through a role")
            yield Delivery(EVENTBRIDGE, logical_id, arn, values.resolve(target["Arn"]))


def delivery_problems(values: CfnValues) -> list[str]:
    """Every delivery AWS would refuse, as `source -> target: why`; empty when all pass."""
    return [problem for d in deliveries(values) for problem in _problems(values, d)]


def _problems(values: CfnValues, d: Delivery) -> list[str]:
    where = f"{d.source} ({d.service}) -> {d.target}"
    topic_id = _topic(values, d.target)
    if topic_id is None:
        return [f"{where}: not an SNS topic of this template, so not checked"]
    policies = _topic_policies(values, d.target)
    if len(policies) != 1:
        # Without a policy SNS applies its default one; this project always sets its own.
        return [f"{where}: {len(policies)} topic policies (expected exactly one)"]
    publish = Request(("Service", d.service), "sns:Publish", d.target, _publish_context(values, d))
    decision = evaluate(policies[0], publish, values)
    found = [] if decision.allowed else [f"{where}: sns:Publish {decision}"]
    return found + _key_problems(values, d, topic_id, where)


def _key_problems(values: CfnValues, d: Delivery, topic_id: str, where: str) -> list[str]:
    key_ref = values.resource(topic_id).get("Properties", {}).get("KmsMasterKeyId")
    if key_ref is None:
        return []
    key_arn = values.resolve(key_ref)
    key_id = _key(values, key_arn)
    if key_id is None:
        return [f"{where}: key {key_arn} is not a key of this template (an AWS managed key "
                "cannot be used by other services)"]  # fmt: skip
    policy = values.resource(key_id)["Properties"]["KeyPolicy"]
    context = _kms_context(values, d)
    problems = []
    for action in KMS_ACTIONS:
        request = Request(("Service", d.service), action, key_arn, context)
        decision = evaluate(policy, request, values)
        if not decision.allowed:
            problems.append(f"{where}: {action} on its key {decision}")
    return problems


def _publish_context(values: CfnValues, d: Delivery) -> dict[str, str]:
    return {
        "aws:SecureTransport": "true",
        "aws:SourceAccount": values.account,
        "aws:SourceArn": d.source_arn,
    }


def _kms_context(values: CfnValues, d: Delivery) -> dict[str, str]:
    context = {"aws:SecureTransport": "true", "kms:EncryptionContext:aws:sns:topicArn": d.target}
    if _KMS_SOURCE_KEYS[d.service]:
        context |= {"aws:SourceAccount": values.account, "aws:SourceArn": d.source_arn}
    return context


def _topic(values: CfnValues, arn: str) -> str | None:
    for logical_id, _ in _resources(values.template, "AWS::SNS::Topic"):
        if values.ref(logical_id) == arn:
            return logical_id
    return None


def _topic_policies(values: CfnValues, arn: str) -> list[Mapping[str, Any]]:
    return [
        r["Properties"]["PolicyDocument"]
        for _, r in _resources(values.template, "AWS::SNS::TopicPolicy")
        if arn in values.resolve_all(r["Properties"]["Topics"])
    ]


def _key(values: CfnValues, arn: str) -> str | None:
    for logical_id, _ in _resources(values.template, "AWS::KMS::Key"):
        if arn in (values.get_att(logical_id, "Arn"), values.ref(logical_id)):
            return logical_id
    return None


def _resources(template: Mapping[str, Any], *types: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") in types:
            yield logical_id, resource
