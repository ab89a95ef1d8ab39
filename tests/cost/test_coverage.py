"""Every billable type is priced on its own; an unknown type stops the estimate, never a zero."""

from __future__ import annotations

import pytest

from tests.cost.conftest import estimated
from tests.cost.samples import SAMPLES, load_balancer
from tools.cost.classify import BILLABLE, FREE, classify
from tools.cost.errors import NotPriced, UnknownResourceType
from tools.cost.templates import Resource


def test_every_billable_type_has_a_sample_template() -> None:
    # A pricer added to classify.BILLABLE without a sample here would go untested.
    assert sorted(SAMPLES) == sorted(BILLABLE)


def test_no_type_is_both_billable_and_free() -> None:
    assert set(BILLABLE) & set(FREE) == set()


@pytest.mark.parametrize("resource_type", sorted(SAMPLES))
def test_the_estimator_prices_each_billable_type_on_its_own(resource_type: str) -> None:
    # GIVEN a template holding this type (and what its pricer reads around it)
    # WHEN the whole estimator runs on it
    result = estimated(*SAMPLES[resource_type])
    # THEN the type produced line items with a cost, counted in the totals
    lines = [i for i in result.items if i.resource_type == resource_type]
    assert lines, resource_type
    assert sum(i.usd_max for i in lines) > 0, lines
    assert result.total_max_usd >= sum(i.usd_max for i in lines)
    assert all(i.where.startswith("Stack/") and i.what for i in lines)


def test_a_type_the_table_does_not_know_fails_naming_it_and_the_fix() -> None:
    unknown = ("Handler", "AWS::Lambda::Function", {"Runtime": "python3.12"})
    with pytest.raises(UnknownResourceType) as caught:
        estimated(load_balancer(), unknown, ("Other", "AWS::Lambda::Function", {}))
    message = str(caught.value)
    assert caught.value.resource_type == "AWS::Lambda::Function"
    assert "Stack/Handler" in message and "Stack/Other" in message
    assert "BILLABLE in tools/cost/classify.py" in message
    assert "FREE" in message


def test_free_types_are_listed_with_their_reason_and_count() -> None:
    resources = [
        Resource("S", "CDKMetadata", "AWS::CDK::Metadata", {}),  # not an AWS resource: skipped
        Resource("S", "R1", "AWS::IAM::Role", {}),
        Resource("S", "R2", "AWS::IAM::Role", {}),
        Resource("S", "Nat", "AWS::EC2::NatGateway", {}),
    ]
    billable, free = classify(resources)
    assert [r.logical_id for r in billable] == ["Nat"]
    assert [(row.resource_type, row.count) for row in free] == [("AWS::IAM::Role", 2)]
    assert free[0].reason == "IAM is free"


def test_a_free_type_in_a_billable_configuration_is_refused() -> None:
    m2m = Resource(
        "S", "Client", "AWS::Cognito::UserPoolClient", {"AllowedOAuthFlows": ["client_credentials"]}
    )
    with pytest.raises(NotPriced, match="machine-to-machine"):
        classify([m2m])
    advanced = Resource("S", "Param", "AWS::SSM::Parameter", {"Tier": "Advanced"})
    with pytest.raises(NotPriced, match="advanced SSM parameter"):
        classify([advanced])
    # the ordinary configurations stay free
    user_client = Resource(
        "S", "Client", "AWS::Cognito::UserPoolClient", {"AllowedOAuthFlows": ["code"]}
    )
    assert classify([user_client])[0] == []
