"""The edge: what the load balancer forwards, TLS, the web ACL and the Cognito user pool."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.app_factory import build_app
from infra.config import ConfigError, load_stage
from tests.infra.conftest import (
    CERTIFICATE_ARN,
    HOSTED_ZONE_ID,
    TLS,
    Synth,
    cdk_context,
    synth_stage,
)
from tests.infra.test_service_stack import alb_sg, ingress_rules, only, resources, task_sg

OPS_PATHS = ("/metrics", "/cache/stats", "/docs", "/redoc", "/openapi.json")


def listener(s: Synth, port: int) -> tuple[str, dict[str, Any]]:
    for lid, res in resources(s, "AWS::ElasticLoadBalancingV2::Listener").items():
        if res["Properties"]["Port"] == port:
            return lid, res["Properties"]
    raise AssertionError(f"no listener on {port}")


def rules_of(s: Synth, listener_id: str) -> list[dict[str, Any]]:
    rules = [
        r["Properties"]
        for r in resources(s, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if r["Properties"]["ListenerArn"] == {"Ref": listener_id}
    ]
    return sorted(rules, key=lambda r: r["Priority"])


def routed(s: Synth, port: int, path: str) -> dict[str, Any]:
    """The action the listener on `port` takes for `path`: ALB evaluates rules by priority
    (`*` any characters, `?` one, case-sensitive), then the default action."""
    lid, props = listener(s, port)
    for rule in rules_of(s, lid):
        patterns = [v for c in rule["Conditions"] for v in c["PathPatternConfig"]["Values"]]
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            action: dict[str, Any] = rule["Actions"][0]
            return action
    default: dict[str, Any] = props["DefaultActions"][0]
    return default


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(("stage", "port"), [("dev", 80), ("prod", 443), ("with_tls", 443)])
def test_only_the_api_and_the_health_check_are_forwarded(
    stage: str, port: int, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    lid, props = listener(s, port)
    target_group, _ = only(s, "AWS::ElasticLoadBalancingV2::TargetGroup")
    forward = {"Type": "forward", "TargetGroupArn": {"Ref": target_group}}
    # THEN two rules, by priority: /api/* then /health, both to the app's target group
    assert [(r["Priority"], r["Conditions"], r["Actions"]) for r in rules_of(s, lid)] == [
        (10, [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}], [forward]),
        (20, [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/health"]}}], [forward]),
    ]
    # AND everything else is a fixed 404 from the load balancer, never the app
    assert props["DefaultActions"] == [
        {
            "Type": "fixed-response",
            "FixedResponseConfig": {
                "StatusCode": "404",
                "ContentType": "application/json",
                "MessageBody": '{"detail":"Not Found"}',
            },
        }
    ]


@pytest.mark.parametrize("path", [*OPS_PATHS, "/", "/ready", "/API/portfolio/1", "/apix"])
def test_ops_endpoints_and_unknown_paths_get_the_fixed_404(dev: Synth, path: str) -> None:
    assert routed(dev, 80, path)["Type"] == "fixed-response"


@pytest.mark.parametrize("path", ["/api/portfolio/1", "/api/dashboard/2", "/health"])
def test_api_paths_reach_the_app(dev: Synth, prod: Synth, path: str) -> None:
    assert routed(dev, 80, path)["Type"] == "forward"
    assert routed(prod, 443, path)["Type"] == "forward"
    assert routed(prod, 80, path)["Type"] == "redirect"


@pytest.mark.synth
def test_ops_security_group_reaches_the_app_port_directly() -> None:
    ops = "sg-0abc1234def567890"
    s = synth_stage(load_stage("dev", overrides={"ops_access_security_group_id": ops}))
    on_8000 = [r for r in ingress_rules(s) if r.get("FromPort") == 8000]
    sources = sorted(str(r["SourceSecurityGroupId"]) for r in on_8000)
    assert sources == sorted([str({"Fn::GetAtt": [alb_sg(s), "GroupId"]}), ops])
    for rule in on_8000:
        assert rule["GroupId"] == {"Fn::GetAtt": [task_sg(s), "GroupId"]}
        assert "CidrIp" not in rule


def test_without_an_ops_group_only_the_load_balancer_reaches_the_app(dev: Synth) -> None:
    on_8000 = [r for r in ingress_rules(dev) if r.get("FromPort") == 8000]
    assert [r["SourceSecurityGroupId"] for r in on_8000] == [
        {"Fn::GetAtt": [alb_sg(dev), "GroupId"]}
    ]


# ---------------------------------------------------------------- TLS


def test_prod_without_a_certificate_fails_at_synth_naming_the_setting() -> None:
    config = load_stage("prod", image_tag="v1")  # the generators still accept it
    with pytest.raises(ConfigError) as err:
        build_app(config, context=cdk_context())
    message = str(err.value)
    assert err.value.setting == "certificate_arn"
    assert "aws acm request-certificate" in message
    assert "aws acm import-certificate" in message
    assert "certificate_arn = " in message and "in stages/prod.toml" in message


def test_prod_serves_https_with_a_tls13_policy_and_80_only_redirects(prod: Synth) -> None:
    _, https = listener(prod, 443)
    assert https["Protocol"] == "HTTPS"
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    redirect_id, http = listener(prod, 80)
    assert http["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
        }
    ]
    assert rules_of(prod, redirect_id) == []  # nothing on 80 reaches the app
    assert len(resources(prod, "AWS::ElasticLoadBalancingV2::Listener")) == 2


# ---------------------------------------------------------------- WAF


def test_web_acl_has_the_managed_groups_and_the_rate_limit(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        _, acl = only(s, "AWS::WAFv2::WebACL")
        props = acl["Properties"]
        assert props["Scope"] == "REGIONAL"
        assert props["DefaultAction"] == {"Allow": {}}
        rules = {r["Name"]: r for r in props["Rules"]}
        assert [r["Name"] for r in props["Rules"]] == [
            "AWSManagedRulesAmazonIpReputationList",
            "PerIpRateLimit",
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
        ]
        assert [r["Priority"] for r in props["Rules"]] == [0, 1, 2, 3]
        for name, rule in rules.items():
            assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
            assert rule["VisibilityConfig"]["MetricName"] == name
            if name.startswith("AWSManaged"):
                assert rule["OverrideAction"] == {"None": {}}  # block, not count
                assert rule["Statement"]["ManagedRuleGroupStatement"] == {
                    "VendorName": "AWS",
                    "Name": name,
                }
        rate = rules["PerIpRateLimit"]
        assert rate["Action"] == {"Block": {}}
        assert rate["Statement"]["RateBasedStatement"] == {
            "AggregateKeyType": "IP",
            "Limit": s.config.waf.rate_limit,
            "EvaluationWindowSec": s.config.waf.rate_window_s,
        }


@pytest.mark.synth
def test_rate_limit_comes_from_the_config() -> None:
    overrides = {"waf.rate_limit": "250", "waf.rate_window_s": "60"}
    s = synth_stage(load_stage("dev", overrides=overrides))
    _, acl = only(s, "AWS::WAFv2::WebACL")
    (rate,) = [r for r in acl["Properties"]["Rules"] if r["Name"] == "PerIpRateLimit"]
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 250
    assert rate["Statement"]["RateBasedStatement"]["EvaluationWindowSec"] == 60


def test_web_acl_is_associated_with_the_load_balancer(dev: Synth) -> None:
    acl_id, _ = only(dev, "AWS::WAFv2::WebACL")
    lb_id, _ = only(dev, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, assoc = only(dev, "AWS::WAFv2::WebACLAssociation")
    assert assoc["Properties"] == {
        "ResourceArn": {"Ref": lb_id},
        "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]},
    }
    # The attribute the alarms read
    assert dev.service.firewall is not None
    assert dev.service.resolve(dev.service.firewall.web_acl.attr_arn) == {
        "Fn::GetAtt": [acl_id, "Arn"]
    }
    assert dev.service.firewall.web_acl_name == "fyntrix-dev-web-acl"


def test_waf_logs_to_an_encrypted_log_group_with_retention(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        acl_id, _ = only(s, "AWS::WAFv2::WebACL")
        key_id, _ = only(s, "AWS::KMS::Key")
        _, logging = only(s, "AWS::WAFv2::LoggingConfiguration")
        assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
        (destination,) = logging["Properties"]["LogDestinationConfigs"]
        ((group_id, group),) = [
            (lid, g)
            for lid, g in resources(s, "AWS::Logs::LogGroup").items()
            if "LogGroupName" in g["Properties"]
        ]
        # aws-waf-logs-<...>-<stack id>: WAF's prefix, and no retained namesake can collide
        name = group["Properties"]["LogGroupName"]["Fn::Join"]
        assert name[1][0] == s.config.waf_log_group_prefix
        assert s.config.waf_log_group_prefix.startswith("aws-waf-logs-")
        assert destination["Fn::Join"][1][-1] == {"Ref": group_id}  # the name, no `:*` suffix
        assert logging["Properties"]["RedactedFields"] == [
            {"SingleHeader": {"Name": "authorization"}}
        ]
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert group["Properties"]["RetentionInDays"] == s.config.log_retention_days


def test_waf_is_optional_in_dev_and_required_in_prod(dev_without_waf: Synth) -> None:
    for cfn_type in ("AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation"):
        dev_without_waf.service_template.resource_count_is(cfn_type, 0)
    assert dev_without_waf.service.firewall is None
    with pytest.raises(ConfigError, match=r"invalid setting `waf.enabled`"):
        load_stage(
            "prod",
            image_tag="v1",
            overrides={"waf.enabled": "false", **TLS},
        )


# ---------------------------------------------------------------- Cognito


def test_created_user_pool_requires_mfa_and_strong_passwords(dev: Synth, prod: Synth) -> None:
    _, pool = only(dev, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["MfaConfiguration"] == "ON"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[k] for k in ("RequireUppercase", "RequireLowercase", "RequireNumbers"))
    assert policy["RequireSymbols"] is True
    # Deletion protection and retention follow the stage
    assert props["DeletionProtection"] == "INACTIVE"
    assert pool["DeletionPolicy"] == "Delete"
    _, prod_pool = only(prod, "AWS::Cognito::UserPool")
    assert prod_pool["Properties"]["DeletionProtection"] == "ACTIVE"
    assert prod_pool["DeletionPolicy"] == "Retain"


def test_app_client_is_public_and_the_admin_group_exists(dev: Synth) -> None:
    pool_id, _ = only(dev, "AWS::Cognito::UserPool")
    _, client = only(dev, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["UserPoolId"] == {"Ref": pool_id}
    assert props.get("GenerateSecret", False) is False
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    dev.service_template.has_resource_properties(
        "AWS::Cognito::UserPoolGroup",
        {"UserPoolId": {"Ref": pool_id}, "GroupName": "fyntrix-admin"},
    )


def test_the_service_gets_the_issuer_and_client_ids_as_plain_public_wiring(dev: Synth) -> None:
    from tests.infra.test_service_stack import container

    pool_id, _ = only(dev, "AWS::Cognito::UserPool")
    client_id, _ = only(dev, "AWS::Cognito::UserPoolClient")
    env = {e["Name"]: e["Value"] for e in container(dev, "app")["Environment"]}
    assert env["AUTH_ISSUER"] == {
        "Fn::Join": ["", ["https://cognito-idp.us-east-1.amazonaws.com/", {"Ref": pool_id}]]
    }
    assert env["AUTH_CLIENT_IDS"] == {"Ref": client_id}
    assert env["AUTH_ADMIN_GROUP"] == "fyntrix-admin"
    assert env["APP_STAGE"] == "dev"
    # The client has no secret to leak; nothing secret-looking is plain environment
    assert not [k for k in env if "SECRET" in k or "PASSWORD" in k]


@pytest.mark.synth
def test_an_existing_pool_is_imported_not_created() -> None:
    from tests.infra.test_service_stack import container

    s = synth_stage(
        load_stage(
            "dev",
            overrides={
                "auth.user_pool_id": "eu-west-1_AbCdEf123",
                "auth.client_ids": "4tl7d0vq2q9example0000,7abc",
            },
        )
    )
    for cfn_type in ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"):
        s.service_template.resource_count_is(cfn_type, 0)
    env = {e["Name"]: e["Value"] for e in container(s, "app")["Environment"]}
    # The pool's own region names the issuer, whatever region the stack is in
    assert env["AUTH_ISSUER"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert env["AUTH_CLIENT_IDS"] == "4tl7d0vq2q9example0000,7abc"
    assert s.service_template.find_outputs("UserPoolId")["UserPoolId"]["Value"] == (
        "eu-west-1_AbCdEf123"
    )


def test_pool_settings_must_come_together() -> None:
    with pytest.raises(ConfigError, match=r"`auth.client_ids`"):
        load_stage("dev", overrides={"auth.user_pool_id": "eu-west-1_AbCdEf123"})


def test_pool_tier_dev_essentials_without_threat_protection_prod_plus_enforced(
    dev: Synth, prod: Synth
) -> None:
    _, dev_pool = only(dev, "AWS::Cognito::UserPool")
    assert dev_pool["Properties"]["UserPoolTier"] == "ESSENTIALS"
    # Threat protection is a Plus feature: Essentials must not set a mode, or Cognito refuses
    assert "UserPoolAddOns" not in dev_pool["Properties"]
    _, prod_pool = only(prod, "AWS::Cognito::UserPool")
    assert prod_pool["Properties"]["UserPoolTier"] == "PLUS"
    assert prod_pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}


OAUTH_KEYS = ("AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs", "LogoutURLs")


def test_app_client_has_no_oauth_and_signs_in_with_srp_only(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        _, client = only(s, "AWS::Cognito::UserPoolClient")
        props = client["Properties"]
        # No hosted UI: no grant (implicit or code), scope or callback (CDK's default is
        # both grants, every scope and https://example.com)
        assert props["AllowedOAuthFlowsUserPoolClient"] is False
        assert [k for k in OAUTH_KEYS if k in props] == []
        # SRP never sends the password; USER_PASSWORD_AUTH is not allowed by default
        assert props["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@pytest.mark.synth
def test_dev_may_opt_in_to_password_auth() -> None:
    s = synth_stage(load_stage("dev", overrides={"auth.password_auth": "true"}))
    _, client = only(s, "AWS::Cognito::UserPoolClient")
    assert "ALLOW_USER_PASSWORD_AUTH" in client["Properties"]["ExplicitAuthFlows"]


# ---------------------------------------------------------------- domain and plain HTTP


def outputs(s: Synth) -> dict[str, Any]:
    found = s.service_template.find_outputs("*")
    return {name: output["Value"] for name, output in found.items()}


def test_service_url_is_the_domain_with_a_certificate(dev: Synth, prod: Synth) -> None:
    lb_id, _ = only(prod, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert outputs(prod)["ServiceUrl"] == "https://api.fyntrix.example"
    # The load balancer's own URL stays an output (DNS records, --connect-to)
    assert outputs(prod)["LoadBalancerUrl"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [lb_id, "DNSName"]}]]
    }
    # Without a certificate both are the load balancer's plain-HTTP URL
    assert outputs(dev)["ServiceUrl"] == outputs(dev)["LoadBalancerUrl"]


def test_with_a_hosted_zone_the_domain_is_an_alias_of_the_load_balancer(prod: Synth) -> None:
    lb_id, _ = only(prod, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, record = only(prod, "AWS::Route53::RecordSet")
    props = record["Properties"]
    assert (props["HostedZoneId"], props["Name"], props["Type"]) == (
        HOSTED_ZONE_ID,
        "api.fyntrix.example.",
        "A",
    )
    assert props["AliasTarget"] == {
        "DNSName": {"Fn::Join": ["", ["dualstack.", {"Fn::GetAtt": [lb_id, "DNSName"]}]]},
        "HostedZoneId": {"Fn::GetAtt": [lb_id, "CanonicalHostedZoneID"]},
    }
    assert prod.service.ingress.alias_record is not None


def test_without_a_hosted_zone_no_record_is_created(dev: Synth, with_tls: Synth) -> None:
    for s in (dev, with_tls):
        s.service_template.resource_count_is("AWS::Route53::RecordSet", 0)
        assert s.service.ingress.alias_record is None


def test_dev_without_a_certificate_admits_no_one_and_says_how_to_change_it(dev: Synth) -> None:
    lb_group = {"Fn::GetAtt": [alb_sg(dev), "GroupId"]}
    assert [r for r in ingress_rules(dev) if r["GroupId"] == lb_group] == []
    warnings = Annotations.from_stack(dev.service).find_warning(
        "/Fyntrix-Service-dev/Ingress", Match.string_like_regexp("admits no client")
    )
    (warning,) = warnings
    assert "certificate_arn and domain_name in stages/dev.toml" in str(warning.entry.data)
    assert 'allowed_ingress_cidrs = ["203.0.113.0/24"]' in str(warning.entry.data)


def test_https_stages_admit_their_cidrs_on_80_and_443_without_a_notice(
    prod: Synth, with_tls: Synth
) -> None:
    for s, cidrs in ((prod, ["0.0.0.0/0"]), (with_tls, ["198.51.100.0/24", "203.0.113.0/24"])):
        lb_group = {"Fn::GetAtt": [alb_sg(s), "GroupId"]}
        rules = [r for r in ingress_rules(s) if r["GroupId"] == lb_group]
        assert sorted((r["CidrIp"], r["FromPort"]) for r in rules) == sorted(
            (c, p) for c in cidrs for p in (80, 443)
        )
        assert Annotations.from_stack(s.service).find_warning("*", Match.any_value()) == []


@pytest.mark.synth
def test_dev_may_admit_listed_networks_over_plain_http_with_a_warning() -> None:
    s = synth_stage(load_stage("dev", overrides={"allowed_ingress_cidrs": "203.0.113.0/24"}))
    lb_group = {"Fn::GetAtt": [alb_sg(s), "GroupId"]}
    rules = [r for r in ingress_rules(s) if r["GroupId"] == lb_group]
    assert [(r["CidrIp"], r["FromPort"]) for r in rules] == [("203.0.113.0/24", 80)]
    Annotations.from_stack(s.service).has_warning(
        "/Fyntrix-Service-dev/Ingress", Match.string_like_regexp("plain HTTP to 203.0.113.0/24")
    )
