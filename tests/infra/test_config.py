"""The stage config rejects bad input at synth, naming the setting and the fix."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import (
    REGISTRY_STACK_NAME,
    STAGES,
    AppSettings,
    ConfigError,
    HealthCheck,
    RedisSettings,
    ScalingSettings,
    StageConfig,
    load_stage,
    service_stack_name,
    stage_names,
)
from infra.config.spec import Rule

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_deployment_guide() -> None:
    cfg = load_stage("dev")
    assert (cfg.redis.memory_mib, cfg.app.memory_mib, cfg.task_memory_mib) == (256, 768, 1024)
    assert (cfg.redis.port, cfg.app.port) == (6379, 8000)
    assert cfg.redis.maxmemory_policy == "allkeys-lru"
    assert dict(cfg.redis.directives())["save"] == '""'
    assert dict(cfg.redis.directives())["appendonly"] == "no"
    assert cfg.redis.effective_maxmemory_mib == 192
    prod = load_stage("prod", image_tag="abc123")
    assert prod.repository_name == cfg.repository_name == "fyntrix-app"


@pytest.mark.parametrize("stage", STAGES)
def test_one_naming_rule_for_every_stage(stage: str) -> None:
    # fyntrix-<stage>-<role> (paths: fyntrix/<stage>/<role>), prod included: no stage drops
    # its name from what it deploys (docs/reference/names.md lists the exceptions).
    cfg = load_stage(stage, image_tag="abc123")
    assert cfg.task_family == f"fyntrix-{stage}-app"
    assert cfg.web_acl_name == f"fyntrix-{stage}-web-acl"
    assert cfg.user_pool_name == f"fyntrix-{stage}-users"
    assert cfg.dashboard_name == f"fyntrix-{stage}-dashboard"
    assert cfg.alarm_name_prefix == f"fyntrix-{stage}"
    assert cfg.metrics_service_name == f"fyntrix-{stage}-service"
    assert cfg.secret_name_prefix == f"fyntrix/{stage}/app"
    assert cfg.log_group_prefix == f"/fyntrix/{stage}"
    assert cfg.waf_log_group_prefix == f"aws-waf-logs-fyntrix-{stage}"
    assert cfg.state_stack_name == f"Fyntrix-State-{stage}"
    named = [n.name for n in stage_names(stage, repository=cfg.repository_name)]
    shared = {"Fyntrix-Registry", "Fyntrix-CI", cfg.repository_name, "(generated)"}
    assert all(stage in name for name in named if name not in shared), named


def test_config_is_frozen_and_keyword_only() -> None:
    cfg = load_stage("dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.stage = "prod"  # type: ignore[misc]
    with pytest.raises(TypeError):
        StageConfig("dev")  # type: ignore[call-arg]


def test_overrides_are_typed() -> None:
    cfg = load_stage(
        "dev",
        overrides={
            "redis.memory_mib": "512",
            "task_memory_mib": "2048",
            "scaling.max_capacity": "3",
            "allowed_ingress_cidrs": "10.0.0.0/8, 192.168.0.0/16",
            "enable_exec": "false",
        },
    )
    assert cfg.redis.memory_mib == 512
    assert cfg.redis.effective_maxmemory_mib == 384
    assert cfg.scaling.max_capacity == 3
    assert cfg.allowed_ingress_cidrs == ("10.0.0.0/8", "192.168.0.0/16")
    assert cfg.enable_exec is False


BAD_INPUT = [
    pytest.param(
        "dev",
        None,
        {"redis.maxmemory_mib": "205"},
        "redis.maxmemory_mib",
        "80 %",
        id="maxmemory-at-80-percent",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.maxmemory_mib": "256"},
        "redis.maxmemory_mib",
        "OOM",
        id="maxmemory-equals-limit",
    ),
    pytest.param(
        "dev",
        None,
        {"app.memory_mib": "900"},
        "app.memory_mib",
        "does not fit",
        id="containers-exceed-task",
    ),
    pytest.param(
        "dev",
        None,
        {"task_memory_mib": "1536"},
        "task_memory_mib",
        "not offered by Fargate",
        id="invalid-fargate-pair",
    ),
    pytest.param(
        "dev",
        None,
        {"task_cpu": "300"},
        "task_cpu",
        "not a Fargate task size",
        id="invalid-fargate-cpu",
    ),
    pytest.param(
        "dev",
        None,
        {"app.port": "6379"},
        "app.port",
        "both listen on 6379",
        id="same-port",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.health_check.interval_s": "400"},
        "redis.health_check.interval_s",
        "5-300",
        id="interval-out-of-range",
    ),
    pytest.param(
        "dev",
        None,
        {"app.health_check.timeout_s": "1"},
        "app.health_check.timeout_s",
        "2-120",
        id="timeout-too-short",
    ),
    pytest.param(
        "dev",
        None,
        {"app.health_check.timeout_s": "20"},
        "app.health_check.timeout_s",
        "not shorter than interval",
        id="timeout-over-interval",
    ),
    pytest.param(
        "dev",
        None,
        {"scaling.min_capacity": "3", "scaling.max_capacity": "2"},
        "scaling.min_capacity",
        "greater than max_capacity",
        id="min-over-max",
    ),
    pytest.param("qa", None, {}, "stage", "unknown stage", id="unknown-stage"),
    pytest.param("prod", None, {}, "app.image_tag", "`latest` is not allowed", id="prod-latest"),
    pytest.param(
        "prod",
        "latest",
        {},
        "app.image_tag",
        "immutable",
        id="prod-explicit-latest",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.maxmemory_policy": "noeviction"},
        "redis.maxmemory_policy",
        "does not evict",
        id="noeviction",
    ),
    pytest.param(
        "dev",
        None,
        {"allowed_ingress_cidrs": "10.0.0.1/8"},
        "allowed_ingress_cidrs",
        "not a CIDR",
        id="host-bits-set",
    ),
    pytest.param(
        "dev",
        None,
        {"log_retention_days": "10"},
        "log_retention_days",
        "retention period",
        id="retention",
    ),
    pytest.param(
        "dev",
        None,
        {"certificate_arn": "arn:aws:iam::1:cert"},
        "certificate_arn",
        "not an ACM certificate ARN",
        id="cert",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.memory_mbs": "1"},
        "redis.memory_mbs",
        "no such setting",
        id="typo",
    ),
    pytest.param(
        "dev",
        None,
        {"scaling.max_capacity": "many"},
        "scaling.max_capacity",
        "not a valid int",
        id="not-an-int",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.start_timeout_s": "10"},
        "redis.start_timeout_s",
        "shorter than the health check",
        id="start-timeout-vs-health",
    ),
    pytest.param(
        "dev",
        None,
        {"nat_gateways": "0"},
        "nat_gateways",
        "private subnets",
        id="no-nat",
    ),
    pytest.param(
        "dev",
        None,
        {"redis.restart_attempt_period_s": "30"},
        "redis.restart_attempt_period_s",
        "restartAttemptPeriod (60-1800 s)",
        id="restart-period-below-ecs-minimum",
    ),
    # Tags the deploy derives from the release tag: a release named like one would be kept as
    # if a stage ran it, or collide with another release's Redis image.
    pytest.param("prod", "prod-1.4", {}, "app.image_tag", "deploy derives", id="stage-prefix"),
    pytest.param("dev", "redis-9", {}, "app.image_tag", "deploy derives", id="redis-prefix"),
    pytest.param("dev", "a" * 118, {}, "app.image_tag", "Docker's 128", id="tag-too-long"),
]


@pytest.mark.parametrize(("stage", "tag", "overrides", "setting", "phrase"), BAD_INPUT)
def test_bad_input_names_the_setting_and_the_fix(
    stage: str, tag: str | None, overrides: dict[str, str], setting: str, phrase: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_stage(stage, image_tag=tag, overrides=overrides)
    assert err.value.setting == setting
    message = str(err.value)
    assert f"`{setting}`" in message
    assert phrase in message
    assert "Fix: " in message and len(err.value.fix) > 10


def test_maxmemory_just_below_the_ceiling_is_accepted() -> None:
    # 80 % of 256 MiB is 204.8 MiB.
    cfg = load_stage("dev", overrides={"redis.maxmemory_mib": "204"})
    assert cfg.redis.maxmemory_bytes == 204 * 1024 * 1024


def test_stack_names_live_in_the_config() -> None:
    # The deployed stacks' names: renaming one would create a second stack, not rename it.
    assert REGISTRY_STACK_NAME == "Fyntrix-Registry"
    assert (
        load_stage("dev").service_stack_name == service_stack_name("dev") == "Fyntrix-Service-dev"
    )
    assert load_stage("prod", image_tag="v1").service_stack_name == "Fyntrix-Service-prod"


@pytest.mark.parametrize(
    ("args", "out", "status"),
    [
        (["registry"], "Fyntrix-Registry\n", 0),
        (["service", "prod"], "Fyntrix-Service-prod\n", 0),
        (["state", "dev"], "Fyntrix-State-dev\n", 0),
        (["service", "qa"], "", 2),
    ],
)
def test_stack_names_cli_for_the_makefile(args: list[str], out: str, status: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.config", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.stdout, result.returncode) == (out, status)
    if status:
        assert "usage: python -m infra.config registry | state {dev|prod} | " in result.stderr


def test_only_prod_retains_on_delete_by_default() -> None:
    assert load_stage("dev").retain_on_delete is False
    assert load_stage("prod", image_tag="v1").retain_on_delete is True


def test_every_setting_declares_its_description_and_rules_beside_it() -> None:
    for cls in (StageConfig, AppSettings, RedisSettings, ScalingSettings, HealthCheck):
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("description", "")) >= 10, f"{cls.__name__}.{f.name}"
            assert all(isinstance(r, Rule) for r in f.metadata.get("rules", ()))
