"""L1 fast path (service/fastpath.py): same answers as the framework, or no answer at all."""

from __future__ import annotations

import httpx
import pytest

from testkit.servers import RedisServer
from tests.service.conftest import AppFactory


def comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "x-cache"}
    return response.status_code, response.content, headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/portfolio/1",
        "/api/dashboard/4",
        "/api/top-picks",
        "/api/top-picks?limit=1",
        "/api/top-picks?limit=50",
    ],
)
async def test_a_hit_is_answered_exactly_like_the_framework_answers(
    redis_server: RedisServer, make_app: AppFactory, path: str
) -> None:
    app = await make_app(redis_server)
    via_framework = await app.client.get(path)  # MISS: routed, validated, loaded
    via_fast_path = await app.client.get(path)  # HIT from L1
    assert via_framework.headers["x-cache"] == "MISS"
    assert via_fast_path.headers["x-cache"] == "HIT"
    assert comparable(via_fast_path) == comparable(via_framework)
    assert app.services.cache.hits == 1


@pytest.mark.parametrize(
    ("cached", "asked", "status"),
    [
        ("/api/portfolio/12", "/api/portfolio/012", 404),  # leading zero: the framework parses
        ("/api/top-picks?limit=5", "/api/top-picks?limit=05", 200),
        ("/api/top-picks?limit=6", "/api/top-picks?limit=5&limit=6", 200),  # last one wins
        ("/api/top-picks", "/api/top-picks?limit=51", 422),
        ("/api/portfolio/1", "/api/portfolio/1/", 307),  # the framework's slash redirect
    ],
)
async def test_anything_not_canonical_falls_through_to_the_framework(
    redis_server: RedisServer, make_app: AppFactory, cached: str, asked: str, status: int
) -> None:
    app = await make_app(redis_server)
    canonical = await app.client.get(cached)
    response = await app.client.get(asked, follow_redirects=False)
    assert response.status_code == status
    if status == 200:  # what the framework makes of it: the same resource as the canonical form
        assert response.content == canonical.content


async def test_head_and_other_methods_are_not_intercepted(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    await app.client.get("/api/portfolio/1")
    assert (await app.client.head("/api/portfolio/1")).status_code in (200, 405)
    assert (await app.client.post("/api/portfolio/1")).status_code == 405


async def test_no_fast_path_hit_while_the_cache_is_unavailable(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    await app.client.get("/api/portfolio/1")
    assert (await app.client.get("/api/portfolio/1")).headers["x-cache"] == "HIT"
    app.services.cache.set_coherent(False)
    assert (await app.client.get("/api/portfolio/1")).headers["x-cache"] == "BYPASS"


async def test_fast_path_hits_are_timed_under_their_route(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    for _ in range(3):
        await app.client.get("/api/dashboard/2")
    text = (await app.client.get("/metrics")).text
    assert (
        'fyntrix_http_request_duration_seconds_count{method="GET",'
        'route="/api/dashboard/{user_id}",status="200"} 3.0'
    ) in text
    assert 'fyntrix_cache_hits_total{namespace="dashboard"} 2.0' in text


async def test_bench_baseline_is_served_from_its_memo(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server, bench_endpoints=True)
    first = await app.client.get("/bench/baseline/3")
    second = await app.client.get("/bench/baseline/3")
    assert first.content == second.content == (await app.client.get("/api/portfolio/3")).content
    assert "x-cache" not in second.headers
    assert app.services.bench_memo is not None and set(app.services.bench_memo) == {3}
    assert (await app.client.get("/bench/baseline/999")).status_code == 404
