"""The task definition to run, read from what was deployed: never restated here.

`from_template` converts the synthesized CloudFormation task definition (PascalCase
properties, intrinsic functions) to the ECS API's shape (camelCase), resolving `Ref`s through
a table of physical ids (what the emulator's stack resources report) and `Fn::ImportValue`s
through the emulator's exports. moto keeps only part of
a registered task definition (it drops `networkMode`, for one), so the container definitions
come from the template the emulator deployed, and the family and revision from the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix")
# Children of these keys are free-form names (log driver options, labels), not properties.
_VERBATIM = frozenset({"Options", "DockerLabels"})


class TaskDefinitionError(RuntimeError):
    """The template holds no single task definition, or a value cannot be resolved."""


def _resolve(node: dict[str, Any], physical: Mapping[str, str]) -> Any:
    if "Fn::ImportValue" in node:
        # Another stack's export (the app secret): the table holds exports under this key.
        return physical.get(f"Fn::ImportValue:{node['Fn::ImportValue']}", node["Fn::ImportValue"])
    if "Ref" in node:
        # Unknown ids (roles, log groups a local run does not use) stay their logical id.
        return physical.get(node["Ref"], node["Ref"])
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        return physical.get(f"{logical_id}.{attribute}", physical.get(logical_id, logical_id))
    separator, parts = node["Fn::Join"]
    return separator.join(str(to_api(p, physical)) for p in parts)


def to_api(node: Any, physical: Mapping[str, str], verbatim: bool = False) -> Any:
    """CloudFormation properties -> ECS API shape (camelCase keys, intrinsics resolved)."""
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)) in (
            "Ref",
            "Fn::GetAtt",
            "Fn::Join",
            "Fn::ImportValue",
        ):
            return _resolve(node, physical)
        return {
            (key if verbatim else key[0].lower() + key[1:]): to_api(
                value, physical, key in _VERBATIM
            )
            for key, value in node.items()
            if value != {}
        }
    if isinstance(node, list):
        return [to_api(v, physical) for v in node]
    return node


def task_properties(template: dict[str, Any]) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::ECS::TaskDefinition"
    ]
    if len(found) != 1:
        raise TaskDefinitionError(f"expected one AWS::ECS::TaskDefinition, found {len(found)}")
    props: dict[str, Any] = found[0]
    return props


def from_template(
    template: dict[str, Any], physical: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, Any]:
    """The task definition in API shape; `physical` maps logical ids to deployed ids."""
    table = {**{name: pseudo.get(name, name) for name in _PSEUDO}, **physical}
    api: dict[str, Any] = to_api(task_properties(template), table)
    return api


def from_emulator(session: Any, stack_name: str, cdk_out: Path, region: str) -> dict[str, Any]:
    """What the emulator deployed: the template's definitions, ids and revision from the APIs."""
    template = json.loads((cdk_out / f"{stack_name}.template.json").read_text())
    cfn = session.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    # moto lists the resources it skipped without ids: nothing to resolve there.
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in resources
        if "LogicalResourceId" in r
    }
    for export in cfn.list_exports().get("Exports", []):
        physical[f"Fn::ImportValue:{export['Name']}"] = export["Value"]
    account = session.client("sts").get_caller_identity()["Account"]
    pseudo = {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    api = from_template(template, physical, pseudo)
    family = api.get("family")
    if family:
        deployed = session.client("ecs").describe_task_definition(taskDefinition=family)
        api["revision"] = deployed["taskDefinition"]["revision"]
        api["taskDefinitionArn"] = deployed["taskDefinition"]["taskDefinitionArn"]
    return api
