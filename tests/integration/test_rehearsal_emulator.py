"""The emulator fixes for the monitoring and CI resources, in a moto of their own, and the
rehearsal's guard against an emulator that fails a request while the CLI reports success."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.rehearsal.cli import _emulator_errors
from tools.rehearsal.processes import RehearsalError

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the fixes patch moto's classes process-wide.
_PROBE = r"""
import json
import boto3
from moto import mock_aws
from tools.rehearsal import emulator

for fix in emulator.FIXES:
    fix()

TEMPLATE = {
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
               "Properties": {"Port": 8000, "Protocol": "HTTP", "TargetType": "ip",
                              "VpcId": {"Ref": "Vpc"}}},
        "Errors": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "probe-errors", "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3, "Threshold": 5, "TreatMissingData": "notBreaching",
            "Metrics": [{"Id": "e", "Expression": "100 * m", "ReturnData": True},
                        {"Id": "m", "ReturnData": False, "MetricStat": {"Period": 60,
                         "Stat": "Sum", "Metric": {"Namespace": "AWS/ApplicationELB",
                         "MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": [
                         {"Name": "TargetGroup",
                          "Value": {"Fn::GetAtt": ["Tg", "TargetGroupFullName"]}}]}}}]}},
        "Unhealthy": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {
            "AlarmName": "probe-unhealthy",
            "AlarmRule": {"Fn::Join": ["", [
                "ALARM(\"", {"Fn::GetAtt": ["Errors", "Arn"]}, "\")"]]}}},
        "Oidc": {"Type": "AWS::IAM::OIDCProvider", "Properties": {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"], "ThumbprintList": ["a" * 40]}},
    },
    "Outputs": {"Provider": {"Value": {"Ref": "Oidc"}},
                "Composite": {"Value": {"Ref": "Unhealthy"}}},
}

with mock_aws():
    session = boto3.session.Session(region_name="us-east-1")
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName="probe", TemplateBody=json.dumps(TEMPLATE))
    stack = cfn.describe_stacks(StackName="probe")["Stacks"][0]
    alarms = session.client("cloudwatch").describe_alarms(AlarmNamePrefix="probe-")
    metric = alarms["MetricAlarms"][0]
    dims = metric["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"]
    print(json.dumps({
        "status": stack["StackStatus"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
        "metric_alarms": [a["AlarmName"] for a in alarms["MetricAlarms"]],
        "composite_rule": alarms["CompositeAlarms"][0]["AlarmRule"],
        "dimension": dims[0]["Value"],
        "providers": [p["Arn"] for p in session.client("iam").list_open_id_connect_providers()[
            "OpenIDConnectProviderList"]],
    }))
    cfn.delete_stack(StackName="probe")
    left = session.client("cloudwatch").describe_alarms(AlarmNamePrefix="probe-")
    print(json.dumps(len(left["MetricAlarms"]) + len(left["CompositeAlarms"])))
"""


@pytest.mark.slow  # a CloudFormation deploy in moto, in a fresh interpreter
def test_alarms_composite_oidc_and_target_group_attributes_deploy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": ""},
    ).stdout.splitlines()
    result = json.loads(out[0])
    assert result["status"] == "CREATE_COMPLETE"
    assert result["metric_alarms"] == ["probe-errors"]
    assert result["composite_rule"] == (
        'ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:probe-errors")'
    )
    assert result["dimension"].startswith("targetgroup/")
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    assert result["providers"] == [arn]
    assert result["outputs"] == {"Provider": arn, "Composite": "probe-unhealthy"}
    assert json.loads(out[1]) == 0  # deleting the stack deletes both alarms


def test_an_emulator_traceback_during_the_deploy_fails_the_rehearsal(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_text("Traceback (most recent call last):\nAttributeError: old run\n")
    mark = log.stat().st_size
    with log.open("a") as fh:
        fh.write('127.0.0.1 - - "POST / HTTP/1.1" 200 -\n')
    _emulator_errors(log, mark)  # only what came after the mark counts
    with log.open("a") as fh:
        fh.write(
            "Traceback (most recent call last):\n"
            '  File "x.py", line 1\n'
            "AttributeError: 'FakeThing' object has no attribute 'get_cfn_attribute'\n"
        )
    with pytest.raises(RehearsalError) as err:
        _emulator_errors(log, mark)
    assert "failed a request during the deploy" in str(err.value)
    assert "'FakeThing' object has no attribute" in str(err.value)
    _emulator_errors(tmp_path / "missing.log", 0)


# A VPC as CDK builds it (public and private subnets, NAT gateway, routes, flow log), a load
# balancer's listener and target group, an ECS cluster and service, and an export: what
# `cdk destroy` must delete and what a second stack, created through a change set, imports.
_DELETE_PROBE = r"""
import json
import boto3
from moto import mock_aws
from tools.rehearsal import emulator

for fix in emulator.FIXES:
    fix()

VPC = {"Ref": "Vpc"}
TEMPLATE = {
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Public": {"Type": "AWS::EC2::Subnet",
                   "Properties": {"VpcId": VPC, "CidrBlock": "10.0.0.0/24"}},
        "Private": {"Type": "AWS::EC2::Subnet",
                    "Properties": {"VpcId": VPC, "CidrBlock": "10.0.1.0/24"}},
        "PublicRt": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": VPC}},
        "PrivateRt": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": VPC}},
        "PublicAssoc": {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
            "RouteTableId": {"Ref": "PublicRt"}, "SubnetId": {"Ref": "Public"}}},
        "PrivateAssoc": {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
            "RouteTableId": {"Ref": "PrivateRt"}, "SubnetId": {"Ref": "Private"}}},
        "Igw": {"Type": "AWS::EC2::InternetGateway"},
        "IgwAttach": {"Type": "AWS::EC2::VPCGatewayAttachment",
                      "Properties": {"VpcId": VPC, "InternetGatewayId": {"Ref": "Igw"}}},
        "PublicRoute": {"Type": "AWS::EC2::Route", "Properties": {
            "RouteTableId": {"Ref": "PublicRt"}, "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": {"Ref": "Igw"}}},
        "Eip": {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}},
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {
            "SubnetId": {"Ref": "Public"},
            "AllocationId": {"Fn::GetAtt": ["Eip", "AllocationId"]}}},
        "PrivateRoute": {"Type": "AWS::EC2::Route", "Properties": {
            "RouteTableId": {"Ref": "PrivateRt"}, "DestinationCidrBlock": "0.0.0.0/0",
            "NatGatewayId": {"Ref": "Nat"}}},
        "FlowLogs": {"Type": "AWS::Logs::LogGroup"},
        "FlowLog": {"Type": "AWS::EC2::FlowLog", "Properties": {
            "ResourceId": VPC, "ResourceType": "VPC", "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": {"Ref": "FlowLogs"},
            "DeliverLogsPermissionArn": "arn:aws:iam::123456789012:role/flow-logs"}},
        "Sg": {"Type": "AWS::EC2::SecurityGroup",
               "Properties": {"GroupDescription": "probe", "VpcId": VPC}},
        "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
            "Subnets": [{"Ref": "Public"}, {"Ref": "Private"}],
            "SecurityGroups": [{"Ref": "Sg"}]}},
        "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Port": 8000, "Protocol": "HTTP", "TargetType": "ip", "VpcId": VPC}},
        "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
            "LoadBalancerArn": {"Ref": "Lb"}, "Port": 80, "Protocol": "HTTP",
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}]}},
        "Cluster": {"Type": "AWS::ECS::Cluster"},
    },
    "Outputs": {"VpcId": {"Value": VPC, "Export": {"Name": "probe-vpc"}}},
}
CONSUMER = {
    "Resources": {"Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "consumer", "VpcId": {"Fn::ImportValue": "probe-vpc"}}}},
}


def change_set(cfn, name, template):
    cfn.create_change_set(StackName=name, ChangeSetName="cdk-deploy-change-set",
                          ChangeSetType="CREATE", TemplateBody=json.dumps(template))
    cfn.execute_change_set(StackName=name, ChangeSetName="cdk-deploy-change-set")


with mock_aws():
    session = boto3.session.Session(region_name="us-east-1")
    cfn, ec2 = session.client("cloudformation"), session.client("ec2")
    change_set(cfn, "probe", TEMPLATE)
    change_set(cfn, "consumer", CONSUMER)
    vpc = cfn.describe_stacks(StackName="probe")["Stacks"][0]["Outputs"][0]["OutputValue"]
    imported = [g["VpcId"] for g in ec2.describe_security_groups()["SecurityGroups"]
                if g["Description"] == "consumer"]
    cfn.delete_stack(StackName="consumer")
    cfn.delete_stack(StackName="probe")
    left = {
        "stacks": [s["StackName"] for s in cfn.describe_stacks()["Stacks"]],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc],
        "route_tables": [r["RouteTableId"] for r in ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]],
        "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "nat_gateways": [n["State"] for n in ec2.describe_nat_gateways()["NatGateways"]],
        "addresses": len(ec2.describe_addresses()["Addresses"]),
        "flow_logs": len(ec2.describe_flow_logs()["FlowLogs"]),
        "target_groups": len(session.client("elbv2").describe_target_groups()["TargetGroups"]),
        "clusters": [c["status"] for c in session.client("ecs").describe_clusters(
            clusters=session.client("ecs").list_clusters()["clusterArns"])["clusters"]],
    }
    print(json.dumps({"imported": imported, "vpc": vpc, "left": left}))
"""


@pytest.mark.slow  # CloudFormation deploys and deletes in moto, in a fresh interpreter
def test_a_vpc_stack_deletes_and_change_set_stacks_share_exports() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _DELETE_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": ""},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    # A stack created through a change set (as `cdk deploy` does) sees another's export
    assert result["imported"] == [result["vpc"]]
    # AND deleting the stacks deletes what CloudFormation deletes, the VPC last
    assert result["left"] == {
        "stacks": [],
        "vpcs": [],
        "route_tables": [],
        "internet_gateways": 0,
        "nat_gateways": ["deleted"],  # as AWS lists them for a while
        "addresses": 0,
        "flow_logs": 0,
        "target_groups": 0,
        "clusters": ["INACTIVE"],  # as AWS lists them for a while
    }


# Two stacks creating the same fixed name, the second through ExecuteChangeSet as `cdk deploy`
# does: the refusal must reach the CLI as a CloudFormation error, not a JSON body it cannot read.
_NAMESAKE_PROBE = r"""
import json
import boto3
from moto import mock_aws
from tools.rehearsal import emulator

for fix in emulator.FIXES:
    fix()

TEMPLATE = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain",
                                   "Properties": {"LogGroupName": "aws-waf-logs-probe"}}}}
with mock_aws():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    for name in ("first", "second"):
        cfn.create_change_set(StackName=name, ChangeSetName="cdk-deploy-change-set",
                              ChangeSetType="CREATE", TemplateBody=json.dumps(TEMPLATE))
        try:
            cfn.execute_change_set(StackName=name, ChangeSetName="cdk-deploy-change-set")
            print(json.dumps([name, "created"]))
        except Exception as exc:
            print(json.dumps([name, str(exc)]))
"""


@pytest.mark.slow  # CloudFormation deploys in moto, in a fresh interpreter
def test_a_namesake_refusal_reads_as_a_cloudformation_error() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NAMESAKE_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": ""},
    ).stdout.splitlines()
    assert json.loads(out[0]) == ["first", "created"]
    second, error = json.loads(out[1])
    assert second == "second"
    assert "(ValidationError) when calling the ExecuteChangeSet operation" in error
    assert "ResourceAlreadyExistsException: The specified log group already exists" in error
