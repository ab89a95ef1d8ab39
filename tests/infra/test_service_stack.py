"""Targeted assertions on the synthesized Fyntrix-Service-<stage> template."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synth


def resources(s: Synth, cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in s.service_template.find_resources(cfn_type).items()}


def only(s: Synth, cfn_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(s, cfn_type)
    assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
    return next(iter(found.items()))


def containers(s: Synth) -> list[dict[str, Any]]:
    _, td = only(s, "AWS::ECS::TaskDefinition")
    defs: list[dict[str, Any]] = td["Properties"]["ContainerDefinitions"]
    return defs


def container(s: Synth, name: str) -> dict[str, Any]:
    return next(c for c in containers(s) if c["Name"] == name)


def logical_id_of(s: Synth, cfn_type: str, description_part: str) -> str:
    for lid, res in resources(s, cfn_type).items():
        if description_part in res["Properties"].get("GroupDescription", ""):
            return lid
    raise AssertionError(f"no {cfn_type} with {description_part!r}")


def task_sg(s: Synth) -> str:
    return logical_id_of(s, "AWS::EC2::SecurityGroup", "Fyntrix tasks")


def alb_sg(s: Synth) -> str:
    return logical_id_of(s, "AWS::EC2::SecurityGroup", "Fyntrix load balancer")


def ingress_rules(s: Synth) -> list[dict[str, Any]]:
    """Every ingress rule, inline or standalone, as (target group id, rule props)."""
    rules: list[dict[str, Any]] = []
    for lid, sg in resources(s, "AWS::EC2::SecurityGroup").items():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            rules.append({**rule, "GroupId": {"Fn::GetAtt": [lid, "GroupId"]}})
    for res in resources(s, "AWS::EC2::SecurityGroupIngress").values():
        rules.append(res["Properties"])
    return rules


def covers(rule: dict[str, Any], port: int) -> bool:
    lo, hi = rule.get("FromPort", 0), rule.get("ToPort", 65535)
    return rule.get("IpProtocol") in ("-1",) or lo <= port <= hi


# ---------------------------------------------------------------- task definition


def test_task_is_fargate_awsvpc_with_the_configured_size(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Family": "fyntrix-dev-app",
            "Cpu": "512",
            "Memory": "1024",
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
        },
    )


def test_prod_names_follow_the_same_rule(prod: Synth) -> None:
    # fyntrix-<stage>-<role> in prod too; the cluster and service have no fixed name at all
    # (tests/infra/test_stage_life.py)
    prod.service_template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"Family": "fyntrix-prod-app"}
    )
    prod.service_template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 2})


def test_app_container_comes_first_so_it_is_the_default_container(dev: Synth) -> None:
    assert [c["Name"] for c in containers(dev)] == ["app", "redis"]
    assert dev.service.task.task_definition.default_container is not None
    assert dev.service.task.task_definition.default_container.container_name == "app"


def test_memory_split_matches_the_guide(dev: Synth) -> None:
    assert container(dev, "app")["Memory"] == 768
    assert container(dev, "redis")["Memory"] == 256
    assert container(dev, "app")["Memory"] + container(dev, "redis")["Memory"] <= 1024


def test_app_reaches_redis_on_localhost(dev: Synth) -> None:
    env = {e["Name"]: e["Value"] for e in container(dev, "app")["Environment"]}
    assert env["REDIS_HOST"] == "localhost"
    assert env["REDIS_PORT"] == "6379"
    assert env["REDIS_DB"] == "0"
    assert env["PORT"] == "8000"
    assert container(dev, "app")["PortMappings"] == [
        {"ContainerPort": 8000, "Name": "http", "Protocol": "tcp"}
    ]


def _secret_export(s: Synth) -> dict[str, str]:
    """The state stack's export of its secret's ARN, as the service stack imports it."""
    (secret_id,) = s.state_template.find_resources("AWS::SecretsManager::Secret")
    (name,) = [
        o["Export"]["Name"]
        for o in s.state_template.find_outputs("*").values()
        if o["Value"] == {"Ref": secret_id} and "Export" in o
    ]
    return {"Fn::ImportValue": name}


def test_secrets_come_from_secrets_manager_never_plain_environment(dev: Synth) -> None:
    app = container(dev, "app")
    env_names = {e["Name"] for e in app["Environment"]}
    assert not env_names & set(dev.config.app.secret_keys)
    for word in ("PASSWORD", "SECRET", "API_KEY", "DATABASE_URL", "TOKEN"):
        leaked = [e for e in env_names if word in e]
        assert not leaked, f"credential-like name in plain environment: {leaked}"
    # The state stack's whole secret as one variable: a key it lacks is an unset setting, and
    # the template names no key, so no setting change ever touches the task's secrets.
    assert app["Secrets"] == [{"Name": "APP_SECRETS", "ValueFrom": _secret_export(dev)}]
    dev.service_template.resource_count_is("AWS::SecretsManager::Secret", 0)


def test_app_container_is_hardened(dev: Synth) -> None:
    app = container(dev, "app")
    assert app["ReadonlyRootFilesystem"] is True
    assert app["User"] == "10001:10001"
    assert app["LinuxParameters"]["InitProcessEnabled"] is True
    assert app["Essential"] is True
    mounts = {m["ContainerPath"] for m in app["MountPoints"]}
    # /tmp for the app, and the SSM agent's paths so ECS Exec works on a read-only root.
    assert {"/tmp", "/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm"} <= mounts


def test_app_health_check_needs_no_curl(dev: Synth) -> None:
    hc = container(dev, "app")["HealthCheck"]
    assert hc["Command"] == ["CMD", "python", "-m", "service.healthcheck"]
    assert "curl" not in " ".join(hc["Command"])
    assert hc == {
        "Command": hc["Command"],
        "Interval": 15,
        "Timeout": 5,
        "Retries": 3,
        "StartPeriod": 20,
    }


def test_app_waits_for_redis_to_be_healthy(dev: Synth) -> None:
    assert container(dev, "app")["DependsOn"] == [
        {"ContainerName": "redis", "Condition": "HEALTHY"}
    ]
    assert "DependsOn" not in container(dev, "redis")


def test_redis_sidecar_runs_a_bounded_in_memory_cache(dev: Synth) -> None:
    redis = container(dev, "redis")
    cmd = redis["Command"]
    assert cmd[0] == "redis-server"
    flags = " ".join(cmd)
    assert "--maxmemory 192mb" in flags  # 75 % of 256 MiB
    assert "--maxmemory-policy allkeys-lru" in flags
    assert cmd[cmd.index("--save") + 1] == ""  # no RDB
    assert cmd[cmd.index("--appendonly") + 1] == "no"  # no AOF
    assert cmd[cmd.index("--bind") + 1 : cmd.index("--bind") + 3] == ["127.0.0.1", "-::1"]
    assert redis["PortMappings"][0]["ContainerPort"] == 6379


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_redis_runs_the_image_built_here_from_the_project_repository(
    stage: str, request: pytest.FixtureRequest
) -> None:
    """Not a public mutable tag pulled anonymously: the Redis image of the same release, in the
    repository the app's image is in (scanned on push, immutable tags), pulled with the same
    execution role."""
    synth: Synth = request.getfixturevalue(stage)
    for c in containers(synth):
        assert "Fn::Join" in c["Image"], f"{c['Name']} runs {c['Image']}, not the project's image"
    images = {c["Name"]: c["Image"]["Fn::Join"][1] for c in containers(synth)}
    repository = [".dkr.ecr.us-east-1.", {"Ref": "AWS::URLSuffix"}]
    tag = synth.config.app.image_tag
    assert images["app"][1:3] == images["redis"][1:3] == repository
    assert images["app"][3] == f"/fyntrix-app:{tag}"
    assert images["redis"][3] == f"/fyntrix-app:redis-{tag}"


def test_a_redis_crash_restarts_redis_inside_the_task(dev: Synth) -> None:
    """ECS restarts redis in place once it has run restartAttemptPeriod (the app serves from the
    source meanwhile); redis stays essential, so one that cannot stay up stops the task and ECS
    replaces it. The app keeps waiting for redis HEALTHY at start."""
    redis = container(dev, "redis")
    assert redis["Essential"] is True
    assert redis["RestartPolicy"] == {"Enabled": True, "RestartAttemptPeriod": 60}
    assert "RestartPolicy" not in container(dev, "app")
    assert container(dev, "app")["DependsOn"] == [
        {"ContainerName": "redis", "Condition": "HEALTHY"}
    ]


def test_redis_health_check_is_strict_and_it_has_a_start_timeout(dev: Synth) -> None:
    redis = container(dev, "redis")
    assert redis["HealthCheck"]["Command"] == [
        "CMD-SHELL",
        "redis-cli -p 6379 ping | grep -q PONG",
    ]
    assert redis["StartTimeout"] == 60
    assert redis["LinuxParameters"]["InitProcessEnabled"] is True
    assert redis["ReadonlyRootFilesystem"] is True
    assert "/var/lib/amazon/ssm" in {m["ContainerPath"] for m in redis["MountPoints"]}


def test_both_containers_log_to_groups_with_retention(dev: Synth) -> None:
    groups = resources(dev, "AWS::Logs::LogGroup")
    for c in containers(dev):
        opts = c["LogConfiguration"]["Options"]
        assert c["LogConfiguration"]["LogDriver"] == "awslogs"
        group_id = opts["awslogs-group"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == 14
    assert all(g["Properties"].get("RetentionInDays") for g in groups.values())


# ---------------------------------------------------------------- security groups


def test_redis_port_is_open_only_from_the_task_group_itself(dev: Synth) -> None:
    sg = task_sg(dev)
    on_6379 = [r for r in ingress_rules(dev) if covers(r, 6379)]
    assert on_6379, "expected the self-referencing 6379 rule"
    for rule in on_6379:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
        assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [sg, "GroupId"]}, rule
        assert rule["GroupId"] == {"Fn::GetAtt": [sg, "GroupId"]}


def test_app_port_is_open_only_from_the_load_balancer(dev: Synth) -> None:
    on_8000 = [r for r in ingress_rules(dev) if covers(r, 8000)]
    assert on_8000
    for rule in on_8000:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
        assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [alb_sg(dev), "GroupId"]}, rule
        assert rule["GroupId"] == {"Fn::GetAtt": [task_sg(dev), "GroupId"]}


def test_no_rule_opens_redis_to_the_load_balancer_or_a_cidr(dev: Synth) -> None:
    for rule in ingress_rules(dev):
        if covers(rule, 6379):
            assert rule.get("SourceSecurityGroupId") != {"Fn::GetAtt": [alb_sg(dev), "GroupId"]}
    for res in resources(dev, "AWS::EC2::SecurityGroupEgress").values():
        assert res["Properties"]["FromPort"] == 8000, "the ALB may only reach the app port"


def test_load_balancer_group_admits_http_from_the_configured_cidrs_only(dev: Synth) -> None:
    # Plain HTTP would carry bearer tokens in clear text: dev admits only listed CIDRs, and
    # none is listed by default (tests/infra/test_edge.py covers listed ones and HTTPS).
    sg = resources(dev, "AWS::EC2::SecurityGroup")[alb_sg(dev)]["Properties"]
    assert "SecurityGroupIngress" not in sg
    ingress_on_lb = [
        r for r in ingress_rules(dev) if r["GroupId"] == {"Fn::GetAtt": [alb_sg(dev), "GroupId"]}
    ]
    assert ingress_on_lb == []
    # No allow-all egress: the only way out of the load balancer is the app port of the tasks.
    assert "SecurityGroupEgress" not in sg
    egress = [e["Properties"] for e in resources(dev, "AWS::EC2::SecurityGroupEgress").values()]
    assert egress == [
        {
            "Description": "Load balancer to target",
            "DestinationSecurityGroupId": {"Fn::GetAtt": [task_sg(dev), "GroupId"]},
            "FromPort": 8000,
            "GroupId": {"Fn::GetAtt": [alb_sg(dev), "GroupId"]},
            "IpProtocol": "tcp",
            "ToPort": 8000,
        }
    ]


def test_tls_adds_443_and_redirects_80(with_tls: Synth) -> None:
    sg = resources(with_tls, "AWS::EC2::SecurityGroup")[alb_sg(with_tls)]["Properties"]
    seen = {(r["CidrIp"], r["FromPort"]) for r in sg["SecurityGroupIngress"]}
    assert seen == {(c, p) for c in ("203.0.113.0/24", "198.51.100.0/24") for p in (80, 443)}
    with_tls.service_template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 443, "Protocol": "HTTPS", "Certificates": [Match.any_value()]},
    )
    with_tls.service_template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                Match.object_like(
                    {"Type": "redirect", "RedirectConfig": Match.object_like({"Port": "443"})}
                )
            ],
        },
    )
    with_tls.service_template.has_output("LoadBalancerUrl", {"Value": Match.any_value()})
    url = with_tls.service_template.find_outputs("LoadBalancerUrl")["LoadBalancerUrl"]
    assert url["Value"]["Fn::Join"][1][0] == "https://"


# ---------------------------------------------------------------- load balancer and service


def test_load_balancer_targets_app_port_8000(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ECS::Service",
        {"LoadBalancers": [Match.object_like({"ContainerName": "app", "ContainerPort": 8000})]},
    )
    dev.service_template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": 8000,
            "Protocol": "HTTP",
            "TargetType": "ip",
            "HealthCheckPath": "/health",
            "Matcher": {"HttpCode": "200"},
        },
    )


def test_load_balancer_logs_to_an_encrypted_ssl_only_bucket(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Scheme": "internet-facing",
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "access_logs.s3.enabled", "Value": "true"}]
            ),
        },
    )
    dev.service_template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}]
            ),
        },
    )
    dev.service_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
        },
    )
    dev.service_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                ),
                "Version": "2012-10-17",
            }
        },
    )


def test_service_deploys_safely_with_exec_and_no_public_ip(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ECS::Service",
        {
            # A capacity provider strategy, not a launch type (tests/infra/test_cost.py).
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}],
            "EnableExecuteCommand": True,
            "DeploymentConfiguration": {
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})
            },
        },
    )


def test_grace_period_outlasts_redis_and_app_start(dev: Synth) -> None:
    _, svc = only(dev, "AWS::ECS::Service")
    grace = svc["Properties"]["HealthCheckGracePeriodSeconds"]
    redis, app = dev.config.redis, dev.config.app
    assert grace > redis.start_timeout_s + app.health_check.start_period_s
    assert grace == dev.config.health_check_grace_s


def test_autoscaling_tracks_cpu_and_memory_within_bounds(dev: Synth, prod: Synth) -> None:
    for s, lo, hi in ((dev, 1, 2), (prod, 2, 6)):
        s.service_template.has_resource_properties(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            {"MinCapacity": lo, "MaxCapacity": hi, "ScalableDimension": "ecs:service:DesiredCount"},
        )
    metrics = sorted(
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for p in resources(dev, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    )
    assert metrics == ["ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"]


def test_cluster_has_insights_and_audited_encrypted_exec(dev: Synth) -> None:
    dev.service_template.has_resource_properties(
        "AWS::ECS::Cluster",
        {
            # Enhanced: the per-container CPU and memory alarms need the ContainerName dimension.
            "ClusterSettings": [{"Name": "containerInsights", "Value": "enhanced"}],
            "Configuration": {
                "ExecuteCommandConfiguration": {
                    "KmsKeyId": Match.any_value(),
                    "Logging": "OVERRIDE",
                    "LogConfiguration": Match.object_like({"CloudWatchEncryptionEnabled": True}),
                }
            },
        },
    )
    dev.service_template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_vpc_has_two_azs_flow_logs_and_configured_nat(dev: Synth, prod: Synth) -> None:
    assert len(dev.service_template.find_resources("AWS::EC2::NatGateway")) == 1
    assert len(prod.service_template.find_resources("AWS::EC2::NatGateway")) == 2
    subnets = dev.service_template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 4  # public + private in each of 2 AZs
    dev.service_template.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL"}
    )


def test_task_runs_in_private_subnets(dev: Synth) -> None:
    _, svc = only(dev, "AWS::ECS::Service")
    subnets = svc["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert all("private" in s["Ref"].lower() for s in subnets)


def test_stack_outputs(dev: Synth) -> None:
    outputs = dev.service_template.find_outputs("*")
    assert {"LoadBalancerUrl", "ClusterName", "ServiceName", "RepositoryName"} <= set(outputs)
    assert outputs["RepositoryName"]["Value"] == "fyntrix-app"


def test_execution_role_may_read_only_the_stage_secret(dev: Synth) -> None:
    reads = []
    for policy in resources(dev, "AWS::IAM::Policy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("secretsmanager:") for a in actions):
                assert st["Resource"] == _secret_export(dev)
                reads.append(st)
    assert len(reads) == 1
    # AND its key decrypts for the execution role only through Secrets Manager (CDK's own
    # grant is empty for a key another stack owns: the task could not read the secret).
    (key_id,) = dev.state_template.find_resources("AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    (key_export,) = [
        o["Export"]["Name"]
        for o in dev.state_template.find_outputs("*").values()
        if o["Value"] == key_arn and "Export" in o
    ]
    dev.service_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "kms:Decrypt",
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"
                                }
                            },
                            "Effect": "Allow",
                            "Resource": {"Fn::ImportValue": key_export},
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("ExecutionRole")}],
        },
    )


def test_wildcard_resources_carry_only_actions_iam_cannot_scope(dev: Synth) -> None:
    # With cdk.json's flags loaded, ECS Exec does not add logs:* on * to the task role; what
    # remains on `*` is what IAM offers no resource-level permission for.
    unscopable = {
        "logs:DescribeLogGroups",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ecr:GetAuthorizationToken",
    }
    for lid, policy in resources(dev, "AWS::IAM::Policy").items():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if st["Resource"] == "*":
                assert set(actions) <= unscopable, (lid, actions)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_physical_name_contains_a_user_or_branch(stage: str, dev: Synth, prod: Synth) -> None:
    # Ids we author never carry the stage; CDK-generated ids derived from the stack name
    # (e.g. security-group rule ids) are the only exception.
    s = dev if stage == "dev" else prod
    for node in s.service.node.find_all():
        if node is s.service or "FyntrixService" in node.node.id:
            continue
        assert stage not in node.node.id.lower(), node.node.path


def _subnets(tag: str, base: int) -> list[dict[str, str]]:
    # Ids in AWS's format (17 hex digits), so CDK's own template validation accepts them.
    return [
        {
            "subnetId": f"subnet-0{tag}{i}{'0' * 13}",
            "cidr": f"10.0.{base + i}.0/24",
            "availabilityZone": f"us-east-1{'ab'[i]}",
            "routeTableId": f"rtb-0{tag}{i}{'0' * 13}",
        }
        for i in range(2)
    ]


# What `cdk synth` caches in cdk.context.json after looking the VPC up in the account.
VPC_LOOKUP = {
    "vpc-provider:account=123456789012:filter.vpc-id=vpc-0abc1234def567890:region=us-east-1"
    ":returnAsymmetricSubnets=true": {
        "vpcId": "vpc-0abc1234def567890",
        "vpcCidrBlock": "10.0.0.0/16",
        "ownerAccountId": "123456789012",
        "availabilityZones": [],
        "subnetGroups": [
            {"name": "Public", "type": "Public", "subnets": _subnets("aa", 0)},
            {"name": "Private", "type": "Private", "subnets": _subnets("bb", 10)},
        ],
    }
}


@pytest.mark.synth
def test_existing_vpc_by_id_creates_no_network() -> None:
    from aws_cdk.assertions import Template

    from infra.app_factory import build_app
    from infra.config import load_stage
    from tests.infra.conftest import cdk_context

    # GIVEN -c vpcId=... and the looked-up VPC in the context (a lookup needs an account)
    config = load_stage("dev", overrides={"vpc_id": "vpc-0abc1234def567890"})
    app, _, service, packs = build_app(
        config, account="123456789012", context={**cdk_context(), **VPC_LOOKUP}
    )
    assert all(pack.validate_scope(app).success for pack in packs)
    template = Template.from_stack(service)
    # THEN no VPC, subnet, NAT or flow log is created, and tasks run in the private subnets
    for cfn_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway"):
        template.resource_count_is(cfn_type, 0)
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like(
                    {
                        "AssignPublicIp": "DISABLED",
                        "Subnets": [f"subnet-0bb{i}{'0' * 13}" for i in range(2)],
                    }
                )
            }
        },
    )


def _deletion_policies(synth: Synth) -> dict[str, str]:
    """DeletionPolicy of the keys, the app secret and the containers' log groups (the
    access-log bucket is always retained; the flow and exec audit log groups are never)."""
    found = {}
    for template in (synth.service_template, synth.state_template):
        for cfn_type in ("AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
            for logical_id, resource in template.find_resources(cfn_type).items():
                if cfn_type != "AWS::Logs::LogGroup" or logical_id.startswith("Task"):
                    found[logical_id] = resource.get("DeletionPolicy", "Delete")
    assert len(found) == 5, found  # two keys, secret, app logs, redis logs
    return found


def test_retain_on_delete_alone_decides_what_outlives_the_stack(dev: Synth) -> None:
    from infra.config import load_stage
    from tests.infra.conftest import synth_stage

    # GIVEN dev (a disposable stage) and dev with the one setting turned on
    retained = synth_stage(load_stage("dev", overrides={"retain_on_delete": "true"}))
    assert dev.config.retain_on_delete is False
    # THEN without it the key, the secret and the log groups are deleted with the stack
    assert set(_deletion_policies(dev).values()) == {"Delete"}
    # AND with it, on a stage that is not prod, all of them are retained
    assert set(_deletion_policies(retained).values()) == {"Retain"}
    for template in (retained.service_template, retained.state_template):
        (key,) = template.find_resources("AWS::KMS::Key").values()
        assert key["Properties"]["PendingWindowInDays"] == 30
