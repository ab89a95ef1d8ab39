"""Checks of a deployment: through the AWS APIs where the emulator keeps the setting, from the
synthesized template where it does not (moto drops networkMode, load balancers on services,
egress rules, bucket policies and autoscaling). Every check says which source it used."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import REGISTRY_STACK_NAME, StageConfig
from infra.task_design import (
    APP_CONTAINER,
    ECS_REDIS_BIND,
    REDIS_CONTAINER,
    app_health_command,
    redis_health_command,
)
from service.secrets_env import SECRETS_JSON_ENV
from tools.stack_outputs import DeployedNames

# The app's plain auth wiring (public facts: issuer, client ids, group, stage).
AUTH_KEYS = ("APP_STAGE", "AUTH_ISSUER", "AUTH_CLIENT_IDS", "AUTH_ADMIN_GROUP")
# Paths the load balancer must answer itself (404) and paths it must forward to the app.
OPS_PATHS = ("/metrics", "/cache/stats", "/docs", "/redoc", "/openapi.json", "/")
APP_PATHS = ("/api/portfolio/1", "/health")


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    source: str  # "api" or "template"
    ok: bool
    detail: str


class _Recorder:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, name: str, source: str, fn: Callable[[], str]) -> None:
        """Run one check; `fn` returns a detail string or raises AssertionError/anything."""
        try:
            detail = fn()
            self.checks.append(Check(name=name, source=source, ok=True, detail=detail))
        except Exception as exc:  # every failure, whatever its kind, becomes a FAIL row
            reason = str(exc) or exc.__class__.__name__
            self.checks.append(Check(name=name, source=source, ok=False, detail=reason[:300]))


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def _resources(template: dict[str, Any], cfn_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, res in template["Resources"].items():
        if res["Type"] == cfn_type:
            yield lid, res


def _one(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    found = [r for _, r in _resources(template, cfn_type)]
    _expect(len(found) == 1, f"expected one {cfn_type}, found {len(found)}")
    props: dict[str, Any] = found[0]["Properties"]
    return props


def verify(*, config: StageConfig, session: Any, cdk_out: Path) -> list[Check]:
    """All checks for one stage against the emulator (or a real account: same APIs).

    `session` is anything with boto3's `client(name)` (the rehearsal's endpoint-bound session).
    """
    rec = _Recorder()
    ecr = session.client("ecr")
    ecs = session.client("ecs")
    ec2 = session.client("ec2")
    cfn = session.client("cloudformation")
    sm = session.client("secretsmanager")
    logs = session.client("logs")
    elb = session.client("elbv2")
    service_tpl: dict[str, Any] = json.loads(
        (cdk_out / f"{config.service_stack_name}.template.json").read_text()
    )
    registry_tpl: dict[str, Any] = json.loads(
        (cdk_out / f"{REGISTRY_STACK_NAME}.template.json").read_text()
    )
    # CloudFormation names the cluster and the service; tools read them from stack outputs.
    names = DeployedNames.of(session, config)

    # ---- stacks
    def stacks() -> str:
        states = []
        for name in (REGISTRY_STACK_NAME, config.state_stack_name, config.service_stack_name):
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
            status = stack["StackStatus"]
            _expect(status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), f"{name}: {status}")
            states.append(f"{name} {status}")
        return "; ".join(states)

    rec.add("stacks deployed", "api", stacks)

    # ---- registry
    def registry() -> str:
        repo = ecr.describe_repositories(repositoryNames=[config.repository_name])["repositories"][
            0
        ]
        _expect(repo["imageTagMutability"] == "IMMUTABLE", "tags are mutable")
        return f"{repo['repositoryUri']} (IMMUTABLE)"

    rec.add("registry: repository, immutable tags", "api", registry)

    def registry_template() -> str:
        props = _one(registry_tpl, "AWS::ECR::Repository")
        _expect(props["ImageScanningConfiguration"] == {"ScanOnPush": True}, "no scan on push")
        _expect(props["EncryptionConfiguration"]["EncryptionType"] == "KMS", "not KMS")
        _expect("LifecyclePolicy" in props, "no lifecycle rule")
        return "scan on push, KMS, lifecycle rule"

    rec.add("registry: scan, encryption, lifecycle", "template", registry_template)

    # ---- cluster
    def cluster() -> str:
        found = ecs.describe_clusters(clusters=[names.cluster])["clusters"]
        _expect(bool(found) and found[0]["status"] == "ACTIVE", f"{names.cluster} missing")
        return f"{names.cluster} ACTIVE"

    rec.add("cluster", "api", cluster)

    # ---- task definition
    td_holder: dict[str, Any] = {}

    def task_definition() -> dict[str, Any]:
        if not td_holder:
            td_holder.update(
                ecs.describe_task_definition(taskDefinition=config.task_family)["taskDefinition"]
            )
        return td_holder

    def containers() -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in task_definition()["containerDefinitions"]}

    def td_shape() -> str:
        td = task_definition()
        names = [c["name"] for c in td["containerDefinitions"]]
        _expect(names == [APP_CONTAINER, REDIS_CONTAINER], f"containers {names}")
        _expect(td["memory"] == str(config.task_memory_mib), f"task memory {td['memory']}")
        return f"{td['family']}:{td['revision']} containers {names}, {td['memory']} MiB"

    rec.add("task: family, containers (app first), memory", "api", td_shape)

    def td_network() -> str:
        props = _one(service_tpl, "AWS::ECS::TaskDefinition")
        _expect(props["NetworkMode"] == "awsvpc", props["NetworkMode"])
        _expect(props["RequiresCompatibilities"] == ["FARGATE"], "not Fargate")
        _expect(props["Cpu"] == str(config.task_cpu), f"cpu {props['Cpu']}")
        return f"awsvpc, FARGATE, {props['Cpu']} CPU units"

    rec.add("task: awsvpc on Fargate", "template", td_network)

    def memory_split() -> str:
        c = containers()
        app_mem, redis_mem = c[APP_CONTAINER]["memory"], c[REDIS_CONTAINER]["memory"]
        _expect(app_mem == config.app.memory_mib, f"app {app_mem}")
        _expect(redis_mem == config.redis.memory_mib, f"redis {redis_mem}")
        return f"app {app_mem} MiB + redis {redis_mem} MiB"

    rec.add("task: memory split", "api", memory_split)

    def depends_on() -> str:
        deps = containers()[APP_CONTAINER].get("dependsOn", [])
        _expect(
            deps == [{"containerName": REDIS_CONTAINER, "condition": "HEALTHY"}],
            f"dependsOn {deps}",
        )
        return "app waits for redis HEALTHY"

    rec.add("task: app dependsOn redis HEALTHY", "api", depends_on)

    def health_checks() -> str:
        c = containers()
        app_hc = c[APP_CONTAINER].get("healthCheck", {})
        redis_hc = c[REDIS_CONTAINER].get("healthCheck", {})
        _expect(app_hc.get("command") == app_health_command(), f"app {app_hc}")
        _expect(
            redis_hc.get("command") == redis_health_command(config.redis.port), f"redis {redis_hc}"
        )
        _expect(
            c[REDIS_CONTAINER].get("startTimeout") == config.redis.start_timeout_s, "startTimeout"
        )
        return f"app `{' '.join(app_hc['command'][1:])}`, redis `{redis_hc['command'][1]}`"

    rec.add("task: health checks (strict PONG)", "api", health_checks)

    def redis_command() -> str:
        cmd = containers()[REDIS_CONTAINER]["command"]
        _expect(cmd == config.redis.command_args(bind=ECS_REDIS_BIND), f"command {cmd}")
        return (
            f"maxmemory {config.redis.effective_maxmemory_mib}mb "
            f"{config.redis.maxmemory_policy}, no RDB, no AOF"
        )

    rec.add("task: redis command (bounded, no persistence)", "api", redis_command)

    def app_env() -> str:
        app = containers()[APP_CONTAINER]
        env = {e["name"]: e["value"] for e in app.get("environment", [])}
        _expect(env.get("REDIS_HOST") == "localhost", f"REDIS_HOST={env.get('REDIS_HOST')}")
        _expect(env.get("REDIS_PORT") == str(config.redis.port), "REDIS_PORT")
        leaked = set(env) & set(config.app.secret_keys)
        _expect(not leaked, f"secrets in plain environment: {leaked}")
        wiring = {k: v for k, v in env.items() if k not in AUTH_KEYS}
        _expect(wiring == config.app_environment(redis_host="localhost"), "environment differs")
        return "REDIS_HOST=localhost, no secret in plain env"

    rec.add("task: app environment", "api", app_env)

    def app_secrets() -> str:
        # The whole secret as one variable (service/secrets_json.py): its keys are the
        # operators', never the template's.
        app = containers()[APP_CONTAINER]
        secrets = {s["name"]: s["valueFrom"] for s in app.get("secrets", [])}
        _expect(secrets == {SECRETS_JSON_ENV: names.secret_arn}, f"secrets {secrets}")
        described = sm.describe_secret(SecretId=names.secret_arn)
        _expect(described["Name"].startswith(f"{config.secret_name_prefix}-"), described["Name"])
        stored = json.loads(sm.get_secret_value(SecretId=names.secret_arn)["SecretString"])
        _expect(isinstance(stored, dict), "the secret's value is not a JSON object")
        return f"{SECRETS_JSON_ENV} = {described['Name']} (the state stack's), {len(stored)} keys"

    rec.add("task: secrets from Secrets Manager", "api", app_secrets)

    def hardening() -> str:
        c = containers()
        for name in (APP_CONTAINER, REDIS_CONTAINER):
            _expect(c[name].get("readonlyRootFilesystem") is True, f"{name} root writable")
            _expect(
                c[name].get("linuxParameters", {}).get("initProcessEnabled") is True,
                f"{name} has no init process",
            )
        _expect(c[APP_CONTAINER].get("user") == config.app.user, "app user")
        return f"read-only roots, init process, app user {config.app.user}"

    rec.add("task: hardening", "api", hardening)

    # ---- service
    def service() -> str:
        found = ecs.describe_services(cluster=names.cluster, services=[names.service])["services"]
        _expect(bool(found) and found[0]["status"] == "ACTIVE", "service missing")
        svc = found[0]
        _expect(
            svc["desiredCount"] == config.scaling.desired_count, f"desired {svc['desiredCount']}"
        )
        _expect(svc["taskDefinition"].split("/")[-1].startswith(config.task_family + ":"), "td")
        return f"{names.service} desired {svc['desiredCount']}"

    rec.add("service", "api", service)

    def service_template() -> str:
        props = _one(service_tpl, "AWS::ECS::Service")
        dc = props["DeploymentConfiguration"]
        _expect(dc["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}, "breaker")
        _expect((dc["MinimumHealthyPercent"], dc["MaximumPercent"]) == (100, 200), "min/max")
        _expect(props["EnableExecuteCommand"] is True, "exec")
        lbs = props["LoadBalancers"]
        _expect(
            [(lb["ContainerName"], lb["ContainerPort"]) for lb in lbs]
            == [(APP_CONTAINER, config.app.port)],
            f"targets {lbs}",
        )
        net = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        _expect(net["AssignPublicIp"] == "DISABLED", "public IP")
        return f"breaker+rollback, 100/200 %, exec, target app:{config.app.port}, no public IP"

    rec.add("service: deployment, exec, LB target", "template", service_template)

    def autoscaling() -> str:
        target = _one(service_tpl, "AWS::ApplicationAutoScaling::ScalableTarget")
        lo, hi = target["MinCapacity"], target["MaxCapacity"]
        _expect((lo, hi) == (config.scaling.min_capacity, config.scaling.max_capacity), "bounds")
        policies = list(_resources(service_tpl, "AWS::ApplicationAutoScaling::ScalingPolicy"))
        _expect(len(policies) == 2, f"{len(policies)} policies")
        return f"{lo}-{hi} tasks on CPU and memory"

    rec.add("service: autoscaling", "template", autoscaling)

    # ---- security groups
    def groups() -> tuple[dict[str, Any], dict[str, Any]]:
        sgs = ec2.describe_security_groups()["SecurityGroups"]
        task = [g for g in sgs if g.get("Description", "").startswith("Fyntrix tasks")]
        lb = [g for g in sgs if g.get("Description", "").startswith("Fyntrix load balancer")]
        _expect(len(task) == 1 and len(lb) == 1, "security groups missing")
        return task[0], lb[0]

    def covers(perm: dict[str, Any], port: int) -> bool:
        if perm.get("IpProtocol") == "-1":
            return True
        return int(perm.get("FromPort", 0)) <= port <= int(perm.get("ToPort", 65535))

    def only_from(port: int, what: str, source: str, label: str) -> Callable[[], str]:
        """A check that the task group admits `port` from exactly one group and no CIDR."""

        def check() -> str:
            task, lb = groups()
            allowed = task if source == "task" else lb
            perms = [p for p in task["IpPermissions"] if covers(p, port)]
            _expect(bool(perms), f"no rule for the {what} port")
            for p in perms:
                sources = {pair["GroupId"] for pair in p.get("UserIdGroupPairs", [])}
                _expect(sources == {allowed["GroupId"]}, f"{port} from {sources}")
                _expect(
                    not p.get("IpRanges") and not p.get("Ipv6Ranges"), f"CIDR on the {what} port"
                )
            return f"{port} only from {allowed['GroupId']} ({label})"

        return check

    rec.add(
        f"sg: {config.redis.port} only from the task group",
        "api",
        only_from(config.redis.port, "redis", "task", "itself"),
    )
    rec.add(
        f"sg: {config.app.port} only from the load balancer",
        "api",
        only_from(config.app.port, "app", "lb", "load balancer"),
    )

    def lb_rule() -> str:
        _, lb = groups()
        ports = sorted({int(p["FromPort"]) for p in lb["IpPermissions"]})
        # No CIDR (dev without a certificate, by default): no rule, so no port at all.
        expected = (
            ([80] + ([443] if config.certificate_arn else [])) if config.ingress_cidrs else []
        )
        _expect(ports == expected, f"load balancer ports {ports}")
        cidrs = sorted({r["CidrIp"] for p in lb["IpPermissions"] for r in p.get("IpRanges", [])})
        _expect(cidrs == sorted(c for c in config.ingress_cidrs if ":" not in c), f"{cidrs}")
        return f"ports {ports} from {', '.join(cidrs)}" if cidrs else "no client admitted"

    rec.add("sg: load balancer ingress", "api", lb_rule)

    def lb_egress() -> str:
        egress = [p for _, p in _resources(service_tpl, "AWS::EC2::SecurityGroupEgress")]
        ports = [(e["Properties"]["FromPort"], e["Properties"]["ToPort"]) for e in egress]
        _expect(ports == [(config.app.port, config.app.port)], f"egress {ports}")
        return f"load balancer egress only to {config.app.port}"

    rec.add("sg: load balancer egress", "template", lb_egress)

    # ---- load balancer, logs
    def load_balancer() -> str:
        lbs = elb.describe_load_balancers()["LoadBalancers"]
        _expect(len(lbs) == 1 and lbs[0]["Scheme"] == "internet-facing", "load balancer")
        tgs = elb.describe_target_groups()["TargetGroups"]
        _expect(
            [(t["Port"], t["TargetType"], t.get("HealthCheckPath")) for t in tgs]
            == [(config.app.port, "ip", config.app.health_check_path)],
            f"target groups {tgs}",
        )
        return f"{lbs[0]['DNSName']} -> ip:{config.app.port}{config.app.health_check_path}"

    rec.add("load balancer and target group", "api", load_balancer)

    def log_groups() -> str:
        groups_ = logs.describe_log_groups()["logGroups"]
        mine = [g for g in groups_ if config.service_stack_name in g["logGroupName"]]
        _expect(len(mine) >= 3, f"{len(mine)} log groups")
        bad = [g["logGroupName"] for g in mine if g.get("retentionInDays") is None]
        _expect(not bad, f"no retention on {bad}")
        plain = [g["logGroupName"] for g in mine if not g.get("kmsKeyId")]
        _expect(not plain, f"not encrypted with the stage key: {plain}")
        return f"{len(mine)} groups, {config.log_retention_days} days retention, KMS"

    rec.add("log groups with retention", "api", log_groups)

    def outputs() -> str:
        out = {
            o["OutputKey"]: o["OutputValue"]
            for o in cfn.describe_stacks(StackName=config.service_stack_name)["Stacks"][0][
                "Outputs"
            ]
        }
        _expect(out.get("ClusterName", "").startswith(config.service_stack_name), "ClusterName")
        _expect(out.get("ServiceName", "").startswith(config.service_stack_name), "ServiceName")
        _expect(out.get("LoadBalancerUrl", "").startswith("http"), "LoadBalancerUrl output")
        return str(out["LoadBalancerUrl"])

    rec.add("stack outputs", "api", outputs)
    _edge_checks(rec, config, session, containers, names)

    # Local import: that module builds on this one's helpers.
    from tools.rehearsal.verify_edge import verify_edge
    from tools.rehearsal.verify_monitoring import verify_ci, verify_monitoring
    from tools.rehearsal.verify_release import verify_release

    verify_monitoring(rec, config=config, session=session, service_tpl=service_tpl, names=names)
    verify_edge(rec, config=config, session=session, service_tpl=service_tpl)
    verify_ci(rec, config=config, session=session, cdk_out=cdk_out)
    verify_release(rec, config=config, session=session, containers=containers)
    return rec.checks


def route(listener: dict[str, Any], rules: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """The action a listener takes for `path`, as the load balancer decides it: non-default
    rules by priority (path patterns: `*` any characters, `?` one, case-sensitive), then the
    default action."""
    ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
    for rule in ordered:
        patterns = [
            v
            for c in rule.get("Conditions", [])
            if c.get("Field") == "path-pattern"
            for v in c.get("PathPatternConfig", {}).get("Values") or c.get("Values", [])
        ]
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            action: dict[str, Any] = rule["Actions"][0]
            return action
    default: dict[str, Any] = listener["DefaultActions"][0]
    return default


def _edge_checks(
    rec: _Recorder,
    config: StageConfig,
    session: Any,
    containers: Callable[[], Any],
    deployed: DeployedNames,
) -> None:
    """What the load balancer forwards, TLS, the web ACL and the Cognito pool."""
    elb = session.client("elbv2")

    def listeners() -> dict[int, dict[str, Any]]:
        (lb,) = elb.describe_load_balancers()["LoadBalancers"]
        found = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return {int(listener["Port"]): listener for listener in found}

    serving_port = 443 if config.certificate_arn else 80

    def routing() -> str:
        listener = listeners()[serving_port]
        rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        for path in APP_PATHS:
            action = route(listener, rules, path)
            _expect(action["Type"] == "forward", f"{path} -> {action['Type']}")
        for path in OPS_PATHS:
            action = route(listener, rules, path)
            status = action.get("FixedResponseConfig", {}).get("StatusCode")
            _expect((action["Type"], status) == ("fixed-response", "404"), f"{path} -> {action}")
        return (
            f"{serving_port}: {', '.join(APP_PATHS)} -> app; {', '.join(OPS_PATHS)} -> 404 "
            "from the load balancer"
        )

    rec.add("edge: only /api/* and /health reach the app", "api", routing)

    def tls() -> str:
        found = listeners()
        if not config.certificate_arn:
            _expect(sorted(found) == [80], f"listeners {sorted(found)}")
            return "dev without a certificate: HTTP on 80 only (acknowledged)"
        https, http = found[443], found[80]
        _expect(https["Protocol"] == "HTTPS", "443 is not HTTPS")
        _expect(https.get("SslPolicy") == "ELBSecurityPolicy-TLS13-1-2-2021-06", "TLS policy")
        certs = [c["CertificateArn"] for c in https.get("Certificates", [])]
        _expect(certs == [config.certificate_arn], f"certificates {certs}")
        (redirect,) = http["DefaultActions"]
        _expect(redirect["Type"] == "redirect", f"80 -> {redirect['Type']}")
        _expect(redirect["RedirectConfig"]["Port"] == "443", "redirect port")
        rules = elb.describe_rules(ListenerArn=http["ListenerArn"])["Rules"]
        _expect(all(r.get("IsDefault") for r in rules), "80 forwards something")
        return f"443 {https['SslPolicy']}, 80 only redirects"

    rec.add("edge: TLS", "api", tls)

    def waf() -> str:
        if not config.waf.enabled:
            return "off (waf.enabled=false, dev only)"
        waf2 = session.client("wafv2")
        (lb,) = elb.describe_load_balancers()["LoadBalancers"]
        acl = waf2.get_web_acl_for_resource(ResourceArn=lb["LoadBalancerArn"])["WebACL"]
        names = [r["Name"] for r in sorted(acl["Rules"], key=lambda r: r["Priority"])]
        _expect(
            names
            == [
                "AWSManagedRulesAmazonIpReputationList",
                "PerIpRateLimit",
                "AWSManagedRulesCommonRuleSet",
                "AWSManagedRulesKnownBadInputsRuleSet",
            ],
            f"rules {names}",
        )
        (rate,) = [r for r in acl["Rules"] if r["Name"] == "PerIpRateLimit"]
        limit = rate["Statement"]["RateBasedStatement"]["Limit"]
        _expect(int(limit) == config.waf.rate_limit, f"rate limit {limit}")
        logging = waf2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
        (destination,) = logging["LogDestinationConfigs"]
        log_group = deployed.waf_log_group or ""
        _expect(log_group.startswith(f"{config.waf_log_group_prefix}-"), log_group)
        _expect(destination.endswith(f":log-group:{log_group}"), destination)
        group = session.client("logs").describe_log_groups(logGroupNamePrefix=log_group)[
            "logGroups"
        ][0]
        _expect(bool(group.get("kmsKeyId")), "WAF log group not encrypted")
        _expect(group.get("retentionInDays") == config.log_retention_days, "retention")
        return (
            f"{acl['Name']} on the load balancer: {len(names)} rules, {limit} requests per "
            f"{config.waf.rate_window_s} s per IP; logs to {log_group} (KMS)"
        )

    rec.add("edge: WAF web ACL, rate limit, encrypted logs", "api", waf)

    def cognito() -> str:
        idp = session.client("cognito-idp")
        env = {e["name"]: e["value"] for e in containers()[APP_CONTAINER].get("environment", [])}
        pool_id = env.get("AUTH_ISSUER", "").rsplit("/", 1)[-1]
        pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        _expect(pool["MfaConfiguration"] == "ON", f"MFA {pool['MfaConfiguration']}")
        clients = env.get("AUTH_CLIENT_IDS", "").split(",")
        for client_id in clients:
            idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
        groups = [g["GroupName"] for g in idp.list_groups(UserPoolId=pool_id)["Groups"]]
        _expect(config.auth.admin_group in groups, f"groups {groups}")
        _expect(env.get("AUTH_ISSUER") == config.auth.issuer(config.region, pool_id), "issuer")
        return (
            f"pool {pool_id} (MFA on), client {', '.join(clients)}, group "
            f"{config.auth.admin_group}; task gets AUTH_ISSUER/AUTH_CLIENT_IDS"
        )

    rec.add("auth: Cognito pool, app client, admin group", "api", cognito)


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"  {'check':<{width}}  source    result  detail"]
    for c in checks:
        lines.append(
            f"  {c.name:<{width}}  {c.source:<8}  {'PASS' if c.ok else 'FAIL':<6}  {c.detail}"
        )
    passed = sum(c.ok for c in checks)
    lines.append(f"  {passed} passed, {len(checks) - passed} failed")
    return "\n".join(lines)
