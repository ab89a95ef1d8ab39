"""Every CloudFormation resource type the estimator knows: billable (by which pricer) or free.

A type in neither table stops the estimate (UnknownResourceType) with the fix: add a pricer to
BILLABLE, or add the type to FREE with the reason it costs nothing. A free type can carry a
guard for the one configuration that is not free (e.g. an advanced SSM parameter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from tools.cost.errors import NotPriced, UnknownResourceType
from tools.cost.model import FreeRow, Pricer
from tools.cost.pricers import compute, edge, logs, monitoring, network, security, storage
from tools.cost.templates import Resource

BILLABLE: Final[Mapping[str, Pricer]] = {
    "AWS::ECS::Service": compute.fargate_service,
    "AWS::ECS::Cluster": compute.container_insights,
    "AWS::ECR::Repository": compute.ecr_repository,
    "AWS::EC2::NatGateway": network.nat_gateway,
    "AWS::EC2::EIP": network.elastic_ip,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": network.load_balancer,
    "AWS::EC2::VPCEndpoint": network.vpc_endpoint,
    "AWS::Route53::HostedZone": network.hosted_zone,
    "AWS::Route53::RecordSet": network.record_set,
    "AWS::Route53::RecordSetGroup": network.record_set_group,
    "AWS::WAFv2::WebACL": edge.web_acl,
    "AWS::WAFv2::LoggingConfiguration": edge.waf_logging,
    "AWS::Cognito::UserPool": edge.user_pool,
    "AWS::Logs::LogGroup": logs.log_group,
    "AWS::EC2::FlowLog": logs.flow_log,
    "AWS::CloudWatch::Alarm": monitoring.alarm,
    "AWS::CloudWatch::CompositeAlarm": monitoring.composite_alarm,
    "AWS::CloudWatch::Dashboard": monitoring.dashboard,
    "AWS::ApplicationAutoScaling::ScalingPolicy": monitoring.scaling_policy,
    "AWS::SNS::Topic": monitoring.sns_topic,
    "AWS::SNS::Subscription": monitoring.sns_subscription,
    "AWS::SQS::Queue": monitoring.sqs_queue,
    "AWS::KMS::Key": security.kms_key,
    "AWS::SecretsManager::Secret": security.secret,
    "AWS::S3::Bucket": storage.bucket,
}


@dataclass(frozen=True)
class Free:
    reason: str
    guard: Callable[[Resource], None] | None = None


def _no_client_credentials(res: Resource) -> None:
    if "client_credentials" in (res.prop("AllowedOAuthFlows") or []):
        raise NotPriced(
            res.where,
            "a client-credentials (machine-to-machine) app client: billed per client and per "
            "token request",
            "add the M2M prices to tools/cost/prices.json and a pricer for the client",
        )


def _standard_parameter(res: Resource) -> None:
    if res.prop("Tier", default="Standard") != "Standard":
        raise NotPriced(res.where, "an advanced SSM parameter", "add its monthly price")


_NETWORK: Final = (
    "VPC networking carries no charge of its own (NAT gateways, public IPv4 and endpoints "
    "are priced)"
)
_IAM: Final = "IAM is free"
_LB_PART: Final = "part of the load balancer, billed through its hours and LCUs"
FREE: Final[Mapping[str, Free]] = {
    "AWS::IAM::Role": Free(_IAM),
    "AWS::IAM::Policy": Free(_IAM),
    "AWS::IAM::ManagedPolicy": Free(_IAM),
    "AWS::IAM::OIDCProvider": Free(_IAM),
    "AWS::IAM::InstanceProfile": Free(_IAM),
    "AWS::EC2::VPC": Free(_NETWORK),
    "AWS::EC2::Subnet": Free(_NETWORK),
    "AWS::EC2::RouteTable": Free(_NETWORK),
    "AWS::EC2::Route": Free(_NETWORK),
    "AWS::EC2::SubnetRouteTableAssociation": Free(_NETWORK),
    "AWS::EC2::InternetGateway": Free(_NETWORK + "; data out is priced on the load balancer"),
    "AWS::EC2::VPCGatewayAttachment": Free(_NETWORK),
    "AWS::EC2::SecurityGroup": Free("security groups are free"),
    "AWS::EC2::SecurityGroupIngress": Free("security group rules are free"),
    "AWS::EC2::SecurityGroupEgress": Free("security group rules are free"),
    "AWS::EC2::NetworkAcl": Free(_NETWORK),
    "AWS::EC2::NetworkAclEntry": Free(_NETWORK),
    "AWS::EC2::SubnetNetworkAclAssociation": Free(_NETWORK),
    "AWS::ECS::TaskDefinition": Free(
        "a definition: its tasks are billed through the service that runs them"
    ),
    "AWS::ECS::ClusterCapacityProviderAssociations": Free(
        "chooses FARGATE or FARGATE_SPOT: each service's tasks are priced by the provider "
        "they run on"
    ),
    "AWS::ApplicationAutoScaling::ScalableTarget": Free(
        "autoscaling is free; its MinCapacity and MaxCapacity are the min and max task counts"
    ),
    "AWS::ElasticLoadBalancingV2::Listener": Free(_LB_PART),
    "AWS::ElasticLoadBalancingV2::ListenerRule": Free(_LB_PART + " (rules beyond 10 add LCUs)"),
    "AWS::ElasticLoadBalancingV2::ListenerCertificate": Free(_LB_PART),
    "AWS::ElasticLoadBalancingV2::TargetGroup": Free(_LB_PART),
    "AWS::CertificateManager::Certificate": Free("public ACM certificates are free"),
    "AWS::WAFv2::WebACLAssociation": Free("free; the web ACL prices the requests it inspects"),
    "AWS::WAFv2::IPSet": Free("free; a rule that uses it is priced on the web ACL"),
    "AWS::Cognito::UserPoolClient": Free(
        "app clients are free (user-based); MAUs are priced on the pool", _no_client_credentials
    ),
    "AWS::Cognito::UserPoolGroup": Free("groups are free"),
    "AWS::Cognito::UserPoolDomain": Free("the hosted domain is free"),
    "AWS::Cognito::UserPoolResourceServer": Free("resource servers are free"),
    "AWS::KMS::Alias": Free("aliases are free"),
    "AWS::S3::BucketPolicy": Free("bucket policies are free"),
    "AWS::SNS::TopicPolicy": Free("topic policies are free"),
    "AWS::SQS::QueuePolicy": Free("queue policies are free"),
    "AWS::Events::Rule": Free(
        "rules are free, and so are AWS service events on the default bus; targets bill as "
        "themselves"
    ),
    "AWS::Logs::MetricFilter": Free("metric filters are free (a metric they create is not)"),
    "AWS::Logs::ResourcePolicy": Free("resource policies are free"),
    "AWS::SSM::Parameter": Free("standard parameters are free", _standard_parameter),
    "AWS::Lambda::Permission": Free("permissions are free"),
}


# The CDK's version-reporting resource: only the CLI's synth adds it (an in-process synth does
# not), and it creates nothing in the account. Left out, so both synths give the same page.
NOT_RESOURCES: Final = frozenset({"AWS::CDK::Metadata"})


def classify(resources: Iterable[Resource]) -> tuple[list[Resource], list[FreeRow]]:
    """(billable resources in template order, one row per free type). Raises for the first
    unknown type (every resource of it named) and for a free type's non-free configuration."""
    resources = [r for r in resources if r.type not in NOT_RESOURCES]
    unknown = sorted({r.type for r in resources} - set(BILLABLE) - set(FREE))
    if unknown:
        first = unknown[0]
        raise UnknownResourceType(first, [r.where for r in resources if r.type == first])
    free_counts: Counter[str] = Counter()
    for r in resources:
        if r.type in FREE:
            guard = FREE[r.type].guard
            if guard is not None:
                guard(r)
            free_counts[r.type] += 1
    rows = [
        FreeRow(resource_type=t, count=n, reason=FREE[t].reason)
        for t, n in sorted(free_counts.items())
    ]
    return [r for r in resources if r.type in BILLABLE], rows
