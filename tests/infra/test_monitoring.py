"""Alarms, composite alarm, alarm topic, deployment rollback and dashboard in the templates."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.assertions import Match, Template

from infra import monitoring_design as d
from infra.config import StageConfig, load_stage
from infra.constructs.monitoring import Monitoring
from tests.infra.conftest import Synth, synth_stage

ROOT = Path(__file__).resolve().parents[2]
COMPARISON = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
}


def alarms_by_name(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::CloudWatch::Alarm")
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in found.values()}


def logical_id(template: Template, cfn_type: str, **props: Any) -> str:
    found = template.find_resources(cfn_type, {"Properties": props})
    assert len(found) == 1, f"{cfn_type} {props}: {sorted(found)}"
    return next(iter(found))


def topic_id(template: Template) -> str:
    return next(iter(template.find_resources("AWS::SNS::Topic")))


@pytest.fixture(scope="module")
def noisy() -> Synth:
    """A stage with e-mail subscribers and thresholds away from the defaults."""
    return synth_stage(
        load_stage(
            "dev",
            overrides={
                "alarms.notification_emails": "ops@example.com, oncall+fyntrix@example.org",
                "alarms.p99_latency_ms": "750",
                "alarms.container_memory_percent": "85",
                "alarms.bad_deploy_minutes": "2",
            },
        )
    )


# ---------------------------------------------------------------- every alarm, its threshold


@pytest.mark.parametrize("stage", ["dev", "prod", "noisy"])
def test_every_alarm_spec_is_an_alarm_with_its_threshold_and_missing_data(
    stage: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    # The stack's own web ACL (on unless a dev stage turned it off) brings the WAF alarm.
    specs = d.alarm_specs(s.config, waf=s.service.firewall is not None)
    alarms = alarms_by_name(s.service_template)
    assert sorted(alarms) == sorted(spec.name(s.config) for spec in specs)
    topic = topic_id(s.service_template)
    for spec in specs:
        alarm = alarms[spec.name(s.config)]
        assert alarm["Threshold"] == spec.threshold, spec.key
        assert alarm["ComparisonOperator"] == COMPARISON[spec.comparison], spec.key
        assert alarm["EvaluationPeriods"] == spec.evaluation_periods, spec.key
        assert alarm["DatapointsToAlarm"] == spec.evaluation_periods, spec.key
        assert alarm["TreatMissingData"] == spec.missing_data, spec.key
        assert alarm["AlarmActions"] == [{"Ref": topic}], spec.key
        assert spec.setting in alarm["AlarmDescription"], spec.key
        assert spec.missing_reason in alarm["AlarmDescription"], spec.key


def test_the_alarm_list_is_the_one_the_issue_asks_for(dev: Synth) -> None:
    keys = [s.key for s in d.alarm_specs(dev.config, waf=True)]
    assert keys == [
        "target-5xx-rate",
        "target-p99-latency",
        "unhealthy-hosts",
        "rejected-connections",
        "waf-blocked-spike",
        "tasks-below-desired",
        "app-cpu",
        "redis-cpu",
        "app-memory",
        "redis-memory",
        "task-restarts",
        "cache-hit-ratio",
        "cache-thrashing",
        "cache-breaker-open",
        "stale-answers",
    ]


def test_thresholds_follow_the_config(noisy: Synth) -> None:
    alarms = alarms_by_name(noisy.service_template)
    p99 = alarms["fyntrix-dev-target-p99-latency"]
    assert p99["Threshold"] == 750
    assert p99["EvaluationPeriods"] == 2
    assert alarms["fyntrix-dev-redis-memory"]["Threshold"] == 85
    assert alarms["fyntrix-dev-app-memory"]["Threshold"] == 85


def _metric_stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}


def _expression(alarm: dict[str, Any]) -> str:
    (expr,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    return str(expr)


def _dims(stat: dict[str, Any]) -> dict[str, Any]:
    return {x["Name"]: x["Value"] for x in stat["Metric"]["Dimensions"]}


def single_metric(alarm: dict[str, Any]) -> dict[str, Any]:
    """Namespace, name, dimensions, period and statistic of a one-metric alarm, whichever form
    CloudFormation got it in (a labelled metric is rendered as a one-entry `Metrics`)."""
    if "Metrics" not in alarm:
        dims = alarm.get("Dimensions", [])
        return {
            "Namespace": alarm["Namespace"],
            "MetricName": alarm["MetricName"],
            "Dimensions": {x["Name"]: x["Value"] for x in dims},
            "Period": alarm["Period"],
            "Stat": alarm.get("Statistic", alarm.get("ExtendedStatistic")),
        }
    (stat,) = _metric_stats(alarm).values()
    assert not [m for m in alarm["Metrics"] if "Expression" in m]
    return {
        "Namespace": stat["Metric"]["Namespace"],
        "MetricName": stat["Metric"]["MetricName"],
        "Dimensions": _dims(stat),
        "Period": stat["Period"],
        "Stat": stat["Stat"],
    }


def test_5xx_rate_is_metric_math_over_the_target_group(dev: Synth) -> None:
    alarm = alarms_by_name(dev.service_template)["fyntrix-dev-target-5xx-rate"]
    assert _expression(alarm) == "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)"
    stats = _metric_stats(alarm)
    assert stats["requests"]["Metric"]["MetricName"] == "RequestCount"
    assert stats["errors"]["Metric"]["MetricName"] == "HTTPCode_Target_5XX_Count"
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/ApplicationELB"
        assert set(_dims(stat)) == {"LoadBalancer", "TargetGroup"}
        assert (stat["Period"], stat["Stat"]) == (60, "Sum")


def test_p99_latency_is_judged_in_milliseconds(dev: Synth) -> None:
    alarm = alarms_by_name(dev.service_template)["fyntrix-dev-target-p99-latency"]
    assert _expression(alarm) == "1000 * latency_p99"
    (stat,) = _metric_stats(alarm).values()
    assert (stat["Metric"]["MetricName"], stat["Stat"]) == ("TargetResponseTime", "p99")


def test_service_alarms_read_container_insights_per_container(prod: Synth) -> None:
    alarms = alarms_by_name(prod.service_template)
    # The deployed names: CloudFormation generates them (no fixed name blocks a replacement)
    (cluster_id,) = prod.service_template.find_resources("AWS::ECS::Cluster")
    (service_id,) = prod.service_template.find_resources("AWS::ECS::Service")
    for container, limit in (("app", 768), ("redis", 256)):
        memory = alarms[f"fyntrix-prod-{container}-memory"]
        assert _expression(memory) == f"100 * memory_{container} / {limit}"
        (stat,) = _metric_stats(memory).values()
        assert stat["Metric"]["Namespace"] == "ECS/ContainerInsights"
        assert stat["Metric"]["MetricName"] == "ContainerMemoryUtilized"
        assert _dims(stat) == {
            "ClusterName": {"Ref": cluster_id},
            "ServiceName": {"Fn::GetAtt": [service_id, "Name"]},
            "ContainerName": container,
        }
        cpu = alarms[f"fyntrix-prod-{container}-cpu"]
        assert _expression(cpu) == f"100 * cpu_{container} / 512"
    short = alarms["fyntrix-prod-tasks-below-desired"]
    assert _expression(short) == "desired - running"
    names = {s["Metric"]["MetricName"] for s in _metric_stats(short).values()}
    assert names == {"DesiredTaskCount", "RunningTaskCount"}
    # No running task means no Container Insights data: that silence is the outage.
    assert short["TreatMissingData"] == "breaching"


def test_cluster_publishes_per_container_metrics(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enhanced"}]},
    )


def test_cache_alarms_read_the_services_emf_metrics(dev: Synth) -> None:
    alarms = alarms_by_name(dev.service_template)
    expected_dims = {"Stage": "dev", "Service": "fyntrix-dev-service"}
    m = single_metric(alarms["fyntrix-dev-cache-breaker-open"])
    assert (m["Namespace"], m["MetricName"]) == ("Fyntrix/Service", "BreakerOpen")
    assert m["Dimensions"] == expected_dims
    ratio = alarms["fyntrix-dev-cache-hit-ratio"]
    assert _expression(ratio) == "IF(hits + misses >= 100, 100 * hits / (hits + misses), 100)"
    assert ratio["ComparisonOperator"] == "LessThanThreshold"
    stats = _metric_stats(ratio)
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"CacheHits", "CacheMisses"}
    assert all(_dims(s) == expected_dims for s in stats.values())


def test_task_restarts_count_unexpected_stops_of_this_service(dev: Synth) -> None:
    rule_id = logical_id(dev.service_template, "AWS::Events::Rule", Name="fyntrix-dev-task-stops")
    rule = dev.service_template.find_resources("AWS::Events::Rule")[rule_id]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    detail = pattern["detail"]
    (service_id,) = dev.service_template.find_resources("AWS::ECS::Service")
    assert detail["group"] == [
        {"Fn::Join": ["", ["service:", {"Fn::GetAtt": [service_id, "Name"]}]]}
    ]
    assert detail["lastStatus"] == ["STOPPED"]
    # Deploys and scale-in (ServiceSchedulerInitiated) are not restarts; crashes and failed
    # health checks are.
    assert {"stopCode": ["EssentialContainerExited", "TaskFailedToStart"]} in detail["$or"]
    assert {"stoppedReason": [{"prefix": "Task failed"}]} in detail["$or"]
    alarm = alarms_by_name(dev.service_template)["fyntrix-dev-task-restarts"]
    m = single_metric(alarm)
    assert (m["Namespace"], m["MetricName"]) == ("AWS/Events", "MatchedEvents")
    assert m["Dimensions"] == {"RuleName": {"Ref": rule_id}}  # Ref of a rule: its name
    assert (m["Period"], m["Stat"], alarm["Threshold"]) == (900, "Sum", 2)


# ---------------------------------------------------------------- composite and rollback


def test_composite_service_unhealthy_alarm_is_any_critical_alarm(prod: Synth) -> None:
    tpl = prod.service_template
    found = tpl.find_resources(
        "AWS::CloudWatch::CompositeAlarm",
        {"Properties": {"AlarmName": "fyntrix-prod-service-unhealthy"}},
    )
    assert len(found) == 1
    props = next(iter(found.values()))["Properties"]
    rule = json.dumps(props["AlarmRule"])
    ids = {
        spec.key: logical_id(tpl, "AWS::CloudWatch::Alarm", AlarmName=spec.name(prod.config))
        for spec in d.alarm_specs(prod.config, waf=False)
    }
    critical = {"target-5xx-rate", "target-p99-latency", "unhealthy-hosts", "tasks-below-desired"}
    for key, lid in ids.items():
        assert (lid in rule) == (key in critical), key
    assert rule.count(" OR ") == len(critical) - 1
    topic = {"Ref": topic_id(tpl)}
    assert props["AlarmActions"] == [topic]
    assert props["OKActions"] == [topic]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployment_alarms_roll_a_bad_deploy_back_beside_the_circuit_breaker(
    stage: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    tpl = s.service_template
    rollback = ["target-5xx-rate", "target-p99-latency", "unhealthy-hosts"]
    names = [f"{s.config.alarm_name_prefix}-{k}" for k in rollback]
    tpl.has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": {
                "Alarms": {"AlarmNames": names, "Enable": True, "Rollback": True},
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                "MaximumPercent": 200,
                "MinimumHealthyPercent": 100,
            }
        },
    )
    assert [sp.key for sp in d.deployment_alarms(d.alarm_specs(s.config, waf=True))] == rollback
    # CloudFormation creates those alarms before the service that lists them.
    (service,) = tpl.find_resources("AWS::ECS::Service").values()
    for name in names:
        assert logical_id(tpl, "AWS::CloudWatch::Alarm", AlarmName=name) in service["DependsOn"]


# ---------------------------------------------------------------- topic


def test_topic_is_encrypted_with_the_stage_key_and_tls_only(dev: Synth) -> None:
    tpl = dev.service_template
    key = next(iter(tpl.find_resources("AWS::KMS::Key")))
    tpl.has_resource_properties(
        "AWS::SNS::Topic",
        {"TopicName": "fyntrix-dev-alarms", "KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}},
    )
    tpl.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id(tpl)}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


# Who may publish to the topic and use its key: tests/infra/test_alarm_delivery.py walks the
# policies for every alarm and rule target.


def test_email_subscriptions_come_from_the_config(dev: Synth, noisy: Synth) -> None:
    assert dev.service_template.find_resources("AWS::SNS::Subscription") == {}
    subs = noisy.service_template.find_resources("AWS::SNS::Subscription")
    endpoints = sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subs.values()
    )
    assert endpoints == [("email", "oncall+fyntrix@example.org"), ("email", "ops@example.com")]
    for sub in subs.values():
        assert sub["Properties"]["TopicArn"] == {"Ref": topic_id(noisy.service_template)}


# ---------------------------------------------------------------- dashboard


def dashboard_body(template: Template) -> dict[str, Any]:
    """The dashboard JSON, with every CloudFormation token replaced by a placeholder."""
    (dash,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dash["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_dashboard_has_every_graph_with_thresholds_as_annotations(
    prod: Synth, dev_without_waf: Synth
) -> None:
    prod.service_template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "fyntrix-prod-dashboard"}
    )
    widgets = dashboard_body(prod.service_template)["widgets"]
    graphs = {w["properties"]["title"]: w["properties"] for w in widgets if w["type"] == "metric"}
    assert sorted(graphs) == sorted(
        [
            "Requests and 5xx",
            "Latency percentiles (ms)",
            "Targets and rejected connections",
            "Tasks",
            "CPU per container (% of task)",
            "Memory per container (% of limit)",
            "Cache hit ratio and reads",
            "Read latency, cached vs uncached (ms)",
            "Redis memory (% of maxmemory) and evictions",
            "Redis circuit breaker (1 = open)",
            "Database outage: stale answers and its breaker (1 = open)",
            "WAF blocked requests",  # prod always has its web ACL
        ]
    )
    specs = {s.key: s for s in d.alarm_specs(prod.config, waf=True)}

    def annotated(title: str) -> dict[str, float]:
        notes = graphs[title].get("annotations", {}).get("horizontal", [])
        return {n["label"].split(" alarm:")[0]: n["value"] for n in notes}

    expected = {
        "Requests and 5xx": ["target-5xx-rate"],
        "Latency percentiles (ms)": ["target-p99-latency"],
        "Targets and rejected connections": ["unhealthy-hosts", "rejected-connections"],
        "Tasks": ["task-restarts"],
        "CPU per container (% of task)": ["app-cpu"],
        "Memory per container (% of limit)": ["app-memory"],
        "Cache hit ratio and reads": ["cache-hit-ratio"],
        "Redis memory (% of maxmemory) and evictions": ["cache-thrashing"],
        "Redis circuit breaker (1 = open)": ["cache-breaker-open"],
        "Database outage: stale answers and its breaker (1 = open)": ["stale-answers"],
    }
    for title, keys in expected.items():
        notes = {k: v for k, v in annotated(title).items() if "full cache" not in k}
        assert notes == {k: specs[k].threshold for k in keys}, title
    # Where a full cache keeps the redis container: below the memory alarm's line.
    assert (
        annotated("Memory per container (% of limit)")["redis with a full cache (maxmemory)"] == 75
    )
    # Per-container lines: both containers on the CPU and memory graphs.
    cpu = json.dumps(graphs["CPU per container (% of task)"]["metrics"])
    assert "cpu_app" in cpu and "cpu_redis" in cpu
    # The alarm status widget lists the composite and every alarm.
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(specs) + 1
    # Prod's web ACL is graphed; without one (a dev stage with waf.enabled=false) the WAF
    # cell says so instead of graphing nothing.
    texts = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    assert not any("No web ACL" in t for t in texts)
    bare = dashboard_body(dev_without_waf.service_template)["widgets"]
    assert any("No web ACL" in w["properties"]["markdown"] for w in bare if w["type"] == "text")


def test_dashboard_url_output_and_make_target_agree(prod: Synth) -> None:
    outputs = prod.service_template.to_json()["Outputs"]
    url = outputs["DashboardUrl"]["Value"]
    assert url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#dashboards/dashboard/fyntrix-prod-dashboard"
    )
    assert "AlarmTopicArn" in outputs
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    made = subprocess.run(
        ["make", "--no-print-directory", "dashboard-url", "STAGE=prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == url
    # The region comes from the stage settings (SET= for one run), never from the shell.
    moved = subprocess.run(
        ["make", "--no-print-directory", "dashboard-url", "STAGE=dev", "SET=region=eu-west-1"],
        cwd=ROOT,
        env={**env, "CDK_DEFAULT_REGION": "ap-south-1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert moved.stdout.strip().startswith("https://eu-west-1.console.aws.amazon.com/")
    assert moved.stdout.strip().endswith("#dashboards/dashboard/fyntrix-dev-dashboard")


# ---------------------------------------------------------------- with a web ACL


def _stack_with_waf(config: StageConfig) -> Template:
    """A minimal stack with the pieces Monitoring needs and a web ACL on the load balancer
    (the Ingress gets its own web ACL from the edge work; this pins the WAF wiring)."""
    app = App()
    stack = Stack(app, "WafProbe", env={"region": config.region})
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    lb = elbv2.ApplicationLoadBalancer(stack, "Lb", vpc=vpc, internet_facing=True)
    tg = elbv2.ApplicationTargetGroup(
        stack, "Tg", vpc=vpc, port=8000, target_type=elbv2.TargetType.IP
    )
    lb.add_listener("Http", port=80, default_target_groups=[tg])
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("app", image=ecs.ContainerImage.from_registry("example/app"))
    service = ecs.FargateService(stack, "Service", cluster=cluster, task_definition=task)
    acl = wafv2.CfnWebACL(
        stack,
        "Acl",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        scope="REGIONAL",
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name="fyntrix-dev-acl",
            sampled_requests_enabled=True,
        ),
    )
    Monitoring(
        stack,
        "Monitoring",
        config=config,
        key=kms.Key(stack, "Key"),
        cluster=cluster,
        service=service,
        load_balancer=lb,
        target_group=tg,
        web_acl=acl,
    )
    return Template.from_stack(stack)


def test_a_web_acl_adds_the_blocked_request_alarm_and_graph(
    dev: Synth, dev_without_waf: Synth
) -> None:
    tpl = _stack_with_waf(dev.config)
    alarm = alarms_by_name(tpl)["fyntrix-dev-waf-blocked-spike"]
    m = single_metric(alarm)
    assert (m["Namespace"], m["MetricName"]) == ("AWS/WAFV2", "BlockedRequests")
    assert m["Dimensions"] == {"WebACL": "fyntrix-dev-acl", "Region": "us-east-1", "Rule": "ALL"}
    assert (m["Period"], m["Stat"], alarm["Threshold"]) == (300, "Sum", 500)
    assert alarm["TreatMissingData"] == "notBreaching"
    graphs = [w for w in dashboard_body(tpl)["widgets"] if w["type"] == "metric"]
    (waf,) = [g for g in graphs if g["properties"]["title"] == "WAF blocked requests"]
    assert waf["properties"]["annotations"]["horizontal"][0]["value"] == 500
    # The real stack wires its own web ACL (WebFirewall) the same way; a dev stage without
    # WAF has no such alarm.
    real = single_metric(alarms_by_name(dev.service_template)["fyntrix-dev-waf-blocked-spike"])
    assert real["Dimensions"]["WebACL"] == "fyntrix-dev-web-acl"
    assert "fyntrix-dev-waf-blocked-spike" not in alarms_by_name(dev_without_waf.service_template)


def test_alarm_names_are_unique_and_carry_the_stage(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        names = [spec.name(s.config) for spec in d.alarm_specs(s.config, waf=True)]
        assert len(set(names)) == len(names)
        assert all(re.fullmatch(rf"fyntrix-{s.config.stage}-[a-z0-9-]+", n) for n in names)
