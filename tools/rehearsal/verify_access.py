"""Rehearsal checks of what reaches the app: the load balancer's routing (only /api/* and
/health are forwarded), TLS, the WAF web ACL and its logs, and the Cognito pool the app trusts.
Through the AWS APIs."""

from __future__ import annotations

import fnmatch
from typing import Any

from infra.task_design import APP_CONTAINER
from tools.rehearsal.checks import CheckList, Deployment, expect

# Paths the load balancer must answer itself (404) and paths it must forward to the app.
OPS_PATHS = ("/metrics", "/cache/stats", "/docs", "/redoc", "/openapi.json", "/")
APP_PATHS = ("/api/portfolio/1", "/health")
WAF_RULES = [
    "AWSManagedRulesAmazonIpReputationList",
    "PerIpRateLimit",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
]

CHECKS = CheckList()


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


def _listeners(d: Deployment) -> dict[int, dict[str, Any]]:
    elb = d.client("elbv2")
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    found = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return {int(listener["Port"]): listener for listener in found}


@CHECKS.add("edge: only /api/* and /health reach the app", "api")
def routing(d: Deployment) -> str:
    serving_port = 443 if d.config.certificate_arn else 80
    listener = _listeners(d)[serving_port]
    rules = d.client("elbv2").describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    for path in APP_PATHS:
        action = route(listener, rules, path)
        expect(action["Type"] == "forward", f"{path} -> {action['Type']}")
    for path in OPS_PATHS:
        action = route(listener, rules, path)
        status = action.get("FixedResponseConfig", {}).get("StatusCode")
        expect((action["Type"], status) == ("fixed-response", "404"), f"{path} -> {action}")
    return (
        f"{serving_port}: {', '.join(APP_PATHS)} -> app; {', '.join(OPS_PATHS)} -> 404 "
        "from the load balancer"
    )


@CHECKS.add("edge: TLS", "api")
def tls(d: Deployment) -> str:
    certificate_arn, found = d.config.certificate_arn, _listeners(d)
    if not certificate_arn:
        expect(sorted(found) == [80], f"listeners {sorted(found)}")
        return "dev without a certificate: HTTP on 80 only (acknowledged)"
    https, http = found[443], found[80]
    expect(https["Protocol"] == "HTTPS", "443 is not HTTPS")
    expect(https.get("SslPolicy") == "ELBSecurityPolicy-TLS13-1-2-2021-06", "TLS policy")
    certs = [c["CertificateArn"] for c in https.get("Certificates", [])]
    expect(certs == [certificate_arn], f"certificates {certs}")
    (redirect,) = http["DefaultActions"]
    expect(redirect["Type"] == "redirect", f"80 -> {redirect['Type']}")
    expect(redirect["RedirectConfig"]["Port"] == "443", "redirect port")
    rules = d.client("elbv2").describe_rules(ListenerArn=http["ListenerArn"])["Rules"]
    expect(all(r.get("IsDefault") for r in rules), "80 forwards something")
    return f"443 {https['SslPolicy']}, 80 only redirects"


@CHECKS.add("edge: WAF web ACL, rate limit, encrypted logs", "api")
def waf(d: Deployment) -> str:
    config = d.config
    if not config.waf.enabled:
        return "off (waf.enabled=false, dev only)"
    waf2 = d.client("wafv2")
    (lb,) = d.client("elbv2").describe_load_balancers()["LoadBalancers"]
    acl = waf2.get_web_acl_for_resource(ResourceArn=lb["LoadBalancerArn"])["WebACL"]
    names = [r["Name"] for r in sorted(acl["Rules"], key=lambda r: r["Priority"])]
    expect(names == WAF_RULES, f"rules {names}")
    (rate,) = [r for r in acl["Rules"] if r["Name"] == "PerIpRateLimit"]
    limit = rate["Statement"]["RateBasedStatement"]["Limit"]
    expect(int(limit) == config.waf.rate_limit, f"rate limit {limit}")
    log_group = _waf_logs(d, acl["ARN"])
    return (
        f"{acl['Name']} on the load balancer: {len(names)} rules, {limit} requests per "
        f"{config.waf.rate_window_s} s per IP; logs to {log_group} (KMS)"
    )


def _waf_logs(d: Deployment, acl_arn: str) -> str:
    """The web ACL logs to the stage's encrypted log group, kept as long as the others."""
    config = d.config
    logging = d.client("wafv2").get_logging_configuration(ResourceArn=acl_arn)
    (destination,) = logging["LoggingConfiguration"]["LogDestinationConfigs"]
    log_group = d.names.waf_log_group or ""
    expect(log_group.startswith(f"{config.waf_log_group_prefix}-"), log_group)
    expect(destination.endswith(f":log-group:{log_group}"), destination)
    found = d.client("logs").describe_log_groups(logGroupNamePrefix=log_group)
    group = found["logGroups"][0]
    expect(bool(group.get("kmsKeyId")), "WAF log group not encrypted")
    expect(group.get("retentionInDays") == config.log_retention_days, "retention")
    return log_group


@CHECKS.add("auth: Cognito pool, app client, admin group", "api")
def cognito(d: Deployment) -> str:
    config, idp = d.config, d.client("cognito-idp")
    env = {e["name"]: e["value"] for e in d.containers()[APP_CONTAINER].get("environment", [])}
    pool_id = env.get("AUTH_ISSUER", "").rsplit("/", 1)[-1]
    pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    expect(pool["MfaConfiguration"] == "ON", f"MFA {pool['MfaConfiguration']}")
    clients = env.get("AUTH_CLIENT_IDS", "").split(",")
    for client_id in clients:
        idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    groups = [g["GroupName"] for g in idp.list_groups(UserPoolId=pool_id)["Groups"]]
    expect(config.auth.admin_group in groups, f"groups {groups}")
    expect(env.get("AUTH_ISSUER") == config.auth.issuer(config.region, pool_id), "issuer")
    return (
        f"pool {pool_id} (MFA on), client {', '.join(clients)}, group "
        f"{config.auth.admin_group}; task gets AUTH_ISSUER/AUTH_CLIENT_IDS"
    )
