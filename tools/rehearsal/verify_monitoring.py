"""Rehearsal checks of the monitoring: alarms, composite alarm, topic, deployment alarms,
dashboard, task-stop rule, who may publish to the alarm topic (a policy walk,
tools/alarm_delivery.py) and the containers' log delivery mode.

Through the AWS APIs where the emulator keeps the setting (CloudWatch alarms and dashboards,
SNS topic attributes, EventBridge rules), from the synthesized template where it does not
(topic policies, the ECS service's deployment configuration)."""

from __future__ import annotations

import copy
import json
from typing import Any

from infra import monitoring_design as design
from infra.task_design import LOG_DRIVER_MODE, log_max_buffer_size
from tools.alarm_delivery import EVENTBRIDGE, deliveries, delivery_problems
from tools.iam_policy import CfnValues
from tools.rehearsal.checks import CheckList, Deployment, expect, one, resources

CHECKS = CheckList()


def _specs(d: Deployment) -> list[design.AlarmSpec]:
    waf = bool(list(resources(d.service_template, "AWS::WAFv2::WebACL")))
    return list(design.alarm_specs(d.config, waf=waf))


def _topic_arn(d: Deployment) -> str:
    config = d.config
    return f"arn:aws:sns:{config.region}:{d.account()}:{config.alarm_name_prefix}-alarms"


@CHECKS.add("alarms: every alarm and threshold", "api")
def alarms(d: Deployment) -> str:
    config, specs, topic_arn = d.config, _specs(d), _topic_arn(d)
    cw = d.client("cloudwatch")
    found = cw.describe_alarms(AlarmNamePrefix=f"{config.alarm_name_prefix}-")["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in found}
    expect(sorted(by_name) == sorted(s.name(config) for s in specs), f"alarms {sorted(by_name)}")
    for spec in specs:
        alarm = by_name[spec.name(config)]
        expect(alarm["Threshold"] == spec.threshold, f"{spec.key} threshold {alarm['Threshold']}")
        expect(alarm.get("TreatMissingData") == spec.missing_data, f"{spec.key} missing data")
        expect(alarm.get("AlarmActions") == [topic_arn], f"{spec.key} actions")
    return f"{len(specs)} alarms, thresholds from the config, all notify the topic"


@CHECKS.add("alarms: composite service-unhealthy", "api")
def composite(d: Deployment) -> str:
    config = d.config
    name = f"{config.alarm_name_prefix}-{design.COMPOSITE_KEY}"
    found = d.client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
    (alarm,) = found["CompositeAlarms"]
    rule = alarm["AlarmRule"]
    children = design.composite_children(_specs(d))
    for spec in children:
        expect(f':alarm:{spec.name(config)}"' in rule, f"{spec.key} not in the rule")
    expect(rule.count("ALARM(") == len(children), rule)
    expect(alarm.get("AlarmActions") == [_topic_arn(d)], "composite actions")
    return f"{name} = any of {', '.join(s.key for s in children)}"


@CHECKS.add("alarm topic: KMS-encrypted", "api")
def topic(d: Deployment) -> str:
    topic_arn = _topic_arn(d)
    attrs = d.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    expect(":key/" in attrs.get("KmsMasterKeyId", ""), "topic not KMS-encrypted")
    key_id = attrs["KmsMasterKeyId"].rsplit("/", 1)[1]
    return f"{topic_arn.rsplit(':', 1)[1]} encrypted with key {key_id[:8]}..."


@CHECKS.add("alarm topic: TLS-only policy", "template")
def topic_policy(d: Deployment) -> str:
    policy = one(d.service_template, "AWS::SNS::TopicPolicy")
    statements = policy["PolicyDocument"]["Statement"]
    expect(
        any(
            s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ),
        "no TLS-only statement",
    )
    return "denies requests without TLS"


@CHECKS.add("service: deployment alarms roll back", "template")
def deployment_alarms(d: Deployment) -> str:
    dc = one(d.service_template, "AWS::ECS::Service")["DeploymentConfiguration"]
    rollback = design.deployment_alarms(_specs(d))
    expected = [s.name(d.config) for s in rollback]
    expect(
        dc.get("Alarms") == {"AlarmNames": expected, "Enable": True, "Rollback": True},
        f"deployment alarms {dc.get('Alarms')}",
    )
    return f"rollback on {', '.join(s.key for s in rollback)}"


@CHECKS.add("dashboard: graphs with thresholds", "api")
def dashboard(d: Deployment) -> str:
    name = d.config.dashboard_name
    body = json.loads(d.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    notes = [
        n for g in graphs for n in g["properties"].get("annotations", {}).get("horizontal", [])
    ]
    expect(len(graphs) >= 10, f"{len(graphs)} graphs")
    expect(len(notes) >= 10, f"{len(notes)} threshold annotations")
    return f"{name}: {len(graphs)} graphs, {len(notes)} threshold lines"


@CHECKS.add("task restarts: EventBridge rule", "api")
def task_stops(d: Deployment) -> str:
    name, service = f"{d.config.alarm_name_prefix}-task-stops", d.names.service
    rule = d.client("events").describe_rule(Name=name)
    pattern = json.loads(rule["EventPattern"])
    expect(pattern["detail"]["group"] == [f"service:{service}"], "group")
    return f"{name} matches unexpected stops of {service}"


@CHECKS.add("dashboard: console link output", "api")
def dashboard_url(d: Deployment) -> str:
    out = d.outputs(d.config.service_stack_name)
    expect(out.get("DashboardUrl") == d.config.dashboard_url, f"{out.get('DashboardUrl')}")
    return "DashboardUrl output = make dashboard-url"


# What AWS authorizes and the emulator does not: every alarm and the task-stop rule may
# publish to the alarm topic and encrypt into it (tools/alarm_delivery.py, with the key policy
# as deployed), the rule notifies the topic, and both containers log non-blocking.
@CHECKS.add("alarm topic: alarms and the task-stop rule may publish", "api")
def publishers(d: Deployment) -> str:
    account, topic_arn = d.account(), _topic_arn(d)
    tpl = _with_deployed_key_policy(copy.deepcopy(d.service_template), d.session, topic_arn)
    values = CfnValues(tpl, account=account, region=d.config.region)
    problems = delivery_problems(values)
    expect(not problems, "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))
    found = list(deliveries(values))
    rules = sum(1 for delivery in found if delivery.service == EVENTBRIDGE)
    return (
        f"{len(found) - rules} alarm actions and {rules} rule target allowed by the topic "
        "policy and the deployed key policy"
    )


@CHECKS.add("task restarts: the rule notifies the topic", "api")
def rule_target(d: Deployment) -> str:
    name, topic_arn = f"{d.config.alarm_name_prefix}-task-stops", _topic_arn(d)
    (target,) = d.client("events").list_targets_by_rule(Rule=name)["Targets"]
    expect(target["Arn"] == topic_arn, f"target {target['Arn']}")
    template = target.get("InputTransformer", {}).get("InputTemplate", "")
    expect("Stop code: <" in template, f"no readable message: {template[:60]!r}")
    return f"{name} -> {topic_arn.rsplit(':', 1)[1]}, with stop code, reasons, exit codes"


@CHECKS.add("logs: delivery mode explicit", "api")
def log_mode(d: Deployment) -> str:
    for c in d.task_definition()["containerDefinitions"]:
        options = c.get("logConfiguration", {}).get("options", {})
        expect(options.get("mode") == LOG_DRIVER_MODE, f"{c['name']} mode {options}")
        expect(options.get("max-buffer-size") == log_max_buffer_size(), f"{c['name']}")
    return f"awslogs {LOG_DRIVER_MODE}, max-buffer-size {log_max_buffer_size()}, both"


def _with_deployed_key_policy(
    template: dict[str, Any], session: Any, topic_arn: str
) -> dict[str, Any]:
    """The template with the topic's key policy replaced by the one the emulator holds."""
    attrs = session.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    key_id = attrs["KmsMasterKeyId"].rsplit("/", 1)[1]
    policy = session.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    # AWS returns the policy as a JSON string; the emulator returns what it was given.
    deployed = json.loads(policy) if isinstance(policy, str) else policy
    for _, key in resources(template, "AWS::KMS::Key"):
        key["Properties"]["KeyPolicy"] = deployed
    return template
