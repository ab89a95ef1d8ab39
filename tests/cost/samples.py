"""Minimal templates, each holding one billable type (and what its pricer needs around it)."""

from __future__ import annotations

from typing import Any, Final

from tests.cost.conftest import Spec


def task_definition(**changes: Any) -> Spec:
    app = {
        "Name": "app",
        "Environment": [{"Name": "METRICS_NAMESPACE", "Value": "Fyntrix/Service"}],
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {"awslogs-group": {"Ref": "AppLogs"}},
        },
    }
    redis = {
        "Name": "redis",
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {"awslogs-group": {"Ref": "RedisLogs"}},
        },
    }
    props = {"Cpu": "512", "Memory": "1024", "ContainerDefinitions": [app, redis], **changes}
    return ("Task", "AWS::ECS::TaskDefinition", props)


def cluster(mode: str = "enhanced") -> Spec:
    settings = [{"Name": "containerInsights", "Value": mode}]
    return ("Cluster", "AWS::ECS::Cluster", {"ClusterSettings": settings})


def service(**changes: Any) -> Spec:
    props = {
        "Cluster": {"Ref": "Cluster"},
        "TaskDefinition": {"Ref": "Task"},
        "DesiredCount": 2,
        "LaunchType": "FARGATE",
        "LoadBalancers": [{"ContainerName": "app", "ContainerPort": 8000}],
        **changes,
    }
    return ("Service", "AWS::ECS::Service", props)


def scalable_target(low: int = 2, high: int = 6) -> Spec:
    resource_id = {
        "Fn::Join": ["", ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": ["Service", "Name"]}]]
    }
    props = {
        "MinCapacity": low,
        "MaxCapacity": high,
        "ScalableDimension": "ecs:service:DesiredCount",
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id,
    }
    return ("Target", "AWS::ApplicationAutoScaling::ScalableTarget", props)


def load_balancer(**changes: Any) -> Spec:
    props = {
        "Type": "application",
        "Scheme": "internet-facing",
        "Subnets": [{"Ref": "PublicA"}, {"Ref": "PublicB"}],
        **changes,
    }
    return ("Lb", "AWS::ElasticLoadBalancingV2::LoadBalancer", props)


def listener_rules(count: int) -> list[Spec]:
    listener = (
        "Listener",
        "AWS::ElasticLoadBalancingV2::Listener",
        {"LoadBalancerArn": {"Ref": "Lb"}},
    )
    rule = {"ListenerArn": {"Ref": "Listener"}}
    rules: list[Spec] = [
        (f"Rule{n}", "AWS::ElasticLoadBalancingV2::ListenerRule", rule) for n in range(count)
    ]
    return [listener, *rules]


def web_acl(*rules: dict[str, Any]) -> list[Spec]:
    acl = ("Acl", "AWS::WAFv2::WebACL", {"Scope": "REGIONAL", "Rules": list(rules)})
    association = (
        "AclAssociation",
        "AWS::WAFv2::WebACLAssociation",
        {"ResourceArn": {"Ref": "Lb"}, "WebACLArn": {"Fn::GetAtt": ["Acl", "Arn"]}},
    )
    return [acl, association]


def managed(name: str, vendor: str = "AWS") -> dict[str, Any]:
    return {
        "Name": name,
        "Statement": {"ManagedRuleGroupStatement": {"Name": name, "VendorName": vendor}},
    }


def waf_logging(destination: Any = None) -> list[Spec]:
    arn = destination or {
        "Fn::Join": [
            "",
            ["arn:aws:logs:us-east-1:", {"Ref": "AWS::AccountId"}, ":log-group:aws-waf-logs-x"],
        ]
    }
    logging = (
        "AclLogging",
        "AWS::WAFv2::LoggingConfiguration",
        {"LogDestinationConfigs": [arn], "ResourceArn": {"Fn::GetAtt": ["Acl", "Arn"]}},
    )
    group = (
        "WafLogs",
        "AWS::Logs::LogGroup",
        {"LogGroupName": "aws-waf-logs-x", "RetentionInDays": 30},
    )
    return [logging, group]


def alarm(*metric_ids: str, expression: str | None = None, period: int = 60) -> Spec:
    metrics: list[dict[str, Any]] = [
        {
            "Id": m,
            "MetricStat": {
                "Metric": {"MetricName": m, "Namespace": "N"},
                "Period": period,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }
        for m in metric_ids
    ]
    if expression is not None:
        metrics.append({"Id": "e1", "Expression": expression, "ReturnData": True})
    return ("Alarm", "AWS::CloudWatch::Alarm", {"AlarmName": "an-alarm", "Metrics": metrics})


ACCESS_LOG_LB: Final = load_balancer(
    LoadBalancerAttributes=[{"Key": "access_logs.s3.bucket", "Value": {"Ref": "AccessLogs"}}]
)
ACCESS_LOGS: Final = (
    "AccessLogs",
    "AWS::S3::Bucket",
    {"LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 90}]}},
)

# One minimal template per billable type: tests/cost/test_coverage.py runs the estimator on
# each, and fails when a type of classify.BILLABLE has no sample here.
SAMPLES: Final[dict[str, list[Spec]]] = {
    "AWS::ECS::Service": [cluster("disabled"), task_definition(), service(), scalable_target()],
    "AWS::ECS::Cluster": [cluster(), task_definition(), service()],
    "AWS::ECR::Repository": [("Repo", "AWS::ECR::Repository", {})],
    "AWS::EC2::NatGateway": [("Nat", "AWS::EC2::NatGateway", {})],
    "AWS::EC2::EIP": [("Ip", "AWS::EC2::EIP", {"Domain": "vpc"})],
    "AWS::ElasticLoadBalancingV2::LoadBalancer": [load_balancer()],
    "AWS::EC2::VPCEndpoint": [
        (
            "Endpoint",
            "AWS::EC2::VPCEndpoint",
            {
                "VpcEndpointType": "Interface",
                "ServiceName": "com.amazonaws.us-east-1.ecr.api",
                "SubnetIds": ["a", "b"],
            },
        )
    ],
    "AWS::Route53::HostedZone": [("Zone", "AWS::Route53::HostedZone", {"Name": "example.com"})],
    "AWS::Route53::RecordSet": [
        ("Record", "AWS::Route53::RecordSet", {"Name": "www.example.com", "Type": "CNAME"})
    ],
    "AWS::Route53::RecordSetGroup": [
        (
            "Records",
            "AWS::Route53::RecordSetGroup",
            {"RecordSets": [{"Name": "a.example.com", "Type": "A"}]},
        )
    ],
    "AWS::WAFv2::WebACL": [load_balancer(), *web_acl(managed("AWSManagedRulesCommonRuleSet"))],
    "AWS::WAFv2::LoggingConfiguration": [load_balancer(), *web_acl(), *waf_logging()],
    "AWS::Cognito::UserPool": [("Pool", "AWS::Cognito::UserPool", {"UserPoolTier": "ESSENTIALS"})],
    "AWS::Logs::LogGroup": [("Group", "AWS::Logs::LogGroup", {"RetentionInDays": 30})],
    "AWS::EC2::FlowLog": [
        ("Flow", "AWS::EC2::FlowLog", {"LogGroupName": {"Ref": "FlowLogs"}, "ResourceType": "VPC"}),
        ("FlowLogs", "AWS::Logs::LogGroup", {"RetentionInDays": 14}),
    ],
    "AWS::CloudWatch::Alarm": [alarm("requests", "errors", expression="100 * errors / requests")],
    "AWS::CloudWatch::CompositeAlarm": [
        ("Composite", "AWS::CloudWatch::CompositeAlarm", {"AlarmName": "c"})
    ],
    "AWS::CloudWatch::Dashboard": [("Board", "AWS::CloudWatch::Dashboard", {"DashboardName": "d"})],
    "AWS::ApplicationAutoScaling::ScalingPolicy": [
        (
            "Policy",
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    }
                },
            },
        )
    ],
    "AWS::SNS::Topic": [("Topic", "AWS::SNS::Topic", {})],
    "AWS::SNS::Subscription": [
        ("Mail", "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    ],
    "AWS::SQS::Queue": [("Queue", "AWS::SQS::Queue", {})],
    "AWS::KMS::Key": [("Key", "AWS::KMS::Key", {"EnableKeyRotation": True})],
    "AWS::SecretsManager::Secret": [("Secret", "AWS::SecretsManager::Secret", {"Name": "s"})],
    "AWS::S3::Bucket": [ACCESS_LOG_LB, ACCESS_LOGS],
}
