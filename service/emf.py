"""Service and cache figures for CloudWatch: embedded metric format (EMF) records on stdout.

Requests are counted in the process (plain ints and a fixed-size latency histogram, no lock: the
event loop is the only writer) and flushed every METRICS_FLUSH_INTERVAL_S as a handful of JSON
lines, never one record per request. Names, units and dimensions: service/emf_catalog.py.

Why not the `aws-embedded-metrics` library: its MetricsLogger keeps every put_metric value in a
list per context and serializes a context into records (at most 100 values per metric each), so
a minute of traffic becomes thousands of values (an allocation per request, and many records),
and it has no histogram with counts and no in-process aggregation over an interval. The format is
small and documented, so it is written here directly (see tools/emf_schema.json).

Latency is published as a histogram object ``{"Values", "Counts", "Max", "Min", "Count", "Sum"}``
with at most 100 buckets, so CloudWatch weighs every request once and computes correct
percentiles across tasks and intervals. The published EMF specification only describes a number
or an array of numbers as a metric value; the histogram object is the form AWS's own EMF writers
emit (the CloudWatch agent / OpenTelemetry `awsemfexporter` for histograms, which notes that
CloudWatch takes the sample count from the sum of `Counts`). An array of raw values could not
carry more than 100 requests per record without losing their weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from service import emf_catalog as cat
from service.cache import CacheUnavailableError

if TYPE_CHECKING:
    from service.breaker import CircuitBreaker
    from service.cache import Cache
    from service.invalidation import InvalidationListener
    from service.settings import Settings

log = logging.getLogger(__name__)

# Latency buckets grow by 10 %: a bucket's midpoint is within 5 % of any value in it. From 1 us
# (everything faster shares the first bucket) to 120 s (everything slower shares the last).
_GROWTH = 1.1
_FLOOR_MS = 0.001
_BUCKETS = math.ceil(math.log(120_000 / _FLOOR_MS) / math.log(_GROWTH)) + 1
_LOG_FLOOR = math.log(_FLOOR_MS)
_INV_LOG_GROWTH = 1.0 / math.log(_GROWTH)
# The EMF specification allows at most 100 values per metric.
MAX_HISTOGRAM_VALUES = 100
# Longest a flush waits for Redis INFO (it runs beside the traffic, never in a request).
_INFO_TIMEOUT_S = 2.0

# X-Cache header value -> column of a route's request counts (CACHE_STATUSES order).
_STATUS_COLUMN: dict[bytes | None, int] = {b"HIT": 0, b"MISS": 1, b"BYPASS": 2, b"STALE": 3}
_STALE_COLUMN = 3
_NONE_COLUMN = 4


def _bucket_of(ms: float) -> int:
    index = int((math.log(ms) - _LOG_FLOOR) * _INV_LOG_GROWTH) if ms > _FLOOR_MS else 0
    return index if index < _BUCKETS else _BUCKETS - 1


# Bucket of every whole microsecond below 16.384 ms: most requests find their bucket with one
# list index instead of a logarithm (which costs several times more than the rest of add()).
_FAST_US = 16_384
_FAST_BUCKET = [_bucket_of(us / 1000) for us in range(_FAST_US)]


class LatencyHistogram:
    """Counts of latencies in fixed exponential buckets, plus exact sum, min and max."""

    __slots__ = ("counts", "max_ms", "min_ms", "sum_ms")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.sum_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = 0.0

    def add(self, seconds: float) -> None:
        ms = seconds * 1000.0
        self.sum_ms += ms
        if ms > self.max_ms:
            self.max_ms = ms
        if ms < self.min_ms:
            self.min_ms = ms
        us = int(ms * 1000.0)  # never negative: callers time with perf_counter (monotonic)
        self.counts[_FAST_BUCKET[us] if us < _FAST_US else _bucket_of(ms)] += 1

    def add_all(self, seconds: list[float]) -> None:
        """add() for each, in order."""
        counts, sum_ms, max_ms, min_ms = self.counts, self.sum_ms, self.max_ms, self.min_ms
        for value in seconds:
            ms = value * 1000.0
            sum_ms += ms
            if ms > max_ms:
                max_ms = ms
            if ms < min_ms:
                min_ms = ms
            us = int(ms * 1000.0)
            counts[_FAST_BUCKET[us] if us < _FAST_US else _bucket_of(ms)] += 1
        self.sum_ms, self.max_ms, self.min_ms = sum_ms, max_ms, min_ms

    @property
    def count(self) -> int:
        return sum(self.counts)

    def to_emf(self) -> dict[str, Any] | None:
        """The EMF histogram value, at most MAX_HISTOGRAM_VALUES buckets; None when empty."""
        count = self.count
        if not count:
            return None
        used = [(i, c) for i, c in enumerate(self.counts) if c]
        shift = 0
        while True:
            # Too many distinct buckets: merge neighbours (double their width) until they fit.
            merged: dict[int, int] = {}
            for i, c in used:
                merged[i >> shift] = merged.get(i >> shift, 0) + c
            if len(merged) <= MAX_HISTOGRAM_VALUES:
                break
            shift += 1
        values, counts = [], []
        for group, c in sorted(merged.items()):
            # Geometric midpoint of the group's range, kept within the observed min..max.
            mid_ms = math.exp(_LOG_FLOOR + (group + 0.5) * (1 << shift) / _INV_LOG_GROWTH)
            values.append(round(min(max(mid_ms, self.min_ms), self.max_ms), 4))
            counts.append(c)
        return {
            "Values": values,
            "Counts": counts,
            "Max": round(self.max_ms, 4),
            "Min": round(self.min_ms, 4),
            "Count": count,
            "Sum": round(self.sum_ms, 4),
        }


class EmfRecorder:
    """What one interval saw, per request. record() is on every request's path: keep it cheap."""

    __slots__ = ("_requests", "_unavailable", "before_take", "cached", "uncached")

    def __init__(self) -> None:
        # route template -> requests by cache status (HIT, MISS, BYPASS, STALE, NONE)
        self._requests: dict[str, list[int]] = {}
        # route template -> requests answered 503 because the database failed
        self._unavailable: dict[str, int] = {}
        self.cached = LatencyHistogram()
        self.uncached = LatencyHistogram()
        # Called before an interval ends: holders of requests not yet recorded (service/
        # front.py's hit latencies) record them into the interval that answered them.
        self.before_take: list[Callable[[], None]] = []

    def record(self, route: str, x_cache: bytes | None, seconds: float) -> None:
        row = self._requests.get(route)
        if row is None:
            row = self._requests[route] = [0, 0, 0, 0, 0]
        column = _STATUS_COLUMN.get(x_cache, _NONE_COLUMN)
        row[column] += 1
        if column == 0:
            self.cached.add(seconds)
        elif column < _STALE_COLUMN:
            self.uncached.add(seconds)

    def record_unavailable(self, route: str) -> None:
        """A request of `route` answered 503 because the database failed."""
        self._unavailable[route] = self._unavailable.get(route, 0) + 1

    def record_all(self, route: str, x_cache: bytes | None, seconds: list[float]) -> None:
        """record() for each of these requests of one route and cache status."""
        row = self._requests.get(route)
        if row is None:
            row = self._requests[route] = [0, 0, 0, 0, 0]
        column = _STATUS_COLUMN.get(x_cache, _NONE_COLUMN)
        row[column] += len(seconds)
        if column == 0:
            self.cached.add_all(seconds)
        elif column < _STALE_COLUMN:
            self.uncached.add_all(seconds)

    def take(self) -> tuple[dict[str, list[int]], LatencyHistogram, LatencyHistogram]:
        """This interval's figures; the recorder starts a new interval (no await: atomic).
        The 503s by route are taken apart (take_unavailable), in the same step."""
        for settle in self.before_take:
            settle()
        taken = (self._requests, self.cached, self.uncached)
        self._requests = {}
        self.cached = LatencyHistogram()
        self.uncached = LatencyHistogram()
        return taken

    def take_unavailable(self) -> dict[str, int]:
        taken, self._unavailable = self._unavailable, {}
        return taken


class _Previous:
    """Cumulative counters as read at the previous flush, to publish per-interval deltas."""

    def __init__(
        self,
        cache: Cache,
        listener: InvalidationListener | None,
        source_breaker: CircuitBreaker | None,
    ) -> None:
        self.hits = cache.hits
        self.misses = cache.misses
        self.bypasses = cache.bypasses
        self.stale = cache.stale_answers
        self.source_trips = source_breaker.trips if source_breaker is not None else 0
        self.source_open = source_breaker is not None and not source_breaker.closed
        self.redis_errors = cache.redis_errors
        self.trips = cache.breaker.trips
        self.closes = cache.breaker.closes
        self.breaker_open = not cache.breaker.closed
        # The first connection is not a reconnect, also when it happens after the start.
        self.connects = max(listener.connects, 1) if listener is not None else 0
        self.evicted: int | None = None


class EmfPublisher:
    """Flushes the recorder and the cache's state as EMF records every interval, and at stop."""

    def __init__(
        self,
        settings: Settings,
        recorder: EmfRecorder,
        cache: Cache,
        listener: InvalidationListener | None,
        instance_id: str,
        source_breaker: CircuitBreaker | None = None,
    ) -> None:
        self._recorder = recorder
        self._cache = cache
        self._listener = listener
        self._source_breaker = source_breaker
        self._interval_s = settings.metrics_flush_interval_s
        self._namespace = settings.metrics_namespace
        self._common = {
            cat.DIM_STAGE: settings.metrics_stage,
            cat.DIM_SERVICE: settings.metrics_service,
            cat.PROP_INSTANCE: instance_id,
        }
        self._prev = _Previous(cache, listener, source_breaker)
        self._since = time.monotonic()
        self._last_flush_ms = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="emf-flush")

    async def stop(self) -> None:
        """Stop the timer, then flush what the last (partial) interval saw."""
        # Asked, not cancelled: redis-py may turn a cancellation during INFO into a connection
        # error, which would swallow it and leave the task asleep for a whole interval.
        self._stopping.set()
        if self._task is not None:
            await self._task  # ends after its current step (an INFO read is bounded)
            self._task = None
        try:
            await self.flush()
        except Exception:
            # A failed last flush must not stop the rest of the shutdown.
            log.exception("EMF flush at stop failed")

    async def _run(self) -> None:
        # Baseline for the eviction delta: evictions before this process started are not ours.
        redis = await self._read_redis()
        if redis is not None:
            self._prev.evicted = redis[2]
        deadline = time.monotonic()
        while not self._stopping.is_set():
            deadline += self._interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), deadline - time.monotonic())
                return
            try:
                await self.flush()
            except Exception:
                # Figures are never worth the service: log, and try again next interval.
                log.exception("EMF flush failed")

    async def flush(self) -> None:
        redis = await self._read_redis()
        started = time.perf_counter()
        records = self.build(redis)
        lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
        out = sys.stdout
        out.write(lines.decode())
        out.flush()
        self._last_flush_ms = (time.perf_counter() - started) * 1000

    async def _read_redis(self) -> tuple[int, int, int] | None:
        """(used_memory, maxmemory, evicted_keys) from Redis INFO, or None if it did not answer."""
        try:
            async with asyncio.timeout(_INFO_TIMEOUT_S):
                stats = await self._cache.stats()
        except (CacheUnavailableError, TimeoutError):
            return None
        info = stats["redis"]
        return info["used_memory_bytes"], info["maxmemory_bytes"], info["evicted_keys"]

    def build(self, redis: tuple[int, int, int] | None) -> list[dict[str, Any]]:
        """The records for the interval ending now (synchronous: nothing interleaves)."""
        requests, cached, uncached = self._recorder.take()
        now = time.monotonic()
        props = {
            **self._common,
            cat.PROP_INTERVAL_S: round(now - self._since, 3),
            cat.PROP_FLUSH_MS: round(self._last_flush_ms, 3),
        }
        self._since = now
        timestamp_ms = int(time.time() * 1000)
        records = [self._service_record(timestamp_ms, props, cached, uncached, redis)]
        for route, row in requests.items():
            for column, status in enumerate(cat.CACHE_STATUSES):
                if row[column]:
                    members = {**props, cat.DIM_ROUTE: route, cat.DIM_CACHE_STATUS: status}
                    values = {cat.REQUESTS: row[column]}
                    dims = cat.REQUEST_DIMENSIONS
                    records.append(self._record(timestamp_ms, "requests", dims, members, values))
        for route, count in self._recorder.take_unavailable().items():
            members = {**props, cat.DIM_ROUTE: route}
            values = {cat.SOURCE_UNAVAILABLE: count}
            records.append(
                self._record(timestamp_ms, "unavailable", cat.ROUTE_DIMENSIONS, members, values)
            )
        return records

    def _service_record(
        self,
        timestamp_ms: int,
        props: dict[str, Any],
        cached: LatencyHistogram,
        uncached: LatencyHistogram,
        redis: tuple[int, int, int] | None,
    ) -> dict[str, Any]:
        values = self._cache_values(cached, uncached)
        values.update(self._redis_values(redis))
        values.update(self._breaker_values())
        values.update(self._listener_values())
        values.update(self._source_values())
        return self._record(timestamp_ms, "service", cat.SERVICE_DIMENSIONS, props, values)

    def _cache_values(
        self, cached: LatencyHistogram, uncached: LatencyHistogram
    ) -> dict[cat.MetricSpec, Any]:
        cache, prev = self._cache, self._prev
        hits, misses = cache.hits - prev.hits, cache.misses - prev.misses
        values: dict[cat.MetricSpec, Any] = {
            cat.CACHE_HITS: hits,
            cat.CACHE_MISSES: misses,
            cat.CACHE_BYPASSES: cache.bypasses - prev.bypasses,
            cat.REDIS_ERRORS: cache.redis_errors - prev.redis_errors,
        }
        prev.hits, prev.misses = cache.hits, cache.misses
        prev.bypasses, prev.redis_errors = cache.bypasses, cache.redis_errors
        if hits + misses:
            values[cat.CACHE_HIT_RATIO] = round(100.0 * hits / (hits + misses), 3)
        latencies = ((cat.CACHED_READ_LATENCY, cached), (cat.UNCACHED_READ_LATENCY, uncached))
        for spec, histogram in latencies:
            emf = histogram.to_emf()
            if emf is not None:
                values[spec] = emf
        return values

    def _redis_values(self, redis: tuple[int, int, int] | None) -> dict[cat.MetricSpec, Any]:
        if redis is None:
            return {}
        used, maxmemory, evicted = redis
        values: dict[cat.MetricSpec, Any] = {cat.REDIS_MEMORY_USED: used}
        if maxmemory:
            values[cat.REDIS_MEMORY_USED_PERCENT] = round(100.0 * used / maxmemory, 3)
        previous, self._prev.evicted = self._prev.evicted, evicted
        if previous is not None:
            # A smaller reading means Redis restarted (counters reset): all of it is new.
            values[cat.REDIS_EVICTED_KEYS] = evicted - previous if evicted >= previous else evicted
        return values

    def _breaker_values(self) -> dict[cat.MetricSpec, Any]:
        breaker, prev = self._cache.breaker, self._prev
        opened, closed = breaker.trips - prev.trips, breaker.closes - prev.closes
        open_now = not breaker.closed
        # Open at any moment of the interval: at its start, at its end, or opened in between.
        was_open = prev.breaker_open or open_now or opened > 0
        prev.trips, prev.closes, prev.breaker_open = breaker.trips, breaker.closes, open_now
        return {
            cat.BREAKER_OPEN: int(was_open),
            cat.BREAKER_OPENED: opened,
            cat.BREAKER_CLOSED: closed,
        }

    def _source_values(self) -> dict[cat.MetricSpec, Any]:
        cache, prev = self._cache, self._prev
        values: dict[cat.MetricSpec, Any] = {cat.STALE_ANSWERS: cache.stale_answers - prev.stale}
        prev.stale = cache.stale_answers
        breaker = self._source_breaker
        if breaker is not None:
            opened = breaker.trips - prev.source_trips
            open_now = not breaker.closed
            values[cat.SOURCE_BREAKER_OPEN] = int(prev.source_open or open_now or opened > 0)
            values[cat.SOURCE_BREAKER_OPENED] = opened
            prev.source_trips, prev.source_open = breaker.trips, open_now
        return values

    def _listener_values(self) -> dict[cat.MetricSpec, Any]:
        listener = self._listener
        if listener is None:
            return {}
        reconnects = max(0, listener.connects - self._prev.connects)
        self._prev.connects = max(listener.connects, self._prev.connects)
        return {
            cat.LISTENER_CONNECTED: int(listener.synced.is_set()),
            cat.LISTENER_RECONNECTS: reconnects,
        }

    def _record(
        self,
        timestamp_ms: int,
        kind: str,
        dimensions: tuple[str, ...],
        members: dict[str, Any],
        values: dict[cat.MetricSpec, Any],
    ) -> dict[str, Any]:
        directive = {
            "Namespace": self._namespace,
            "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": spec.name, "Unit": spec.unit} for spec in values],
        }
        return {
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
            cat.PROP_RECORD: kind,
            **members,
            **{spec.name: value for spec, value in values.items()},
        }
