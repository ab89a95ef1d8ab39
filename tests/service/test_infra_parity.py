"""Facts the service restates from the infra stay equal to their source.

The service image is built from service/ alone, so it cannot import infra/ or generators/; where
it needs an infra fact without the stage's environment (the doctor on a laptop, the policy list
its settings accept), it keeps a copy. Each test here fails when a copy drifts.
"""

from __future__ import annotations

import ipaddress
import typing

import pytest

from generators import ecs, render_blueprint
from infra.config import EVICTION_POLICIES, STAGES, RedisSettings, StageConfig, load_stage
from infra.config.settings import VPC_CIDR
from infra.task_design import REDIS_CONTAINER
from service import keys, metrics
from service.ops import doctor
from service.settings import MaxmemoryPolicy, Settings
from testkit.service import service_settings

CONFIGS = [load_stage(stage, image_tag="v1") for stage in STAGES]


def test_the_service_knows_every_policy_the_config_allows_and_noeviction() -> None:
    # noeviction is the one the config rejects; the doctor must still be able to name it.
    assert set(typing.get_args(MaxmemoryPolicy)) == {*EVICTION_POLICIES, "noeviction"}


@pytest.mark.parametrize("config", CONFIGS, ids=STAGES)
def test_the_doctors_design_policy_is_the_configs(config: StageConfig) -> None:
    assert doctor.DESIGN_POLICY == RedisSettings().maxmemory_policy == config.redis.maxmemory_policy


@pytest.mark.parametrize("config", CONFIGS, ids=STAGES)
def test_cache_namespaces_are_the_configs_ttl_namespaces(config: StageConfig) -> None:
    assert set(keys.NAMESPACES) == set(config.app.cache_ttl_s)
    assert metrics.NAMESPACES is keys.NAMESPACES
    for ns in keys.NAMESPACES:
        assert f"cache_ttl_{ns}_s" in Settings.model_fields, ns


@pytest.mark.parametrize("config", CONFIGS, ids=STAGES)
def test_every_variable_the_config_sets_is_a_service_setting(config: StageConfig) -> None:
    # Settings ignores unknown variables (extra="ignore"): a renamed one would go unread.
    given = [*config.app_environment(), *config.app.secret_keys]
    unread = [name for name in given if name.lower() not in Settings.model_fields]
    assert unread == []


def test_the_doctors_render_and_ecs_names_are_the_generators() -> None:
    assert doctor.RENDER_REDIS_SERVICE == render_blueprint.REDIS_SERVICE
    assert doctor.RENDER_WEB_SERVICE == render_blueprint.WEB_SERVICE
    for config in CONFIGS:
        log_group = ecs.log_group_name(config, REDIS_CONTAINER)
        assert doctor.ECS_REDIS_LOG_GROUP.replace("<stage>", config.stage) == log_group


def test_service_defaults_are_dev_wiring() -> None:
    # `python -m service` without the stage's environment (local runs, the rehearsal) must find
    # the Redis and the port the config describes.
    dev = load_stage("dev")
    fields = Settings.model_fields
    assert fields["port"].default == dev.app.port
    assert fields["redis_port"].default == dev.redis.port
    assert fields["redis_db"].default == dev.app.redis_db


@pytest.mark.parametrize("config", CONFIGS, ids=STAGES)
def test_the_app_believes_forwarded_headers_from_the_vpc_only(config: StageConfig) -> None:
    # The load balancer reaches the app from the VPC; nobody else may set X-Forwarded-*.
    trusted = config.app_environment()["FORWARDED_ALLOW_IPS"]
    assert trusted == VPC_CIDR and ipaddress.ip_network(trusted).is_private
    assert service_settings(None, forwarded_allow_ips=trusted).forwarded_allow_ips == (VPC_CIDR,)


def test_the_stale_if_error_range_is_the_configs() -> None:
    from infra.config.limits import MAX_STALE_IF_ERROR_S
    from service.settings import MAX_STALE_IF_ERROR_S as service_max

    assert service_max == MAX_STALE_IF_ERROR_S
    field = Settings.model_fields["cache_stale_if_error_s"]
    bounds = {type(m).__name__: m for m in field.metadata}
    assert (bounds["Ge"].ge, bounds["Le"].le) == (0, MAX_STALE_IF_ERROR_S)


@pytest.mark.parametrize("config", CONFIGS, ids=STAGES)
def test_every_target_passes_the_stale_if_error_bound(config: StageConfig) -> None:
    value = config.app_environment()["CACHE_STALE_IF_ERROR_S"]
    assert value == str(config.app.cache_stale_if_error_s)
    assert service_settings(None, cache_stale_if_error_s=value).cache_stale_if_error_s == int(value)
