"""The two stages: what each one sets apart from the settings' defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from infra.config.cost import DEV_COST, PROD_COST
from infra.config.errors import ConfigError
from infra.config.names import STAGES
from infra.config.overrides import Setting, build, settings_of
from infra.config.render import RenderSettings
from infra.config.settings import AuthSettings, ScalingSettings, StageConfig
from infra.config.stage_file import StageFile, read_stage_file, stage_file_path

# The repository root: stage files are looked up under it unless a path is given.
REPO_ROOT: Final = Path(__file__).resolve().parents[2]

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
        # Render has no approval gate: prod deploys from the Dashboard or its deploy hook.
        "render": RenderSettings(auto_deploy="off"),
    },
}


def load_stage(
    stage: str,
    *,
    image_tag: str | None = None,
    overrides: Mapping[str, str] | None = None,
    stage_file: StageFile | None = None,
) -> StageConfig:
    """Build and validate one stage's config from the code's defaults, then `stage_file`'s
    placeholders and settings (a :class:`StageFile`; none: the defaults alone, as the tests
    use them), then `overrides`.

    `overrides` maps dotted setting paths (``redis.memory_mib``) to string values, as they
    arrive from CDK context (``-c set:redis.memory_mib=512``) or a CLI flag. An invalid value
    that came from the file is reported naming the file.
    """
    if stage not in _STAGE_DEFAULTS:
        raise ConfigError(
            "stage",
            f"unknown stage {stage!r}",
            f"pass one of {', '.join(STAGES)} with -c stage=...",
        )
    requested: dict[str, Any] = {}
    if stage_file is not None:
        requested.update(stage_file.placeholders)
        requested.update(stage_file.settings)
    requested.update(overrides or {})
    if image_tag is not None:
        requested["app.image_tag"] = image_tag
    # One construction with everything applied, so validation (in __post_init__) runs once and
    # an override can fix what the defaults alone would reject (prod's `latest` image tag).
    try:
        config: StageConfig = build(StageConfig, _STAGE_DEFAULTS[stage], requested)
    except ConfigError as exc:
        source = None
        if stage_file is not None and exc.setting not in (overrides or {}):
            source = stage_file.origin(exc.setting)
        if source is None:
            raise
        raise exc.from_source(source) from exc
    return config


def load_configured_stage(
    stage: str,
    *,
    image_tag: str | None = None,
    overrides: Mapping[str, str] | None = None,
    stage_file: Path | None = None,
    root: Path = REPO_ROOT,
) -> tuple[StageConfig, StageFile]:
    """The stage as it deploys: `load_stage` with its committed stage file (`stage_file`, else
    `stages/<stage>.toml` under `root`). Returns the config and the file it was read from."""
    if stage not in _STAGE_DEFAULTS:
        load_stage(stage)  # raises the unknown-stage error
    path = stage_file if stage_file is not None else stage_file_path(stage, root)
    parsed = read_stage_file(path, root=root)
    config = load_stage(stage, image_tag=image_tag, overrides=overrides, stage_file=parsed)
    return config, parsed


def refuse_placeholders(config: StageConfig, stage_file: StageFile) -> None:
    """What a deploy checks on top of synth: no setting still holds its placeholder (an
    example value that lets CI synthesize the stage). Raises ConfigError naming the first."""
    in_use = stage_file.placeholders_in_use(config)
    if in_use:
        shown = ", ".join(in_use)
        raise ConfigError(
            in_use[0],
            f"{shown} still hold{'s' if len(in_use) == 1 else ''} the example value of the "
            f"[placeholders] table, which lets CI and the tests synthesize {config.stage} "
            "(make synth and make diff pass -c allowPlaceholders=true) but never deploys",
            f"write your own value for each above the [placeholders] table in "
            f"{stage_file.shown_as} (the file says what each one is), commit it, and deploy "
            "again",
            source=stage_file.shown_as,
        )


def setting_paths(config: StageConfig | None = None) -> list[Setting]:
    """Every overridable setting as (path, type name, value, description), for docs and
    errors. Without a config, the values are dev's defaults."""
    return settings_of(load_stage("dev") if config is None else config)
