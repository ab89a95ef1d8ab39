"""Property tests over the stage config: every config the validator accepts synthesizes with zero
cdk-nag findings in both packs; every config it rejects fails with a message naming a setting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.app_factory import build_app
from infra.config import (
    EVICTION_POLICIES,
    FARGATE_TASK_SIZES,
    ConfigError,
    load_stage,
    setting_paths,
)
from tests.infra.conftest import cdk_context

KNOWN_SETTINGS = {s.path for s in setting_paths()}
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
TLS = {"certificate_arn": CERT, "domain_name": "api.fyntrix.example"}

pytestmark = [pytest.mark.synth, pytest.mark.slow]


def nag_violations(stage: str, tag: str | None, overrides: dict[str, str]) -> list[str]:
    app, _, _, packs = build_app(
        load_stage(stage, image_tag=tag, overrides=overrides), context=cdk_context()
    )
    found = []
    for pack in packs:
        report = pack.validate_scope(app)
        found += [v.rule_name for v in report.violations]
    return found


# Values straddling every boundary the validator knows about.
ANY_OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "redis.memory_mib": st.integers(16, 2048).map(str),
        "redis.maxmemory_mib": st.one_of(st.just("none"), st.integers(0, 1024).map(str)),
        "redis.maxmemory_policy": st.sampled_from([*EVICTION_POLICIES, "noeviction", "lru"]),
        "app.memory_mib": st.integers(64, 4096).map(str),
        "task_cpu": st.sampled_from([*map(str, FARGATE_TASK_SIZES), "300"]),
        "task_memory_mib": st.sampled_from(["512", "1024", "1536", "2048", "4096", "8192"]),
        "app.port": st.sampled_from(["6379", "8000", "8080", "0", "70000"]),
        "redis.health_check.interval_s": st.integers(1, 400).map(str),
        "redis.health_check.timeout_s": st.integers(1, 130).map(str),
        "app.health_check.start_period_s": st.integers(-5, 320).map(str),
        "scaling.min_capacity": st.integers(0, 8).map(str),
        "scaling.max_capacity": st.integers(0, 8).map(str),
        "scaling.desired_count": st.integers(0, 8).map(str),
        "allowed_ingress_cidrs": st.sampled_from(
            ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.1/8", "203.0.113.0/24,198.51.100.0/24", "x"]
        ),
        "certificate_arn": st.sampled_from(["none", CERT, "arn:aws:acm:bad"]),
        "domain_name": st.sampled_from(["none", "api.fyntrix.example", "API.example", "x"]),
        "hosted_zone_id": st.sampled_from(["none", "Z0123456789ABCDEFGHIJ", "/hostedzone/Z1"]),
        "capacity.spot": st.sampled_from(["true", "false"]),
        "capacity.on_demand_base": st.sampled_from(["0", "1", "7"]),
        "auth.feature_plan": st.sampled_from(["essentials", "plus", "lite"]),
        "auth.password_auth": st.sampled_from(["true", "false"]),
        "s3_gateway_endpoint": st.sampled_from(["true", "false"]),
        "deletion_protection": st.sampled_from(["true", "false", "maybe"]),
        "log_retention_days": st.sampled_from(["14", "30", "10"]),
        "waf.enabled": st.sampled_from(["true", "false"]),
        "waf.rate_limit": st.sampled_from(["5", "100", "2000"]),
        "waf.rate_window_s": st.sampled_from(["60", "300", "90"]),
        "ops_access_security_group_id": st.sampled_from(["none", "sg-0abc1234def567890", "x"]),
        "auth.user_pool_id": st.sampled_from(["none", "us-east-1_AbCdEf123", "pool"]),
        "auth.client_ids": st.sampled_from(["", "4tl7d0vq2q9example0000", "a b"]),
    },
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage=st.sampled_from(["dev", "prod", "qa"]),
    tag=st.sampled_from([None, "latest", "v1.2.3", "bad tag"]),
    overrides=ANY_OVERRIDES,
)
def test_any_config_is_rejected_by_name_or_synthesizes_clean(
    stage: str, tag: str | None, overrides: dict[str, str]
) -> None:
    rejected: ConfigError | None = None
    violations: list[str] = []
    try:
        # A deploy may refuse what the config accepts (prod without a certificate).
        violations = nag_violations(stage, tag, overrides)
    except ConfigError as err:
        rejected = err
    if rejected is not None:
        # THEN the message names a real setting and says how to fix it
        assert rejected.setting in KNOWN_SETTINGS, rejected.setting
        assert f"`{rejected.setting}`" in str(rejected)
        assert "Fix: " in str(rejected)
    else:
        # THEN an accepted config passes both nag packs
        assert violations == []


@st.composite
def valid_overrides(draw: Any) -> dict[str, str]:
    """Configs valid by construction, so the synth path is exercised on every example."""
    cpu = draw(st.sampled_from([256, 512, 1024, 2048]))
    task_mem = draw(st.sampled_from(FARGATE_TASK_SIZES[cpu]))
    redis_mem = draw(st.integers(64, max(64, task_mem // 2)))
    app_mem = draw(st.integers(128, task_mem - redis_mem)) if task_mem - redis_mem >= 128 else 0
    if app_mem == 0:
        redis_mem, app_mem = 64, task_mem - 64
    maxmemory = draw(st.integers(1, int(redis_mem * 0.8) - 1))
    lo = draw(st.integers(1, 4))
    hi = draw(st.integers(lo, 8))
    interval = draw(st.integers(5, 30))
    timeout = draw(st.integers(2, interval - 1))
    return {
        "task_cpu": str(cpu),
        "task_memory_mib": str(task_mem),
        "redis.memory_mib": str(redis_mem),
        "redis.maxmemory_mib": str(maxmemory),
        "app.memory_mib": str(app_mem),
        "redis.maxmemory_policy": draw(st.sampled_from(EVICTION_POLICIES)),
        "redis.health_check.interval_s": str(interval),
        "redis.health_check.timeout_s": str(timeout),
        "redis.health_check.retries": str(draw(st.integers(1, 3))),
        "redis.start_timeout_s": "120",
        "scaling.min_capacity": str(lo),
        "scaling.max_capacity": str(hi),
        "scaling.desired_count": str(draw(st.integers(lo, hi))),
        **draw(st.sampled_from([{}, TLS])),
        "s3_gateway_endpoint": draw(st.sampled_from(["true", "false"])),
        "auth.feature_plan": draw(st.sampled_from(["essentials", "plus"])),
        "waf.enabled": draw(st.sampled_from(["true", "false"])),
        "waf.rate_limit": str(draw(st.integers(10, 100_000))),
        "ops_access_security_group_id": draw(st.sampled_from(["none", "sg-0abc1234def567890"])),
        **draw(
            st.sampled_from(
                [{}, {"auth.user_pool_id": "eu-west-1_AbC123", "auth.client_ids": "abc,def"}]
            )
        ),
        "deletion_protection": draw(st.sampled_from(["true", "false"])),
        "allowed_ingress_cidrs": draw(st.sampled_from(["none", "203.0.113.0/24"])),
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stage=st.sampled_from(["dev", "prod"]), overrides=valid_overrides())
def test_valid_configs_are_accepted_and_pass_both_packs(
    stage: str, overrides: dict[str, str]
) -> None:
    tag = "v1.0.0" if stage == "prod" else None
    if stage == "prod":  # prod always runs HTTPS and WAF
        overrides = {**overrides, **TLS, "waf.enabled": "true", "auth.feature_plan": "plus"}
    config = load_stage(stage, image_tag=tag, overrides=overrides)
    assert config.redis.maxmemory_bytes < config.redis.memory_mib * 1024 * 1024 * 0.8
    assert nag_violations(stage, tag, overrides) == []
