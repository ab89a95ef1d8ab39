"""Container tier: the synthesized task definition (the engine, the images and the tier's
stopwatch are in testkit/containers.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.config import StageConfig, load_stage
from testkit.service import ROOT
from tools.containers.images import Built
from tools.containers.task import LOCAL_AUTH_ENV, TaskSpec
from tools.containers.taskdef import from_template

# The state stack's secret as the task definition would carry it after a deploy (the name ends
# in the state stack's id; Secrets Manager adds a random suffix).
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:fyntrix/dev/app-1a2b3c4d-AbCdEf"


@pytest.fixture(scope="session")
def dev_config() -> StageConfig:
    return load_stage("dev", image_tag="containers-test")


@pytest.fixture(scope="session")
def task_definition(dev_config: StageConfig) -> dict[str, Any]:
    """The dev stage's task definition, synthesized by the CDK app (cdk.json's context)."""
    from aws_cdk.assertions import Template

    from infra.app_factory import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    _, _, service, _ = build_app(dev_config, context=context)
    template = Template.from_stack(service).to_json()
    # The task imports the secret's ARN from the state stack (the only import it has).
    imports = {
        f"Fn::ImportValue:{value['Fn::ImportValue']}": SECRET_ARN for value in _imports(template)
    }
    pseudo = {"AWS::AccountId": "000000000000", "AWS::Region": dev_config.region}
    return from_template(dict(template), imports, pseudo)


def _imports(node: Any) -> list[dict[str, str]]:
    if isinstance(node, dict):
        if "Fn::ImportValue" in node:
            return [node]
        return [found for value in node.values() for found in _imports(value)]
    if isinstance(node, list):
        return [found for value in node for found in _imports(value)]
    return []


def empty_secret(value_from: str) -> str:
    """What the deployed secret holds until an operator fills it: `{}`, passed whole."""
    assert value_from == SECRET_ARN, value_from
    return "{}"


def spec_for(definition: dict[str, Any], images: dict[str, Built], port: int) -> TaskSpec:
    """How the tests run a task: the images built here (by id: the engine may be shared) as
    the task pulls them, the local issuer instead of Cognito, the app on 127.0.0.1:`port`."""
    return TaskSpec(
        definition=definition,
        images={"app": images["app"].image_id, "redis": images["redis"].image_id},
        secret_value=empty_secret,
        environment_overrides={"app": LOCAL_AUTH_ENV},
        host_ports={8000: port},
        cluster="fyntrix-dev",
    )


def with_container(definition: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    """A copy of `definition` with container `name`'s settings changed (None removes one)."""
    out = copy.deepcopy(definition)
    for cdef in out["containerDefinitions"]:
        if cdef["name"] == name:
            cdef.update(changes)
            for key in [k for k, v in changes.items() if v is None]:
                del cdef[key]
    return out
