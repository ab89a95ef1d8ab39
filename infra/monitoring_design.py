"""What the stage's alarms watch, their thresholds and why: CDK-free design facts.

`infra/constructs/alarms.py` builds one CloudWatch alarm per :class:`AlarmSpec` (the metric for
each `key` lives there) and `generators/docs.py` renders the same specs as the alarm table of
docs/reference/alarms.md, so the documentation cannot drift from the template.

The service's own figures come from its CloudWatch embedded metric format records; their names
are read from the service's metric catalogue (service/emf_catalog.py, standard library only), so
the alarms and the emitter cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from infra.config import StageConfig
from infra.task_design import APP_CONTAINER, REDIS_CONTAINER
from service import emf_catalog as emf

# ---- the service's EMF metrics (namespace, dimensions, names): from the emitter's catalogue
EMF_NAMESPACE: Final = emf.DEFAULT_NAMESPACE
EMF_DIM_STAGE: Final = emf.DIM_STAGE
EMF_DIM_SERVICE: Final = emf.DIM_SERVICE
EMF_CACHE_HITS: Final = emf.CACHE_HITS.name
EMF_CACHE_MISSES: Final = emf.CACHE_MISSES.name
EMF_CACHE_BYPASSES: Final = emf.CACHE_BYPASSES.name
EMF_CACHED_READ_LATENCY: Final = emf.CACHED_READ_LATENCY.name
EMF_UNCACHED_READ_LATENCY: Final = emf.UNCACHED_READ_LATENCY.name
EMF_REDIS_MEMORY_USED_PERCENT: Final = emf.REDIS_MEMORY_USED_PERCENT.name
EMF_REDIS_EVICTED_KEYS: Final = emf.REDIS_EVICTED_KEYS.name
EMF_BREAKER_OPEN: Final = emf.BREAKER_OPEN.name
EMF_STALE_ANSWERS: Final = emf.STALE_ANSWERS.name
EMF_SOURCE_BREAKER_OPEN: Final = emf.SOURCE_BREAKER_OPEN.name

# Container Insights (enhanced observability) and the load balancer's namespaces.
CONTAINER_INSIGHTS_NAMESPACE: Final = "ECS/ContainerInsights"
ALB_NAMESPACE: Final = "AWS/ApplicationELB"
WAF_NAMESPACE: Final = "AWS/WAFV2"
EVENTS_NAMESPACE: Final = "AWS/Events"

Comparison = Literal[">", ">=", "<"]
# CloudWatch's TreatMissingData values.
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm: the threshold is the config's, the reasons are the design's."""

    key: str  # construct id and metric key; the alarm is named <prefix>-<key>
    watches: str  # the metric, as an operator reads it on the dashboard
    comparison: Comparison
    threshold: float
    unit: str  # of the threshold: "%", "ms", "tasks", ...
    period_s: int
    evaluation_periods: int
    setting: str  # the config path of the threshold
    missing_data: MissingData
    missing_reason: str  # why that treatment of missing data
    why: str
    critical: bool = False  # part of the composite "service unhealthy" alarm
    rollback: bool = False  # an ECS deployment alarm: a deploy that trips it rolls back

    def name(self, config: StageConfig) -> str:
        return f"{config.alarm_name_prefix}-{self.key}"

    @property
    def condition(self) -> str:
        """e.g. `> 5 % for 3 x 60 s`."""
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.comparison} {self.threshold:g}{unit} for "
            f"{self.evaluation_periods} x {self.period_s} s"
        )


COMPOSITE_KEY: Final = "service-unhealthy"
CONTAINERS: Final = (APP_CONTAINER, REDIS_CONTAINER)


def alarm_specs(config: StageConfig, *, waf: bool) -> list[AlarmSpec]:
    """Every metric alarm of the stage, in dashboard order. `waf`: a web ACL guards the load
    balancer (the blocked-request alarm exists only then)."""
    specs = _load_balancer(config)
    if waf:
        specs.append(_waf(config))
    return specs + _service(config) + _cache(config)


def _load_balancer(config: StageConfig) -> list[AlarmSpec]:
    a = config.alarms
    bad = a.bad_deploy_minutes
    return [
        AlarmSpec(
            key="target-5xx-rate",
            watches="100 x HTTPCode_Target_5XX_Count / RequestCount (minutes with at least "
            f"{a.min_requests_per_minute} requests)",
            comparison=">",
            threshold=a.target_5xx_percent,
            unit="%",
            period_s=60,
            evaluation_periods=bad,
            setting="alarms.target_5xx_percent",
            missing_data="notBreaching",
            missing_reason="no requests, no datapoint: silence is not an error (dead targets "
            "raise unhealthy-hosts)",
            why="the app answers with errors; as a deployment alarm it rolls a deploy that "
            "starts serving 5xx back",
            critical=True,
            rollback=True,
        ),
        AlarmSpec(
            key="target-p99-latency",
            watches="TargetResponseTime p99",
            comparison=">",
            threshold=a.p99_latency_ms,
            unit="ms",
            period_s=60,
            evaluation_periods=bad,
            setting="alarms.p99_latency_ms",
            missing_data="notBreaching",
            missing_reason="no requests, no latency to judge",
            why="slow answers (cache down, database slow, CPU starved); rolls a slow deploy back",
            critical=True,
            rollback=True,
        ),
        AlarmSpec(
            key="unhealthy-hosts",
            watches="UnHealthyHostCount (maximum)",
            comparison=">",
            threshold=0,
            unit="targets",
            period_s=60,
            evaluation_periods=bad,
            setting="alarms.bad_deploy_minutes",
            missing_data="missing",
            missing_reason="the load balancer reports this every minute, 0 included: a gap "
            "is a monitoring fault, shown as INSUFFICIENT_DATA, not an outage",
            why="a task fails the /health check; new tasks that never get healthy roll the "
            "deploy back",
            critical=True,
            rollback=True,
        ),
        AlarmSpec(
            key="rejected-connections",
            watches="RejectedConnectionCount (sum)",
            comparison=">",
            threshold=a.rejected_connections_per_minute,
            unit="connections",
            period_s=60,
            evaluation_periods=1,
            setting="alarms.rejected_connections_per_minute",
            missing_data="notBreaching",
            missing_reason="published only when a connection was rejected",
            why="the load balancer hit its connection limit and turned clients away",
        ),
    ]


def _waf(config: StageConfig) -> AlarmSpec:
    return AlarmSpec(
        key="waf-blocked-spike",
        watches="BlockedRequests of the web ACL, all rules (sum)",
        comparison=">",
        threshold=config.alarms.waf_blocked_requests_per_5min,
        unit="requests",
        period_s=300,
        evaluation_periods=1,
        setting="alarms.waf_blocked_requests_per_5min",
        missing_data="notBreaching",
        missing_reason="published only when a request was blocked",
        why="an attack or a scan (or a rule blocking real users): look at the sampled requests",
    )


def _service(config: StageConfig) -> list[AlarmSpec]:
    a = config.alarms
    specs = [
        AlarmSpec(
            key="tasks-below-desired",
            watches="DesiredTaskCount - RunningTaskCount (Container Insights)",
            comparison=">",
            threshold=0,
            unit="tasks",
            period_s=60,
            evaluation_periods=a.tasks_below_desired_minutes,
            setting="alarms.tasks_below_desired_minutes",
            missing_data="breaching",
            missing_reason="Container Insights stops publishing when a service has no running "
            "task: missing data here is the outage itself",
            why="tasks crash or cannot start (image, secret, Redis dependency) and the "
            "service runs short",
            critical=True,
        ),
    ]
    for container in CONTAINERS:
        specs.append(
            AlarmSpec(
                key=f"{container}-cpu",
                watches=f"ContainerCpuUtilized of `{container}` / task CPU units "
                f"({config.task_cpu}) (worst task)",
                comparison=">",
                threshold=a.container_cpu_percent,
                unit="%",
                period_s=60,
                evaluation_periods=a.utilization_minutes,
                setting="alarms.container_cpu_percent",
                missing_data="notBreaching",
                missing_reason="no running task, no figure: tasks-below-desired covers that",
                why=f"`{container}` is CPU-starved: requests queue and latency climbs "
                "(containers share the task's CPU, so the task's units are the ceiling)",
            )
        )
    limits_mib = {APP_CONTAINER: config.app.memory_mib, REDIS_CONTAINER: config.redis.memory_mib}
    for container, limit in limits_mib.items():
        specs.append(
            AlarmSpec(
                key=f"{container}-memory",
                watches=f"ContainerMemoryUtilized of `{container}` / its {limit} MiB hard "
                "limit (worst task)",
                comparison=">",
                threshold=a.container_memory_percent,
                unit="%",
                period_s=60,
                evaluation_periods=a.utilization_minutes,
                setting="alarms.container_memory_percent",
                missing_data="notBreaching",
                missing_reason="no running task, no figure: tasks-below-desired covers that",
                why=f"`{container}` nears its hard limit, where it is OOM-killed and the whole "
                "task stops" + _steady_state(config, container),
            )
        )
    specs.append(
        AlarmSpec(
            key="task-restarts",
            watches="ECS task stops that were not a deploy or scale-in: essential container "
            "exited, failed to start, failed health checks (EventBridge matches)",
            comparison=">=",
            threshold=a.task_restarts_per_15min,
            unit="stops",
            period_s=900,
            evaluation_periods=1,
            setting="alarms.task_restarts_per_15min",
            missing_data="notBreaching",
            missing_reason="EventBridge publishes a datapoint only when an event matched",
            why="tasks crash-loop: ECS keeps replacing them, so the running count can look "
            "fine while every task restarts",
        )
    )
    return specs


def _steady_state(config: StageConfig, container: str) -> str:
    """Why the redis container's memory alarm stays quiet while its LRU cache is full."""
    if container != REDIS_CONTAINER:
        return ""
    share = maxmemory_percent(config)
    return (
        f". A full cache (its normal state) sits at maxmemory, {share:g} % of the limit, "
        "plus Redis's own overhead; above the threshold, fragmentation or client buffers "
        "grow toward the OOM kill"
    )


def maxmemory_percent(config: StageConfig) -> float:
    """Where the redis container's memory sits with a full cache: maxmemory, % of its limit."""
    return round(100 * config.redis.effective_maxmemory_mib / config.redis.memory_mib, 1)


def _cache(config: StageConfig) -> list[AlarmSpec]:
    a = config.alarms
    return [
        AlarmSpec(
            key="cache-hit-ratio",
            watches="100 x CacheHits / (CacheHits + CacheMisses), all tasks (5-minute windows "
            f"with at least {a.min_cache_reads_per_5min} reads)",
            comparison="<",
            threshold=a.cache_hit_ratio_floor_percent,
            unit="%",
            period_s=300,
            evaluation_periods=3,
            setting="alarms.cache_hit_ratio_floor_percent",
            missing_data="notBreaching",
            missing_reason="no reads, no ratio; a cold cache after a deploy recovers within "
            "the 15 minutes",
            why="reads go to the database: with cache-thrashing the working set does not fit, "
            "without it TTLs are too short for how often keys are read again",
        ),
        AlarmSpec(
            key="cache-thrashing",
            watches="RedisEvictedKeys (sum, all tasks), counted only in 5-minute windows whose "
            f"hit ratio is below {a.cache_hit_ratio_floor_percent} % (with at least "
            f"{a.min_cache_reads_per_5min} reads)",
            comparison=">",
            threshold=a.evictions_per_5min,
            unit="keys",
            period_s=300,
            evaluation_periods=3,
            setting="alarms.evictions_per_5min",
            missing_data="notBreaching",
            missing_reason="no reads, or no INFO readings yet (a down Redis raises "
            "cache-breaker-open)",
            why="Redis evicts entries that reads then miss: the working set does not fit in "
            "maxmemory; raise redis.memory_mib (maxmemory follows). A full cache evicting "
            "while most reads hit is an LRU cache doing its job and does not alarm",
        ),
        AlarmSpec(
            key="cache-breaker-open",
            watches="BreakerOpen (1 while the app's Redis circuit breaker is open; maximum)",
            comparison=">=",
            threshold=1,
            unit="",
            period_s=60,
            evaluation_periods=a.breaker_open_minutes,
            setting="alarms.breaker_open_minutes",
            missing_data="notBreaching",
            missing_reason="every flush reports 0 or 1; no record means no task (covered by "
            "tasks-below-desired)",
            why="Redis is unreachable: every read bypasses the cache to the database",
        ),
        AlarmSpec(
            key="stale-answers",
            watches="StaleAnswers (reads answered X-Cache: STALE because the database failed; "
            "sum, all tasks)",
            comparison=">",
            threshold=0,
            unit="reads",
            period_s=60,
            evaluation_periods=a.stale_answers_minutes,
            setting="alarms.stale_answers_minutes",
            missing_data="notBreaching",
            missing_reason="every flush reports a count, 0 included; no record means no task "
            "(covered by tasks-below-desired)",
            why="the database keeps failing and users are shown data up to "
            f"{config.app.cache_stale_if_error_s} s past its TTL (app.cache_stale_if_error_s), "
            "marked stale; past that bound those reads turn into 503s. A blip of stale "
            "answers is the feature working and does not alarm; minutes of them are an outage "
            "to fix",
        ),
    ]


def composite_children(specs: list[AlarmSpec]) -> list[AlarmSpec]:
    return [s for s in specs if s.critical]


def deployment_alarms(specs: list[AlarmSpec]) -> list[AlarmSpec]:
    return [s for s in specs if s.rollback]
