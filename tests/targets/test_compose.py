"""docker-compose.yml and .env.example: the Compose Specification (in process and through the
real check-jsonschema CLI), what Compose's loader checks beyond it, and parity with ECS."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators import default_configs
from generators.compose import merged
from generators.validate import compose_variables, validate_compose, validate_env_example
from infra.task_design import app_health_command, redis_health_command
from tests.targets.conftest import ROOT, committed, mutated
from tools.gates import tool

DEV = default_configs().compose
CHECK_JSONSCHEMA = ROOT / ".venv" / "bin" / "check-jsonschema"


def redis_args_settings(args: list[str]) -> dict[str, str]:
    """`redis-server --key value...` -> {key: value} (multi-word values joined by a space,
    an empty argument as the config file's `""`)."""
    assert args[0] == "redis-server"
    settings: dict[str, list[str]] = {}
    key = ""
    for arg in args[1:]:
        if arg.startswith("--"):
            key = arg[2:]
            settings[key] = []
        else:
            settings[key].append(arg or '""')
    return {k: " ".join(v) for k, v in settings.items()}


def with_postgres(compose_doc: Any) -> Any:
    return merged(compose_doc, yaml.safe_load(committed("docker-compose.postgres.yml")))


def test_committed_compose_file_is_valid(compose_doc: Any) -> None:
    assert validate_compose(compose_doc) == []
    assert validate_compose(with_postgres(compose_doc)) == []


def test_no_compose_v2_only_keys(compose_doc: Any) -> None:
    """docker-compose 1.29 (Debian 12, the deployment guide's) rejects a top-level `name:` and
    `depends_on.<service>.required`; tests/containers/test_compose_run.py runs it for real."""
    for doc in (compose_doc, yaml.safe_load(committed("docker-compose.postgres.yml"))):
        assert "name" not in doc
        for service in doc["services"].values():
            for spec in (service.get("depends_on") or {}).values():
                assert "required" not in spec


def test_check_jsonschema_cli_accepts_it_and_rejects_a_broken_copy(tmp_path: Path) -> None:
    ok = subprocess.run(
        [*tool(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(committed("docker-compose.yml").replace("read_only:", "readonly:", 1))
    bad = subprocess.run(
        [*tool(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "readonly" in bad.stdout


def test_redis_runs_the_sidecar_settings_and_health_check(compose_doc: Any) -> None:
    redis = compose_doc["services"]["redis"]
    # The image every target runs: service/Dockerfile.redis, its base a variable for a mirror.
    assert redis["build"] == {
        "context": "./service",
        "dockerfile": "Dockerfile.redis",
        "args": {"REDIS_IMAGE": "${REDIS_IMAGE:-redis:7-alpine}"},
    }
    assert redis["image"] == "fyntrix-redis:local"  # what `make images` tags
    dockerfile = (ROOT / "service" / "Dockerfile.redis").read_text()
    assert "ARG REDIS_IMAGE=redis:7-alpine\n" in dockerfile
    # The sidecar's settings, plus protected mode said explicitly and a required password
    # from .env (Redis is on a network)
    settings = redis_args_settings(redis["command"])
    password = settings.pop("requirepass")
    assert re.fullmatch(r"\$\{REDIS_PASSWORD:\?set REDIS_PASSWORD in \.env.*\}", password)
    assert settings == {**dict(DEV.redis.directives(bind="0.0.0.0")), "protected-mode": "no"}
    assert redis["environment"] == {"REDISCLI_AUTH": password}  # the health check's redis-cli
    assert compose_variables(compose_doc)["REDIS_PASSWORD"] is True
    assert redis["healthcheck"]["test"] == redis_health_command(DEV.redis.port)
    assert redis["healthcheck"]["test"][1].endswith("ping | grep -q PONG")
    assert redis["ports"] == [f"127.0.0.1:${{REDIS_HOST_PORT:-{DEV.redis.port}}}:{DEV.redis.port}"]
    assert redis["mem_limit"] == f"{DEV.redis.memory_mib}m"


def test_app_reaches_redis_by_service_name_with_the_ecs_environment(compose_doc: Any) -> None:
    app = compose_doc["services"]["app"]
    assert app["build"] == {
        "context": "./service",
        "dockerfile": "Dockerfile",
        "args": {"PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}"},
    }
    assert app["ports"] == [
        f"127.0.0.1:${{APP_HOST_PORT:-{DEV.app.port}}}:{DEV.app.port}",
        # As on Render: the ops endpoints on a port of their own (both on the host's loopback)
        f"127.0.0.1:${{OPS_HOST_PORT:-{DEV.app.ops_port}}}:{DEV.app.ops_port}",
    ]
    assert app["environment"]["OPS_PORT"] == str(DEV.app.ops_port)
    plain = {k: v for k, v in app["environment"].items() if k not in DEV.app.secret_keys}
    password = plain.pop("REDIS_PASSWORD")
    assert password == compose_doc["services"]["redis"]["environment"]["REDISCLI_AUTH"]
    # A laptop run: the service's local stage (the local dev issuer; never a deployed stage).
    assert plain == {
        **DEV.app_environment(redis_host="redis"),
        "APP_STAGE": "local",
        "OPS_PORT": str(DEV.app.ops_port),
    }
    assert app["healthcheck"]["test"] == app_health_command()
    assert app["user"] == DEV.app.user
    assert app["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert "postgres" not in compose_doc["services"]


def test_postgres_override_adds_it_checked_and_needing_a_password(compose_doc: Any) -> None:
    both = with_postgres(compose_doc)
    pg = both["services"]["postgres"]
    assert pg["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert pg["volumes"][0].split(":")[0] in both["volumes"]
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?.+\}", pg["environment"]["POSTGRES_PASSWORD"])
    assert compose_variables(both)["POSTGRES_PASSWORD"] is True
    assert both["services"]["app"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def _svc(name: str, key: str, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        doc["services"][name][key] = value

    return change


def _no_redis_healthcheck(doc: Any) -> None:
    del doc["services"]["redis"]["healthcheck"]


def _depends_on_missing(doc: Any) -> None:
    doc["services"]["app"]["depends_on"]["cache"] = {"condition": "service_started"}


def _profiled_dependency_required(doc: Any) -> None:
    doc["services"]["postgres"]["profiles"] = ["postgres"]


def _redis_command(
    *, drop: tuple[str, ...] = (), password: str | None = None
) -> Callable[[Any], None]:
    """Remove flags (with their value) from the redis command, or replace its password."""

    def change(doc: Any) -> None:
        command = doc["services"]["redis"]["command"]
        for flag in drop:
            i = command.index(flag)
            del command[i : i + 2]
        if password is not None:
            command[command.index("--requirepass") + 1] = password

    return change


BROKEN: dict[str, tuple[Callable[[Any], None], str]] = {
    "redis on the network without a password": (
        _redis_command(drop=("--requirepass",)),
        "listens beyond loopback (['0.0.0.0']) without --requirepass",
    ),
    "redis password with a default": (
        _redis_command(password="${REDIS_PASSWORD:-changeme}"),
        "without --requirepass ${VAR:?message}",
    ),
    "redis password written into the file": (
        _redis_command(password="hunter2"),
        "without --requirepass ${VAR:?message}",
    ),
    "redis protected-mode left to the image": (
        _redis_command(drop=("--protected-mode",)),
        "set --protected-mode yes|no explicitly",
    ),
    "health check test without CMD": (
        _svc("redis", "healthcheck", {"test": ["redis-cli", "ping"]}),
        "must start with CMD, CMD-SHELL or NONE",
    ),
    "health check CMD without a command": (
        _svc("redis", "healthcheck", {"test": ["CMD"]}),
        "CMD needs a command",
    ),
    "depends_on a missing service": (_depends_on_missing, "no service named 'cache'"),
    "profiled dependency still required": (
        _profiled_dependency_required,
        "postgres only runs with profile(s) postgres; mark the dependency `required: false`",
    ),
    "service_healthy on a service without health check": (
        _no_redis_healthcheck,
        "condition service_healthy, but redis has no health check",
    ),
    "port published on every interface": (
        _svc("redis", "ports", ["6379:6379"]),
        "is published beyond 127.0.0.1",
    ),
    "invalid interpolation": (
        _svc("app", "image", "fyntrix-app:$ {TAG}"),
        "invalid interpolation",
    ),
    "undeclared named volume": (
        _svc("postgres", "volumes", ["pgdata:/var/lib/postgresql/data"]),
        "named volume 'pgdata' is not declared",
    ),
    "schema: unknown service key": (_svc("app", "readonly", True), "'readonly' was unexpected"),
    "schema: wrong type": (_svc("redis", "read_only", ["yes"]), "is not of type 'boolean'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validator_catches_a_broken_copy(case: str, compose_doc: Any) -> None:
    change, message = BROKEN[case]
    errors = validate_compose(mutated(with_postgres(compose_doc), change))
    assert any(message in e for e in errors), errors


def test_env_example_lists_exactly_what_compose_reads(compose_doc: Any) -> None:
    text = committed(".env.example")
    assert validate_env_example(text, with_postgres(compose_doc)) == []
    assert text.startswith("# GENERATED by `make targets`")
    # Safe placeholders: the required password and every secret ship empty.
    values = dict(line.split("=", 1) for line in text.splitlines() if line[:1].isalpha())
    assert values["POSTGRES_PASSWORD"] == ""
    assert all(values[k] == "" for k in DEV.app.secret_keys)


def test_env_example_validator_catches_missing_extra_and_duplicate_keys(
    compose_doc: Any,
) -> None:
    compose_doc = with_postgres(compose_doc)
    text = committed(".env.example")
    missing = text.replace("\nMARKET_DATA_API_KEY=\n", "\n")
    assert validate_env_example(missing, compose_doc) == [
        ".env.example: MARKET_DATA_API_KEY is read by docker-compose.yml but not listed"
    ]
    extra = text + "UNUSED_SETTING=1\n"
    assert validate_env_example(extra, compose_doc) == [
        ".env.example: UNUSED_SETTING is not read by docker-compose.yml"
    ]
    twice = text + "REDIS_HOST_PORT=6380\n"
    assert validate_env_example(twice, compose_doc) == [
        ".env.example: REDIS_HOST_PORT is set more than once"
    ]
    garbage = text + "export FOO\n"
    assert any("not KEY=value" in e for e in validate_env_example(garbage, compose_doc))


def test_compose_header_says_generated() -> None:
    text = committed("docker-compose.yml")
    assert text.startswith("# GENERATED by `make targets` (python -m generators)")
    assert "docker-compose up -d" in text


def test_loopback_only_redis_needs_no_password(compose_doc: Any) -> None:
    # The ECS sidecar's shape: bound to loopback, no password needed.
    def loopback(doc: Any) -> None:
        command = doc["services"]["redis"]["command"]
        i = command.index("--requirepass")
        del command[i : i + 2]
        command[command.index("--bind") + 1] = "127.0.0.1"

    errors = validate_compose(mutated(compose_doc, loopback))
    assert not [e for e in errors if "redis" in e], errors
