"""Every container states its awslogs delivery mode: the account's default must not decide.

Left unset, ECS takes the account setting `defaultLogDriverMode`, so the same template would
block the app's stdout in one account and drop lines in another. The design is non-blocking
with a buffer (infra/task_design.py says why); the generated ecs-task-definition.json says the
same (tests/targets/test_ecs_parity.py compares it with the template field by field).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.task_design import LOG_DRIVER_MODE, log_max_buffer_size
from tests.infra.conftest import ROOT, Synth


def containers(s: Synth) -> list[dict[str, Any]]:
    (task,) = s.service_template.find_resources("AWS::ECS::TaskDefinition").values()
    found: list[dict[str, Any]] = task["Properties"]["ContainerDefinitions"]
    return found


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_container_logs_non_blocking_with_a_buffer(
    stage: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    found = containers(s)
    assert sorted(c["Name"] for c in found) == ["app", "redis"]
    for container in found:
        logging = container["LogConfiguration"]
        assert logging["LogDriver"] == "awslogs", container["Name"]
        options = logging["Options"]
        assert options["mode"] == LOG_DRIVER_MODE == "non-blocking", container["Name"]
        assert options["max-buffer-size"] == log_max_buffer_size() == "26214400b"


def test_the_generated_task_definition_says_the_same() -> None:
    doc = json.loads((ROOT / "ecs-task-definition.json").read_text())
    for container in doc["containerDefinitions"]:
        options = container["logConfiguration"]["options"]
        assert options["mode"] == LOG_DRIVER_MODE, container["name"]
        assert options["max-buffer-size"] == log_max_buffer_size(), container["name"]
