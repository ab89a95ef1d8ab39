"""VPC (or an existing one) with flow logs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.logging import log_group
from infra.nag import acknowledge


class Network(Construct):
    """Two AZs, public subnets for the load balancer, private subnets with NAT egress for the
    tasks (image pulls, Secrets Manager, CloudWatch). Flow logs record every accept/reject.

    Attributes: `vpc`, `flow_log_group` and `s3_endpoint` (None for an existing VPC, or with
    `s3_gateway_endpoint` off).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        if config.vpc_id:
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
            self.flow_log_group: logs.LogGroup | None = None
            # An existing VPC keeps its own endpoints: a second S3 route would fail the deploy.
            self.s3_endpoint: ec2.GatewayVpcEndpoint | None = None
            return
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    # Only the load balancer and NAT gateways live here; NAT uses Elastic IPs.
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ],
            # The default-SG lockdown is a Lambda-backed custom resource; nothing in this stack
            # uses the default group, and a custom resource cannot deploy to the local emulator.
            restrict_default_security_group=False,
        )
        self.flow_log_group = log_group(
            self,
            "FlowLogs",
            retention_days=config.log_retention_days,
            removal_policy=RemovalPolicy.DESTROY,
            encryption_key=key,
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.vpc = vpc
        # ECR serves image layers from S3: through a gateway endpoint (free) they skip the NAT
        # gateway's per-GB processing charge. Private subnets only: nothing public pulls images.
        self.s3_endpoint = (
            vpc.add_gateway_endpoint(
                "S3",
                service=ec2.GatewayVpcEndpointAwsService.S3,
                subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            )
            if config.s3_gateway_endpoint
            else None
        )
        acknowledge(vpc, "NIST.800.53.R5-VPCDefaultSecurityGroupClosed")
        for subnet in vpc.public_subnets:
            route = subnet.node.try_find_child("DefaultRoute")
            if route is not None:
                acknowledge(route, "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW")
        flow_log = vpc.node.try_find_child("FlowLog")
        role_policy = flow_log and flow_log.node.try_find_child("IAMRole")
        role_policy = role_policy and role_policy.node.try_find_child("DefaultPolicy")
        if role_policy is not None:
            acknowledge(role_policy, "NIST.800.53.R5-IAMNoInlinePolicy")
