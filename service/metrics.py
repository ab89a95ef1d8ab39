"""Request and cache figures, recorded as plain counters and aggregated on scrape.

Every request adds to one series (method, route template, HTTP status, X-Cache): a list of
latency bucket counts and a sum. That is a dict lookup, a bisect and two additions, where a
prometheus_client Histogram.observe plus Counter.inc took a lock per bucket and per counter
(several microseconds on a cache hit that is itself a few microseconds). The event loop is the
only writer, so no lock is needed; a scrape (/metrics) runs on the same loop and reads a
consistent snapshot. Prometheus sees the same histogram as before, plus a request counter by
cache status; rare events (Redis errors, invalidations, breaker) stay prometheus_client metrics.
Hits answered by the outermost layer (service/front.py) are added in batches: a scrape first
calls `before_read`, which adds every hit answered so far.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from service.keys import NAMESPACES as NAMESPACES  # re-exported: the labels it counts by

if TYPE_CHECKING:
    from service.cache import CacheStatus


# Request latency buckets in seconds: sub-millisecond cache hits up to multi-second stalls.
LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
# Bounds as prometheus_client writes them (repr of the float: 0.0005, 1.0, 2.5).
_LE = [repr(float(b)) for b in LATENCY_BUCKETS_S] + ["+Inf"]
# X-Cache values a response may carry; anything else (no header) is counted as NONE.
CACHE_LABELS = ("HIT", "MISS", "BYPASS", "STALE", "NONE")
_CACHE_LABEL: dict[bytes | None, str] = {
    b"HIT": "HIT",
    b"MISS": "MISS",
    b"BYPASS": "BYPASS",
    b"STALE": "STALE",
}
_CACHE_STATUSES = ("HIT", "MISS", "BYPASS", "STALE")


class Series:
    """One (method, route, status, cache) combination: latency bucket counts and their sum."""

    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)  # the last one is +Inf
        self.sum_s = 0.0

    def add(self, seconds: float) -> None:
        # bisect_left: the first bound >= seconds, Prometheus' `le` (a value on a bound is in it).
        self.counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.sum_s += seconds

    def add_all(self, seconds: list[float]) -> None:
        """add() for each, in order (the sum is the same float)."""
        counts, sum_s = self.counts, self.sum_s
        for value in seconds:
            counts[bisect_left(LATENCY_BUCKETS_S, value)] += 1
            sum_s += value
        self.sum_s = sum_s


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.series: dict[tuple[str, str, int, str], Series] = {}
        # (namespace, HIT|MISS|BYPASS) -> a one-item list, that count of cache lookups; every
        # namespace shows from the start. A cell, not an int in the dict: the cache's L1 entry
        # holds its namespace's HIT cell and a hit adds to it directly (lookup_cell).
        self._lookup_cells: dict[tuple[str, str], list[int]] = {
            (ns, status): [0] for ns in NAMESPACES for status in _CACHE_STATUSES
        }
        # Called before every scrape: holders of figures not yet added (service/front.py's
        # hit latencies) add them, so a scrape sees every request answered before it.
        self.before_read: list[Callable[[], None]] = []
        r.register(_Collector(self))
        self.redis_errors = Counter(
            "fyntrix_redis_errors", "Failed Redis operations, by operation.", ("op",), registry=r
        )
        self.invalidations = Counter(
            "fyntrix_cache_invalidations",
            "Keys invalidated (or namespaces flushed), by reason: local, notify, resync.",
            ("reason",),
            registry=r,
        )
        self.breaker_open = Gauge(
            "fyntrix_redis_breaker_open", "1 while the Redis circuit breaker is open.", registry=r
        )
        self.source_breaker_open = Gauge(
            "fyntrix_source_breaker_open",
            "1 while the database circuit breaker is open or half-open (calls fail at once).",
            registry=r,
        )
        self.source_unavailable = Counter(
            "fyntrix_source_unavailable",
            "Requests answered 503 because the database failed, by route template and whether "
            "its circuit breaker was open (failed at once) or the call failed.",
            ("route", "breaker"),
            registry=r,
        )
        self.listener_reconnects = Counter(
            "fyntrix_invalidation_listener_reconnects",
            "Times the LISTEN connection for cross-instance invalidation was re-established.",
            registry=r,
        )

    def series_for(self, method: str, route: str, status: int, x_cache: bytes | None) -> Series:
        """The series a request adds to (created on first use; callers may keep it)."""
        key = (method, route, status, _CACHE_LABEL.get(x_cache, "NONE"))
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = Series()
        return found

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, x_cache: bytes | None = None
    ) -> None:
        self.series_for(method, route, status, x_cache).add(seconds)

    def cache_lookup(self, namespace: str, status: CacheStatus) -> None:
        self.lookup_cell(namespace, status)[0] += 1

    def lookup_cell(self, namespace: str, status: str) -> list[int]:
        """The counter of (namespace, status) lookups, a one-item list its holder adds to."""
        # CacheStatus is a StrEnum: a member and its value are the same key.
        cell = self._lookup_cells.get((namespace, status))
        if cell is None:
            cell = self._lookup_cells[(namespace, status)] = [0]
        return cell

    @property
    def lookups(self) -> dict[tuple[str, str], int]:
        """(namespace, status) -> cache lookups so far."""
        return {label: cell[0] for label, cell in self._lookup_cells.items()}


class _Collector:
    """Turns the plain counters into Prometheus families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        latency, requests, lookups = _families()
        return [latency, requests, *lookups]

    def collect(self) -> Iterator[Metric]:
        for settle in self._metrics.before_read:
            settle()
        latency, requests, lookups = _families()
        merged: dict[tuple[str, str, str], tuple[list[int], float]] = {}
        for (method, route, status, cache), series in sorted(self._metrics.series.items()):
            requests.add_metric([method, route, str(status), cache], sum(series.counts))
            labels = (method, route, str(status))
            counts, sum_s = merged.get(labels, ([0] * len(_LE), 0.0))
            added = [a + b for a, b in zip(counts, series.counts, strict=True)]
            merged[labels] = (added, sum_s + series.sum_s)
        for labels, (counts, sum_s) in merged.items():
            cumulative, buckets = 0, []
            for le, count in zip(_LE, counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            latency.add_metric(list(labels), buckets, sum_s)
        for (namespace, outcome), count in sorted(self._metrics.lookups.items()):
            lookups[_CACHE_STATUSES.index(outcome)].add_metric([namespace], count)
        yield latency
        yield requests
        yield from lookups


def _families() -> tuple[HistogramMetricFamily, CounterMetricFamily, list[CounterMetricFamily]]:
    latency = HistogramMetricFamily(
        "fyntrix_http_request_duration_seconds",
        "HTTP request latency in seconds, by method, route template and status code.",
        labels=("method", "route", "status"),
    )
    requests = CounterMetricFamily(
        "fyntrix_http_requests",
        "HTTP requests by method, route template, status code and X-Cache (NONE: no header).",
        labels=("method", "route", "status", "cache"),
    )
    lookups = [
        CounterMetricFamily(
            "fyntrix_cache_hits", "Cached reads served from L1 or Redis.", labels=("namespace",)
        ),
        CounterMetricFamily(
            "fyntrix_cache_misses",
            "Cached reads that missed and were loaded from the source of truth.",
            labels=("namespace",),
        ),
        CounterMetricFamily(
            "fyntrix_cache_bypasses",
            "Reads served from the source of truth because the cache was unavailable.",
            labels=("namespace",),
        ),
        CounterMetricFamily(
            "fyntrix_cache_stale_answers",
            "Reads answered from a stale copy (X-Cache: STALE) because the source failed.",
            labels=("namespace",),
        ),
    ]
    return latency, requests, lookups
