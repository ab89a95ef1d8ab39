"""The two stages: what each one sets apart from the settings' defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from infra.config.cost import DEV_COST, PROD_COST
from infra.config.errors import ConfigError
from infra.config.names import STAGES
from infra.config.overrides import Setting, build, settings_of
from infra.config.settings import AuthSettings, ScalingSettings, StageConfig

_STAGE_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "dev": {
        "stage": "dev",
        "nat_gateways": 1,
        "scaling": ScalingSettings(desired_count=1, min_capacity=1, max_capacity=2),
        "log_retention_days": 14,
        # Dev's users are the team's own test accounts: Essentials (no threat protection)
        # costs less per active user. Prod keeps the default, Plus, for its threat protection
        # (a refused override there, StageConfig._check_prod_protections).
        "auth": AuthSettings(feature_plan="essentials"),
        "cost": DEV_COST,
    },
    "prod": {
        "stage": "prod",
        "nat_gateways": 2,
        "scaling": ScalingSettings(desired_count=2, min_capacity=2, max_capacity=6),
        "log_retention_days": 90,
        "deletion_protection": True,
        "retain_on_delete": True,
        "cost": PROD_COST,
    },
}


def load_stage(
    stage: str,
    *,
    image_tag: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> StageConfig:
    """Build and validate one stage's config.

    `overrides` maps dotted setting paths (``redis.memory_mib``) to string values, as they
    arrive from CDK context (``-c set:redis.memory_mib=512``) or a CLI flag.
    """
    if stage not in _STAGE_DEFAULTS:
        raise ConfigError(
            "stage",
            f"unknown stage {stage!r}",
            f"pass one of {', '.join(STAGES)} with -c stage=...",
        )
    requested = dict(overrides or {})
    if image_tag is not None:
        requested["app.image_tag"] = image_tag
    # One construction with everything applied, so validation (in __post_init__) runs once and
    # an override can fix what the defaults alone would reject (prod's `latest` image tag).
    config: StageConfig = build(StageConfig, _STAGE_DEFAULTS[stage], requested)
    return config


def setting_paths(config: StageConfig | None = None) -> list[Setting]:
    """Every overridable setting as (path, type name, value, description), for docs and
    errors. Without a config, the values are dev's defaults."""
    return settings_of(load_stage("dev") if config is None else config)
