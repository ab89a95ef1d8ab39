"""Cost defaults in the templates: image layers off the NAT gateway, Fargate capacity providers
(Spot as a dev option), and the Cognito plan per stage (tests/infra/test_edge.py)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import load_stage
from tests.infra.conftest import Synth, synth_stage
from tests.infra.test_service_stack import only, resources


def private_route_tables(s: Synth) -> list[dict[str, str]]:
    return [
        {"Ref": lid} for lid in resources(s, "AWS::EC2::RouteTable") if "private" in lid.lower()
    ]


def test_s3_gateway_endpoint_serves_the_private_subnets(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        _, endpoint = only(s, "AWS::EC2::VPCEndpoint")
        props = endpoint["Properties"]
        assert props["VpcEndpointType"] == "Gateway"  # free, unlike interface endpoints
        assert props["ServiceName"] == {
            "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]
        }
        # The tasks' route tables (ECR layer downloads), not the public ones
        assert sorted(props["RouteTableIds"], key=str) == sorted(private_route_tables(s), key=str)
        assert len(props["RouteTableIds"]) == s.config.max_azs
        assert s.service.network.s3_endpoint is not None


@pytest.mark.synth
def test_the_endpoint_can_be_turned_off() -> None:
    s = synth_stage(load_stage("dev", overrides={"s3_gateway_endpoint": "false"}))
    s.service_template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    assert s.service.network.s3_endpoint is None


def service(s: Synth) -> dict[str, Any]:
    _, svc = only(s, "AWS::ECS::Service")
    return svc


def test_cluster_has_both_fargate_capacity_providers(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        cluster_id, _ = only(s, "AWS::ECS::Cluster")
        assoc_id, assoc = only(s, "AWS::ECS::ClusterCapacityProviderAssociations")
        assert assoc["Properties"]["Cluster"] == {"Ref": cluster_id}
        assert sorted(assoc["Properties"]["CapacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
        # ECS rejects a strategy naming a provider not yet associated: the order matters
        assert assoc_id in service(s)["DependsOn"]


def test_tasks_run_on_on_demand_fargate_by_default(dev: Synth, prod: Synth) -> None:
    for s in (dev, prod):
        props = service(s)["Properties"]
        assert "LaunchType" not in props  # a launch type and a strategy exclude each other
        assert props["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]


@pytest.mark.synth
@pytest.mark.parametrize(
    ("base", "strategy"),
    [
        ("0", [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]),
        (
            "1",
            [
                {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 0},
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 1},
            ],
        ),
    ],
)
def test_dev_spot_keeps_the_on_demand_base(base: str, strategy: list[dict[str, Any]]) -> None:
    overrides = {"capacity.spot": "true", "capacity.on_demand_base": base}
    s = synth_stage(load_stage("dev", overrides=overrides))
    assert service(s)["Properties"]["CapacityProviderStrategy"] == strategy
