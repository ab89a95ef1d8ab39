"""The settings classes: every setting with its description and its bounds beside it.

Field rules (:mod:`infra.config.spec`) check one value each; ``cross_checks`` hold the rules
that relate several settings. Validation runs when a :class:`StageConfig` is built, so an
invalid setting fails at synth (and in every generator) with a ConfigError that names the
setting and the fix.
"""

from __future__ import annotations

import ipaddress
import types
from collections.abc import Mapping
from typing import Final

from infra.config.errors import ConfigError, require
from infra.config.limits import (
    ACM_ARN_RE,
    CLIENT_ID_RE,
    COGNITO_GROUP_RE,
    ECR_REPOSITORY_MAX_LEN,
    ECR_REPOSITORY_RE,
    ENV_KEY_RE,
    EVICTION_POLICIES,
    FARGATE_TASK_SIZES,
    IMAGE_TAG_RE,
    LOG_RETENTION_DAYS,
    MAXMEMORY_CEILING_RATIO,
    MAXMEMORY_DEFAULT_RATIO,
    REGION_RE,
    SECURITY_GROUP_ID_RE,
    USER_POOL_ID_RE,
    VPC_ID_RE,
    WAF_RATE_LIMIT_MAX,
    WAF_RATE_LIMIT_MIN,
    WAF_RATE_WINDOWS_S,
)
from infra.config.monitoring import AlarmSettings, CiSettings
from infra.config.names import PROJECT, STAGES, service_stack_name
from infra.config.spec import (
    Rule,
    at_least,
    at_most,
    between,
    check_settings,
    matches,
    one_of,
    setting,
    settings_class,
)
from service.emf_catalog import DEFAULT_NAMESPACE as METRICS_NAMESPACE

# The address range of the VPC infra/constructs/network.py creates (CDK's default for ec2.Vpc):
# the load balancer reaches the app from it, so the app believes X-Forwarded-* from it only.
VPC_CIDR: Final = "10.0.0.0/16"

# Rules shared by several settings.
_TCP_PORT: Final = between(1, 65535, "{value} is not a TCP port", "choose a port from {lo} to {hi}")
_UTILISATION: Final = between(
    10,
    90,
    "{value} % is outside {lo}-{hi} %",
    "choose a utilisation target between {lo} and {hi} percent",
)


def _ecs_seconds(lo: int, hi: int, what: str) -> Rule:
    return between(
        lo,
        hi,
        "{value} s is outside ECS's range {lo}-{hi} s",
        f"choose {what} between {{lo}} and {{hi}} seconds",
    )


@settings_class
class HealthCheck:
    """A container health check's timings. ECS enforces these ranges at deploy time; we
    enforce them at synth so nobody waits 20 minutes for a rollback to learn it."""

    interval_s: int = setting(
        "health check interval (5-300 s)", rules=[_ecs_seconds(5, 300, "an interval")]
    )
    timeout_s: int = setting(
        "health check timeout (2-120 s, < interval)", rules=[_ecs_seconds(2, 120, "a timeout")]
    )
    retries: int = setting(
        "failures before the container is UNHEALTHY (1-10)",
        rules=[
            between(
                1, 10, "{value} is outside ECS's range {lo}-{hi}", "choose {lo} to {hi} retries"
            )
        ],
    )
    start_period_s: int = setting(
        "failures ignored while the container starts (0-300 s)",
        rules=[_ecs_seconds(0, 300, "a start period")],
    )

    def cross_checks(self, prefix: str) -> None:
        require(
            self.timeout_s < self.interval_s,
            f"{prefix}timeout_s",
            f"timeout {self.timeout_s} s is not shorter than interval {self.interval_s} s",
            "make the timeout shorter than the interval",
        )

    @property
    def worst_case_to_healthy_s(self) -> int:
        """Seconds until ECS can call a slow-starting container HEALTHY at the latest."""
        return self.start_period_s + self.interval_s * self.retries


@settings_class
class RedisSettings:
    """The Redis sidecar: an in-memory, bounded cache. No RDB, no AOF, ever."""

    image: str = setting(
        "Redis sidecar image (public ECR mirror: no Docker Hub rate limit)",
        default="public.ecr.aws/docker/library/redis:7-alpine",
        rules=[
            Rule(
                lambda v: bool(v) and " " not in v,
                "{value!r} is not an image reference",
                "use e.g. public.ecr.aws/docker/library/redis:7-alpine",
            )
        ],
    )
    port: int = setting("Redis port on the task's loopback", default=6379, rules=[_TCP_PORT])
    memory_mib: int = setting(
        "redis container hard memory limit",
        default=256,
        rules=[
            at_least(
                64,
                "{value} MiB is too small for Redis",
                "give the redis container at least {lo} MiB",
            )
        ],
    )
    maxmemory_mib: int | None = setting(
        "Redis `maxmemory`; unset = 75 % of memory_mib; must stay < 80 %", default=None
    )
    maxmemory_policy: str = setting(
        "eviction policy (`noeviction` is rejected: this is a cache)",
        default="allkeys-lru",
        rules=[
            one_of(
                EVICTION_POLICIES,
                "{value!r} does not evict, or is not a Redis policy",
                "use one of {choices} (allkeys-lru is the default)",
            )
        ],
    )
    start_timeout_s: int = setting(
        "how long ECS waits for redis to be HEALTHY (10-120 s)",
        default=60,
        rules=[
            between(
                10,
                120,
                "{value} s is outside Fargate's range for startTimeout ({lo}-{hi} s)",
                "choose {lo} to {hi} seconds",
            )
        ],
    )
    health_check: HealthCheck = setting(
        "the redis container's health check",
        default_factory=lambda: HealthCheck(interval_s=5, timeout_s=3, retries=3, start_period_s=5),
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

    def cross_checks(self, prefix: str) -> None:
        ceiling = self.memory_mib * MAXMEMORY_CEILING_RATIO
        mm = self.effective_maxmemory_mib
        require(
            mm >= 1,
            f"{prefix}maxmemory_mib",
            f"{mm} MiB leaves the cache no room",
            "set at least 1 MiB",
        )
        require(
            mm < ceiling,
            f"{prefix}maxmemory_mib",
            f"{mm} MiB is at or above 80 % of the redis container's hard limit "
            f"({self.memory_mib} MiB -> {ceiling:g} MiB); Redis would be OOM-killed before it "
            "evicts",
            f"set {prefix}maxmemory_mib below {ceiling:g} (e.g. {int(self.memory_mib * 0.75)}) "
            f"or raise {prefix}memory_mib",
        )
        worst = self.health_check.worst_case_to_healthy_s
        require(
            self.start_timeout_s >= worst,
            f"{prefix}start_timeout_s",
            f"{self.start_timeout_s} s is shorter than the health check needs to pass at the "
            f"latest ({worst} s)",
            f"raise {prefix}start_timeout_s or shorten {prefix}health_check",
        )


@settings_class
class AppSettings:
    """The FastAPI container."""

    port: int = setting(
        "port the app listens on and the load balancer targets", default=8000, rules=[_TCP_PORT]
    )
    memory_mib: int = setting(
        "app container hard memory limit",
        default=768,
        rules=[
            at_least(
                128,
                "{value} MiB is too small for the app",
                "give the app container at least {lo} MiB",
            )
        ],
    )
    image_tag: str = setting(
        "app image tag in the registry; `-c imageTag=`; never `latest` in prod",
        default="latest",
        rules=[
            matches(
                IMAGE_TAG_RE,
                "{value!r} is not a valid image tag",
                "use letters, digits, '.', '_' or '-' (e.g. a git SHA); pass it as -c imageTag=...",
            )
        ],
    )
    redis_db: int = setting(
        "Redis database index the app uses (REDIS_DB)",
        default=0,
        rules=[
            between(
                0,
                15,
                "{value} is outside Redis's default databases {lo}-{hi}",
                "choose a database from {lo} to {hi}",
            )
        ],
    )
    # Non-root numeric user; the image's USER matches it.
    user: str = setting("numeric uid:gid the app runs as (non-root)", default="10001:10001")
    health_check_path: str = setting(
        "path the container and load-balancer health checks probe",
        default="/health",
        rules=[
            Rule(
                lambda v: v.startswith("/"),
                "{value!r} is not a path",
                "use an absolute path such as /health",
            )
        ],
    )
    health_check: HealthCheck = setting(
        "the app container's health check",
        default_factory=lambda: HealthCheck(
            interval_s=15, timeout_s=5, retries=3, start_period_s=20
        ),
    )
    secret_keys: tuple[str, ...] = setting(
        "keys of the stage secret injected as env vars via ECS `secrets` (never plain env)",
        default=(
            "DATABASE_URL",
            "AWS_COGNITO_USER_POOL_ID",
            "AWS_COGNITO_CLIENT_ID",
            "AWS_COGNITO_CLIENT_SECRET",
            "MARKET_DATA_API_KEY",
        ),
        rules=[
            matches(
                ENV_KEY_RE,
                "{value!r} is not an environment variable name",
                "use upper-case letters, digits and underscores",
                each=True,
            ),
            Rule(
                lambda v: len(set(v)) == len(v),
                "a key is listed twice",
                "list each secret key once",
            ),
        ],
    )
    cache_ttl_s: Mapping[str, int] = setting(
        "per-namespace cache TTLs (seconds), passed as CACHE_TTL_<NS>_S",
        default_factory=lambda: types.MappingProxyType(
            {"portfolio": 60, "dashboard": 30, "top_picks": 300}
        ),
        rules=[
            between(
                1,
                86_400,
                "{value} s is outside 1 s - 1 day",
                "choose a TTL between {lo} and {hi} seconds",
                each=True,
            )
        ],
    )


@settings_class
class ScalingSettings:
    desired_count: int = setting("tasks at first deploy", default=1)
    min_capacity: int = setting(
        "autoscaling lower bound (>= 1)",
        default=1,
        rules=[
            at_least(1, "{value} would let autoscaling stop every task", "keep at least {lo} task")
        ],
    )
    max_capacity: int = setting(
        "autoscaling upper bound; each task brings its own Redis",
        default=4,
        rules=[
            at_most(
                100, "{value} tasks is beyond what this design is sized for", "choose at most {hi}"
            )
        ],
    )
    cpu_target_percent: int = setting(
        "target-tracking CPU utilisation", default=60, rules=[_UTILISATION]
    )
    memory_target_percent: int = setting(
        "target-tracking memory utilisation", default=75, rules=[_UTILISATION]
    )

    def cross_checks(self, prefix: str) -> None:
        require(
            self.min_capacity <= self.max_capacity,
            f"{prefix}min_capacity",
            f"min_capacity {self.min_capacity} is greater than max_capacity {self.max_capacity}",
            f"make {prefix}min_capacity <= {prefix}max_capacity",
        )
        require(
            self.min_capacity <= self.desired_count <= self.max_capacity,
            f"{prefix}desired_count",
            f"{self.desired_count} is outside the autoscaling bounds "
            f"{self.min_capacity}-{self.max_capacity}",
            f"choose a desired_count between {prefix}min_capacity and {prefix}max_capacity",
        )


@settings_class
class WafSettings:
    """AWS WAF on the load balancer: AWS managed rule groups and a per-IP rate limit."""

    enabled: bool = setting(
        "web ACL on the load balancer; always on in prod (false is rejected there)",
        default=True,
    )
    rate_limit: int = setting(
        "requests one client IP may send per `rate_window_s` before WAF blocks it",
        default=1000,
        rules=[
            between(
                WAF_RATE_LIMIT_MIN,
                WAF_RATE_LIMIT_MAX,
                "{value} is outside AWS WAF's rate limits {lo}-{hi}",
                "choose a limit from {lo} to {hi} requests",
            )
        ],
    )
    rate_window_s: int = setting(
        "evaluation window of the rate limit (seconds)",
        default=300,
        rules=[
            one_of(
                WAF_RATE_WINDOWS_S,
                "{value} s is not a window AWS WAF offers",
                "use one of {choices} seconds",
            )
        ],
    )


@settings_class
class AuthSettings:
    """Who may call /api/*: a Cognito user pool the stack creates, or the team's existing one."""

    user_pool_id: str | None = setting(
        "existing Cognito user pool to use instead of creating one (needs auth.client_ids)",
        default=None,
        rules=[
            matches(
                USER_POOL_ID_RE,
                "{value!r} is not a Cognito user pool id",
                "use the pool's id, e.g. us-east-1_AbCdEf123 (aws cognito-idp list-user-pools)",
            )
        ],
    )
    client_ids: tuple[str, ...] = setting(
        "app client ids whose access tokens the API accepts (only with auth.user_pool_id)",
        default=(),
        rules=[
            matches(
                CLIENT_ID_RE,
                "{value!r} is not a Cognito app client id",
                "use the ids from aws cognito-idp list-user-pool-clients, comma-separated",
                each=True,
            )
        ],
    )
    admin_group: str = setting(
        "Cognito group whose members may read and change every user's data",
        default=PROJECT + "-admin",
        rules=[
            matches(
                COGNITO_GROUP_RE,
                "{value!r} is not a Cognito group name",
                "use 1-128 printable characters without spaces",
            )
        ],
    )

    def cross_checks(self, prefix: str) -> None:
        require(
            bool(self.user_pool_id) == bool(self.client_ids),
            f"{prefix}client_ids" if self.user_pool_id else f"{prefix}user_pool_id",
            "an existing pool needs both its id and the app client ids the API accepts"
            if self.user_pool_id
            else "app client ids were given without the pool they belong to",
            f"set both {prefix}user_pool_id and {prefix}client_ids, or neither (the stack "
            "then creates a pool and its app client)",
        )

    def issuer(self, region: str, user_pool_id: str) -> str:
        """The `iss` of the pool's tokens (Cognito's fixed URL scheme; no AWS call). A pool id
        names its own region; `region` is for a pool the stack creates (its id is a token)."""
        if USER_POOL_ID_RE.match(user_pool_id):
            region = user_pool_id.split("_", 1)[0]
        return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


@settings_class
class StageConfig:
    """Everything one stage needs, validated as a whole when it is built."""

    stage: str = setting(
        "stage name (`-c stage=dev` or `-c stage=prod`); names outside prod get a "
        "`-<stage>` suffix",
        rules=[
            one_of(STAGES, "unknown stage {value!r}", "pass one of {choices} with -c stage=...")
        ],
    )
    region: str = setting(
        "AWS region of both stacks; `-c region=` or CDK_DEFAULT_REGION",
        default="us-east-1",
        rules=[
            matches(
                REGION_RE,
                "{value!r} is not an AWS region",
                "use e.g. us-east-1 (or set CDK_DEFAULT_REGION)",
            )
        ],
    )
    # Tasks and containers
    task_cpu: int = setting(
        "Fargate task CPU units (256, 512, 1024, ...)",
        default=512,
        rules=[
            one_of(
                FARGATE_TASK_SIZES,
                "{value} CPU units is not a Fargate task size",
                "use one of {choices}",
            )
        ],
    )
    task_memory_mib: int = setting(
        "Fargate task memory; must be a valid pair with task_cpu", default=1024
    )
    app: AppSettings = setting("the app container", default_factory=AppSettings)
    redis: RedisSettings = setting("the redis sidecar", default_factory=RedisSettings)
    scaling: ScalingSettings = setting("the service's task count", default_factory=ScalingSettings)
    # Network and ingress
    vpc_id: str | None = setting(
        "existing VPC to use instead of creating one; `-c vpcId=` (needs an account)",
        default=None,
        rules=[
            matches(
                VPC_ID_RE,
                "{value!r} is not a VPC id",
                "pass an id like vpc-0abc1234 with -c vpcId=..., or leave it unset to create a VPC",
            )
        ],
    )
    max_azs: int = setting(
        "availability zones of the new VPC (2-3)",
        default=2,
        rules=[between(2, 3, "{value} AZs; an ALB needs at least {lo}", "choose {lo} or {hi}")],
    )
    nat_gateways: int = setting(
        "NAT gateways of the new VPC (1 = cheaper, one per AZ = resilient)", default=1
    )
    allowed_ingress_cidrs: tuple[str, ...] = setting(
        "CIDRs allowed to reach the load balancer (comma-separated)",
        default=("0.0.0.0/0",),
        rules=[
            Rule(
                lambda v: len(v) >= 1,
                "no CIDR may reach the load balancer",
                "list at least one CIDR, e.g. 203.0.113.0/24",
            )
        ],
    )
    certificate_arn: str | None = setting(
        "ACM certificate: adds HTTPS on 443 and redirects 80; `-c certificateArn=`",
        default=None,
        rules=[
            matches(
                ACM_ARN_RE,
                "{value!r} is not an ACM certificate ARN",
                "pass arn:aws:acm:REGION:ACCOUNT:certificate/UUID with -c certificateArn=...",
            )
        ],
    )
    ops_access_security_group_id: str | None = setting(
        "security group that may reach the app port directly (/metrics, /cache/stats, /docs); "
        "unset: only from inside the task (ECS Exec)",
        default=None,
        rules=[
            matches(
                SECURITY_GROUP_ID_RE,
                "{value!r} is not a security group id",
                "pass an id like sg-0abc1234def567890 (the group of your bastion or monitoring)",
            )
        ],
    )
    waf: WafSettings = setting("AWS WAF on the load balancer", default_factory=WafSettings)
    auth: AuthSettings = setting("Cognito authentication of /api/*", default_factory=AuthSettings)
    # Operations
    log_retention_days: int = setting(
        "CloudWatch Logs retention of every log group (days)",
        default=30,
        rules=[
            one_of(
                LOG_RETENTION_DAYS,
                "{value} is not a CloudWatch Logs retention period",
                "use one of {choices}",
            )
        ],
    )
    container_insights: bool = setting(
        "ECS Container Insights with enhanced observability (per-container metrics); the "
        "service alarms read it, so it cannot be off",
        default=True,
    )
    enable_exec: bool = setting("ECS Exec on the service (audited, KMS-encrypted)", default=True)
    # Grace before the load balancer's health checks count: redis start + app start + margin.
    health_check_grace_margin_s: int = setting(
        "margin added to redis + app start for the LB grace period",
        default=30,
        rules=[between(0, 600, "{value} s", "choose {lo} to {hi} seconds")],
    )
    deletion_protection: bool = setting("load balancer deletion protection", default=False)
    retain_on_delete: bool = setting(
        "deleting the stack keeps the KMS key (30-day deletion window instead of 7), the app "
        "secret and the log groups; off, they are deleted with it (a disposable stage)",
        default=False,
    )
    alarms: AlarmSettings = setting(
        "alarm thresholds and who is notified", default_factory=AlarmSettings
    )
    # Per account, not per stage: no stage sets these apart (like the registry below).
    ci: CiSettings = setting(
        "the Fyntrix-CI stack (GitHub OIDC deploys)", default_factory=CiSettings
    )
    # The registry is shared by every stage: keep these two out of the per-stage defaults, or
    # deploying one stage would rewrite the repository another stage uses.
    repository_name: str = setting(
        "ECR repository name (shared by all stages)",
        default=PROJECT + "-app",
        rules=[
            Rule(
                lambda v: bool(ECR_REPOSITORY_RE.match(v)) and len(v) <= ECR_REPOSITORY_MAX_LEN,
                "{value!r} is not a valid ECR repository name",
                "use lower-case letters, digits, '-', '_', '.' and '/'",
            )
        ],
    )
    image_retention_count: int = setting(
        "images the repository lifecycle rule keeps (shared)",
        default=30,
        rules=[between(1, 1000, "{value} images", "keep between {lo} and {hi} images")],
    )

    def __post_init__(self) -> None:
        check_settings(self)

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
        return service_stack_name(self.stage)

    @property
    def alarm_name_prefix(self) -> str:
        return f"{PROJECT}-{self.stage}"

    @property
    def dashboard_name(self) -> str:
        return f"Fyntrix-{self.stage}"

    @property
    def dashboard_url(self) -> str:
        """The dashboard's console link, from the config alone (no AWS call)."""
        region = self.region
        return (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards/dashboard/{self.dashboard_name}"
        )

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
            # EMF metrics (service/emf.py): the alarms and dashboard read these same names.
            "METRICS_NAMESPACE": METRICS_NAMESPACE,
            "METRICS_STAGE": self.stage,
            "METRICS_SERVICE": self.service_name,
            # Peers whose X-Forwarded-For/-Proto the app believes: the load balancer's network.
            "FORWARDED_ALLOW_IPS": VPC_CIDR,
        }
        for ns, ttl in sorted(self.app.cache_ttl_s.items()):
            env[f"CACHE_TTL_{ns.upper()}_S"] = str(ttl)
        return env

    def cross_checks(self, prefix: str) -> None:
        self._check_image_tag()
        self._check_edge()
        self._check_task_size()
        self._check_network()
        self._check_monitoring()

    def _check_image_tag(self) -> None:
        require(
            not (self.stage == "prod" and self.app.image_tag == "latest"),
            "app.image_tag",
            "`latest` is not allowed for prod: the repository's tags are immutable, so `latest` "
            "can never point at a new build and deploys would silently keep the old image",
            "deploy prod with an immutable tag, e.g. -c imageTag=$(git rev-parse --short HEAD)",
        )

    def _check_edge(self) -> None:
        require(
            self.waf.enabled or self.stage != "prod",
            "waf.enabled",
            "prod's load balancer is public; it is never deployed without its web ACL",
            "remove the override (waf.enabled may be false only in dev)",
        )

    def check_deployable(self) -> None:
        """What only a deploy (cdk synth) needs, not the generators: prod serves HTTPS only, so
        it cannot be synthesized without a certificate. Raises ConfigError naming the fix."""
        require(
            self.certificate_arn is not None or self.stage != "prod",
            "certificate_arn",
            "prod serves HTTPS only and no ACM certificate is configured",
            "request one for your API's domain (aws acm request-certificate --domain-name "
            "api.example.com --validation-method DNS, then add the DNS record ACM shows) or "
            "import one (aws acm import-certificate), then deploy with "
            "-c certificateArn=arn:aws:acm:REGION:ACCOUNT:certificate/UUID",
        )

    def auth_environment(self, *, user_pool_id: str, client_ids: str) -> dict[str, str]:
        """Non-secret auth wiring of the ECS app container (values, or CloudFormation tokens
        for a pool the stack creates): the service verifies tokens against this issuer."""
        return {
            "APP_STAGE": self.stage,
            "AUTH_ISSUER": self.auth.issuer(self.region, user_pool_id),
            "AUTH_CLIENT_IDS": client_ids,
            "AUTH_ADMIN_GROUP": self.auth.admin_group,
        }

    @property
    def web_acl_name(self) -> str:
        return f"{PROJECT}-web-acl{self.suffix}"

    @property
    def waf_log_group_name(self) -> str:
        # AWS WAF delivers only to log groups whose names start with `aws-waf-logs-`.
        return f"aws-waf-logs-{PROJECT}{self.suffix}"

    @property
    def user_pool_name(self) -> str:
        return f"{PROJECT}-users{self.suffix}"

    def _check_task_size(self) -> None:
        sizes = FARGATE_TASK_SIZES[self.task_cpu]  # task_cpu's own rule already passed
        step = sizes[1] - sizes[0] if len(sizes) > 1 else sizes[0]
        require(
            self.task_memory_mib in sizes,
            "task_memory_mib",
            f"{self.task_memory_mib} MiB is not offered by Fargate with {self.task_cpu} CPU units",
            f"with task_cpu={self.task_cpu} use one of {sizes[0]}-{sizes[-1]} MiB "
            f"in steps of {step} MiB",
        )
        total = self.app.memory_mib + self.redis.memory_mib
        require(
            total <= self.task_memory_mib,
            "app.memory_mib",
            f"app ({self.app.memory_mib} MiB) + redis ({self.redis.memory_mib} MiB) = {total} MiB "
            f"does not fit the task's {self.task_memory_mib} MiB",
            "lower app.memory_mib or redis.memory_mib, or raise task_memory_mib",
        )
        require(
            self.app.port != self.redis.port,
            "app.port",
            f"app and redis both listen on {self.app.port}; containers in an awsvpc task share "
            "one network namespace",
            "give app.port and redis.port different values",
        )

    def _check_network(self) -> None:
        require(
            1 <= self.nat_gateways <= self.max_azs,
            "nat_gateways",
            f"{self.nat_gateways} NAT gateways; tasks run in private subnets and pull images "
            "through NAT",
            f"choose 1 (cheaper) to {self.max_azs} (one per AZ, resilient)",
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

    def _check_monitoring(self) -> None:
        require(
            self.container_insights,
            "container_insights",
            "the running-task, CPU and memory alarms read Container Insights metrics; without "
            "it they never see data and an outage would go unnoticed",
            "keep container_insights on (it costs per metric; see docs/operations.md)",
        )
