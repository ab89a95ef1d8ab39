"""The one typed source of truth for every deploy target.

Stage settings are frozen, keyword-only dataclasses. Everything else (the CDK stacks,
`render.yaml`, `docker-compose.yml`, `ecs-task-definition.json`, `redis.conf`) is derived
from a :class:`StageConfig`, never restated by hand. Environment variables and CDK context
are read only in ``app.py``; this module is pure.

Validation happens when a config is built (``__post_init__``), so an invalid setting fails
at synth (and in every generator) with a :class:`ConfigError` that names the setting and
the fix.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

PROJECT: Final = "fyntrix"

# Fargate's supported task sizes: cpu units -> memory MiB allowed with it.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
FARGATE_TASK_SIZES: Final[Mapping[int, tuple[int, ...]]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

# Redis eviction policies that keep a cache bounded. `noeviction` turns a full cache into
# write errors, which the app would have to survive on every SET: never what a cache wants.
EVICTION_POLICIES: Final = (
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)

# `maxmemory` bounds the dataset, not the process (fragmentation, client buffers, the
# replication backlog). At or above this share of the container's hard limit, Redis gets
# OOM-killed under load instead of evicting.
MAXMEMORY_CEILING_RATIO: Final = 0.80
# The default `maxmemory` when none is set: 75 % of the container limit.
MAXMEMORY_DEFAULT_RATIO: Final = 0.75

STAGES: Final = ("dev", "prod")

_IMAGE_TAG_RE: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
_REPO_RE: Final = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_ENV_KEY_RE: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ACM_RE: Final = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_VPC_RE: Final = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_REGION_RE: Final = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


class ConfigError(ValueError):
    """An invalid stage setting. The message names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        self.setting = setting
        self.problem = problem
        self.fix = fix
        super().__init__(f"invalid setting `{setting}`: {problem}. Fix: {fix}.")


def _require(ok: bool, setting: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(setting, problem, fix)


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """A container health check's timings. ECS enforces these ranges at deploy time; we
    enforce them at synth so nobody waits 20 minutes for a rollback to learn it."""

    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int

    def validate(self, prefix: str) -> None:
        _require(
            5 <= self.interval_s <= 300,
            f"{prefix}.interval_s",
            f"{self.interval_s} s is outside ECS's range 5-300 s",
            "choose an interval between 5 and 300 seconds",
        )
        _require(
            2 <= self.timeout_s <= 120,
            f"{prefix}.timeout_s",
            f"{self.timeout_s} s is outside ECS's range 2-120 s",
            "choose a timeout between 2 and 120 seconds",
        )
        _require(
            self.timeout_s < self.interval_s,
            f"{prefix}.timeout_s",
            f"timeout {self.timeout_s} s is not shorter than interval {self.interval_s} s",
            "make the timeout shorter than the interval",
        )
        _require(
            1 <= self.retries <= 10,
            f"{prefix}.retries",
            f"{self.retries} is outside ECS's range 1-10",
            "choose 1 to 10 retries",
        )
        _require(
            0 <= self.start_period_s <= 300,
            f"{prefix}.start_period_s",
            f"{self.start_period_s} s is outside ECS's range 0-300 s",
            "choose a start period between 0 and 300 seconds",
        )

    @property
    def worst_case_to_healthy_s(self) -> int:
        """Seconds until ECS can call a slow-starting container HEALTHY at the latest."""
        return self.start_period_s + self.interval_s * self.retries


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    """The Redis sidecar: an in-memory, bounded cache. No RDB, no AOF, ever."""

    image: str = "public.ecr.aws/docker/library/redis:7-alpine"
    port: int = 6379
    memory_mib: int = 256
    # None derives 75 % of memory_mib (192 MiB of 256 MiB).
    maxmemory_mib: int | None = None
    maxmemory_policy: str = "allkeys-lru"
    # ECS waits this long for the sidecar to become HEALTHY before giving up on the task.
    start_timeout_s: int = 60
    health_check: HealthCheck = field(
        default_factory=lambda: HealthCheck(interval_s=5, timeout_s=3, retries=3, start_period_s=5)
    )

    @property
    def effective_maxmemory_mib(self) -> int:
        if self.maxmemory_mib is not None:
            return self.maxmemory_mib
        return int(self.memory_mib * MAXMEMORY_DEFAULT_RATIO)

    @property
    def maxmemory_bytes(self) -> int:
        return self.effective_maxmemory_mib * 1024 * 1024

    def directives(self, *, bind: str | None = None) -> tuple[tuple[str, str], ...]:
        """The Redis settings every target runs with, in a stable order.

        `save ""` disables RDB snapshots and `appendonly no` disables the AOF: the cache is
        never a store, so a restart starts empty by design. `bind` is per target: loopback in
        the ECS task (the app is on localhost), all interfaces where the app is another host.
        """
        head = (("bind", bind),) if bind else ()
        return (
            *head,
            ("port", str(self.port)),
            ("maxmemory", f"{self.effective_maxmemory_mib}mb"),
            ("maxmemory-policy", self.maxmemory_policy),
            ("save", '""'),
            ("appendonly", "no"),
        )

    def command_args(self, *, bind: str | None = None) -> list[str]:
        """`redis-server` argv for the directives (argv needs no quotes; a multi-address bind
        becomes several arguments, which redis-server 7 accepts)."""
        args = ["redis-server"]
        for key, value in self.directives(bind=bind):
            args.append(f"--{key}")
            if value == '""':
                args.append("")
            else:
                args += value.split()
        return args

    def validate(self) -> None:
        p = "redis"
        self.health_check.validate(f"{p}.health_check")
        _require(
            bool(self.image) and " " not in self.image,
            f"{p}.image",
            f"{self.image!r} is not an image reference",
            "use e.g. public.ecr.aws/docker/library/redis:7-alpine",
        )
        _require(
            1 <= self.port <= 65535,
            f"{p}.port",
            f"{self.port} is not a TCP port",
            "choose a port from 1 to 65535",
        )
        _require(
            self.memory_mib >= 64,
            f"{p}.memory_mib",
            f"{self.memory_mib} MiB is too small for Redis",
            "give the redis container at least 64 MiB",
        )
        ceiling = self.memory_mib * MAXMEMORY_CEILING_RATIO
        mm = self.effective_maxmemory_mib
        _require(
            mm >= 1,
            f"{p}.maxmemory_mib",
            f"{mm} MiB leaves the cache no room",
            "set at least 1 MiB",
        )
        _require(
            mm < ceiling,
            f"{p}.maxmemory_mib",
            f"{mm} MiB is at or above 80 % of the redis container's hard limit "
            f"({self.memory_mib} MiB -> {ceiling:g} MiB); Redis would be OOM-killed before it "
            "evicts",
            f"set redis.maxmemory_mib below {ceiling:g} (e.g. {int(self.memory_mib * 0.75)}) "
            "or raise redis.memory_mib",
        )
        _require(
            self.maxmemory_policy in EVICTION_POLICIES,
            f"{p}.maxmemory_policy",
            f"{self.maxmemory_policy!r} does not evict, or is not a Redis policy",
            f"use one of {', '.join(EVICTION_POLICIES)} (allkeys-lru is the default)",
        )
        _require(
            10 <= self.start_timeout_s <= 120,
            f"{p}.start_timeout_s",
            f"{self.start_timeout_s} s is outside Fargate's range for startTimeout (10-120 s)",
            "choose 10 to 120 seconds",
        )
        _require(
            self.start_timeout_s >= self.health_check.worst_case_to_healthy_s,
            f"{p}.start_timeout_s",
            f"{self.start_timeout_s} s is shorter than the health check needs to pass at the "
            f"latest ({self.health_check.worst_case_to_healthy_s} s)",
            "raise redis.start_timeout_s or shorten redis.health_check",
        )


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    """The FastAPI container."""

    port: int = 8000
    memory_mib: int = 768
    image_tag: str = "latest"
    redis_db: int = 0
    # Non-root numeric user; the image's USER matches it.
    user: str = "10001:10001"
    health_check_path: str = "/health"
    health_check: HealthCheck = field(
        default_factory=lambda: HealthCheck(
            interval_s=15, timeout_s=5, retries=3, start_period_s=20
        )
    )
    # Keys of the stage secret injected as environment variables by ECS (never plain env).
    secret_keys: tuple[str, ...] = (
        "DATABASE_URL",
        "AWS_COGNITO_USER_POOL_ID",
        "AWS_COGNITO_CLIENT_ID",
        "AWS_COGNITO_CLIENT_SECRET",
        "MARKET_DATA_API_KEY",
    )
    # Per-namespace cache TTLs (seconds); non-secret.
    cache_ttl_s: Mapping[str, int] = field(
        default_factory=lambda: types.MappingProxyType(
            {"portfolio": 60, "dashboard": 30, "top_picks": 300}
        )
    )

    def validate(self, *, stage: str) -> None:
        p = "app"
        _require(
            1 <= self.port <= 65535,
            f"{p}.port",
            f"{self.port} is not a TCP port",
            "choose a port from 1 to 65535",
        )
        _require(
            self.memory_mib >= 128,
            f"{p}.memory_mib",
            f"{self.memory_mib} MiB is too small for the app",
            "give the app container at least 128 MiB",
        )
        _require(
            bool(_IMAGE_TAG_RE.match(self.image_tag)),
            f"{p}.image_tag",
            f"{self.image_tag!r} is not a valid image tag",
            "use letters, digits, '.', '_' or '-' (e.g. a git SHA); pass it as -c imageTag=...",
        )
        _require(
            not (stage == "prod" and self.image_tag == "latest"),
            f"{p}.image_tag",
            "`latest` is not allowed for prod: the repository's tags are immutable, so `latest` "
            "can never point at a new build and deploys would silently keep the old image",
            "deploy prod with an immutable tag, e.g. -c imageTag=$(git rev-parse --short HEAD)",
        )
        _require(
            0 <= self.redis_db <= 15,
            f"{p}.redis_db",
            f"{self.redis_db} is outside Redis's default databases 0-15",
            "choose a database from 0 to 15",
        )
        _require(
            self.health_check_path.startswith("/"),
            f"{p}.health_check_path",
            f"{self.health_check_path!r} is not a path",
            "use an absolute path such as /health",
        )
        for key in self.secret_keys:
            _require(
                bool(_ENV_KEY_RE.match(key)),
                f"{p}.secret_keys",
                f"{key!r} is not an environment variable name",
                "use upper-case letters, digits and underscores",
            )
        _require(
            len(set(self.secret_keys)) == len(self.secret_keys),
            f"{p}.secret_keys",
            "a key is listed twice",
            "list each secret key once",
        )
        for ns, ttl in self.cache_ttl_s.items():
            _require(
                1 <= ttl <= 86_400,
                f"{p}.cache_ttl_s.{ns}",
                f"{ttl} s is outside 1 s - 1 day",
                "choose a TTL between 1 and 86400 seconds",
            )
        self.health_check.validate(f"{p}.health_check")


@dataclass(frozen=True, kw_only=True)
class ScalingSettings:
    desired_count: int = 1
    min_capacity: int = 1
    max_capacity: int = 4
    cpu_target_percent: int = 60
    memory_target_percent: int = 75

    def validate(self) -> None:
        p = "scaling"
        _require(
            self.min_capacity >= 1,
            f"{p}.min_capacity",
            f"{self.min_capacity} would let autoscaling stop every task",
            "keep at least 1 task",
        )
        _require(
            self.min_capacity <= self.max_capacity,
            f"{p}.min_capacity",
            f"min_capacity {self.min_capacity} is greater than max_capacity {self.max_capacity}",
            "make scaling.min_capacity <= scaling.max_capacity",
        )
        _require(
            self.max_capacity <= 100,
            f"{p}.max_capacity",
            f"{self.max_capacity} tasks is beyond what this design is sized for",
            "choose at most 100",
        )
        _require(
            self.min_capacity <= self.desired_count <= self.max_capacity,
            f"{p}.desired_count",
            f"{self.desired_count} is outside the autoscaling bounds "
            f"{self.min_capacity}-{self.max_capacity}",
            "choose a desired_count between scaling.min_capacity and scaling.max_capacity",
        )
        for name, value in (
            ("cpu_target_percent", self.cpu_target_percent),
            ("memory_target_percent", self.memory_target_percent),
        ):
            _require(
                10 <= value <= 90,
                f"{p}.{name}",
                f"{value} % is outside 10-90 %",
                "choose a utilisation target between 10 and 90 percent",
            )


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """Everything one stage needs, validated as a whole when it is built."""

    stage: str
    region: str = "us-east-1"
    # Tasks and containers
    task_cpu: int = 512
    task_memory_mib: int = 1024
    app: AppSettings = field(default_factory=AppSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    # Network and ingress
    vpc_id: str | None = None
    max_azs: int = 2
    nat_gateways: int = 1
    allowed_ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    certificate_arn: str | None = None
    # Operations
    log_retention_days: int = 30
    container_insights: bool = True
    enable_exec: bool = True
    # Grace before the load balancer's health checks count: redis start + app start + margin.
    health_check_grace_margin_s: int = 30
    deletion_protection: bool = False
    # The registry is shared by every stage: keep these two out of the per-stage defaults, or
    # deploying one stage would rewrite the repository another stage uses.
    repository_name: str = PROJECT + "-app"
    image_retention_count: int = 30

    def __post_init__(self) -> None:
        self.validate()

    # ---- derived names (guide's names, `-<stage>` outside prod) ----
    @property
    def suffix(self) -> str:
        return "" if self.stage == "prod" else f"-{self.stage}"

    @property
    def cluster_name(self) -> str:
        return f"{PROJECT}-cluster{self.suffix}"

    @property
    def service_name(self) -> str:
        return f"{PROJECT}-service{self.suffix}"

    @property
    def task_family(self) -> str:
        return f"{PROJECT}-app{self.suffix}"

    @property
    def secret_name(self) -> str:
        return f"{PROJECT}/{self.stage}/app"

    @property
    def log_group_prefix(self) -> str:
        return f"/{PROJECT}/{self.stage}"

    @property
    def service_stack_name(self) -> str:
        return f"Fyntrix-Service-{self.stage}"

    @property
    def health_check_grace_s(self) -> int:
        return (
            self.redis.start_timeout_s
            + self.app.health_check.worst_case_to_healthy_s
            + self.health_check_grace_margin_s
        )

    def app_environment(self, *, redis_host: str = "localhost") -> dict[str, str]:
        """Non-secret environment of the app container, identical on every target but for
        `REDIS_HOST` (localhost on ECS, `redis` in compose, the private service on Render)."""
        env = {
            "PORT": str(self.app.port),
            "REDIS_HOST": redis_host,
            "REDIS_PORT": str(self.redis.port),
            "REDIS_DB": str(self.app.redis_db),
            # What the live Redis must look like; `python -m service.ops doctor` compares.
            "REDIS_EXPECTED_MAXMEMORY_BYTES": str(self.redis.maxmemory_bytes),
            "REDIS_EXPECTED_MAXMEMORY_POLICY": self.redis.maxmemory_policy,
        }
        for ns, ttl in sorted(self.app.cache_ttl_s.items()):
            env[f"CACHE_TTL_{ns.upper()}_S"] = str(ttl)
        return env

    def validate(self) -> None:
        _require(
            self.stage in STAGES,
            "stage",
            f"unknown stage {self.stage!r}",
            f"pass one of {', '.join(STAGES)} with -c stage=...",
        )
        _require(
            bool(_REGION_RE.match(self.region)),
            "region",
            f"{self.region!r} is not an AWS region",
            "use e.g. us-east-1 (or set CDK_DEFAULT_REGION)",
        )
        self.app.validate(stage=self.stage)
        self.redis.validate()
        self.scaling.validate()
        sizes = FARGATE_TASK_SIZES.get(self.task_cpu)
        _require(
            sizes is not None,
            "task_cpu",
            f"{self.task_cpu} CPU units is not a Fargate task size",
            f"use one of {', '.join(str(c) for c in FARGATE_TASK_SIZES)}",
        )
        assert sizes is not None
        _require(
            self.task_memory_mib in sizes,
            "task_memory_mib",
            f"{self.task_memory_mib} MiB is not offered by Fargate with {self.task_cpu} CPU units",
            f"with task_cpu={self.task_cpu} use one of {sizes[0]}-{sizes[-1]} MiB "
            f"in steps of {sizes[1] - sizes[0] if len(sizes) > 1 else sizes[0]} MiB",
        )
        total = self.app.memory_mib + self.redis.memory_mib
        _require(
            total <= self.task_memory_mib,
            "app.memory_mib",
            f"app ({self.app.memory_mib} MiB) + redis ({self.redis.memory_mib} MiB) = {total} MiB "
            f"does not fit the task's {self.task_memory_mib} MiB",
            "lower app.memory_mib or redis.memory_mib, or raise task_memory_mib",
        )
        _require(
            self.app.port != self.redis.port,
            "app.port",
            f"app and redis both listen on {self.app.port}; containers in an awsvpc task share "
            "one network namespace",
            "give app.port and redis.port different values",
        )
        _require(
            self.vpc_id is None or bool(_VPC_RE.match(self.vpc_id)),
            "vpc_id",
            f"{self.vpc_id!r} is not a VPC id",
            "pass an id like vpc-0abc1234 with -c vpcId=..., or leave it unset to create a VPC",
        )
        _require(
            2 <= self.max_azs <= 3,
            "max_azs",
            f"{self.max_azs} AZs; an ALB needs at least 2",
            "choose 2 or 3",
        )
        _require(
            1 <= self.nat_gateways <= self.max_azs,
            "nat_gateways",
            f"{self.nat_gateways} NAT gateways; tasks run in private subnets and pull images "
            "through NAT",
            f"choose 1 (cheaper) to {self.max_azs} (one per AZ, resilient)",
        )
        _require(
            len(self.allowed_ingress_cidrs) >= 1,
            "allowed_ingress_cidrs",
            "no CIDR may reach the load balancer",
            "list at least one CIDR, e.g. 203.0.113.0/24",
        )
        for cidr in self.allowed_ingress_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ConfigError(
                    "allowed_ingress_cidrs",
                    f"{cidr!r} is not a CIDR ({exc})",
                    "use network addresses such as 203.0.113.0/24 or 0.0.0.0/0",
                ) from exc
        _require(
            self.certificate_arn is None or bool(_ACM_RE.match(self.certificate_arn)),
            "certificate_arn",
            f"{self.certificate_arn!r} is not an ACM certificate ARN",
            "pass arn:aws:acm:REGION:ACCOUNT:certificate/UUID with -c certificateArn=...",
        )
        _require(
            self.log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            f"{self.log_retention_days} is not a CloudWatch Logs retention period",
            f"use one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
        _require(
            bool(_REPO_RE.match(self.repository_name)) and len(self.repository_name) <= 256,
            "repository_name",
            f"{self.repository_name!r} is not a valid ECR repository name",
            "use lower-case letters, digits, '-', '_', '.' and '/'",
        )
        _require(
            1 <= self.image_retention_count <= 1000,
            "image_retention_count",
            f"{self.image_retention_count} images",
            "keep between 1 and 1000 images",
        )
        _require(
            0 <= self.health_check_grace_margin_s <= 600,
            "health_check_grace_margin_s",
            f"{self.health_check_grace_margin_s} s",
            "choose 0 to 600 seconds",
        )


# ---- the stages ----

_STAGE_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "dev": {
        "stage": "dev",
        "nat_gateways": 1,
        "scaling": ScalingSettings(desired_count=1, min_capacity=1, max_capacity=2),
        "log_retention_days": 14,
    },
    "prod": {
        "stage": "prod",
        "nat_gateways": 2,
        "scaling": ScalingSettings(desired_count=2, min_capacity=2, max_capacity=6),
        "log_retention_days": 90,
        "deletion_protection": True,
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
    config: StageConfig = _build(StageConfig, _STAGE_DEFAULTS[stage], requested, prefix="")
    return config


def setting_paths(config: object | None = None, prefix: str = "") -> list[tuple[str, str, Any]]:
    """Every overridable setting as (dotted path, type name, value), for docs and errors.

    Without a config, the values are dev's defaults.
    """
    obj: Any = load_stage("dev") if config is None else config
    rows: list[tuple[str, str, Any]] = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            rows += setting_paths(value, prefix=f"{path}.")
        else:
            rows.append((path, _type_name(hints[f.name]), value))
    return rows


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _build(
    cls: type[Any], given: Mapping[str, Any], overrides: Mapping[str, str], prefix: str
) -> Any:
    """`cls(**given)` with dotted-path `overrides` (string values) coerced to the field types,
    nested dataclasses rebuilt the same way."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    nested: dict[str, dict[str, str]] = {}
    kwargs = dict(given)
    for path, raw in sorted(overrides.items()):
        head, _, rest = path.partition(".")
        if head not in fields:
            raise ConfigError(
                f"{prefix}{path}",
                "no such setting",
                f"use one of: {', '.join(p for p, _, _ in setting_paths())}",
            )
        if rest:
            nested.setdefault(head, {})[rest] = raw
        else:
            kwargs[head] = _coerce(f"{prefix}{head}", hints[head], raw)
    for head, sub in nested.items():
        current = kwargs.get(head, _default(fields[head]))
        if not dataclasses.is_dataclass(current):
            first = next(iter(sub))
            raise ConfigError(
                f"{prefix}{head}.{first}", "no such setting", f"`{head}` has no sub-settings"
            )
        current_values = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        kwargs[head] = _build(type(current), current_values, sub, prefix=f"{prefix}{head}.")
    return cls(**kwargs)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ConfigError(f.name, "is required", f"set {f.name}")


def _coerce(path: str, hint: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        if raw.strip().lower() in ("", "none", "null"):
            return None
        inner = next(a for a in args if a is not type(None))
        return _coerce(path, inner, raw)
    try:
        if hint is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint is str:
            return raw
        if origin is tuple:
            return tuple(s.strip() for s in raw.split(",") if s.strip())
    except ValueError as exc:
        raise ConfigError(
            path, f"{raw!r} is not a valid {_type_name(hint)}", "pass a value of that type"
        ) from exc
    raise ConfigError(path, "cannot be set from the command line", "change it in infra/config.py")


Stage = Literal["dev", "prod"]
