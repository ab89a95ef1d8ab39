"""ecs-task-definition.json: botocore's RegisterTaskDefinition model, the rules it misses, and
placeholders an operator can find and replace."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from generators import default_configs
from generators.ecs import PLACEHOLDERS
from generators.validate import validate_task_definition
from tests.targets.conftest import committed, mutated

PROD = default_configs().ecs


def test_committed_task_definition_is_valid(task_def: Any) -> None:
    assert validate_task_definition(task_def) == []


def test_uses_prod_names_and_placeholders(task_def: Any) -> None:
    assert task_def["family"] == "fyntrix-prod-app"
    app, redis = task_def["containerDefinitions"]
    assert (app["name"], redis["name"]) == ("app", "redis")
    assert app["image"] == (
        "YOUR_ACCOUNT_ID.dkr.ecr.us-east-1.amazonaws.com/fyntrix-app:YOUR_IMAGE_TAG"
    )
    # The whole app secret as one variable (service/secrets_json.py), never one per key.
    assert app["secrets"] == [{"name": "APP_SECRETS", "valueFrom": "YOUR_APP_SECRET_ARN"}]
    assert re.fullmatch(r"arn:aws:iam::YOUR_ACCOUNT_ID:role/YOUR_\w+", task_def["taskRoleArn"])
    # No comment key: register-task-definition --cli-input-json rejects unknown keys.
    assert not [k for k in task_def if "comment" in k.lower()]


def test_every_placeholder_is_findable_by_one_grep() -> None:
    text = committed("ecs-task-definition.json")
    found = set(re.findall(r"YOUR_[A-Z_]+|XXXXXX", text))
    assert found == set(PLACEHOLDERS)


def _container(index: int, key: str, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        doc["containerDefinitions"][index][key] = value

    return change


def _top(key: str, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        doc[key] = value

    return change


def _health(index: int, key: str, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        doc["containerDefinitions"][index]["healthCheck"][key] = value

    return change


def _rename_redis(doc: Any) -> None:
    doc["containerDefinitions"][1]["name"] = "app"


def _redis_without_health(doc: Any) -> None:
    del doc["containerDefinitions"][1]["healthCheck"]


def _depends_on_missing(doc: Any) -> None:
    doc["containerDefinitions"][0]["dependsOn"][0]["containerName"] = "cache"


def _host_port(doc: Any) -> None:
    doc["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 80


def _unknown_volume(doc: Any) -> None:
    doc["containerDefinitions"][1]["mountPoints"][0]["sourceVolume"] = "scratch"


def _no_stream_prefix(doc: Any) -> None:
    del doc["containerDefinitions"][1]["logConfiguration"]["options"]["awslogs-stream-prefix"]


def _secret_also_plain(doc: Any) -> None:
    doc["containerDefinitions"][0]["environment"].append({"name": "APP_SECRETS", "value": "{}"})


def _same_port_twice(doc: Any) -> None:
    doc["containerDefinitions"][1]["portMappings"][0]["containerPort"] = 8000


def _nothing_essential(doc: Any) -> None:
    for c in doc["containerDefinitions"]:
        c["essential"] = False


def _no_name(doc: Any) -> None:
    del doc["containerDefinitions"][0]["name"]


def _no_family(doc: Any) -> None:
    del doc["family"]


BROKEN: dict[str, tuple[Callable[[Any], None], str]] = {
    "model: unknown key": (_top("comment", "generated"), 'Unknown parameter in input: "comment"'),
    "model: wrong type": (_container(0, "memory", "768"), "Invalid type for parameter"),
    "model: missing required key": (_no_family, 'Missing required parameter in input: "family"'),
    "container without a name": (_no_name, "containerDefinitions[0] (None): needs name"),
    "enum: network mode": (_top("networkMode", "vpc"), "networkMode: 'vpc' is not one of"),
    "enum: dependsOn condition": (
        lambda d: d["containerDefinitions"][0]["dependsOn"][0].update(condition="READY"),
        "'READY' is not one of START, COMPLETE, SUCCESS, HEALTHY",
    ),
    "duplicate container names": (_rename_redis, "container name 'app' is used twice"),
    "dependsOn a missing container": (_depends_on_missing, "no container named 'cache'"),
    "HEALTHY without a health check": (
        _redis_without_health,
        "condition HEALTHY, but 'redis' has no healthCheck",
    ),
    "invalid Fargate cpu/memory pair": (
        _top("memory", "8192"),
        "8192 MiB is not a Fargate size for 512 CPU units",
    ),
    "unknown Fargate cpu": (_top("cpu", "384"), "384 CPU units is not a Fargate task size"),
    "containers exceed the task": (_container(0, "memory", 900), "exceeds the task's"),
    "hostPort differs under awsvpc": (_host_port, "hostPort 80 must equal containerPort 8000"),
    "same port in one namespace": (_same_port_twice, "port 8000 is already mapped by 'app'"),
    "health interval too short": (_health(1, "interval", 4), "interval: 4 is outside 5-300"),
    "health retries too many": (_health(0, "retries", 11), "retries: 11 is outside 1-10"),
    "health timeout not below interval": (
        _health(1, "timeout", 5),
        "timeout: must be shorter than the interval",
    ),
    "health command without CMD": (
        _health(1, "command", ["redis-cli", "ping"]),
        "must be [CMD|CMD-SHELL, ...]",
    ),
    "mount of an unknown volume": (_unknown_volume, "sourceVolume 'scratch' is not a task volume"),
    "awslogs without stream prefix on Fargate": (
        _no_stream_prefix,
        "awslogs needs option awslogs-stream-prefix",
    ),
    "stopTimeout beyond Fargate's cap": (
        _container(0, "stopTimeout", 121),
        "stopTimeout: 121 s exceeds Fargate's 120 s",
    ),
    "secret also plain environment": (_secret_also_plain, "'APP_SECRETS' is set more than once"),
    "no essential container": (_nothing_essential, "at least one container must be essential"),
    "Fargate without awsvpc": (_top("networkMode", "bridge"), "Fargate tasks need networkMode"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validator_catches_a_broken_copy(case: str, task_def: Any) -> None:
    change, message = BROKEN[case]
    errors = validate_task_definition(mutated(task_def, change))
    assert any(message in e for e in errors), errors
