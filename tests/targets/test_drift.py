"""The committed files are exactly what the generator writes; a config change moves every
target together; a config no target can run fails in the generator, naming the setting,
before anything is written."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators import (
    TARGET_FILES,
    TargetConfigs,
    TargetValidationError,
    check,
    default_configs,
    render_all,
    write_all,
)
from generators.docs import TARGETS_PAGE, render_pages
from generators.generate import stale_diffs
from generators.validate import load_render_schema, validate_compose
from infra.config import ConfigError, load_stage
from tests.targets.conftest import ROOT, committed, load_yaml

MEMORY_OVERRIDES = {"redis.memory_mib": "512", "task_memory_mib": "2048"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generators", *args],
        cwd=ROOT,
        env=os.environ.copy(),  # conftest put the venv's Node first on PATH
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _redis_conf_settings(text: str) -> dict[str, str]:
    pairs = (line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return dict(pairs)


def _arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_render_schema_is_cached_inside_the_repository() -> None:
    # `make setup` put it there, checked against the pin (generators/render_schema.py).
    schema = load_render_schema()
    assert {"serverService", "redisServer"} <= set(schema["definitions"])


def test_committed_files_are_byte_identical_to_a_fresh_generation(tmp_path: Path) -> None:
    # GIVEN an empty directory
    # WHEN the generator writes there
    changed = write_all(tmp_path)
    # THEN every target appears, byte for byte equal to the committed one, and nothing else
    assert changed == list(TARGET_FILES)
    for rel in TARGET_FILES:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == (
        sorted(TARGET_FILES)
    )
    # AND a second run changes nothing, leaving no temporary files behind
    assert write_all(tmp_path) == []
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_render_all_is_deterministic_and_matches_the_repository() -> None:
    first, second = render_all(), render_all()
    assert first == second
    assert first == {rel: committed(rel) for rel in TARGET_FILES}
    assert check(ROOT) == []


def test_reference_docs_are_current_and_describe_every_target() -> None:
    pages = render_pages()
    assert stale_diffs(ROOT, pages) == [], "docs/reference is stale: run `make docs`"
    targets = pages[TARGETS_PAGE]
    assert "## docker-compose" in targets
    assert "## Render" in targets
    assert "## AWS CLI" in targets
    assert "| docker-compose | `redis` |" in targets
    assert "| ECS Fargate (CDK or CLI) | `localhost` |" in targets
    for rel in TARGET_FILES:
        assert f"`{rel}`" in targets, rel


def test_check_cli_passes_on_the_repository() -> None:
    result = _cli("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_cli_fails_with_a_diff_on_stale_files(tmp_path: Path) -> None:
    # GIVEN a copy of the committed files with one edited by hand and one missing
    for rel in TARGET_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    render = tmp_path / "render.yaml"
    render.write_text(render.read_text().replace("plan: starter", "plan: free"))
    (tmp_path / "service" / "redis.conf").unlink()
    # WHEN --check runs on it
    result = _cli("--check", "--root", str(tmp_path))
    # THEN it fails, shows what `make targets` would change, and wrote nothing
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--- a/render.yaml" in result.stdout
    assert "-            plan: free\n+            plan: starter" in result.stdout
    assert "+++ b/service/redis.conf" in result.stdout
    assert "2 generated file(s) are stale" in result.stderr
    assert not (tmp_path / "service" / "redis.conf").exists()


def test_a_config_change_moves_every_target_together() -> None:
    # GIVEN more memory for Redis (and a task that fits it)
    configs = default_configs(overrides=MEMORY_OVERRIDES)
    maxmemory = f"{configs.compose.redis.effective_maxmemory_mib}mb"
    expected_bytes = str(configs.compose.redis.maxmemory_bytes)
    assert maxmemory == "384mb"
    # WHEN the targets are generated from it
    files = render_all(configs)
    # THEN compose runs Redis with the new limits
    compose_doc = yaml.safe_load(files["docker-compose.yml"])
    redis = compose_doc["services"]["redis"]
    assert _arg_after(redis["command"], "--maxmemory") == maxmemory
    assert redis["mem_limit"] == "512m"
    app_env = compose_doc["services"]["app"]["environment"]
    assert app_env["REDIS_EXPECTED_MAXMEMORY_BYTES"] == expected_bytes
    # AND Render builds the same Redis (redis.conf via Dockerfile.redis) on a plan that holds it
    conf = _redis_conf_settings(files["service/redis.conf"])
    assert conf["maxmemory"] == maxmemory
    blueprint = yaml.safe_load(files["render.yaml"])
    for environment in blueprint["projects"][0]["environments"]:
        redis_svc, web = environment["services"]
        assert redis_svc["dockerfilePath"] == "./service/Dockerfile.redis"
        assert redis_svc["plan"] == "starter"
        web_env = {v["key"]: v.get("value") for v in web["envVars"]}
        assert web_env["REDIS_EXPECTED_MAXMEMORY_BYTES"] == expected_bytes
    # AND the ECS task definition follows
    task = json.loads(files["ecs-task-definition.json"])
    app, ecs_redis = task["containerDefinitions"]
    assert task["memory"] == "2048"
    assert ecs_redis["memory"] == 512
    assert _arg_after(ecs_redis["command"], "--maxmemory") == maxmemory
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["REDIS_EXPECTED_MAXMEMORY_BYTES"] == expected_bytes
    # AND exactly the files that carry Redis memory changed
    changed = {rel for rel in TARGET_FILES if files[rel] != committed(rel)}
    assert changed == {
        "docker-compose.yml",
        "render.yaml",
        "service/redis.conf",
        "ecs-task-definition.json",
    }


def _bad(config_change: dict[str, str]) -> TargetConfigs:
    return TargetConfigs.of(load_stage("dev", overrides=config_change))


@pytest.mark.parametrize(
    ("overrides", "setting", "words"),
    [
        (
            {"app.secret_keys": "DATABASE_URL,REDIS_PORT"},
            "app.secret_keys",
            "REDIS_PORT is also plain environment",
        ),
        (
            {"app.secret_keys": "DATABASE_URL,POSTGRES_PASSWORD"},
            "app.secret_keys",
            "POSTGRES_PASSWORD is a variable docker-compose.yml or Compose itself uses",
        ),
        (
            {
                "task_cpu": "8192",
                "task_memory_mib": "49152",
                "redis.memory_mib": "40000",
            },
            "redis.memory_mib",
            "more than Render's largest instance type",
        ),
        ({"app.port": "18012"}, "app.port", "reserved by Render"),
    ],
)
def test_a_config_no_target_can_run_fails_naming_the_setting_and_writes_nothing(
    tmp_path: Path, overrides: dict[str, str], setting: str, words: str
) -> None:
    # GIVEN a directory holding the current files
    for rel in TARGET_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    before = {rel: (tmp_path / rel).read_bytes() for rel in TARGET_FILES}
    # WHEN the generator gets a config the config module accepts but a target cannot run
    with pytest.raises(ConfigError) as caught:
        write_all(tmp_path, _bad(overrides))
    # THEN the error names the setting, and no file changed
    assert caught.value.setting == setting
    assert words in str(caught.value)
    assert {rel: (tmp_path / rel).read_bytes() for rel in TARGET_FILES} == before


def test_a_cache_namespace_that_is_no_variable_name_is_named(tmp_path: Path) -> None:
    dev = load_stage("dev")
    config = dataclasses.replace(
        dev, app=dataclasses.replace(dev.app, cache_ttl_s={"top picks": 60})
    )
    with pytest.raises(ConfigError) as caught:
        write_all(tmp_path, TargetConfigs.of(config))
    assert caught.value.setting == "app.cache_ttl_s"
    assert list(tmp_path.iterdir()) == []


def test_generated_headers_say_how_to_regenerate() -> None:
    for rel in ("render.yaml", "docker-compose.yml", ".env.example", "service/redis.conf"):
        head = committed(rel).splitlines()[0]
        assert head.startswith("# GENERATED by `make targets` (python -m generators)"), rel
    stages: dict[str, Any] = {
        "render.yaml": "dev+prod",
        "docker-compose.yml": "dev",
        "service/redis.conf": "dev",
    }
    for rel, stage in stages.items():
        assert committed(rel).splitlines()[1].endswith(f"of stage {stage}."), rel


def test_validation_failure_is_a_config_error_listing_every_problem() -> None:
    # The safety net behind the named checks: what a validator rejects stops the generator.
    doc = load_yaml("docker-compose.yml")
    doc["services"]["redis"]["ports"] = ["6379:6379"]
    doc["services"]["app"]["depends_on"]["cache"] = {"condition": "service_started"}
    errors = validate_compose(doc)
    assert len(errors) == 2
    exc = TargetValidationError("dev", errors)
    assert isinstance(exc, ConfigError)
    assert all(e in str(exc) for e in errors)
