"""Request figures (service/metrics.py): plain counters that Prometheus reads on scrape."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.cache import CacheStatus
from service.metrics import LATENCY_BUCKETS_S, Metrics
from testkit.auth import default_issuer
from testkit.servers import RedisServer
from tests.service.conftest import AppFactory

# On a bound, between bounds, below the first, above the last, and zero.
LATENCIES_S = [0.0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.25, 0.2500001, 4.9, 5.0, 7.5, 120.0]


class HungUpError(Exception):
    """What a send raises once the client has gone."""


def samples(text: str, name: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith(name))


def test_the_latency_histogram_is_exactly_prometheus_clients() -> None:
    reference = CollectorRegistry()
    histogram = Histogram(
        "fyntrix_http_request_duration_seconds",
        "reference",
        ("method", "route", "status"),
        buckets=LATENCY_BUCKETS_S,
        registry=reference,
    )
    metrics = Metrics()
    for seconds in LATENCIES_S:
        histogram.labels("GET", "/api/top-picks", "200").observe(seconds)
        # Split over cache statuses: the histogram merges them, as before they existed.
        x_cache = b"HIT" if seconds < 0.01 else None
        metrics.observe_request("GET", "/api/top-picks", 200, seconds, x_cache)
    ours = generate_latest(metrics.registry).decode()
    theirs = generate_latest(reference).decode()
    for suffix in ("_bucket", "_count"):
        name = "fyntrix_http_request_duration_seconds" + suffix
        assert samples(ours, name) == samples(theirs, name)
    (our_sum,) = samples(ours, "fyntrix_http_request_duration_seconds_sum")
    assert float(our_sum.rpartition(" ")[2]) == sum(LATENCIES_S)
    assert 'cache="HIT",method="GET",route="/api/top-picks",status="200"} 6.0' in ours
    assert 'cache="NONE",method="GET",route="/api/top-picks",status="200"} 6.0' in ours


def count(text: str, route: str, status: int, cache: str) -> float:
    pattern = (
        rf'fyntrix_http_requests_total\{{cache="{cache}",method="GET",'
        rf'route="{re.escape(route)}",status="{status}"\}} (\S+)'
    )
    match = re.search(pattern, text)
    return float(match[1]) if match else 0.0


async def test_every_request_is_counted_by_route_and_cache_status(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    redis_only = await make_app(redis_server, cache_l1_max_entries=0)
    portfolio = "/api/portfolio/{user_id}"
    await app.client.get("/api/portfolio/1")  # MISS
    for _ in range(3):
        await app.client.get("/api/portfolio/1")  # HIT, outermost layer
    fresh = default_issuer().bearer(default_issuer().token(sub="admin-2", admin=True))
    await app.client.get("/api/portfolio/1", headers=fresh)  # HIT, inner fast path
    await redis_only.client.get("/api/portfolio/1")  # HIT from Redis (another app)
    await app.client.get("/api/portfolio/1", headers={"Authorization": "Bearer nope"})  # 401
    await app.client.get("/api/portfolio/0")  # 422
    await app.client.get("/no/such/path")  # 404
    app.services.cache.set_coherent(False)
    await app.client.get("/api/portfolio/1")  # BYPASS
    text = (await app.client.get("/metrics")).text
    assert count(text, portfolio, 200, "MISS") == 1
    assert count(text, portfolio, 200, "HIT") == 4
    assert count(text, portfolio, 200, "BYPASS") == 1
    assert count(text, portfolio, 422, "NONE") == 1
    assert count(text, "unmatched", 401, "NONE") == 1  # the gate answers before routing
    assert count(text, "unmatched", 404, "NONE") == 1
    assert 'fyntrix_cache_hits_total{namespace="portfolio"} 4.0' in text
    assert 'fyntrix_cache_misses_total{namespace="portfolio"} 1.0' in text
    assert 'fyntrix_cache_bypasses_total{namespace="portfolio"} 1.0' in text
    redis_text = (await redis_only.client.get("/metrics")).text
    assert count(redis_text, portfolio, 200, "HIT") == 1
    duration = (
        'fyntrix_http_request_duration_seconds_count{method="GET",'
        'route="/api/portfolio/{user_id}",status="200"} 6.0'
    )
    assert duration in text


async def test_a_client_that_hangs_up_during_a_hit_is_still_counted(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    for _ in range(2):
        await app.client.get("/api/top-picks")
    hits_before = count((await app.client.get("/metrics")).text, "/api/top-picks", 200, "HIT")

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def gone(message: object) -> None:
        raise HungUpError

    token = app.client.headers["authorization"].encode()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/top-picks",
        "query_string": b"",
        "headers": [(b"authorization", token)],
    }
    with pytest.raises(HungUpError):
        await app.app(scope, receive, gone)
    text = (await app.client.get("/metrics")).text
    assert count(text, "/api/top-picks", 200, "HIT") == hits_before + 1


def test_lookups_counted_by_status_member_land_on_the_labels_series() -> None:
    metrics = Metrics(CollectorRegistry())
    for status in CacheStatus:
        metrics.cache_lookup("portfolio", status)
        metrics.cache_lookup("portfolio", status)
    # One series per (namespace, label), whatever form the status came in.
    assert {k: v for k, v in metrics.lookups.items() if k[0] == "portfolio"} == {
        ("portfolio", "HIT"): 2,
        ("portfolio", "MISS"): 2,
        ("portfolio", "BYPASS"): 2,
        ("portfolio", "STALE"): 2,
    }
    text = generate_latest(metrics.registry).decode()
    assert 'fyntrix_cache_hits_total{namespace="portfolio"} 2.0' in text
