"""EMF records for CloudWatch (service/emf.py): a real `python -m service`, a real Redis/Postgres.

Each test drives requests, lets the service flush on a short interval (and once more at SIGTERM),
reads its stdout, validates every record against the EMF specification (tools/emf_records.py) and
compares the figures with what the test did.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]  # no stubs for jsonschema
import psycopg
import pytest

from service import emf_catalog as cat
from service.app import create_app
from service.emf import MAX_HISTOGRAM_VALUES, EmfRecorder, LatencyHistogram
from testkit.auth import default_issuer
from testkit.servers import RedisServer
from testkit.service import ServiceProcess, service_settings
from tools import emf_records as emf

MAXMEMORY_BYTES = 2 * 1024 * 1024
FLUSH_S = "0.3"

Factory = Callable[..., ServiceProcess]


def admin_headers() -> dict[str, str]:
    """An admin token of the issuer the test services trust (it may read every user)."""
    issuer = default_issuer()
    return issuer.bearer(issuer.token(sub="test-admin", admin=True))


def redis_env(redis: RedisServer, tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "SQLITE_PATH": str(tmp_path / "fyntrix.sqlite3"),
        "CIRCUIT_BREAKER_RESET_TIMEOUT_MS": "100",
        "METRICS_FLUSH_INTERVAL_S": FLUSH_S,
        "METRICS_STAGE": "test",
        "METRICS_SERVICE": "fyntrix-service-test",
        **env,
    }


def stop_and_read(service: ServiceProcess) -> list[dict[str, Any]]:
    """SIGTERM (the last flush runs at stop), then every EMF record the process wrote, validated."""
    assert service.terminate() == 0
    records = emf.records_from(service.log_path.read_text())
    emf.validate_all(records)
    return records


def of_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r[cat.PROP_RECORD] == kind]


def total(records: list[dict[str, Any]], name: str) -> int:
    return sum(r.get(name, 0) for r in records)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def flushed_records(service: ServiceProcess) -> list[dict[str, Any]]:
    return emf.records_from(service.log_path.read_text())


# ------------------------------------------------------------------------- in-process pieces


def test_histogram_keeps_every_request_within_100_buckets() -> None:
    """GIVEN 20 000 latencies spread from 1 us to 100 s (log-uniform)
    THEN the EMF value has at most 100 buckets, counts every request once, keeps exact
    min/max/sum, and its percentiles are within 15 % of the true ones."""
    rng = random.Random(7)
    seconds = [10 ** rng.uniform(-6, 2) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for s in seconds:
        histogram.add(s)
    value = histogram.to_emf()
    assert value is not None
    assert len(value["Values"]) <= MAX_HISTOGRAM_VALUES
    assert value["Count"] == sum(value["Counts"]) == 20_000
    assert value["Max"] == pytest.approx(max(seconds) * 1000, rel=1e-6)
    assert value["Min"] == pytest.approx(min(seconds) * 1000, rel=1e-3)
    assert value["Sum"] == pytest.approx(sum(seconds) * 1000, rel=1e-6)
    pairs = emf.merge_histograms([value])
    ordered = sorted(s * 1000 for s in seconds)
    for p in (50, 90, 99):
        true = ordered[math.ceil(len(ordered) * p / 100) - 1]
        assert emf.percentile(pairs, p) == pytest.approx(true, rel=0.15), p


def test_histogram_of_a_narrow_range_is_exact_to_5_percent() -> None:
    """Typical traffic (0.2-3 ms) needs no merging: every bucket midpoint is within 5 %."""
    histogram = LatencyHistogram()
    samples_ms = [0.2 + 0.01 * i for i in range(280)]
    for ms in samples_ms:
        histogram.add(ms / 1000)
    value = histogram.to_emf()
    assert value is not None
    assert len(value["Values"]) < MAX_HISTOGRAM_VALUES
    pairs = emf.merge_histograms([value])
    for p in (50, 99):
        true = samples_ms[math.ceil(len(samples_ms) * p / 100) - 1]
        assert emf.percentile(pairs, p) == pytest.approx(true, rel=0.05)


def test_recorder_counts_by_route_and_cache_status() -> None:
    recorder = EmfRecorder()
    for header in (b"HIT", b"HIT", b"MISS", b"BYPASS", b"STALE", None):
        recorder.record("/api/portfolio/{user_id}", header, 0.001)
    recorder.record("/health", None, 0.0001)
    requests, cached, uncached = recorder.take()
    assert requests == {"/api/portfolio/{user_id}": [2, 1, 1, 1, 1], "/health": [0, 0, 0, 0, 1]}
    assert (cached.count, uncached.count) == (2, 2)  # a stale answer is neither
    assert recorder.take()[0] == {}, "take() starts a new interval"


def test_schema_rejects_what_the_specification_forbids() -> None:
    """The checker can fail: a missing dimension member, a string metric, 101 values."""
    good: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Stage"]], "Metrics": [{"Name": "M"}]}
            ],
        },
        "Stage": "dev",
        "M": 1,
    }
    emf.validate_record(good)
    bad_records: list[dict[str, Any]] = [
        {**good, "Stage": 1},
        {k: v for k, v in good.items() if k != "Stage"},
        {**good, "M": "1"},
        {**good, "M": list(range(101))},
        {**good, "M": {"Values": [1.0], "Counts": [2], "Max": 1, "Min": 1, "Count": 2}},
        {**good, "_aws": {**good["_aws"], "Timestamp": "now"}},
        {**good, "_aws": {"CloudWatchMetrics": good["_aws"]["CloudWatchMetrics"]}},
    ]
    unit = {**good["_aws"]["CloudWatchMetrics"][0], "Metrics": [{"Name": "M", "Unit": "ms"}]}
    bad_records.append({**good, "_aws": {"Timestamp": 1, "CloudWatchMetrics": [unit]}})
    for bad in bad_records:
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            emf.validate_record(bad)


async def test_stop_right_after_start_flushes_and_returns(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN an app stopped while its first Redis INFO is still in flight (60 s interval)
    THEN the stop neither waits for the interval nor skips the final flush."""
    app = create_app(service_settings(redis_server, sqlite_path=tmp_path / "db.sqlite3"))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    for _ in range(6):  # let the flush task get inside its first INFO (connecting to Redis)
        await asyncio.sleep(0)
    stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
    # Waited on, never cancelled (a swallowed cancellation is the bug): a hang, not a speed limit.
    done, _ = await asyncio.wait([stopping], timeout=10)
    assert done, "the stop waited for the 60 s interval"
    records = emf.records_from(capsys.readouterr().out)
    emf.validate_all(records)
    assert [r[cat.PROP_RECORD] for r in records] == ["service"]


# ------------------------------------------------------------------------- the real service


def drive(base_url: str) -> Counter[tuple[str, str]]:
    """Reads, writes and misses; returns the responses by (route template, X-Cache or NONE)."""
    seen: Counter[tuple[str, str]] = Counter()
    calls = (
        [("GET", f"/api/portfolio/{u}", "/api/portfolio/{user_id}") for u in (1, 2, 3) * 7]
        + [("GET", f"/api/dashboard/{u}", "/api/dashboard/{user_id}") for u in (1, 2) * 5]
        + [("GET", "/api/top-picks?limit=3", "/api/top-picks")] * 6
        + [("GET", "/api/portfolio/987654", "/api/portfolio/{user_id}")] * 2  # 404, MISS
        + [("GET", "/no/such/path", cat.UNMATCHED_ROUTE)] * 3
        + [("PUT", "/api/portfolio/1/holdings/AAPL", "/api/portfolio/{user_id}/holdings/{symbol}")]
    )
    with httpx.Client(base_url=base_url, timeout=10, headers=admin_headers()) as client:
        for method, path, route in calls:
            body = {"quantity": 3, "cost_basis": 100.0} if method == "PUT" else None
            response = client.request(method, path, json=body)
            assert response.status_code < 500, response.text
            seen[(route, response.headers.get("x-cache", "NONE"))] += 1
    return seen


def test_records_count_every_request_by_route_and_cache_status(
    redis_server_factory: Callable[..., RedisServer],
    service_process_factory: Factory,
    tmp_path: Path,
) -> None:
    """GIVEN a service flushing EMF every 0.3 s, with a Redis capped at 2 MiB (allkeys-lru)
    WHEN reads, a write and unknown paths are driven, and Redis is filled past maxmemory
    THEN every record is valid EMF in the configured namespace and dimensions; the Requests per
    (route, cache status) add up to the responses the client saw; the hit/miss counters, the
    latency histograms and /metrics agree with them; Redis memory share and evictions appear."""
    redis = redis_server_factory(maxmemory=MAXMEMORY_BYTES, maxmemory_policy="allkeys-lru")
    env = redis_env(redis, tmp_path, METRICS_NAMESPACE="Fyntrix/Test")
    service = service_process_factory(env)
    seen = drive(service.base_url)

    # Push Redis past maxmemory from outside: it must evict.
    client = redis.client()
    for i in range(400):
        client.set(f"filler:{i}", b"x" * 10_000)
    evicted = int(client.info("stats")["evicted_keys"])
    assert evicted > 0
    wait_for(lambda: total(of_kind(flushed_records(service), "service"), "RedisEvictedKeys") > 0)
    prometheus = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    seen[("/metrics", "NONE")] += 1
    records = stop_and_read(service)

    services, requests = of_kind(records, "service"), of_kind(records, "requests")
    assert len(services) >= 2, "flushed per interval, not only at stop"
    for record in records:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Fyntrix/Test"
        assert (record["Stage"], record["Service"]) == ("test", "fyntrix-service-test")
    for record in services:
        assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage", "Service"]]
    for record in requests:
        assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
            list(cat.REQUEST_DIMENSIONS)
        ]

    published: Counter[tuple[str, str]] = Counter()
    for record in requests:
        published[(record["Route"], record["CacheStatus"])] += record["Requests"]
    health = published.pop(("/health", "NONE"))
    assert health >= 1  # the readiness polls before the test's own requests
    assert published == seen

    hits = sum(n for (_, status), n in seen.items() if status == "HIT")
    misses = sum(n for (_, status), n in seen.items() if status == "MISS")
    assert hits > 0 and misses > 0
    assert (total(services, "CacheHits"), total(services, "CacheMisses")) == (hits, misses)
    assert total(services, "CacheBypasses") == 0
    ratios = [r["CacheHitRatio"] for r in services if "CacheHitRatio" in r]
    assert ratios and all(0 <= x <= 100 for x in ratios)

    cached = emf.merge_histograms(
        r["CachedReadLatency"] for r in services if "CachedReadLatency" in r
    )
    uncached = emf.merge_histograms(
        r["UncachedReadLatency"] for r in services if "UncachedReadLatency" in r
    )
    assert sum(c for _, c in cached) == hits
    assert sum(c for _, c in uncached) == misses
    assert 0 < emf.percentile(cached, 50) <= emf.percentile(cached, 99) < 1000
    assert 0 < emf.percentile(uncached, 50) <= emf.percentile(uncached, 99) < 5000
    # A hit is served from memory; a miss reads the source of truth and writes Redis.
    assert emf.percentile(cached, 50) < emf.percentile(uncached, 50)

    memory = [r for r in services if "RedisMemoryUsedPercent" in r]
    assert memory, "memory share published"
    for r in memory:
        assert r["RedisMemoryUsedPercent"] == pytest.approx(
            100 * r["RedisMemoryUsed"] / MAXMEMORY_BYTES, abs=0.001
        )
        assert 0 < r["RedisMemoryUsedPercent"] < 150
    # Evictions are deltas from the start: they add up to Redis's own counter.
    assert total(services, "RedisEvictedKeys") == int(client.info("stats")["evicted_keys"])
    assert all(r["BreakerOpen"] == 0 for r in services)
    assert not any("InvalidationListenerConnected" in r for r in services), "no Postgres"

    # Prometheus users see the same counts.
    portfolio_hits = seen[("/api/portfolio/{user_id}", "HIT")]
    assert f'fyntrix_cache_hits_total{{namespace="portfolio"}} {portfolio_hits}.0' in prometheus
    assert "fyntrix_http_request_duration_seconds_bucket" in prometheus


def test_breaker_state_changes_are_published(
    redis_server: RedisServer, service_process_factory: Factory, tmp_path: Path
) -> None:
    """GIVEN a service with EMF on
    WHEN Redis dies under reads and comes back
    THEN records show BYPASS reads, the breaker opening and closing, BreakerOpen 1 while it was
    open, and no memory share while Redis could not answer."""
    # No L1: every read goes to Redis, so its death shows at once.
    service = service_process_factory(redis_env(redis_server, tmp_path, CACHE_L1_MAX_ENTRIES="0"))
    with httpx.Client(base_url=service.base_url, timeout=10, headers=admin_headers()) as client:
        assert client.get("/api/portfolio/1").status_code == 200
        redis_server.kill()
        statuses = Counter(client.get("/api/portfolio/1").headers["x-cache"] for _ in range(20))
        assert statuses["BYPASS"] > 0
        wait_for(lambda: total(flushed_records(service), "BreakerOpened") > 0)
        redis_server.start()
        wait_for(lambda: client.get("/api/portfolio/1").headers["x-cache"] != "BYPASS")
    wait_for(lambda: total(flushed_records(service), "BreakerClosed") > 0)
    services = of_kind(stop_and_read(service), "service")

    assert total(services, "CacheBypasses") >= statuses["BYPASS"]
    assert total(services, "BreakerOpened") >= 1
    assert total(services, "BreakerClosed") >= 1
    opened_at = next(i for i, r in enumerate(services) if r["BreakerOpened"])
    assert services[opened_at]["BreakerOpen"] == 1
    assert any("RedisMemoryUsedPercent" not in r for r in services), "Redis was unreachable"
    assert services[-1]["BreakerOpen"] == 0, "closed for the whole last interval"


def test_invalidation_listener_state_is_published(
    redis_server: RedisServer,
    service_process_factory: Factory,
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    """GIVEN a service on Postgres (cross-instance invalidation listener)
    WHEN the listener's connection is terminated by the server
    THEN records show it connected, then a reconnect."""
    env = redis_env(redis_server, tmp_path, DATABASE_URL=postgres_dsn)
    service = service_process_factory(env)
    wait_for(
        lambda: any(r.get("InvalidationListenerConnected") == 1 for r in flushed_records(service))
    )
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (query ILIKE 'LISTEN%' OR query = 'SELECT 1')"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    wait_for(lambda: total(flushed_records(service), "InvalidationListenerReconnects") >= 1)
    services = of_kind(stop_and_read(service), "service")
    assert total(services, "InvalidationListenerReconnects") >= 1
    assert services[-1]["InvalidationListenerConnected"] == 1


def test_emf_can_be_switched_off(
    redis_server: RedisServer, service_process_factory: Factory, tmp_path: Path
) -> None:
    env = redis_env(redis_server, tmp_path, METRICS_EMF_ENABLED="false")
    service = service_process_factory(env)
    url = f"{service.base_url}/api/portfolio/1"
    assert httpx.get(url, headers=admin_headers(), timeout=5).status_code == 200
    time.sleep(float(FLUSH_S) * 3)
    assert service.terminate() == 0
    assert emf.records_from(service.log_path.read_text()) == []
