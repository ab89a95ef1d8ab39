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
