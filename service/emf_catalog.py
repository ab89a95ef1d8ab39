"""The CloudWatch metric catalogue: every name the service's EMF records publish, in one place.

Imports nothing but the standard library, so the CDK app (alarms, dashboard) and the service
both read the names from here and cannot drift apart.

Every flush (METRICS_FLUSH_INTERVAL_S, 60 s by default) writes these records to stdout, one JSON
object per line, in the CloudWatch embedded metric format; the awslogs driver ships them to
CloudWatch Logs, which extracts the metrics into namespace METRICS_NAMESPACE (default below):

* one SERVICE record, dimensions [Stage, Service] (the SERVICE_METRICS below);
* one REQUESTS record per (route, cache status) seen in the interval, dimensions
  [Stage, Service, Route, CacheStatus], carrying the REQUESTS metric;
* one UNAVAILABLE record per route answered 503 because the database failed in the interval,
  dimensions [Stage, Service, Route], carrying the SOURCE_UNAVAILABLE metric.

Stage and Service come from METRICS_STAGE and METRICS_SERVICE (infra's config sets them to the
stage name and the ECS service name). A metric with no data in an interval is left out of the
record (no datapoint), never written as 0, except counters, which are 0 when nothing happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_NAMESPACE: Final = "Fyntrix/Service"

# Dimension keys
DIM_STAGE: Final = "Stage"
DIM_SERVICE: Final = "Service"
DIM_ROUTE: Final = "Route"
DIM_CACHE_STATUS: Final = "CacheStatus"

SERVICE_DIMENSIONS: Final = (DIM_STAGE, DIM_SERVICE)
REQUEST_DIMENSIONS: Final = (DIM_STAGE, DIM_SERVICE, DIM_ROUTE, DIM_CACHE_STATUS)
ROUTE_DIMENSIONS: Final = (DIM_STAGE, DIM_SERVICE, DIM_ROUTE)

# CacheStatus dimension values: the X-Cache header of the response, NONE for routes that do not
# read through the cache (health, writes, ops endpoints). STALE: answered from a copy past its
# TTL because the database failed (CACHE_STALE_IF_ERROR_S).
CACHE_STATUSES: Final = ("HIT", "MISS", "BYPASS", "STALE", "NONE")

# Route dimension values are FastAPI route templates; these are the cached reads.
CACHED_READ_ROUTES: Final = (
    "/api/portfolio/{user_id}",
    "/api/dashboard/{user_id}",
    "/api/top-picks",
)
UNMATCHED_ROUTE: Final = "unmatched"  # every path no route matched shares this one value

Unit = Literal["Count", "Percent", "Milliseconds", "Bytes", "None"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: Unit
    description: str
    histogram: bool = False  # published as Values/Counts: use pNN statistics on it


# ---- SERVICE record, dimensions [Stage, Service] ----
CACHE_HITS: Final = MetricSpec(
    "CacheHits", "Count", "Reads served from the cache (L1 or Redis) in the interval."
)
CACHE_MISSES: Final = MetricSpec(
    "CacheMisses", "Count", "Reads that missed the cache and were loaded and cached."
)
CACHE_BYPASSES: Final = MetricSpec(
    "CacheBypasses",
    "Count",
    "Reads served from the source of truth because the cache was unavailable (Redis down, "
    "breaker open, invalidation feed down).",
)
CACHE_HIT_RATIO: Final = MetricSpec(
    "CacheHitRatio",
    "Percent",
    "100 * hits / (hits + misses) in the interval; absent when there was no such read. "
    "Across tasks prefer the metric math 100*SUM(CacheHits)/(SUM(CacheHits)+SUM(CacheMisses)).",
)
CACHED_READ_LATENCY: Final = MetricSpec(
    "CachedReadLatency",
    "Milliseconds",
    "Server-side latency of reads answered HIT, as a histogram (use p50/p99).",
    histogram=True,
)
UNCACHED_READ_LATENCY: Final = MetricSpec(
    "UncachedReadLatency",
    "Milliseconds",
    "Server-side latency of reads answered MISS or BYPASS, as a histogram (use p50/p99).",
    histogram=True,
)
REDIS_MEMORY_USED_PERCENT: Final = MetricSpec(
    "RedisMemoryUsedPercent",
    "Percent",
    "Redis used_memory as a share of maxmemory, at flush time; absent when Redis did not "
    "answer INFO or has no maxmemory.",
)
REDIS_MEMORY_USED: Final = MetricSpec(
    "RedisMemoryUsed", "Bytes", "Redis used_memory at flush time; absent when Redis did not answer."
)
REDIS_EVICTED_KEYS: Final = MetricSpec(
    "RedisEvictedKeys",
    "Count",
    "Keys Redis evicted under maxmemory since the previous flush (delta of INFO evicted_keys); "
    "absent until two INFO readings exist.",
)
REDIS_ERRORS: Final = MetricSpec(
    "RedisErrors", "Count", "Failed Redis operations in the interval (timeouts, refused, errors)."
)
BREAKER_OPEN: Final = MetricSpec(
    "BreakerOpen",
    "None",
    "1 when the Redis circuit breaker was open (or half-open) at any time in the interval, else 0.",
)
BREAKER_OPENED: Final = MetricSpec(
    "BreakerOpened", "Count", "Times the Redis circuit breaker opened in the interval."
)
BREAKER_CLOSED: Final = MetricSpec(
    "BreakerClosed", "Count", "Times the Redis circuit breaker closed again in the interval."
)
LISTENER_CONNECTED: Final = MetricSpec(
    "InvalidationListenerConnected",
    "None",
    "1 when the cross-instance invalidation listener (Postgres LISTEN) is connected and synced "
    "at flush time, else 0 (the cache is bypassed meanwhile). Absent without Postgres.",
)
LISTENER_RECONNECTS: Final = MetricSpec(
    "InvalidationListenerReconnects",
    "Count",
    "Times the invalidation listener re-established its connection in the interval. Absent "
    "without Postgres.",
)

STALE_ANSWERS: Final = MetricSpec(
    "StaleAnswers",
    "Count",
    "Reads answered from a stale copy (X-Cache: STALE) because the database failed, in the "
    "interval; per route: Requests with CacheStatus STALE.",
)
SOURCE_BREAKER_OPEN: Final = MetricSpec(
    "SourceBreakerOpen",
    "None",
    "1 when the database circuit breaker was open (or half-open) at any time in the interval, "
    "else 0: database calls failed at once.",
)
SOURCE_BREAKER_OPENED: Final = MetricSpec(
    "SourceBreakerOpened", "Count", "Times the database circuit breaker opened in the interval."
)

SERVICE_METRICS: Final = (
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_BYPASSES,
    CACHE_HIT_RATIO,
    CACHED_READ_LATENCY,
    UNCACHED_READ_LATENCY,
    REDIS_MEMORY_USED_PERCENT,
    REDIS_MEMORY_USED,
    REDIS_EVICTED_KEYS,
    REDIS_ERRORS,
    BREAKER_OPEN,
    BREAKER_OPENED,
    BREAKER_CLOSED,
    LISTENER_CONNECTED,
    LISTENER_RECONNECTS,
    STALE_ANSWERS,
    SOURCE_BREAKER_OPEN,
    SOURCE_BREAKER_OPENED,
)

# ---- REQUESTS records, dimensions [Stage, Service, Route, CacheStatus] ----
REQUESTS: Final = MetricSpec(
    "Requests", "Count", "HTTP requests completed in the interval, by route and cache status."
)
REQUEST_METRICS: Final = (REQUESTS,)

# ---- UNAVAILABLE records, dimensions [Stage, Service, Route] ----
SOURCE_UNAVAILABLE: Final = MetricSpec(
    "SourceUnavailable",
    "Count",
    "Requests answered 503 because the database failed or its circuit breaker was open (and, "
    "for a read, no stale copy within the bound), in the interval, by route.",
)
UNAVAILABLE_METRICS: Final = (SOURCE_UNAVAILABLE,)

# Root members that are not metrics (for CloudWatch Logs Insights, not extracted as metrics).
PROP_RECORD: Final = "Record"  # "service", "requests" or "unavailable"
PROP_INSTANCE: Final = "Instance"  # the process's instance id (high cardinality: never a dim)
PROP_INTERVAL_S: Final = "IntervalSeconds"  # seconds the record covers
PROP_FLUSH_MS: Final = "FlushMilliseconds"  # what the previous flush cost (build + write)
