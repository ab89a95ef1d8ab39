"""Prometheus metrics on a per-app registry (several apps in one process must not clash)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.keys import NAMESPACES as NAMESPACES  # re-exported: the labels it counts by

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from service.cache import CacheStatus
    from service.emf import EmfRecorder


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


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.request_latency = Histogram(
            "fyntrix_http_request_duration_seconds",
            "HTTP request latency in seconds, by method, route template and status code.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.cache_hits = Counter(
            "fyntrix_cache_hits",
            "Cached reads served from L1 or Redis.",
            ("namespace",),
            registry=r,
        )
        self.cache_misses = Counter(
            "fyntrix_cache_misses",
            "Cached reads that missed and were loaded from the source of truth.",
            ("namespace",),
            registry=r,
        )
        self.cache_bypasses = Counter(
            "fyntrix_cache_bypasses",
            "Reads served from the source of truth because the cache was unavailable.",
            ("namespace",),
            registry=r,
        )
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
        self.listener_reconnects = Counter(
            "fyntrix_invalidation_listener_reconnects",
            "Times the LISTEN connection for cross-instance invalidation was re-established.",
            registry=r,
        )
        # Pre-bound children: labels() does a lock + dict lookup, too much for the hit path.
        self._lookup: dict[tuple[str, str], Counter] = {}
        self._latency: dict[tuple[str, str, int], Histogram] = {}
        for ns in NAMESPACES:
            self._lookup[(ns, "HIT")] = self.cache_hits.labels(ns)
            self._lookup[(ns, "MISS")] = self.cache_misses.labels(ns)
            self._lookup[(ns, "BYPASS")] = self.cache_bypasses.labels(ns)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = self.request_latency.labels(method, route, str(status))
        child.observe(seconds)

    def cache_lookup(self, namespace: str, status: CacheStatus) -> None:
        child = self._lookup.get((namespace, status.value))
        if child is None:
            counter = {"HIT": self.cache_hits, "MISS": self.cache_misses}.get(
                status.value, self.cache_bypasses
            )
            child = self._lookup[(namespace, status.value)] = counter.labels(namespace)
        child.inc()


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request by route template (not raw path).

    With an EMF recorder it also counts each request by route and X-Cache status (service/emf.py).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, emf: EmfRecorder | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.emf = emf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        x_cache: bytes | None = None

        async def send_status(message: Message) -> None:
            nonlocal status, x_cache
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-cache":
                        x_cache = value
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so random URLs cannot blow up the series count.
            template = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            self.metrics.observe_request(scope["method"], template, status, seconds)
            if self.emf is not None:
                self.emf.record(template, x_cache, seconds)
