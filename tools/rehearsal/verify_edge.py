"""Rehearsal checks of the edge and cost settings: the URL clients call and its alias record,
the app client's sign-in flows, the S3 gateway endpoint, the Fargate capacity providers and
the Cognito plan. Through the AWS APIs where the emulator keeps the setting, from the
synthesized template where it does not (moto skips the capacity provider association)."""

from __future__ import annotations

from typing import Any

from infra.config import StageConfig
from tools.rehearsal.verify import _expect, _one, _Recorder, _resources


def verify_edge(
    rec: _Recorder, *, config: StageConfig, session: Any, service_tpl: dict[str, Any]
) -> None:
    """Add this module's checks to `rec` (tools/rehearsal/verify.py calls it)."""
    rec.add(
        "edge: ServiceUrl and the domain's alias record", "api", lambda: _domain(config, session)
    )
    if not config.auth.user_pool_id:
        rec.add("auth: app client SRP only, no OAuth", "api", lambda: _client(config, session))
    rec.add("cost: S3 gateway endpoint", "api", lambda: _s3_endpoint(config, session))
    rec.add(
        "cost: capacity providers, Cognito plan", "template", lambda: _plan(config, service_tpl)
    )


def _outputs(config: StageConfig, session: Any) -> dict[str, str]:
    stack = session.client("cloudformation").describe_stacks(StackName=config.service_stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}


def _domain(config: StageConfig, session: Any) -> str:
    outputs = _outputs(config, session)
    (lb,) = session.client("elbv2").describe_load_balancers()["LoadBalancers"]
    expected = config.service_url or f"http://{lb['DNSName']}"
    _expect(outputs.get("ServiceUrl") == expected, f"ServiceUrl {outputs.get('ServiceUrl')}")
    if not config.hosted_zone_id:
        return f"ServiceUrl {expected} (no hosted zone: no record)"
    records = session.client("route53").list_resource_record_sets(
        HostedZoneId=config.hosted_zone_id
    )["ResourceRecordSets"]
    name = f"{config.domain_name}."
    found = [r for r in records if r["Name"] == name and r["Type"] == "A"]
    _expect(len(found) == 1, f"A records for {name}: {found}")
    alias = found[0].get("AliasTarget", {})
    target = str(alias.get("DNSName", "")).rstrip(".").lower()
    _expect(target == f"dualstack.{lb['DNSName']}".lower(), f"alias to {target}")
    _expect(alias.get("HostedZoneId") == lb["CanonicalHostedZoneId"], f"alias zone {alias}")
    return f"ServiceUrl {expected}; {name} A alias -> {target} in {config.hosted_zone_id}"


def _client(config: StageConfig, session: Any) -> str:
    idp = session.client("cognito-idp")
    outputs = _outputs(config, session)
    pool_id, client_id = outputs["UserPoolId"], outputs["AppClientIds"].split(",")[0]
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    props = client["UserPoolClient"]
    flows = sorted(props.get("ExplicitAuthFlows", []))
    expected = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    if config.auth.password_auth:
        expected = sorted([*expected, "ALLOW_USER_PASSWORD_AUTH"])
    _expect(flows == expected, f"auth flows {flows}")
    oauth = {k: props[k] for k in ("AllowedOAuthFlows", "CallbackURLs") if props.get(k)}
    _expect(not oauth and not props.get("AllowedOAuthFlowsUserPoolClient"), f"OAuth {oauth}")
    return f"client {client_id}: {', '.join(flows)}; no OAuth grant or callback"


def _stack_vpcs(config: StageConfig, session: Any) -> list[str]:
    """The VPC the service stack created, or the existing one it was given."""
    if config.vpc_id:
        return [config.vpc_id]
    paginator = session.client("cloudformation").get_paginator("list_stack_resources")
    pages = paginator.paginate(StackName=config.service_stack_name)
    return [
        r["PhysicalResourceId"]
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::EC2::VPC"
    ]


def _s3_endpoint(config: StageConfig, session: Any) -> str:
    service_name = f"com.amazonaws.{config.region}.s3"
    # Only the stage's own VPC: an account (or an emulator after a redeploy) may hold others.
    vpc_filter = {"Name": "vpc-id", "Values": _stack_vpcs(config, session)}
    found = session.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": [service_name]}, vpc_filter]
    )["VpcEndpoints"]
    if not config.s3_gateway_endpoint or config.vpc_id:
        _expect(not found, f"unexpected endpoints {found}")
        return "none (s3_gateway_endpoint off or an existing VPC)"
    _expect(len(found) == 1, f"{len(found)} S3 endpoints")
    endpoint = found[0]
    _expect(endpoint["VpcEndpointType"] == "Gateway", endpoint["VpcEndpointType"])
    tables = endpoint.get("RouteTableIds", [])
    _expect(len(tables) == config.max_azs, f"route tables {tables}")
    return f"{endpoint['VpcEndpointId']} (Gateway) on {len(tables)} private route tables"


def _plan(config: StageConfig, template: dict[str, Any]) -> str:
    assoc = _one(template, "AWS::ECS::ClusterCapacityProviderAssociations")
    providers = sorted(assoc["CapacityProviders"])
    _expect(providers == ["FARGATE", "FARGATE_SPOT"], f"providers {providers}")
    service = _one(template, "AWS::ECS::Service")
    strategy = {s["CapacityProvider"]: s for s in service["CapacityProviderStrategy"]}
    spot = "FARGATE_SPOT" in strategy
    _expect(spot == config.capacity.spot, f"strategy {strategy}")
    _expect("LaunchType" not in service, "a launch type beside the strategy")
    pools = [r["Properties"] for _, r in _resources(template, "AWS::Cognito::UserPool")]
    tier = pools[0]["UserPoolTier"] if pools else "(existing pool)"
    if pools:
        _expect(tier == config.auth.feature_plan.upper(), f"tier {tier}")
        protected = "UserPoolAddOns" in pools[0]
        _expect(protected == (tier == "PLUS"), f"threat protection on {tier}: {protected}")
    on = "FARGATE_SPOT" if spot else "FARGATE"
    return f"tasks on {on} (FARGATE and FARGATE_SPOT associated); Cognito {tier}"
