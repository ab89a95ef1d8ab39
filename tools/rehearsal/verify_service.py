"""Rehearsal checks of the ECS service and its network: deployment settings, autoscaling, the
security groups (Redis's port only from the task group, the app's only from the load balancer),
the load balancer and its target group, the log groups and the stack's outputs. Through the AWS
APIs, from the template where the emulator drops the setting (load balancers on services,
egress rules, autoscaling)."""

from __future__ import annotations

from typing import Any

from infra.task_design import APP_CONTAINER
from tools.rehearsal.checks import CheckList, Deployment, expect, one, resources

CHECKS = CheckList()


@CHECKS.add("service", "api")
def service(d: Deployment) -> str:
    config, names = d.config, d.names
    found = d.client("ecs").describe_services(cluster=names.cluster, services=[names.service])
    svc = found["services"][0] if found["services"] else {}
    expect(svc.get("status") == "ACTIVE", "service missing")
    desired = svc["desiredCount"]
    expect(desired == config.scaling.desired_count, f"desired {desired}")
    expect(svc["taskDefinition"].split("/")[-1].startswith(config.task_family + ":"), "td")
    return f"{names.service} desired {desired}"


@CHECKS.add("service: deployment, exec, LB target", "template")
def service_template(d: Deployment) -> str:
    port = d.config.app.port
    props = one(d.service_template, "AWS::ECS::Service")
    dc = props["DeploymentConfiguration"]
    expect(dc["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}, "breaker")
    expect((dc["MinimumHealthyPercent"], dc["MaximumPercent"]) == (100, 200), "min/max")
    expect(props["EnableExecuteCommand"] is True, "exec")
    lbs = props["LoadBalancers"]
    targets = [(lb["ContainerName"], lb["ContainerPort"]) for lb in lbs]
    expect(targets == [(APP_CONTAINER, port)], f"targets {lbs}")
    net = props["NetworkConfiguration"]["AwsvpcConfiguration"]
    expect(net["AssignPublicIp"] == "DISABLED", "public IP")
    return f"breaker+rollback, 100/200 %, exec, target app:{port}, no public IP"


@CHECKS.add("service: autoscaling", "template")
def autoscaling(d: Deployment) -> str:
    scaling = d.config.scaling
    target = one(d.service_template, "AWS::ApplicationAutoScaling::ScalableTarget")
    lo, hi = target["MinCapacity"], target["MaxCapacity"]
    expect((lo, hi) == (scaling.min_capacity, scaling.max_capacity), "bounds")
    policies = list(resources(d.service_template, "AWS::ApplicationAutoScaling::ScalingPolicy"))
    expect(len(policies) == 2, f"{len(policies)} policies")
    return f"{lo}-{hi} tasks on CPU and memory"


def _groups(d: Deployment) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's and the load balancer's security groups."""
    sgs = d.client("ec2").describe_security_groups()["SecurityGroups"]
    task = [g for g in sgs if g.get("Description", "").startswith("Fyntrix tasks")]
    lb = [g for g in sgs if g.get("Description", "").startswith("Fyntrix load balancer")]
    expect(len(task) == 1 and len(lb) == 1, "security groups missing")
    return task[0], lb[0]


def _covers(perm: dict[str, Any], port: int) -> bool:
    if perm.get("IpProtocol") == "-1":
        return True
    return int(perm.get("FromPort", 0)) <= port <= int(perm.get("ToPort", 65535))


def _only_from(d: Deployment, port: int, what: str, source: str, label: str) -> str:
    """The task group admits `port` from exactly one group (`source`: "task" itself, or
    "lb") and no CIDR."""
    task, lb = _groups(d)
    allowed = task if source == "task" else lb
    perms = [p for p in task["IpPermissions"] if _covers(p, port)]
    expect(bool(perms), f"no rule for the {what} port")
    for p in perms:
        sources = {pair["GroupId"] for pair in p.get("UserIdGroupPairs", [])}
        expect(sources == {allowed["GroupId"]}, f"{port} from {sources}")
        expect(not p.get("IpRanges") and not p.get("Ipv6Ranges"), f"CIDR on the {what} port")
    return f"{port} only from {allowed['GroupId']} ({label})"


@CHECKS.add("sg: {config.redis.port} only from the task group", "api")
def redis_port(d: Deployment) -> str:
    return _only_from(d, d.config.redis.port, "redis", "task", "itself")


@CHECKS.add("sg: {config.app.port} only from the load balancer", "api")
def app_port(d: Deployment) -> str:
    return _only_from(d, d.config.app.port, "app", "lb", "load balancer")


@CHECKS.add("sg: load balancer ingress", "api")
def lb_rule(d: Deployment) -> str:
    config = d.config
    _, lb = _groups(d)
    ports = sorted({int(p["FromPort"]) for p in lb["IpPermissions"]})
    # No CIDR (dev without a certificate, by default): no rule, so no port at all.
    expected = ([80] + ([443] if config.certificate_arn else [])) if config.ingress_cidrs else []
    expect(ports == expected, f"load balancer ports {ports}")
    cidrs = sorted({r["CidrIp"] for p in lb["IpPermissions"] for r in p.get("IpRanges", [])})
    expect(cidrs == sorted(c for c in config.ingress_cidrs if ":" not in c), f"{cidrs}")
    return f"ports {ports} from {', '.join(cidrs)}" if cidrs else "no client admitted"


@CHECKS.add("sg: load balancer egress", "template")
def lb_egress(d: Deployment) -> str:
    port = d.config.app.port
    egress = [p for _, p in resources(d.service_template, "AWS::EC2::SecurityGroupEgress")]
    ports = [(e["Properties"]["FromPort"], e["Properties"]["ToPort"]) for e in egress]
    expect(ports == [(port, port)], f"egress {ports}")
    return f"load balancer egress only to {port}"


@CHECKS.add("load balancer and target group", "api")
def load_balancer(d: Deployment) -> str:
    app, elb = d.config.app, d.client("elbv2")
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    expect(len(lbs) == 1 and lbs[0]["Scheme"] == "internet-facing", "load balancer")
    tgs = elb.describe_target_groups()["TargetGroups"]
    expect(
        [(t["Port"], t["TargetType"], t.get("HealthCheckPath")) for t in tgs]
        == [(app.port, "ip", app.health_check_path)],
        f"target groups {tgs}",
    )
    return f"{lbs[0]['DNSName']} -> ip:{app.port}{app.health_check_path}"


@CHECKS.add("log groups with retention", "api")
def log_groups(d: Deployment) -> str:
    config = d.config
    found = d.client("logs").describe_log_groups()["logGroups"]
    mine = [g for g in found if config.service_stack_name in g["logGroupName"]]
    expect(len(mine) >= 3, f"{len(mine)} log groups")
    bad = [g["logGroupName"] for g in mine if g.get("retentionInDays") is None]
    expect(not bad, f"no retention on {bad}")
    plain = [g["logGroupName"] for g in mine if not g.get("kmsKeyId")]
    expect(not plain, f"not encrypted with the stage key: {plain}")
    return f"{len(mine)} groups, {config.log_retention_days} days retention, KMS"


@CHECKS.add("stack outputs", "api")
def outputs(d: Deployment) -> str:
    stack_name = d.config.service_stack_name
    out = d.outputs(stack_name)
    expect(out.get("ClusterName", "").startswith(stack_name), "ClusterName")
    expect(out.get("ServiceName", "").startswith(stack_name), "ServiceName")
    expect(out.get("LoadBalancerUrl", "").startswith("http"), "LoadBalancerUrl output")
    return str(out["LoadBalancerUrl"])
