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

from infra.config.cost import CostAssumptions
from infra.config.errors import ConfigError, require
from infra.config.limits import (
    ACM_ARN_RE,
    CLIENT_ID_RE,
    COGNITO_FEATURE_PLANS,
    COGNITO_GROUP_RE,
    DNS_NAME_RE,
    ECR_REPOSITORY_MAX_LEN,
    ECR_REPOSITORY_RE,
    ENV_KEY_RE,
    EVICTION_POLICIES,
    FARGATE_TASK_SIZES,
    HOSTED_ZONE_ID_RE,
    IMAGE_TAG_RE,
    LOG_RETENTION_DAYS,
    MAX_STALE_IF_ERROR_S,
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
from infra.config.monitoring import REDIS_OVERHEAD_HEADROOM_PERCENT, AlarmSettings, CiSettings
from infra.config.names import (
    PROJECT,
    RELEASE_TAG_MAX_LEN,
    RESERVED_TAG_PREFIXES,
    STAGES,
    StageNames,
    redis_image_tag,
    service_stack_name,
    stage_file_name,
    state_stack_name,
)
from infra.config.render import RenderSettings
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
        "Redis `maxmemory`; unset = 75 % of memory_mib; must stay < 80 %. Size it for the keys "
        "read within TTL + app.cache_stale_if_error_s: stale copies live that much longer "
        "(evictable)",
        default=None,
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
    restart_attempt_period_s: int = setting(
        "ECS restarts a crashed redis inside its task once it has run this long (60-1800 s); "
        "a redis that crashes sooner is not restarted and stops the task",
        default=60,
        rules=[
            between(
                60,
                1800,
                "{value} s is outside ECS's range for restartAttemptPeriod ({lo}-{hi} s)",
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
    ops_port: int = setting(
        "port of the ops endpoints (/ready, /metrics, /cache/stats, /docs) where nothing in "
        "front filters paths: Render (not public there) and compose (OPS_PORT). On ECS they "
        "stay on `port`, where the load balancer forwards only /api/* and /health",
        default=9000,
        rules=[_TCP_PORT],
    )
    seed_demo_data: bool = setting(
        "load the demo users and portfolios into an empty database at start (SEED_DEMO_DATA); "
        "refused in prod",
        default=False,
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
        "release tag (`-c imageTag=`): the app image's tag; the Redis image is `redis-<tag>` "
        "in the same repository; never `latest` in prod",
        default="latest",
        rules=[
            matches(
                IMAGE_TAG_RE,
                "{value!r} is not a valid image tag",
                "use letters, digits, '.', '_' or '-' (e.g. a git SHA); pass it as -c imageTag=...",
            ),
            Rule(
                lambda v: not v.startswith(RESERVED_TAG_PREFIXES),
                "{value!r} starts like a tag the deploy derives ({prefixes})",
                "use a tag that does not start with {prefixes}, e.g. a git SHA",
                params={"prefixes": ", ".join(RESERVED_TAG_PREFIXES)},
            ),
            Rule(
                lambda v: len(v) <= RELEASE_TAG_MAX_LEN,
                "{value!r} is longer than {hi} characters: the tags derived from it "
                "(`prod-redis-<tag>`) would exceed Docker's 128",
                "use a shorter tag, e.g. $(git rev-parse --short HEAD)",
                params={"hi": RELEASE_TAG_MAX_LEN},
            ),
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
        "settings the stage secret holds (never plain env): on ECS the whole secret arrives "
        "as one variable, APP_SECRETS; compose and Render pass each key as its own variable",
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
    cache_stale_if_error_s: int = setting(
        "stale if error (RFC 5861), passed as CACHE_STALE_IF_ERROR_S: while the database "
        "fails, a cached read whose copy expired less than this many seconds ago is answered "
        "200 `X-Cache: STALE` instead of 503; Redis keeps each copy this much longer "
        "(evictable); 0 = off (docs/operations.md: choosing it)",
        default=300,
        rules=[
            between(
                0,
                MAX_STALE_IF_ERROR_S,
                "{value} s is outside 0 s (off) - 1 hour",
                "choose a bound between {lo} (off) and {hi} seconds",
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
class CapacitySettings:
    """Which Fargate capacity provider runs the tasks. Spot costs much less, but AWS may stop a
    Spot task with two minutes' notice whenever it needs the capacity back."""

    spot: bool = setting(
        "run tasks on FARGATE_SPOT; dev only (prod refuses it: an interruption can stop every "
        "task the stage serves from at once)",
        default=False,
    )
    on_demand_base: int = setting(
        "with `capacity.spot`: tasks always kept on on-demand FARGATE; the rest run on Spot",
        default=0,
        rules=[between(0, 100, "{value} tasks", "choose {lo} to {hi} tasks")],
    )

    def cross_checks(self, prefix: str) -> None:
        require(
            self.spot or self.on_demand_base == 0,
            f"{prefix}on_demand_base",
            f"{self.on_demand_base} on-demand tasks were asked for, but every task already runs "
            "on on-demand FARGATE (capacity.spot is off)",
            f"unset {prefix}on_demand_base, or turn {prefix}spot on",
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
    feature_plan: str = setting(
        "Cognito feature plan of a pool the stack creates. `plus` adds threat protection "
        "(compromised-credential and risky sign-in detection, enforced), which prod keeps; "
        "`essentials` has none and costs less per active user (dev's default)",
        default="plus",
        rules=[
            one_of(
                COGNITO_FEATURE_PLANS,
                "{value!r} is not a feature plan this design offers",
                "use one of {choices}",
            )
        ],
    )
    password_auth: bool = setting(
        "also allow USER_PASSWORD_AUTH (the client sends the password itself) on the app "
        "client; every sign-in here uses SRP, which never sends it; refused in prod",
        default=False,
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
        "stage name (`-c stage=dev` or `-c stage=prod`); every name carries it "
        "(docs/reference/names.md)",
        rules=[
            one_of(STAGES, "unknown stage {value!r}", "pass one of {choices} with -c stage=...")
        ],
    )
    region: str = setting(
        "AWS region of every stack and of every tool and documented command for the stage; "
        "set in the stage file (`make region` prints it); AWS_REGION and CDK_DEFAULT_REGION "
        "never choose it",
        default="us-east-1",
        rules=[
            matches(
                REGION_RE,
                "{value!r} is not an AWS region",
                "use a region code such as us-east-1 or eu-west-1",
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
    capacity: CapacitySettings = setting(
        "Fargate capacity providers of the tasks", default_factory=CapacitySettings
    )
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
    s3_gateway_endpoint: bool = setting(
        "S3 gateway endpoint for the new VPC's private subnets: image layers (ECR serves them "
        "from S3) skip the NAT gateway's per-GB charge; gateway endpoints are free",
        default=True,
    )
    allowed_ingress_cidrs: tuple[str, ...] | None = setting(
        "CIDRs allowed to reach the load balancer (comma-separated). Unset: 0.0.0.0/0 with a "
        "certificate; none without one (plain HTTP would carry bearer tokens in clear text, "
        "so 0.0.0.0/0 is refused there)",
        default=None,
    )
    certificate_arn: str | None = setting(
        "ACM certificate (in `region`): adds HTTPS on 443 and redirects 80; needs domain_name",
        default=None,
        rules=[
            matches(
                ACM_ARN_RE,
                "{value!r} is not an ACM certificate ARN",
                "use the certificate's ARN, arn:aws:acm:REGION:ACCOUNT:certificate/UUID "
                "(aws acm list-certificates)",
            )
        ],
    )
    domain_name: str | None = setting(
        "the API's DNS name, which the certificate covers; required exactly with "
        "certificate_arn; the ServiceUrl output and the smoke test use it",
        default=None,
        rules=[
            matches(
                DNS_NAME_RE,
                "{value!r} is not a fully qualified DNS name",
                "use the lower-case name clients call, without a scheme or trailing dot, e.g. "
                "api.example.com",
            )
        ],
    )
    hosted_zone_id: str | None = setting(
        "Route 53 hosted zone of domain_name: the stack creates the alias record to the load "
        "balancer; unset: point the domain at LoadBalancerUrl yourself",
        default=None,
        rules=[
            matches(
                HOSTED_ZONE_ID_RE,
                "{value!r} is not a Route 53 hosted zone id",
                "use the id alone, e.g. Z0123456789ABCDEFGHIJ (aws route53 "
                "list-hosted-zones-by-name --dns-name example.com), without /hostedzone/",
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
        "deleting a stack keeps its KMS key (30-day deletion window instead of 7), the app "
        "secret (state stack) and the log groups; off, they are deleted with it (a "
        "disposable stage)",
        default=False,
    )
    alarms: AlarmSettings = setting(
        "alarm thresholds and who is notified", default_factory=AlarmSettings
    )
    cost: CostAssumptions = setting(
        "usage assumptions of the cost estimate (`make cost`)", default_factory=CostAssumptions
    )
    render: RenderSettings = setting(
        "the stage's environment in the Render Blueprint", default_factory=RenderSettings
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
        "newest images the lifecycle rules keep besides every stage-tagged one (shared; a "
        "build pushes two: app and redis)",
        default=30,
        rules=[between(1, 1000, "{value} images", "keep between {lo} and {hi} images")],
    )

    def __post_init__(self) -> None:
        check_settings(self)

    # ---- derived names: one rule for every stage (infra/config/names.py) ----
    @property
    def names(self) -> StageNames:
        return StageNames(self.stage)

    @property
    def redis_image_tag(self) -> str:
        """The Redis image's tag: built from service/Dockerfile.redis with the app image, pushed
        to the same repository."""
        return redis_image_tag(self.app.image_tag)

    @property
    def task_family(self) -> str:
        return self.names.task_family

    @property
    def secret_name_prefix(self) -> str:
        """The app secret's name without the state stack's id it ends with."""
        return self.names.secret_name_prefix

    @property
    def log_group_prefix(self) -> str:
        return self.names.log_group_prefix

    @property
    def service_stack_name(self) -> str:
        return service_stack_name(self.stage)

    @property
    def state_stack_name(self) -> str:
        return state_stack_name(self.stage)

    @property
    def alarm_name_prefix(self) -> str:
        return self.names.alarm_prefix

    @property
    def dashboard_name(self) -> str:
        return self.names.dashboard

    @property
    def metrics_service_name(self) -> str:
        """The EMF `ServiceName` dimension: the service's name in its own metrics."""
        return self.names.metrics_service

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
            "METRICS_SERVICE": self.metrics_service_name,
            "SEED_DEMO_DATA": str(self.app.seed_demo_data).lower(),
            # Peers whose X-Forwarded-For/-Proto the app believes: the load balancer's network.
            "FORWARDED_ALLOW_IPS": VPC_CIDR,
        }
        for ns, ttl in sorted(self.app.cache_ttl_s.items()):
            env[f"CACHE_TTL_{ns.upper()}_S"] = str(ttl)
        env["CACHE_STALE_IF_ERROR_S"] = str(self.app.cache_stale_if_error_s)
        return env

    def cross_checks(self, prefix: str) -> None:
        self._check_image_tag()
        self._check_edge()
        self._check_domain()
        self._check_task_size()
        self._check_network()
        self._check_ingress()
        self._check_capacity()
        self._check_prod_protections()
        self._check_monitoring()

    def _check_image_tag(self) -> None:
        require(
            not (self.stage == "prod" and self.app.image_tag == "latest"),
            "app.image_tag",
            "`latest` is not allowed for prod: the repository's tags are immutable, so `latest` "
            "can never point at a new build and deploys would silently keep the old image",
            "deploy prod with an immutable tag, e.g. make deploy STAGE=prod "
            "IMAGE_TAG=$(git rev-parse --short HEAD) (-c imageTag=... for the CDK CLI)",
        )

    def _check_edge(self) -> None:
        require(
            self.waf.enabled or self.stage != "prod",
            "waf.enabled",
            "prod's load balancer is public; it is never deployed without its web ACL",
            "remove the override (waf.enabled may be false only in dev)",
        )

    def _check_domain(self) -> None:
        """A certificate and the name it covers come together: HTTPS clients, the ServiceUrl
        output and the smoke test call the name, never the load balancer's own DNS name (which
        no certificate of the team's can cover)."""
        stage_file = stage_file_name(self.stage)
        if self.certificate_arn and not self.domain_name:
            raise ConfigError(
                "domain_name",
                "a certificate is configured but not the domain it covers; a client calling the "
                "load balancer's own name would fail certificate verification",
                f'set domain_name = "api.example.com" (the name the certificate covers) in '
                f"{stage_file}",
            )
        require(
            self.certificate_arn is not None or self.domain_name is None,
            "certificate_arn",
            f"domain_name {self.domain_name!r} is set without a certificate, so "
            f"https://{self.domain_name} would have no HTTPS listener",
            f"add the domain's ACM certificate as certificate_arn in {stage_file}, or unset "
            "domain_name",
        )
        cert_region = self.certificate_arn.split(":")[3] if self.certificate_arn else None
        require(
            cert_region in (None, self.region),
            "certificate_arn",
            f"the certificate is in {cert_region}, but the stacks deploy to {self.region}; a "
            "load balancer uses certificates of its own region only",
            f"request or import the certificate in {self.region} (aws acm request-certificate "
            f"--region {self.region} ...) and set its ARN in {stage_file}",
        )
        require(
            self.hosted_zone_id is None or self.domain_name is not None,
            "hosted_zone_id",
            "a hosted zone was given but no domain_name to create the alias record for",
            "set domain_name and certificate_arn as well, or unset hosted_zone_id",
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
            "import one (aws acm import-certificate), then set "
            'certificate_arn = "arn:aws:acm:REGION:ACCOUNT:certificate/UUID" and domain_name = '
            f'"api.example.com" in {stage_file_name(self.stage)} (docs/deploy.md)',
        )

    @property
    def ingress_cidrs(self) -> tuple[str, ...]:
        """The CIDRs the load balancer admits: the configured ones, else everyone over HTTPS
        and no one over plain HTTP."""
        if self.allowed_ingress_cidrs is not None:
            return self.allowed_ingress_cidrs
        return ("0.0.0.0/0",) if self.certificate_arn else ()

    @property
    def service_url(self) -> str | None:
        """The URL clients call: https on the domain; None without a certificate (then only the
        load balancer's own http URL exists, known at deploy time)."""
        return f"https://{self.domain_name}" if self.domain_name else None

    @property
    def plain_http_notice(self) -> str | None:
        """What synth says about a stage without a certificate (None with one)."""
        if self.certificate_arn:
            return None
        stage_file = stage_file_name(self.stage)
        fix_tls = f"add HTTPS with certificate_arn and domain_name in {stage_file}"
        if not self.ingress_cidrs:
            return (
                "the load balancer admits no client: without a certificate it serves plain "
                f"HTTP to listed networks only, and none is listed. Fix: {fix_tls}, or admit "
                f'your network with allowed_ingress_cidrs = ["203.0.113.0/24"] there'
            )
        return (
            f"the load balancer serves plain HTTP to {', '.join(self.ingress_cidrs)}: bearer "
            f"tokens cross those networks unencrypted. Fix: {fix_tls}"
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
        return self.names.web_acl

    @property
    def waf_log_group_prefix(self) -> str:
        """The WAF log group's name without the service stack's id it ends with."""
        return self.names.waf_log_group_prefix

    @property
    def user_pool_name(self) -> str:
        return self.names.user_pool

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
        require(
            self.app.ops_port not in (self.app.port, self.redis.port),
            "app.ops_port",
            f"{self.app.ops_port} is also app.port or redis.port; the ops endpoints are kept "
            "off the public port",
            "choose a port of its own",
        )

    def _check_network(self) -> None:
        require(
            1 <= self.nat_gateways <= self.max_azs,
            "nat_gateways",
            f"{self.nat_gateways} NAT gateways; tasks run in private subnets and pull images "
            "through NAT",
            f"choose 1 (cheaper) to {self.max_azs} (one per AZ, resilient)",
        )

    def _check_ingress(self) -> None:
        for cidr in self.ingress_cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ConfigError(
                    "allowed_ingress_cidrs",
                    f"{cidr!r} is not a CIDR ({exc})",
                    "use network addresses such as 203.0.113.0/24 or 0.0.0.0/0",
                ) from exc
            require(
                self.certificate_arn is not None or network.prefixlen > 0,
                "allowed_ingress_cidrs",
                f"{cidr} on plain HTTP (no certificate): every bearer token sent to /api/* "
                "would cross the internet unencrypted",
                "add HTTPS (certificate_arn and domain_name) or list only your own networks, "
                "e.g. 203.0.113.0/24",
            )
        require(
            self.certificate_arn is None or len(self.ingress_cidrs) >= 1,
            "allowed_ingress_cidrs",
            "no CIDR may reach the load balancer",
            "list at least one CIDR, e.g. 203.0.113.0/24, or unset it (0.0.0.0/0 over HTTPS)",
        )

    def _check_capacity(self) -> None:
        base, most = self.capacity.on_demand_base, self.scaling.max_capacity
        require(
            base < most or not self.capacity.spot,
            "capacity.on_demand_base",
            f"{base} on-demand tasks cover the whole range up to max_capacity {most}, so no "
            "task would ever run on Spot",
            f"choose fewer than {most} on-demand tasks, or turn capacity.spot off",
        )

    def _check_prod_protections(self) -> None:
        """Cost options that would weaken prod: refused there, each with its reason."""
        if self.stage != "prod":
            return
        require(
            not self.app.seed_demo_data,
            "app.seed_demo_data",
            "demo users and portfolios never enter prod's database",
            "remove the setting (app.seed_demo_data may be true in dev only)",
        )
        require(
            not self.capacity.spot,
            "capacity.spot",
            "Fargate Spot may stop tasks with two minutes' notice, and an interruption can take "
            "every task prod serves from at once",
            "remove the override (capacity.spot may be true only in dev)",
        )
        require(
            self.auth.feature_plan == "plus",
            "auth.feature_plan",
            "prod keeps the Plus plan for its threat protection (compromised-credential and "
            "risky sign-in detection, enforced)",
            "remove the override (auth.feature_plan may be essentials only in dev)",
        )
        require(
            not self.auth.password_auth,
            "auth.password_auth",
            "USER_PASSWORD_AUTH sends the password itself to Cognito and lets anyone with the "
            "public client id try passwords with it; prod's clients sign in with SRP",
            "remove the override (every sign-in here, the smoke test's too, uses SRP)",
        )

    def _check_monitoring(self) -> None:
        require(
            self.container_insights,
            "container_insights",
            "the running-task, CPU and memory alarms read Container Insights metrics; without "
            "it they never see data and an outage would go unnoticed",
            "keep container_insights on (it costs per metric; see docs/operations.md)",
        )
        # An LRU cache is full by design: its container then holds maxmemory plus Redis's own
        # overhead, which the redis-memory alarm must not call trouble.
        full = 100 * self.redis.effective_maxmemory_mib / self.redis.memory_mib
        floor = full + REDIS_OVERHEAD_HEADROOM_PERCENT
        require(
            self.alarms.container_memory_percent > floor,
            "alarms.container_memory_percent",
            f"{self.alarms.container_memory_percent} % of the redis container's limit is where "
            f"a full cache already sits (maxmemory {self.redis.effective_maxmemory_mib} MiB = "
            f"{full:g} % of {self.redis.memory_mib} MiB, plus about "
            f"{REDIS_OVERHEAD_HEADROOM_PERCENT} % of Redis's own overhead): the redis-memory "
            "alarm would fire while the cache works as designed",
            f"choose a threshold above {floor:g} %, or lower redis.maxmemory_mib",
        )
