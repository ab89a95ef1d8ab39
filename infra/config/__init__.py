"""The one typed source of truth for every deploy target.

Stage settings are frozen, keyword-only dataclasses. Everything else (the CDK stacks,
`render.yaml`, `docker-compose.yml`, `ecs-task-definition.json`, `redis.conf`, the reference
docs) is derived from a :class:`StageConfig`, never restated by hand. Environment variables
and CDK context are read only in ``app.py``; this package is pure and CDK-free.

- ``limits``: what AWS, Redis and the design allow (Fargate sizes, eviction policies, ...)
- ``spec``: how a setting is declared (description + declarative rules) and checked
- ``settings``: the settings classes, each setting with its description and bounds
- ``stages``: dev and prod; ``load_stage``, ``load_configured_stage`` (with the stage file)
- ``stage_file``: the committed per-stage settings, ``stages/<stage>.toml``
- ``overrides``: the ``-c set:<path>=<value>`` parser and the settings list
- ``monitoring``: alarm thresholds, notification e-mails, the GitHub deploy identity
- ``cost``: usage assumptions of the cost estimate (traffic, users, log volumes)
- ``names``: project, stage and stack names; the naming rule and its exceptions
- ``errors``: ``ConfigError``, naming the setting and the fix
"""

from infra.config.cost import CostAssumptions
from infra.config.errors import ConfigError
from infra.config.limits import (
    EVICTION_POLICIES,
    FARGATE_TASK_SIZES,
    LOG_RETENTION_DAYS,
    MAXMEMORY_CEILING_RATIO,
    MAXMEMORY_DEFAULT_RATIO,
)
from infra.config.monitoring import AlarmSettings, CiSettings
from infra.config.names import (
    CI_STACK_NAME,
    PROJECT,
    REGISTRY_STACK_NAME,
    STAGES,
    NamedResource,
    Stage,
    StageNames,
    service_stack_name,
    stage_names,
    state_stack_name,
)
from infra.config.overrides import Setting
from infra.config.settings import (
    AppSettings,
    HealthCheck,
    RedisSettings,
    ScalingSettings,
    StageConfig,
)
from infra.config.stage_file import StageFile
from infra.config.stages import (
    load_configured_stage,
    load_stage,
    refuse_placeholders,
    setting_paths,
)

__all__ = [
    "CI_STACK_NAME",
    "EVICTION_POLICIES",
    "FARGATE_TASK_SIZES",
    "LOG_RETENTION_DAYS",
    "MAXMEMORY_CEILING_RATIO",
    "MAXMEMORY_DEFAULT_RATIO",
    "PROJECT",
    "REGISTRY_STACK_NAME",
    "STAGES",
    "AlarmSettings",
    "AppSettings",
    "CiSettings",
    "ConfigError",
    "CostAssumptions",
    "HealthCheck",
    "NamedResource",
    "RedisSettings",
    "ScalingSettings",
    "Setting",
    "Stage",
    "StageConfig",
    "StageFile",
    "StageNames",
    "load_configured_stage",
    "load_stage",
    "refuse_placeholders",
    "service_stack_name",
    "setting_paths",
    "stage_names",
    "state_stack_name",
]
