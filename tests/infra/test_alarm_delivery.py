"""Every alarm action and rule target reaches its topic: a policy walk over the templates.

A topic policy replaces SNS's default policy, and an encrypted topic needs the publisher in
the key policy too; the emulator checks neither. tools/alarm_delivery.py evaluates, for
every alarm (metric and composite) and every EventBridge rule target of a stage, the requests
AWS makes: sns:Publish under the topic policy, kms:GenerateDataKey/kms:Decrypt under the key
policy. The mutation tests below show the walk refusing what AWS would refuse.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest

from tests.infra.conftest import Synth
from tools.alarm_delivery import (
    ALARM_TYPES,
    CLOUDWATCH,
    EVENTBRIDGE,
    deliveries,
    delivery_problems,
)
from tools.iam_policy import CfnValues, Request, evaluate

STAGES = ["dev", "prod", "dev_without_waf"]


def service_values(s: Synth) -> CfnValues:
    return CfnValues(s.service_template.to_json(), region=s.config.region)


@pytest.mark.parametrize("stage", STAGES)
def test_every_alarm_action_and_rule_target_can_publish_to_its_topic(
    stage: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    values = service_values(s)
    assert delivery_problems(values) == []
    assert delivery_problems(CfnValues(s.registry_template.to_json())) == []
    found = list(deliveries(values))
    resources = values.template["Resources"]
    alarms = [k for k, r in resources.items() if r["Type"] in ALARM_TYPES]
    # Every alarm publishes (ALARM, and OK for the critical ones and the composite), and so
    # does the task-stop rule.
    assert {d.source for d in found if d.service == CLOUDWATCH} == set(alarms)
    rules = {d.source for d in found if d.service == EVENTBRIDGE}
    names = {resources[r]["Properties"]["Name"] for r in rules}
    assert names == {f"{s.config.alarm_name_prefix}-task-stops"}


# ---------------------------------------------------------------- the walk can fail


def _topic_policy(template: Mapping[str, Any]) -> dict[str, Any]:
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    doc: dict[str, Any] = policy["Properties"]["PolicyDocument"]
    return doc


def _key_policy(template: Mapping[str, Any]) -> dict[str, Any]:
    (key,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    doc: dict[str, Any] = key["Properties"]["KeyPolicy"]
    return doc


def _without(doc: dict[str, Any], principal: str) -> None:
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Principal") != {"Service": principal}]


def test_a_topic_policy_holding_only_the_tls_deny_drops_every_publish(dev: Synth) -> None:
    """The policy the stage shipped with before: the TLS deny alone."""
    template = copy.deepcopy(dev.service_template.to_json())
    doc = _topic_policy(template)
    doc["Statement"] = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    problems = delivery_problems(CfnValues(template))
    assert len(problems) == len(list(deliveries(CfnValues(template))))
    assert all("sns:Publish implicitly denied" in p for p in problems), problems


@pytest.mark.parametrize("principal", [CLOUDWATCH, EVENTBRIDGE])
def test_a_key_policy_without_the_publisher_fails_its_deliveries(
    dev: Synth, principal: str
) -> None:
    template = copy.deepcopy(dev.service_template.to_json())
    _without(_key_policy(template), principal)
    problems = delivery_problems(CfnValues(template))
    assert problems, "the walk passed a key policy that lets the publisher encrypt nothing"
    assert all(f"({principal})" in p and "on its key implicitly denied" in p for p in problems)


def test_eventbridge_key_grant_conditioned_on_the_rule_fails(dev: Synth) -> None:
    """EventBridge's KMS requests carry no aws:SourceArn: conditioning its key grant on the
    rule (as one would the topic policy) drops every delivery."""
    template = copy.deepcopy(dev.service_template.to_json())
    for statement in _key_policy(template)["Statement"]:
        if statement.get("Principal") == {"Service": EVENTBRIDGE}:
            statement["Condition"]["ArnLike"] = {"aws:SourceArn": "arn:aws:events:*"}
    problems = delivery_problems(CfnValues(template))
    assert problems and all(f"({EVENTBRIDGE})" in p for p in problems), problems


def test_a_deny_without_the_tls_condition_beats_the_allow(dev: Synth) -> None:
    template = copy.deepcopy(dev.service_template.to_json())
    for statement in _topic_policy(template)["Statement"]:
        if statement["Effect"] == "Deny":
            del statement["Condition"]
    problems = delivery_problems(CfnValues(template))
    assert problems and all(
        "explicitly denied by AllowPublishThroughSSLOnly" in p for p in problems
    )


# ---------------------------------------------------------------- least privilege


def _publish(
    values: CfnValues, service: str, source_arn: str, account: str = "123456789012"
) -> Request:
    (topic,) = [
        k for k, r in values.template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"
    ]
    return Request(
        ("Service", service),
        "sns:Publish",
        values.ref(topic),
        {"aws:SecureTransport": "true", "aws:SourceAccount": account, "aws:SourceArn": source_arn},
    )


def test_only_this_stages_alarms_and_rule_may_publish(dev: Synth) -> None:
    values = service_values(dev)
    doc = _topic_policy(values.template)
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fyntrix-dev-target-5xx-rate"
    assert evaluate(doc, _publish(values, CLOUDWATCH, alarm), values).allowed
    for refused in (
        _publish(values, CLOUDWATCH, alarm.replace("fyntrix-dev-", "fyntrix-prod-")),
        _publish(values, CLOUDWATCH, alarm.replace("123456789012", "999999999999"), "999999999999"),
        _publish(values, CLOUDWATCH, alarm.replace("us-east-1", "eu-west-1")),
        _publish(values, EVENTBRIDGE, "arn:aws:events:us-east-1:123456789012:rule/other-rule"),
        _publish(values, "s3.amazonaws.com", alarm),
    ):
        assert not evaluate(doc, refused, values).allowed, refused
    rule = "arn:aws:events:us-east-1:123456789012:rule/fyntrix-dev-task-stops"
    assert evaluate(doc, _publish(values, EVENTBRIDGE, rule), values).allowed


def test_the_key_serves_publishers_for_the_alarm_topic_only(dev: Synth) -> None:
    values = service_values(dev)
    doc = _key_policy(values.template)
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/k"
    for service in (CLOUDWATCH, EVENTBRIDGE):
        for topic, allowed in (("fyntrix-dev-alarms", True), ("someone-elses-topic", False)):
            topic_arn = f"arn:aws:sns:us-east-1:123456789012:{topic}"
            context = {
                "aws:SecureTransport": "true",
                "kms:EncryptionContext:aws:sns:topicArn": topic_arn,
                "aws:SourceAccount": "123456789012",
                "aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fyntrix-dev-x",
            }
            request = Request(("Service", service), "kms:GenerateDataKey", key_arn, context)
            assert evaluate(doc, request, values).allowed is allowed, (service, topic)


# ---------------------------------------------------------------- the task-stop message

# An ECS Task State Change event as ECS sends it for a crashed task (the fields from the ECS
# developer guide's task state change example).
TASK_STOPPED = {
    "version": "0",
    "id": "3317b2af-7005-947d-b652-f55e762e571a",
    "detail-type": "ECS Task State Change",
    "source": "aws.ecs",
    "account": "111122223333",
    "time": "2026-11-20T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ecs:us-east-1:111122223333:task/fyntrix-cluster-dev/b3a5c1f0"],
    "detail": {
        "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/fyntrix-cluster-dev",
        "containers": [
            {
                "containerArn": "arn:aws:ecs:us-east-1:111122223333:container/1",
                "exitCode": 137,
                "lastStatus": "STOPPED",
                "name": "app",
                "reason": "OutOfMemoryError: Container killed due to memory usage",
                "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/fyntrix-cluster-dev/b3a5c1f0",
            },
            {
                "containerArn": "arn:aws:ecs:us-east-1:111122223333:container/2",
                "exitCode": 0,
                "lastStatus": "STOPPED",
                "name": "redis",
                "reason": "Essential container in task exited",
                "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/fyntrix-cluster-dev/b3a5c1f0",
            },
        ],
        "desiredStatus": "STOPPED",
        "group": "service:fyntrix-service-dev",
        "lastStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/fyntrix-cluster-dev/b3a5c1f0",
    },
}


def _json_path(event: dict[str, Any], path: str) -> Any:
    """The EventBridge JSON path subset the transformer uses: $.a.b[0].c"""
    assert path.startswith("$."), path
    node: Any = event
    for name, index in re.findall(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?", path[2:]):
        node = node[name]
        if index:
            node = node[int(index)]
    return node


def render(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """The message EventBridge sends for a text template (a JSON string literal)."""
    text: str = transformer["InputTemplate"]
    for key, path in transformer["InputPathsMap"].items():
        text = text.replace(f"<{key}>", str(_json_path(event, path)))
    message: str = json.loads(text)
    return message


def test_task_stops_notify_the_topic_with_a_readable_message(dev: Synth) -> None:
    values = service_values(dev)
    (rule,) = [r for r in values.template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    (target,) = rule["Properties"]["Targets"]
    assert values.resolve(target["Arn"]) == "arn:aws:sns:us-east-1:123456789012:fyntrix-dev-alarms"
    message = render(target["InputTransformer"], TASK_STOPPED)
    assert message == (
        "Fyntrix dev: a task of service:fyntrix-service-dev stopped unexpectedly. "
        "Stop code: EssentialContainerExited. "
        "Stopped reason: Essential container in task exited. "
        "Containers: app exit code 137 (OutOfMemoryError: Container killed due to memory "
        "usage); redis exit code 0 (Essential container in task exited). "
        "Task: arn:aws:ecs:us-east-1:111122223333:task/fyntrix-cluster-dev/b3a5c1f0 in cluster "
        "arn:aws:ecs:us-east-1:111122223333:cluster/fyntrix-cluster-dev."
    )
