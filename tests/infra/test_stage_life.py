"""A stage's life after its first deploy: destroyed and deployed again, its settings changed,
its resources replaced. What AWS refuses there and the emulator does not (moto enforces
AlreadyExists for some types only), checked on the synthesized templates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match, Template
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

from infra.app_factory import build_app
from infra.config import load_stage
from tests.infra.conftest import ROOT, TLS, Synth, cdk_context

pytestmark = pytest.mark.synth

# Deletion policies that leave the resource, and so its name, behind.
RETAINING = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})
ADOPT_FLAG = "--import-existing-resources"


@dataclass(frozen=True)
class FixedName:
    stack: str
    logical_id: str
    cfn_type: str
    prop: str
    value: Any
    deletion_policy: str

    def __str__(self) -> str:
        return (
            f"{self.stack}/{self.logical_id} ({self.cfn_type}) {self.prop}="
            f"{json.dumps(self.value)[:80]} DeletionPolicy={self.deletion_policy}"
        )


def _schema(cfn_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        "us-east-1", cfn_type
    ).schema
    return schema


def _top_level(paths: list[str] | None) -> set[str]:
    return {p.split("/")[2] for p in paths or () if p.count("/") == 2}


def _is_fixed(value: Any) -> bool:
    """The same in every incarnation of the stack: no stack id in it, and no reference to a
    resource (whose generated name or id would differ). Region, account and stack name do
    not change when a stack is created again."""
    text = json.dumps(value)
    return (
        "AWS::StackId" not in text
        and "Fn::GetAtt" not in text
        and not any(not ref.startswith("AWS::") for ref in re.findall(r'"Ref": "([^"]+)"', text))
    )


def fixed_names(stack: str, template: dict[str, Any]) -> Iterator[FixedName]:
    """Every resource whose physical name the template fixes: a name property (`Name` or
    `...Name`) that the type's schema makes create-only, i.e. the resource's identity."""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"].startswith("AWS::CDK::"):
            continue
        create_only = _top_level(_schema(resource["Type"]).get("createOnlyProperties"))
        props = resource.get("Properties", {})
        for prop in sorted(create_only):
            if prop.endswith("Name") and prop in props and _is_fixed(props[prop]):
                policy = resource.get("DeletionPolicy", "Delete")
                yield FixedName(stack, logical_id, resource["Type"], prop, props[prop], policy)


def adoptable(name: FixedName) -> bool:
    """CloudFormation can import (adopt) an existing resource of this type by this name when a
    deploy passes --import-existing-resources: its identifier is the name itself, not an id or
    ARN AWS generates (a secret's is its ARN: never adoptable)."""
    schema = _schema(name.cfn_type)
    identifier = schema.get("primaryIdentifier", [])
    return identifier == [f"/properties/{name.prop}"] and name.prop not in _top_level(
        schema.get("readOnlyProperties")
    )


def deploys_adopt() -> bool:
    """Every `cdk deploy` of the Makefile that deploys the registry (`deploy-registry`, and
    `deploy`'s --all) adopts what an earlier incarnation retained."""
    lines = [
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "$(CDK) deploy" in line and ("--all" in line or "infra.config registry" in line)
    ]
    return len(lines) == 2 and all(ADOPT_FLAG in line for line in lines)


def _app_templates(s: Synth) -> dict[str, dict[str, Any]]:
    return {
        stack.stack_name: dict(Template.from_stack(stack).to_json())
        for stack in s.app.node.children
        if isinstance(stack, Stack)
    }


@pytest.fixture(scope="module")
def prod_with_ci() -> dict[str, dict[str, Any]]:
    config = load_stage(
        "prod",
        image_tag="1.4.2",
        overrides={**TLS, "ci.github_repository": "acme/fyntrix"},
    )
    app = build_app(config, context=cdk_context())[0]
    return {
        stack.stack_name: dict(Template.from_stack(stack).to_json())
        for stack in app.node.children
        if isinstance(stack, Stack)
    }


def test_nothing_retained_can_block_creating_its_stack_again(
    dev: Synth, prod_with_ci: dict[str, dict[str, Any]]
) -> None:
    # GIVEN every stack of both stages (registry, CI, state, service)
    templates = {**_app_templates(dev), **prod_with_ci}
    # WHEN a stack is deleted, whatever it retains keeps its name; creating the stack again
    # then fails with AlreadyExists unless the name differs (it ends in the stack's id) or
    # the deploy adopts the retained resource (a type CloudFormation can import by that name)
    retained = [
        name
        for stack, template in templates.items()
        for name in fixed_names(stack, template)
        if name.deletion_policy in RETAINING
    ]
    blocking = [n for n in retained if not (adoptable(n) and deploys_adopt())]
    # THEN none would collide
    assert not blocking, "\n".join(map(str, blocking))
    assert len(templates) == 6, sorted(templates)
    # (the shared repository is the one retained fixed name: every deploy adopts it)
    assert [(n.stack, n.cfn_type) for n in retained] == [
        ("Fyntrix-Registry", "AWS::ECR::Repository")
    ]


def test_the_walk_finds_what_it_must(dev: Synth) -> None:
    # The walk itself: a retained, fixed name is found; a stack-id ending or a generated name
    # is not (so the test above cannot pass by finding nothing).
    template = {
        "Resources": {
            "Fixed": {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "Properties": {"LogGroupName": "aws-waf-logs-fyntrix-prod"},
            },
            "Unique": {
                "Type": "AWS::SecretsManager::Secret",
                "DeletionPolicy": "Retain",
                "Properties": {
                    "Name": {"Fn::Join": ["-", ["fyntrix/prod/app", {"Ref": "AWS::StackId"}]]}
                },
            },
            "Generated": {"Type": "AWS::ECS::Cluster", "Properties": {}},
        }
    }
    found = list(fixed_names("S", template))
    assert [(n.logical_id, n.prop) for n in found] == [("Fixed", "LogGroupName")]
    assert adoptable(found[0])
    secret = FixedName("S", "Secret", "AWS::SecretsManager::Secret", "Name", "x", "Retain")
    assert not adoptable(secret)
    assert list(fixed_names("Service", _app_templates(dev)[dev.config.service_stack_name]))


def test_every_deploy_adopts_what_an_earlier_incarnation_retained() -> None:
    # The registry's repository is retained (it holds every release) and named (every push
    # uses the name): a registry stack deleted and deployed again adopts it, images and all.
    assert deploys_adopt()
    cli = (ROOT / "tools" / "rehearsal" / "cli.py").read_text()
    assert ADOPT_FLAG in cli  # the rehearsal deploys as `make deploy` does


@pytest.mark.parametrize("cfn_type", ["AWS::ECS::Cluster", "AWS::ECS::Service"])
def test_cluster_and_service_have_no_fixed_name(dev: Synth, prod: Synth, cfn_type: str) -> None:
    # A fixed name makes CloudFormation refuse any change that replaces the resource (a new
    # cluster, a role or scheduling change of the service): it would need the name twice.
    prop = "ClusterName" if cfn_type == "AWS::ECS::Cluster" else "ServiceName"
    for s in (dev, prod):
        s.service_template.has_resource_properties(cfn_type, {prop: Match.absent()})
        # Tools find them through the stack's outputs (tools/stack_outputs.py)
        assert {"ClusterName", "ServiceName"} <= set(s.service_template.find_outputs("*"))


def _secrets(s: Synth) -> dict[str, dict[str, Any]]:
    return {
        f"{stack}/{lid}": resource
        for stack, template in _app_templates(s).items()
        for lid, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"app.secret_keys": "DATABASE_URL,MARKET_DATA_API_KEY,NEWS_FEED_API_KEY"},
        {"app.secret_keys": "DATABASE_URL"},
    ],
)
def test_no_setting_change_reaches_the_secrets_value(dev: Synth, overrides: dict[str, str]) -> None:
    # GIVEN the operators' values in the app secret, and a change to the keys it holds
    from tests.infra.conftest import synth_stage

    changed = synth_stage(load_stage("dev", overrides=overrides))
    before, after = _secrets(dev), _secrets(changed)
    # THEN the secret's properties, and so its value, are the same: CloudFormation never
    # writes the value again after creating it
    assert len(before) == 1
    assert after == before
    ((_, secret),) = before.items()
    assert secret["Properties"]["SecretString"] == "{}"
    assert "GenerateSecretString" not in secret["Properties"]


def test_the_secret_lives_in_the_stack_make_destroy_keeps(dev: Synth) -> None:
    # `make destroy` deletes the service stack only; the state stack keeps the secret
    (stack,) = {key.split("/")[0] for key in _secrets(dev)}
    assert stack == dev.config.state_stack_name != dev.config.service_stack_name
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndestroy:", 1)[1].splitlines()
    destroy = next(line for line in recipe if "$(CDK) destroy" in line)
    assert "infra.config service" in destroy
