"""The stage's CloudWatch dashboard, with every alarm threshold drawn on its graph."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from infra import monitoring_design as d
from infra.config import StageConfig
from infra.constructs.alarms import ServiceAlarms
from infra.constructs.service_metrics import ServiceMetrics
from infra.task_design import REDIS_CONTAINER

_RED = "#d62728"
_GREY = "#7f7f7f"
_WIDTH = 8  # three graphs per 24-column row
_HEIGHT = 6


class ServiceDashboard(Construct):
    """Requests and 5xx, latency percentiles, tasks, CPU and memory per container, the cache
    (hit ratio, Redis memory, evictions, breaker) and WAF blocks. Each alarm's threshold is a
    horizontal annotation on the graph of the metric it judges, so a graph shows how close a
    line is to paging someone."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        metrics: ServiceMetrics,
        alarms: ServiceAlarms,
    ) -> None:
        super().__init__(scope, construct_id)
        self._specs = {s.key: s for s in alarms.specs}
        m = metrics
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.dashboard_name,
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# Fyntrix {config.stage}\nService `{metrics.service_name}` in "
                f"cluster `{metrics.cluster_name}`, {config.region}. Red lines are alarm "
                "thresholds (docs/reference/alarms.md).",
                width=8,
                height=_HEIGHT,
            ),
            cw.AlarmStatusWidget(
                title="Alarms",
                alarms=[alarms.service_unhealthy, *alarms.alarms.values()],
                width=16,
                height=_HEIGHT,
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Requests and 5xx",
                [m.requests(), m.target_5xx()],
                right=[m.target_5xx_percent()],
                right_keys=["target-5xx-rate"],
            ),
            self._graph(
                "Latency percentiles (ms)",
                [m.latency_ms(p) for p in ("p50", "p90", "p99")],
                keys=["target-p99-latency"],
            ),
            self._graph(
                "Targets and rejected connections",
                [m.healthy_hosts(), m.unhealthy_hosts()],
                keys=["unhealthy-hosts"],
                right=[m.rejected_connections()],
                right_keys=["rejected-connections"],
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Tasks",
                [
                    m.task_count(name)
                    for name in ("RunningTaskCount", "DesiredTaskCount", "PendingTaskCount")
                ],
                right=[m.task_stops(300)],
                right_keys=["task-restarts"],
            ),
            self._graph(
                "CPU per container (% of task)",
                [m.container_cpu_percent(c) for c in d.CONTAINERS],
                keys=[f"{d.CONTAINERS[0]}-cpu"],
            ),
            self._memory_graph(config, m),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Cache hit ratio and reads",
                [m.cache_hit_ratio()],
                keys=["cache-hit-ratio"],
                right=[
                    m.emf(name, "Sum", 300)
                    for name in (d.EMF_CACHE_HITS, d.EMF_CACHE_MISSES, d.EMF_CACHE_BYPASSES)
                ],
            ),
            self._graph(
                "Read latency, cached vs uncached (ms)",
                [
                    m.emf(name, stat)
                    for name in (d.EMF_CACHED_READ_LATENCY, d.EMF_UNCACHED_READ_LATENCY)
                    for stat in ("p50", "p99")
                ],
            ),
            self._graph(
                "Redis memory (% of maxmemory) and evictions",
                [m.emf(d.EMF_REDIS_MEMORY_USED_PERCENT, "Maximum", 300)],
                right=[m.emf(d.EMF_REDIS_EVICTED_KEYS, "Sum", 300), m.cache_thrashing_evictions()],
                right_keys=["cache-thrashing"],
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Redis circuit breaker (1 = open)",
                [m.emf(d.EMF_BREAKER_OPEN, "Maximum")],
                keys=["cache-breaker-open"],
            ),
            self._graph(
                "Database outage: stale answers and its breaker (1 = open)",
                [m.emf(d.EMF_STALE_ANSWERS, "Sum")],
                keys=["stale-answers"],
                right=[m.emf(d.EMF_SOURCE_BREAKER_OPEN, "Maximum")],
            ),
            self._waf_widget(m),
        )

    def _annotations(self, keys: list[str]) -> list[cw.HorizontalAnnotation]:
        return [
            cw.HorizontalAnnotation(
                value=self._specs[key].threshold,
                label=f"{key} alarm: {self._specs[key].condition}",
                color=_RED,
            )
            for key in keys
            if key in self._specs
        ]

    def _graph(
        self,
        title: str,
        left: list[cw.IMetric],
        *,
        keys: list[str] | None = None,
        right: list[cw.IMetric] | None = None,
        right_keys: list[str] | None = None,
        notes: list[cw.HorizontalAnnotation] | None = None,
    ) -> cw.GraphWidget:
        return cw.GraphWidget(
            title=title,
            left=left,
            right=right or [],
            left_annotations=self._annotations(keys or []) + (notes or []),
            right_annotations=self._annotations(right_keys or []),
            width=_WIDTH,
            height=_HEIGHT,
        )

    def _memory_graph(self, config: StageConfig, m: ServiceMetrics) -> cw.GraphWidget:
        """Both containers against the memory alarm's threshold, and the line where a full
        cache keeps the redis container: its normal state, below the threshold."""
        full = cw.HorizontalAnnotation(
            value=d.maxmemory_percent(config),
            label=f"{REDIS_CONTAINER} with a full cache (maxmemory)",
            color=_GREY,
        )
        return self._graph(
            "Memory per container (% of limit)",
            [m.container_memory_percent(c) for c in d.CONTAINERS],
            keys=[f"{d.CONTAINERS[0]}-memory"],
            notes=[full],
        )

    def _waf_widget(self, m: ServiceMetrics) -> cw.IWidget:
        if not m.has_waf:
            return cw.TextWidget(
                markdown="## WAF blocks\nNo web ACL guards this stage's load balancer, so "
                "there is nothing blocked to show.",
                width=_WIDTH,
                height=_HEIGHT,
            )
        return self._graph("WAF blocked requests", [m.waf_blocked()], keys=["waf-blocked-spike"])
