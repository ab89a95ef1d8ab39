"""The stage's CloudWatch metrics, built once for the alarms and the dashboard alike.

Not a construct: metrics are template-free until an alarm or a widget uses them. Names and
units come from :mod:`infra.monitoring_design`. Container Insights dimensions are the cluster's
and the service's deployed names (CloudFormation generates them), so an alarm on one depends on
the service: the service's deployment (rollback) alarms must not read Container Insights, or
the service would wait for an alarm that waits for it (a synth-time dependency cycle). The EMF
dimensions are the config's stage and the service's name in its own metrics.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_elasticloadbalancingv2 as elbv2

from infra import monitoring_design as d
from infra.config import StageConfig
from infra.task_design import APP_CONTAINER, REDIS_CONTAINER


class ServiceMetrics:
    """Every metric the monitoring reads. `waf_metric_name` is the web ACL's CloudWatch metric
    name (its `WebACL` dimension), None without a web ACL; `task_stops_rule` names the
    EventBridge rule that matches unexpected task stops; `cluster_name` and `service_name` are
    the deployed ECS names (tokens)."""

    def __init__(
        self,
        *,
        config: StageConfig,
        cluster_name: str,
        service_name: str,
        load_balancer: elbv2.IApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        task_stops_rule: str,
        waf_metric_name: str | None,
    ) -> None:
        self.config = config
        self.cluster_name = cluster_name
        self.service_name = service_name
        self._lb = load_balancer
        self._tg = target_group
        self._rule = task_stops_rule
        self._waf = waf_metric_name

    # ---- load balancer (the target group's metrics carry both LB and TG dimensions)
    def requests(self, period_s: int = 60) -> cw.Metric:
        return self._tg.metrics.request_count(period=Duration.seconds(period_s), label="requests")

    def target_5xx(self, period_s: int = 60) -> cw.Metric:
        return self._tg.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT,
            period=Duration.seconds(period_s),
            label="target 5xx",
        )

    def target_5xx_percent(self, period_s: int = 60) -> cw.MathExpression:
        # Minutes with too few requests count as 0 %: one error in two requests is not a trend.
        floor = self.config.alarms.min_requests_per_minute
        return cw.MathExpression(
            expression=f"IF(requests >= {floor}, 100 * FILL(errors, 0) / requests, 0)",
            using_metrics={
                "requests": self.requests(period_s),
                "errors": self.target_5xx(period_s),
            },
            period=Duration.seconds(period_s),
            label="5xx rate (%)",
        )

    def latency_ms(self, percentile: str, period_s: int = 60) -> cw.MathExpression:
        """TargetResponseTime (seconds) as milliseconds, so thresholds read like the config."""
        seconds = self._tg.metrics.target_response_time(
            statistic=percentile, period=Duration.seconds(period_s)
        )
        return cw.MathExpression(
            expression=f"1000 * latency_{percentile}",
            using_metrics={f"latency_{percentile}": seconds},
            period=Duration.seconds(period_s),
            label=f"{percentile} (ms)",
        )

    def unhealthy_hosts(self, period_s: int = 60) -> cw.Metric:
        return self._tg.metrics.unhealthy_host_count(
            statistic="Maximum", period=Duration.seconds(period_s), label="unhealthy targets"
        )

    def healthy_hosts(self, period_s: int = 60) -> cw.Metric:
        return self._tg.metrics.healthy_host_count(
            statistic="Minimum", period=Duration.seconds(period_s), label="healthy targets"
        )

    def rejected_connections(self, period_s: int = 60) -> cw.Metric:
        return self._lb.metrics.rejected_connection_count(
            period=Duration.seconds(period_s), label="rejected connections"
        )

    # ---- WAF
    @property
    def has_waf(self) -> bool:
        return self._waf is not None

    def waf_blocked(self, period_s: int = 300) -> cw.Metric:
        if self._waf is None:
            raise ValueError("no web ACL guards this load balancer")
        return cw.Metric(
            namespace=d.WAF_NAMESPACE,
            metric_name="BlockedRequests",
            dimensions_map={"WebACL": self._waf, "Region": self.config.region, "Rule": "ALL"},
            statistic="Sum",
            period=Duration.seconds(period_s),
            label="blocked requests",
        )

    # ---- Container Insights (enhanced observability: per-container dimensions)
    def _insights(self, name: str, statistic: str, period_s: int, **dims: str) -> cw.Metric:
        return cw.Metric(
            namespace=d.CONTAINER_INSIGHTS_NAMESPACE,
            metric_name=name,
            dimensions_map={
                "ClusterName": self.cluster_name,
                "ServiceName": self.service_name,
                **dims,
            },
            statistic=statistic,
            period=Duration.seconds(period_s),
            label=name,
        )

    def task_count(self, name: str, period_s: int = 60) -> cw.Metric:
        """RunningTaskCount, DesiredTaskCount or PendingTaskCount."""
        statistic = "Minimum" if name == "RunningTaskCount" else "Maximum"
        return self._insights(name, statistic, period_s)

    def tasks_short(self, period_s: int = 60) -> cw.MathExpression:
        return cw.MathExpression(
            expression="desired - running",
            using_metrics={
                "desired": self.task_count("DesiredTaskCount", period_s),
                "running": self.task_count("RunningTaskCount", period_s),
            },
            period=Duration.seconds(period_s),
            label="tasks short of desired",
        )

    def container_cpu_percent(self, container: str, period_s: int = 60) -> cw.MathExpression:
        # Containers here reserve no CPU of their own: they share the task's units, which are
        # therefore the ceiling a container can reach.
        used = self._insights("ContainerCpuUtilized", "Maximum", period_s, ContainerName=container)
        return cw.MathExpression(
            expression=f"100 * cpu_{container} / {self.config.task_cpu}",
            using_metrics={f"cpu_{container}": used},
            period=Duration.seconds(period_s),
            label=f"{container} CPU (% of task)",
        )

    def container_memory_percent(self, container: str, period_s: int = 60) -> cw.MathExpression:
        limits_mib = {
            APP_CONTAINER: self.config.app.memory_mib,
            REDIS_CONTAINER: self.config.redis.memory_mib,
        }
        used = self._insights(
            "ContainerMemoryUtilized", "Maximum", period_s, ContainerName=container
        )
        return cw.MathExpression(
            expression=f"100 * memory_{container} / {limits_mib[container]}",
            using_metrics={f"memory_{container}": used},
            period=Duration.seconds(period_s),
            label=f"{container} memory (% of limit)",
        )

    def task_stops(self, period_s: int = 900) -> cw.Metric:
        return cw.Metric(
            namespace=d.EVENTS_NAMESPACE,
            metric_name="MatchedEvents",
            dimensions_map={"RuleName": self._rule},
            statistic="Sum",
            period=Duration.seconds(period_s),
            label="unexpected task stops",
        )

    # ---- the service's EMF records
    def emf(self, name: str, statistic: str, period_s: int = 60) -> cw.Metric:
        return cw.Metric(
            namespace=d.EMF_NAMESPACE,
            metric_name=name,
            dimensions_map={
                d.EMF_DIM_STAGE: self.config.stage,
                d.EMF_DIM_SERVICE: self.config.metrics_service_name,
            },
            statistic=statistic,
            period=Duration.seconds(period_s),
            label=name,
        )

    def cache_hit_ratio(self, period_s: int = 300) -> cw.MathExpression:
        # Across tasks from the counters, not an average of per-task ratios; windows with too
        # few reads count as 100 % so a quiet night never pages anyone.
        floor = self.config.alarms.min_cache_reads_per_5min
        return cw.MathExpression(
            expression=f"IF(hits + misses >= {floor}, 100 * hits / (hits + misses), 100)",
            using_metrics={
                "hits": self.emf(d.EMF_CACHE_HITS, "Sum", period_s),
                "misses": self.emf(d.EMF_CACHE_MISSES, "Sum", period_s),
            },
            period=Duration.seconds(period_s),
            label="cache hit ratio (%)",
        )

    def cache_thrashing_evictions(self, period_s: int = 300) -> cw.MathExpression:
        """Evictions in windows where most reads miss, else 0. A full LRU cache evicts all the
        time; only evictions the reads then miss mean the working set does not fit. The
        ratio test is multiplied out (no division by a zero read count)."""
        a = self.config.alarms
        reads = "(hits + misses)"
        return cw.MathExpression(
            expression=f"IF({reads} >= {a.min_cache_reads_per_5min} AND 100 * hits < "
            f"{a.cache_hit_ratio_floor_percent} * {reads}, FILL(evictions, 0), 0)",
            using_metrics={
                "hits": self.emf(d.EMF_CACHE_HITS, "Sum", period_s),
                "misses": self.emf(d.EMF_CACHE_MISSES, "Sum", period_s),
                "evictions": self.emf(d.EMF_REDIS_EVICTED_KEYS, "Sum", period_s),
            },
            period=Duration.seconds(period_s),
            label=f"evictions while hit ratio < {a.cache_hit_ratio_floor_percent} %",
        )

    def for_alarm(self, spec: d.AlarmSpec) -> cw.IMetric:
        """The metric an alarm spec judges, at the spec's period."""
        builders: dict[str, Callable[[], cw.IMetric]] = {
            "target-5xx-rate": lambda: self.target_5xx_percent(spec.period_s),
            "target-p99-latency": lambda: self.latency_ms("p99", spec.period_s),
            "unhealthy-hosts": lambda: self.unhealthy_hosts(spec.period_s),
            "rejected-connections": lambda: self.rejected_connections(spec.period_s),
            "waf-blocked-spike": lambda: self.waf_blocked(spec.period_s),
            "tasks-below-desired": lambda: self.tasks_short(spec.period_s),
            "task-restarts": lambda: self.task_stops(spec.period_s),
            "cache-hit-ratio": lambda: self.cache_hit_ratio(spec.period_s),
            "cache-thrashing": lambda: self.cache_thrashing_evictions(spec.period_s),
            "cache-breaker-open": lambda: self.emf(d.EMF_BREAKER_OPEN, "Maximum", spec.period_s),
            "stale-answers": lambda: self.emf(d.EMF_STALE_ANSWERS, "Sum", spec.period_s),
        }
        container, _, kind = spec.key.partition("-")
        if container in d.CONTAINERS and kind == "cpu":
            return self.container_cpu_percent(container, spec.period_s)
        if container in d.CONTAINERS and kind == "memory":
            return self.container_memory_percent(container, spec.period_s)
        return builders[spec.key]()
