"""Rehearsal checks of the monitoring and the CI stack: alarms, composite alarm, topic,
deployment alarms, dashboard, task-stop rule, who may publish to the alarm topic (a policy
walk, tools/alarm_delivery.py), the containers' log delivery mode, GitHub OIDC provider
and deploy role.

Through the AWS APIs where the emulator keeps the setting (CloudWatch alarms and dashboards,
SNS topic attributes, EventBridge rules, IAM roles and OIDC providers), from the synthesized
template where it does not (topic policies, the ECS service's deployment configuration)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from infra import monitoring_design as d
from infra.config import (
    CI_STACK_NAME,
    REGISTRY_STACK_NAME,
    STAGES,
    StageConfig,
    service_stack_name,
    state_stack_name,
)
from infra.task_design import LOG_DRIVER_MODE, log_max_buffer_size
from tools.alarm_delivery import EVENTBRIDGE, deliveries, delivery_problems
from tools.iam_policy import CfnValues
from tools.rehearsal.verify import _expect, _one, _Recorder, _resources
from tools.stack_outputs import DeployedNames


def verify_monitoring(
    rec: _Recorder,
    *,
    config: StageConfig,
    session: Any,
    service_tpl: dict[str, Any],
    names: DeployedNames,
) -> None:
    cw = session.client("cloudwatch")
    sns = session.client("sns")
    specs = d.alarm_specs(config, waf=bool(list(_resources(service_tpl, "AWS::WAFv2::WebACL"))))
    topic_arn = f"arn:aws:sns:{config.region}:{_account(session)}:{config.alarm_name_prefix}-alarms"

    def alarms() -> str:
        found = cw.describe_alarms(AlarmNamePrefix=f"{config.alarm_name_prefix}-")["MetricAlarms"]
        by_name = {a["AlarmName"]: a for a in found}
        _expect(
            sorted(by_name) == sorted(s.name(config) for s in specs), f"alarms {sorted(by_name)}"
        )
        for spec in specs:
            alarm = by_name[spec.name(config)]
            _expect(
                alarm["Threshold"] == spec.threshold, f"{spec.key} threshold {alarm['Threshold']}"
            )
            _expect(alarm.get("TreatMissingData") == spec.missing_data, f"{spec.key} missing data")
            _expect(alarm.get("AlarmActions") == [topic_arn], f"{spec.key} actions")
        return f"{len(specs)} alarms, thresholds from the config, all notify the topic"

    rec.add("alarms: every alarm and threshold", "api", alarms)

    def composite() -> str:
        name = f"{config.alarm_name_prefix}-{d.COMPOSITE_KEY}"
        (found,) = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])[
            "CompositeAlarms"
        ]
        rule = found["AlarmRule"]
        children = d.composite_children(specs)
        for spec in children:
            _expect(f':alarm:{spec.name(config)}"' in rule, f"{spec.key} not in the rule")
        _expect(rule.count("ALARM(") == len(children), rule)
        _expect(found.get("AlarmActions") == [topic_arn], "composite actions")
        return f"{name} = any of {', '.join(s.key for s in children)}"

    rec.add("alarms: composite service-unhealthy", "api", composite)

    def topic() -> str:
        attrs = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        _expect(":key/" in attrs.get("KmsMasterKeyId", ""), "topic not KMS-encrypted")
        key_id = attrs["KmsMasterKeyId"].rsplit("/", 1)[1]
        return f"{topic_arn.rsplit(':', 1)[1]} encrypted with key {key_id[:8]}..."

    rec.add("alarm topic: KMS-encrypted", "api", topic)

    def topic_policy() -> str:
        policy = _one(service_tpl, "AWS::SNS::TopicPolicy")
        statements = policy["PolicyDocument"]["Statement"]
        _expect(
            any(
                s["Effect"] == "Deny"
                and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in statements
            ),
            "no TLS-only statement",
        )
        return "denies requests without TLS"

    rec.add("alarm topic: TLS-only policy", "template", topic_policy)

    def deployment_alarms() -> str:
        dc = _one(service_tpl, "AWS::ECS::Service")["DeploymentConfiguration"]
        expected = [s.name(config) for s in d.deployment_alarms(specs)]
        _expect(
            dc.get("Alarms") == {"AlarmNames": expected, "Enable": True, "Rollback": True},
            f"deployment alarms {dc.get('Alarms')}",
        )
        return f"rollback on {', '.join(s.key for s in d.deployment_alarms(specs))}"

    rec.add("service: deployment alarms roll back", "template", deployment_alarms)

    def dashboard() -> str:
        body = json.loads(cw.get_dashboard(DashboardName=config.dashboard_name)["DashboardBody"])
        graphs = [w for w in body["widgets"] if w["type"] == "metric"]
        notes = [
            n for g in graphs for n in g["properties"].get("annotations", {}).get("horizontal", [])
        ]
        _expect(len(graphs) >= 10, f"{len(graphs)} graphs")
        _expect(len(notes) >= 10, f"{len(notes)} threshold annotations")
        return f"{config.dashboard_name}: {len(graphs)} graphs, {len(notes)} threshold lines"

    rec.add("dashboard: graphs with thresholds", "api", dashboard)

    def task_stops() -> str:
        name = f"{config.alarm_name_prefix}-task-stops"
        rule = session.client("events").describe_rule(Name=name)
        pattern = json.loads(rule["EventPattern"])
        _expect(pattern["detail"]["group"] == [f"service:{names.service}"], "group")
        return f"{name} matches unexpected stops of {names.service}"

    rec.add("task restarts: EventBridge rule", "api", task_stops)

    def dashboard_url() -> str:
        stack = session.client("cloudformation").describe_stacks(
            StackName=config.service_stack_name
        )["Stacks"][0]
        out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        _expect(out.get("DashboardUrl") == config.dashboard_url, f"{out.get('DashboardUrl')}")
        return "DashboardUrl output = make dashboard-url"

    rec.add("dashboard: console link output", "api", dashboard_url)
    verify_delivery(rec, config=config, session=session, service_tpl=service_tpl)


def verify_delivery(
    rec: _Recorder, *, config: StageConfig, session: Any, service_tpl: dict[str, Any]
) -> None:
    """What AWS authorizes and the emulator does not: every alarm and the task-stop rule may
    publish to the alarm topic and encrypt into it (tools/alarm_delivery.py, with the key
    policy as deployed), the rule notifies the topic, and both containers log non-blocking."""
    account = _account(session)
    topic_arn = f"arn:aws:sns:{config.region}:{account}:{config.alarm_name_prefix}-alarms"

    def publishers() -> str:
        tpl = _with_deployed_key_policy(copy.deepcopy(service_tpl), session, topic_arn)
        values = CfnValues(tpl, account=account, region=config.region)
        problems = delivery_problems(values)
        _expect(not problems, "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))
        found = list(deliveries(values))
        rules = sum(1 for d in found if d.service == EVENTBRIDGE)
        return (
            f"{len(found) - rules} alarm actions and {rules} rule target allowed by the topic "
            "policy and the deployed key policy"
        )

    rec.add("alarm topic: alarms and the task-stop rule may publish", "api", publishers)

    def rule_target() -> str:
        name = f"{config.alarm_name_prefix}-task-stops"
        (target,) = session.client("events").list_targets_by_rule(Rule=name)["Targets"]
        _expect(target["Arn"] == topic_arn, f"target {target['Arn']}")
        template = target.get("InputTransformer", {}).get("InputTemplate", "")
        _expect("Stop code: <" in template, f"no readable message: {template[:60]!r}")
        return f"{name} -> {topic_arn.rsplit(':', 1)[1]}, with stop code, reasons, exit codes"

    rec.add("task restarts: the rule notifies the topic", "api", rule_target)

    def log_mode() -> str:
        td = session.client("ecs").describe_task_definition(taskDefinition=config.task_family)
        for c in td["taskDefinition"]["containerDefinitions"]:
            options = c.get("logConfiguration", {}).get("options", {})
            _expect(options.get("mode") == LOG_DRIVER_MODE, f"{c['name']} mode {options}")
            _expect(options.get("max-buffer-size") == log_max_buffer_size(), f"{c['name']}")
        return f"awslogs {LOG_DRIVER_MODE}, max-buffer-size {log_max_buffer_size()}, both"

    rec.add("logs: delivery mode explicit", "api", log_mode)


def _with_deployed_key_policy(
    template: dict[str, Any], session: Any, topic_arn: str
) -> dict[str, Any]:
    """The template with the topic's key policy replaced by the one the emulator holds."""
    attrs = session.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    key_id = attrs["KmsMasterKeyId"].rsplit("/", 1)[1]
    policy = session.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    # AWS returns the policy as a JSON string; the emulator returns what it was given.
    deployed = json.loads(policy) if isinstance(policy, str) else policy
    for _, key in _resources(template, "AWS::KMS::Key"):
        key["Properties"]["KeyPolicy"] = deployed
    return template


def verify_ci(rec: _Recorder, *, config: StageConfig, session: Any, cdk_out: Path) -> None:
    repository = config.ci.github_repository
    if repository is None:
        return
    iam = session.client("iam")
    cfn = session.client("cloudformation")

    def stack() -> str:
        status = cfn.describe_stacks(StackName=CI_STACK_NAME)["Stacks"][0]["StackStatus"]
        _expect(status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), status)
        return f"{CI_STACK_NAME} {status}"

    rec.add("ci: stack deployed", "api", stack)

    def provider() -> str:
        arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
        (arn,) = [a for a in arns if a.endswith("/token.actions.githubusercontent.com")]
        found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        _expect(found["ClientIDList"] == ["sts.amazonaws.com"], f"audience {found['ClientIDList']}")
        return f"{arn.split(':', 5)[5]}, audience sts.amazonaws.com"

    rec.add("ci: GitHub OIDC provider", "api", provider)

    def role_names() -> dict[str, str]:
        resources = cfn.list_stack_resources(StackName=CI_STACK_NAME)["StackResourceSummaries"]
        return {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in resources
            if r["ResourceType"] == "AWS::IAM::Role"
        }

    def trust(role_name: str) -> tuple[list[str], str]:
        doc = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        (statement,) = (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]
        sub = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
        return ([sub] if isinstance(sub, str) else sub), json.dumps(statement["Principal"])

    def deploy_roles() -> str:
        names = role_names()
        expected = {
            "DevDeployRole": f"repo:{repository}:ref:refs/heads/{config.ci.deploy_branch}",
            "ProdDeployRole": f"repo:{repository}:environment:{config.ci.prod_environment}",
            "DiffRole": f"repo:{repository}:pull_request",
        }
        _expect(len(names) == len(expected), f"roles {sorted(names)}")
        for word, sub in expected.items():
            (name,) = [n for lid, n in names.items() if word in lid]
            subjects, principal = trust(name)
            _expect(subjects == [sub], f"{word} trusts {subjects}")
            _expect(":oidc-provider/" in principal, f"{word}: not the OIDC provider")
        return (
            f"dev: {expected['DevDeployRole'].split(':', 2)[2]}; prod: only "
            f"{expected['ProdDeployRole'].split(':', 2)[2]}; diff: pull_request"
        )

    rec.add("ci: one role per job kind, one subject each", "api", deploy_roles)

    def statements() -> dict[str, list[dict[str, Any]]]:
        tpl = json.loads((cdk_out / f"{CI_STACK_NAME}.template.json").read_text())
        return {
            lid: p["Properties"]["PolicyDocument"]["Statement"]
            for lid, p in _resources(tpl, "AWS::IAM::Policy")
        }

    def actions_of(found: list[dict[str, Any]]) -> list[str]:
        return sorted(
            a
            for s in found
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )

    def permissions() -> str:
        by_policy = statements()
        (dev,) = [v for k, v in by_policy.items() if "DevDeployRole" in k]
        (prod,) = [v for k, v in by_policy.items() if "ProdDeployRole" in k]
        _expect(all(a.startswith(("sts:", "ecr:")) for a in actions_of(dev)), "dev: other actions")
        _expect("ecr:PutImage" in actions_of(dev), "dev cannot push")
        _expect(actions_of(prod) == ["sts:AssumeRole", "sts:TagSession"], "prod: other actions")
        _expect("lookup-role" not in json.dumps(by_policy), "a role reaches the lookup role")
        return "dev: deploy + file-publishing roles, push the app image; prod: those roles only"

    rec.add("ci: deploy role permissions", "template", permissions)

    def diff_permissions() -> str:
        (diff,) = [v for k, v in statements().items() if "DiffRole" in k]
        actions = actions_of(diff)
        _expect(
            actions == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
            f"diff role actions {actions}",
        )
        stacks = sorted(
            json.dumps(r).rsplit(":stack/", 1)[1].split("/", 1)[0]
            for s in diff
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        )
        wanted = sorted(
            [
                REGISTRY_STACK_NAME,
                *(f(st) for st in STAGES for f in (state_stack_name, service_stack_name)),
            ]
        )
        _expect(stacks == wanted, f"diff role reads {stacks}")
        return f"DescribeStacks, GetTemplate of {', '.join(stacks)}; nothing else"

    rec.add("ci: diff role reads only this project's templates", "template", diff_permissions)


def _account(session: Any) -> str:
    account: str = session.client("sts").get_caller_identity()["Account"]
    return account
