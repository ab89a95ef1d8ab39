"""ecs-task-definition.json equals the CDK stack's synthesized task definition, field by field.

CloudFormation spells keys in PascalCase (`ContainerDefinitions[].HealthCheck.Command`), the
ECS API in camelCase: keys are mapped, then everything is compared. Values that are
CloudFormation intrinsics are compared by their known parts: the account and URL suffix
become the JSON's placeholders, the state stack's secret (imported) becomes the secret ARN
placeholder, and the log groups and roles (named by CloudFormation) must map one-to-one to
the JSON's fixed names/placeholder ARNs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk.assertions import Template

from generators import default_configs
from generators.ecs import (
    ACCOUNT_PLACEHOLDER,
    APP_CLIENT_PLACEHOLDER,
    SECRET_ARN_PLACEHOLDER,
    USER_POOL_PLACEHOLDER,
    partition,
    task_definition,
)
from infra.app_factory import build_app
from infra.config import StageConfig, load_stage
from tests.targets.conftest import ROOT, load_json

# Keys whose children are free-form strings (log driver options), not CloudFormation properties.
_VERBATIM_CHILDREN = frozenset({"Options"})
# Non-default settings, so a value the generator hard-codes instead of reading from the config
# shows up as a difference.
OVERRIDES = {
    "region": "eu-west-1",
    "task_memory_mib": "2048",
    "redis.memory_mib": "512",
    "redis.port": "6380",
    "redis.maxmemory_policy": "allkeys-lfu",
    "app.port": "8080",
    "app.user": "20002:20002",
    "app.health_check.interval_s": "20",
    "redis.start_timeout_s": "45",
    "log_retention_days": "7",
}


@dataclass(frozen=True)
class Marker:
    """A CloudFormation value the JSON replaces with a fixed name or placeholder."""

    kind: str
    logical_id: str


def _resolve(node: Any, resources: dict[str, Any], config: StageConfig) -> Any:
    part, suffix = partition(config.region)
    pseudo = {
        "AWS::AccountId": ACCOUNT_PLACEHOLDER,
        "AWS::URLSuffix": suffix,
        "AWS::Partition": part,
        "AWS::Region": config.region,
    }
    if "Ref" in node:
        ref = node["Ref"]
        if ref in pseudo:
            return pseudo[ref]
        resource = resources[ref]
        # The pool and client the stack creates: the JSON names them by placeholder.
        cognito = {
            "AWS::Cognito::UserPool": USER_POOL_PLACEHOLDER,
            "AWS::Cognito::UserPoolClient": APP_CLIENT_PLACEHOLDER,
        }
        if resource["Type"] in cognito:
            return cognito[resource["Type"]]
        return Marker(resource["Type"], ref)
    if "Fn::ImportValue" in node:
        # The only value the task imports: the state stack's secret (its ARN export).
        assert "SecretsSecret" in node["Fn::ImportValue"], node
        return SECRET_ARN_PLACEHOLDER
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        assert attribute == "Arn", node
        return Marker(resources[logical_id]["Type"], logical_id)
    if "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        resolved = [to_api(p, resources, config) for p in parts]
        assert all(isinstance(p, str) for p in resolved), node
        return separator.join(resolved)
    raise AssertionError(f"unexpected intrinsic {node}")


def to_api(
    node: Any, resources: dict[str, Any], config: StageConfig, verbatim: bool = False
) -> Any:
    """CloudFormation properties -> ECS API shape (camelCase keys, intrinsics resolved)."""
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)) in (
            "Ref",
            "Fn::GetAtt",
            "Fn::Join",
            "Fn::ImportValue",
        ):
            return _resolve(node, resources, config)
        out = {}
        for key, value in node.items():
            if value == {}:
                # CDK writes `Capabilities: {}` (nothing added or dropped) = absent in the API.
                continue
            api_key = key if verbatim else key[0].lower() + key[1:]
            out[api_key] = to_api(value, resources, config, key in _VERBATIM_CHILDREN)
        return out
    if isinstance(node, list):
        return [to_api(v, resources, config) for v in node]
    return node


def unify(cfn: Any, api: Any, path: str, bindings: dict[Marker, set[str]]) -> list[str]:
    """Differences between the converted template and the JSON; markers bind to JSON values."""
    if isinstance(cfn, Marker):
        if not isinstance(api, str):
            return [f"{path}: expected a string for {cfn}, got {api!r}"]
        bindings.setdefault(cfn, set()).add(api)
        return []
    if isinstance(cfn, dict) and isinstance(api, dict):
        diffs = [f"{path}.{k}: only in the template" for k in cfn.keys() - api.keys()]
        diffs += [f"{path}.{k}: only in the JSON" for k in api.keys() - cfn.keys()]
        for key in cfn.keys() & api.keys():
            diffs += unify(cfn[key], api[key], f"{path}.{key}", bindings)
        return diffs
    if isinstance(cfn, list) and isinstance(api, list):
        if len(cfn) != len(api):
            return [f"{path}: {len(cfn)} items in the template, {len(api)} in the JSON"]
        return [
            d
            for i, (c, a) in enumerate(zip(cfn, api, strict=True))
            for d in unify(c, a, f"{path}[{i}]", bindings)
        ]
    return [] if cfn == api else [f"{path}: template {cfn!r} != JSON {api!r}"]


def synth_task_definition(config: StageConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    # Prod synthesizes only with a certificate and its domain; they change the listener, not
    # the task.
    cert = (
        f"arn:aws:acm:{config.region}:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    )
    config = dataclasses.replace(
        config,
        certificate_arn=config.certificate_arn or cert,
        domain_name=config.domain_name or "api.fyntrix.example",
    )
    _, _, service, _ = build_app(config, context=context)
    template = Template.from_stack(service).to_json()
    resources = template["Resources"]
    (task,) = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    return task["Properties"], resources


def compare(config: StageConfig, api: dict[str, Any]) -> None:
    properties, resources = synth_task_definition(config)
    converted = to_api(properties, resources, config)
    bindings: dict[Marker, set[str]] = {}
    assert unify(converted, api, "taskDefinition", bindings) == []

    by_kind: dict[str, dict[Marker, set[str]]] = {}
    for marker, values in bindings.items():
        by_kind.setdefault(marker.kind, {})[marker] = values
    assert set(by_kind) == {"AWS::Logs::LogGroup", "AWS::IAM::Role"}, by_kind
    for kind, markers in by_kind.items():
        # One JSON value per CloudFormation resource, and distinct resources stay distinct.
        assert all(len(v) == 1 for v in markers.values()), markers
        names = [next(iter(v)) for v in markers.values()]
        assert len(set(names)) == len(names), markers
        if kind == "AWS::Logs::LogGroup":
            assert all(n.startswith(f"{config.log_group_prefix}/") for n in names), names
            for marker in markers:
                retention = resources[marker.logical_id]["Properties"]["RetentionInDays"]
                assert retention == config.log_retention_days
        else:
            part, _ = partition(config.region)
            pattern = rf"arn:{part}:iam::{ACCOUNT_PLACEHOLDER}:role/YOUR_[A-Z_]+"
            assert all(re.fullmatch(pattern, n) for n in names), names


@pytest.mark.synth
def test_committed_json_equals_the_synthesized_prod_task_definition() -> None:
    compare(default_configs().ecs, load_json("ecs-task-definition.json"))


@pytest.mark.synth
def test_generator_follows_non_default_settings_like_the_construct() -> None:
    config = load_stage("dev", overrides=OVERRIDES)
    compare(config, task_definition(config))


def test_comparison_can_fail() -> None:
    # The field-by-field walk reports a changed value, a missing key and an extra key.
    committed = load_json("ecs-task-definition.json")
    changed = json.loads(json.dumps(committed))
    changed["containerDefinitions"][1]["stopTimeout"] = 11
    del changed["containerDefinitions"][0]["user"]
    changed["pidMode"] = "task"
    diffs = unify(committed, changed, "taskDefinition", {})
    assert sorted(diffs) == [
        "taskDefinition.containerDefinitions[0].user: only in the template",
        "taskDefinition.containerDefinitions[1].stopTimeout: template 10 != JSON 11",
        "taskDefinition.pidMode: only in the JSON",
    ]
