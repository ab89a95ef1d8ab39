"""Rehearsal checks of the edge and cost settings: the URL clients call and its alias record,
the app client's sign-in flows, the S3 gateway endpoint, the Fargate capacity providers and
the Cognito plan. Through the AWS APIs where the emulator keeps the setting, from the
synthesized template where it does not (moto skips the capacity provider association)."""

from __future__ import annotations

from tools.rehearsal.checks import CheckList, Deployment, expect, one, resources

CHECKS = CheckList()


@CHECKS.add("edge: ServiceUrl and the domain's alias record", "api")
def domain(d: Deployment) -> str:
    config, session = d.config, d.session
    outputs = d.outputs(config.service_stack_name)
    (lb,) = session.client("elbv2").describe_load_balancers()["LoadBalancers"]
    expected = config.service_url or f"http://{lb['DNSName']}"
    expect(outputs.get("ServiceUrl") == expected, f"ServiceUrl {outputs.get('ServiceUrl')}")
    if not config.hosted_zone_id:
        return f"ServiceUrl {expected} (no hosted zone: no record)"
    records = session.client("route53").list_resource_record_sets(
        HostedZoneId=config.hosted_zone_id
    )["ResourceRecordSets"]
    name = f"{config.domain_name}."
    found = [r for r in records if r["Name"] == name and r["Type"] == "A"]
    expect(len(found) == 1, f"A records for {name}: {found}")
    alias = found[0].get("AliasTarget", {})
    target = str(alias.get("DNSName", "")).rstrip(".").lower()
    expect(target == f"dualstack.{lb['DNSName']}".lower(), f"alias to {target}")
    expect(alias.get("HostedZoneId") == lb["CanonicalHostedZoneId"], f"alias zone {alias}")
    return f"ServiceUrl {expected}; {name} A alias -> {target} in {config.hosted_zone_id}"


# Only for a pool the stack creates: an existing pool's client is its owners'.
@CHECKS.add("auth: app client SRP only, no OAuth", "api", applies=lambda c: not c.auth.user_pool_id)
def app_client(d: Deployment) -> str:
    config, idp = d.config, d.client("cognito-idp")
    outputs = d.outputs(config.service_stack_name)
    pool_id, client_id = outputs["UserPoolId"], outputs["AppClientIds"].split(",")[0]
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    props = client["UserPoolClient"]
    flows = sorted(props.get("ExplicitAuthFlows", []))
    expected = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    if config.auth.password_auth:
        expected = sorted([*expected, "ALLOW_USER_PASSWORD_AUTH"])
    expect(flows == expected, f"auth flows {flows}")
    oauth = {k: props[k] for k in ("AllowedOAuthFlows", "CallbackURLs") if props.get(k)}
    expect(not oauth and not props.get("AllowedOAuthFlowsUserPoolClient"), f"OAuth {oauth}")
    return f"client {client_id}: {', '.join(flows)}; no OAuth grant or callback"


def _stack_vpcs(d: Deployment) -> list[str]:
    """The VPC the service stack created, or the existing one it was given."""
    config = d.config
    if config.vpc_id:
        return [config.vpc_id]
    paginator = d.session.client("cloudformation").get_paginator("list_stack_resources")
    pages = paginator.paginate(StackName=config.service_stack_name)
    return [
        r["PhysicalResourceId"]
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::EC2::VPC"
    ]


@CHECKS.add("cost: S3 gateway endpoint", "api")
def s3_endpoint(d: Deployment) -> str:
    config, session = d.config, d.session
    service_name = f"com.amazonaws.{config.region}.s3"
    # Only the stage's own VPC: an account (or an emulator after a redeploy) may hold others.
    vpc_filter = {"Name": "vpc-id", "Values": _stack_vpcs(d)}
    found = session.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": [service_name]}, vpc_filter]
    )["VpcEndpoints"]
    if not config.s3_gateway_endpoint or config.vpc_id:
        expect(not found, f"unexpected endpoints {found}")
        return "none (s3_gateway_endpoint off or an existing VPC)"
    expect(len(found) == 1, f"{len(found)} S3 endpoints")
    endpoint = found[0]
    expect(endpoint["VpcEndpointType"] == "Gateway", endpoint["VpcEndpointType"])
    tables = endpoint.get("RouteTableIds", [])
    expect(len(tables) == config.max_azs, f"route tables {tables}")
    return f"{endpoint['VpcEndpointId']} (Gateway) on {len(tables)} private route tables"


@CHECKS.add("cost: capacity providers, Cognito plan", "template")
def plan(d: Deployment) -> str:
    config, template = d.config, d.service_template
    assoc = one(template, "AWS::ECS::ClusterCapacityProviderAssociations")
    providers = sorted(assoc["CapacityProviders"])
    expect(providers == ["FARGATE", "FARGATE_SPOT"], f"providers {providers}")
    service = one(template, "AWS::ECS::Service")
    strategy = {s["CapacityProvider"]: s for s in service["CapacityProviderStrategy"]}
    spot = "FARGATE_SPOT" in strategy
    expect(spot == config.capacity.spot, f"strategy {strategy}")
    expect("LaunchType" not in service, "a launch type beside the strategy")
    pools = [r["Properties"] for _, r in resources(template, "AWS::Cognito::UserPool")]
    tier = pools[0]["UserPoolTier"] if pools else "(existing pool)"
    if pools:
        expect(tier == config.auth.feature_plan.upper(), f"tier {tier}")
        protected = "UserPoolAddOns" in pools[0]
        expect(protected == (tier == "PLUS"), f"threat protection on {tier}: {protected}")
    on = "FARGATE_SPOT" if spot else "FARGATE"
    return f"tasks on {on} (FARGATE and FARGATE_SPOT associated); Cognito {tier}"
