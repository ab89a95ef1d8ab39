"""The policy evaluator behind the alarm-delivery walk decides as the IAM policy reference says."""

from __future__ import annotations

from typing import Any

import pytest

from tools.iam_policy import CfnValues, Request, UnsupportedPolicy, evaluate

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "alarms"}},
        "Rule": {"Type": "AWS::Events::Rule", "Properties": {"Name": "stops"}},
        "Unnamed": {"Type": "AWS::Events::Rule", "Properties": {}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
    }
}
VALUES = CfnValues(TEMPLATE, account="111122223333", region="eu-west-1")
TOPIC = "arn:aws:sns:eu-west-1:111122223333:alarms"
ALARM = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:fyntrix-dev-5xx"


def publish(context: dict[str, str], service: str = "cloudwatch.amazonaws.com") -> Request:
    return Request(("Service", service), "sns:Publish", TOPIC, context)


def allow(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "SNS:Publish",  # actions match case-insensitively
        "Resource": {"Ref": "Topic"},
        **extra,
    }
    if condition is not None:
        statement["Condition"] = condition
    return statement


def decide(*statements: dict[str, Any], context: dict[str, str] | None = None) -> bool:
    return evaluate({"Statement": list(statements)}, publish(context or {}), VALUES).allowed


def test_template_values_resolve_like_cloudformation() -> None:
    assert VALUES.resolve({"Ref": "Topic"}) == TOPIC
    assert VALUES.resolve({"Fn::GetAtt": ["Rule", "Arn"]}) == (
        "arn:aws:events:eu-west-1:111122223333:rule/stops"
    )
    assert VALUES.resolve({"Fn::GetAtt": "Unnamed.Arn"}).endswith(":rule/Unnamed")
    assert VALUES.resolve({"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:x"}) == (
        "arn:aws:sns:eu-west-1:x"
    )
    joined = {"Fn::Join": ["", ["arn:aws:kms:eu-west-1:", {"Ref": "AWS::AccountId"}, ":key/k"]]}
    assert VALUES.resolve(joined) == "arn:aws:kms:eu-west-1:111122223333:key/k"
    with pytest.raises(UnsupportedPolicy, match=r"Fn::GetAtt AWS::KMS::Key\.Nope"):
        VALUES.resolve({"Fn::GetAtt": ["Key", "Nope"]})
    with pytest.raises(UnsupportedPolicy, match="cannot resolve"):
        VALUES.resolve({"Fn::ImportValue": "x"})


def test_no_statement_is_an_implicit_deny_and_a_deny_beats_an_allow() -> None:
    assert not decide()
    assert decide(allow())
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": "*"}
    decision = evaluate({"Statement": [allow(), deny_all]}, publish({}), VALUES)
    assert not decision.allowed
    assert str(decision) == "explicitly denied by statement 1"


def test_principal_action_and_resource_must_all_match() -> None:
    assert not decide(allow(Principal={"Service": "events.amazonaws.com"}))
    assert not decide(allow(Action="sns:Subscribe"))
    assert not decide(allow(Resource="arn:aws:sns:eu-west-1:111122223333:other"))
    assert decide(allow(Resource="arn:aws:sns:eu-west-1:111122223333:*"))
    assert decide(allow(Principal="*"))
    assert decide(allow(Principal={"AWS": "*"}))
    # Not- elements invert the match.
    other = dict(allow())
    del other["Action"]
    assert decide({**other, "NotAction": "sns:Subscribe"})
    assert not decide({**other, "NotAction": "sns:*"})


def test_tls_deny_spares_requests_over_tls_only() -> None:
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert decide(allow(), tls_only, context={"aws:SecureTransport": "true"})
    assert not decide(allow(), tls_only, context={"aws:SecureTransport": "false"})


def test_arn_like_matches_each_arn_part_on_its_own() -> None:
    by_alarm = allow({"ArnLike": {"aws:SourceArn": ALARM.replace("5xx", "*")}})
    assert decide(by_alarm, context={"aws:SourceArn": ALARM})
    assert not decide(by_alarm, context={"aws:SourceArn": ALARM.replace("dev", "prod")})
    # `*` does not cross a colon in ArnLike (it does in StringLike).
    across = "arn:aws:cloudwatch:*:alarm:fyntrix-dev-5xx"
    assert not decide(
        allow({"ArnLike": {"aws:SourceArn": across}}), context={"aws:SourceArn": ALARM}
    )
    assert decide(
        allow({"StringLike": {"aws:SourceArn": across}}), context={"aws:SourceArn": ALARM}
    )


def test_condition_keys_values_and_operators_combine_as_documented() -> None:
    context = {"aws:SourceAccount": "111122223333", "aws:SourceArn": ALARM}
    # Values of one key: OR. Keys of one operator and operators: AND.
    assert decide(
        allow({"StringEquals": {"aws:SourceAccount": ["1", "111122223333"]}}), context=context
    )
    both = {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnEquals": {"aws:SourceArn": "x"},
    }
    assert not decide(allow(both), context=context)
    # Condition keys are case-insensitive.
    assert decide(allow({"StringEquals": {"AWS:SOURCEACCOUNT": "111122223333"}}), context=context)


def test_an_absent_key_fails_positive_operators_and_satisfies_negated_ones() -> None:
    assert not decide(allow({"StringEquals": {"aws:SourceAccount": "111122223333"}}))
    assert decide(allow({"StringNotEquals": {"aws:SourceAccount": "999999999999"}}))
    assert decide(allow({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}}))
    assert decide(allow({"Null": {"aws:SourceArn": "true"}}))
    assert not decide(allow({"Null": {"aws:SourceArn": "false"}}))


@pytest.mark.parametrize(
    "condition",
    [
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"ForAnyValue:StringEquals": {"aws:TagKeys": "x"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
    ],
)
def test_operators_it_does_not_model_fail_loudly(condition: dict[str, Any]) -> None:
    context = {"aws:MultiFactorAuthAge": "1", "aws:TagKeys": "x", "aws:CurrentTime": "now"}
    with pytest.raises(UnsupportedPolicy, match="condition operator"):
        decide(allow(condition), context=context)
    with pytest.raises(UnsupportedPolicy, match="statement elements"):
        decide(allow(Unknown="x"))
