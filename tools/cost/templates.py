"""The stacks of a synthesized CDK app, read from `cdk.out` as plain JSON (no CDK import).

`manifest.json` names every CloudFormation stack artifact and its template file; each resource
keeps its stack, logical id, type and properties. `Templates.targets` finds which resources a
property points at (`Ref`, `Fn::GetAtt`, also inside `Fn::Join`/`Fn::Sub`, and `Fn::ImportValue`
of another stack's export), which is how a pricer finds the task definition of a service or the
log group a flow log writes to, wherever the stacks put them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cost.errors import CostError


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]

    @property
    def where(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def prop(self, *path: str, default: Any = None) -> Any:
        """A nested property (`prop("TargetTrackingScalingPolicyConfiguration", "TargetValue")`)."""
        value: Any = self.properties
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value


@dataclass(frozen=True)
class Templates:
    """Every resource of every stack of one synth, in stack and template order."""

    resources: tuple[Resource, ...]
    # export name -> (exporting stack, exported value), for Fn::ImportValue
    exports: Mapping[str, tuple[str, Any]] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    def get(self, stack: str, logical_id: str) -> Resource | None:
        for r in self.resources:
            if r.stack == stack and r.logical_id == logical_id:
                return r
        return None

    def targets(self, stack: str, value: Any) -> set[tuple[str, str]]:
        """(stack, logical id) of every resource `value`, a property of a resource of `stack`,
        points at: a Ref or GetAtt in that stack, or another stack's export it imports."""
        found = {(stack, logical_id) for logical_id in refs(value)}
        for name in _imports(value):
            if name in self.exports:
                found |= self.targets(*self.exports[name])
        return found

    def resources_at(self, stack: str, value: Any, resource_type: str) -> list[Resource]:
        """The resources of `resource_type` that `value` (a property in `stack`) points at."""
        found = (self.get(*target) for target in sorted(self.targets(stack, value)))
        return [r for r in found if r is not None and r.type == resource_type]

    def referenced(self, owner: Resource, value: Any, resource_type: str) -> list[Resource]:
        return self.resources_at(owner.stack, value, resource_type)

    def pointing_at(self, target: Resource, resource_type: str, *path: str) -> list[Resource]:
        """The resources of `resource_type` whose property at `path` points at `target`."""
        key = (target.stack, target.logical_id)
        return [
            r for r in self.of_type(resource_type) if key in self.targets(r.stack, r.prop(*path))
        ]


def refs(value: Any) -> set[str]:
    """Logical ids `value` refers to through Ref, Fn::GetAtt or a ${Id} in Fn::Sub."""
    found: set[str] = set()
    for node in _walk(value):
        if "Ref" in node and isinstance(node["Ref"], str) and not node["Ref"].startswith("AWS::"):
            found.add(node["Ref"])
        get_att = node.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            found.add(get_att[0])
        sub = node.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str):
            found |= {part.split("}", 1)[0].split(".")[0] for part in text.split("${")[1:]}
    return found


def _imports(value: Any) -> set[str]:
    return {
        node["Fn::ImportValue"]
        for node in _walk(value)
        if isinstance(node.get("Fn::ImportValue"), str)
    }


def _walk(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def from_documents(documents: Mapping[str, Mapping[str, Any]]) -> Templates:
    """Templates from {stack name: template document} (tests, in-process synths)."""
    resources = []
    exports: dict[str, tuple[str, Any]] = {}
    for stack, document in documents.items():
        for logical_id, body in document.get("Resources", {}).items():
            resources.append(
                Resource(stack, logical_id, str(body["Type"]), body.get("Properties") or {})
            )
        for output in document.get("Outputs", {}).values():
            name = output.get("Export", {}).get("Name")
            if isinstance(name, str):
                exports[name] = (stack, output.get("Value"))
    return Templates(tuple(resources), exports)


def load_cdk_out(folder: Path) -> Templates:
    """Every CloudFormation stack `cdk synth` wrote into `folder`, by its manifest."""
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        raise CostError(
            f"{folder} holds no manifest.json. Fix: point --cdk-out at a `cdk synth` output "
            "folder, or let `make cost` synthesize the stage"
        )
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    documents = {}
    for name, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") == "aws:cloudformation:stack":
            template_file = folder / artifact["properties"]["templateFile"]
            documents[name] = json.loads(template_file.read_text(encoding="utf-8"))
    if not documents:
        raise CostError(f"{manifest_file} lists no CloudFormation stack")
    return from_documents(documents)
