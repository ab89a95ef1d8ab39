"""Render's private network, emulated: Redis (service/Dockerfile.redis, its generated redis.conf)
on a user-defined network, reached by its service name from the app image.

The Redis here is built with upstream defaults (Debian's redis-server: `protected-mode yes`
compiled in, unlike the official images), so these also prove the project's config works on
such a Redis, and that a Redis that refuses the app (DENIED, NOAUTH) is named by /ready and
explained by the doctor instead of silently bypassed.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from docker.models.containers import Container

from testkit.containers import Containers, exec_text, wait_healthy, wait_http
from testkit.servers import free_port
from tools.containers.images import Built
from tools.containers.task import LOCAL_AUTH_ENV, mint_token

pytestmark = pytest.mark.containers
REDIS_NAME = "fyntrix-redis"  # render.yaml's private service name
CONF = "/usr/local/etc/redis/redis.conf"


def render_pair(
    containers: Containers, images: dict[str, Built], redis_args: list[str], **app_env: str
) -> tuple[Container, Container, str]:
    network = containers.network(f"fyntrix-render-{uuid.uuid4().hex[:8]}")
    redis_c = containers.run(
        images["redis"].tag,
        command=["redis-server", CONF, *redis_args],
        network=network.name,
        hostname=REDIS_NAME,
        read_only=True,
    )
    network.disconnect(redis_c)
    network.connect(redis_c, aliases=[REDIS_NAME])
    port = free_port()
    app = containers.run(
        images["app"].tag,
        environment={"REDIS_HOST": REDIS_NAME, "REDIS_PORT": "6379", **LOCAL_AUTH_ENV, **app_env},
        network=network.name,
        ports={"8000/tcp": ("127.0.0.1", port)},
        read_only=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health")
    return redis_c, app, base


def ready(base: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}/ready", timeout=10).json()
    return body


def test_app_reaches_redis_by_service_name_on_a_redis_with_upstream_defaults(
    containers: Containers, container_images: dict[str, Built]
) -> None:
    redis_c, app, base = render_pair(containers, container_images, [])
    wait_healthy(redis_c)  # the image's own check: redis-cli ping | grep -q PONG
    auth = {"Authorization": f"Bearer {mint_token(app)}"}
    statuses = [
        httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10).headers["x-cache"]
        for _ in "ab"
    ]
    assert statuses == ["MISS", "HIT"]
    assert ready(base)["cache"] == "ok"
    # The generated config says it explicitly: it never relies on a compiled-in default.
    _, out = exec_text(redis_c, ["redis-cli", "CONFIG", "GET", "protected-mode"])
    assert out.split() == ["protected-mode", "no"]


def test_protected_mode_denied_is_named_by_ready_and_explained_by_the_doctor(
    containers: Containers, container_images: dict[str, Built]
) -> None:
    # What a Redis running the upstream default (no explicit protected-mode) does to the app.
    _, app, base = render_pair(containers, container_images, ["--protected-mode", "yes"])
    auth = {"Authorization": f"Bearer {mint_token(app)}"}
    response = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10)
    assert (response.status_code, response.headers["x-cache"]) == (200, "BYPASS")
    body = ready(base)
    assert body["cache"] == "degraded"
    assert body["cache_reason"].startswith("DENIED: ")
    stats = httpx.get(f"{base}/cache/stats", timeout=10).json()
    assert stats["reason"].startswith("DENIED: ")
    code, text = exec_text(app, ["python", "-m", "service.ops", "doctor", "--target", "render"])
    assert code != 0
    assert "protected mode" in text and "protected-mode no" in text, text
    logs = app.logs().decode()
    assert logs.count("redis cache not used: DENIED") == 1, logs


def test_noauth_is_named_by_ready(
    containers: Containers, container_images: dict[str, Built]
) -> None:
    _, app, base = render_pair(containers, container_images, ["--requirepass", "s3cret-pass"])
    auth = {"Authorization": f"Bearer {mint_token(app)}"}
    httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10)
    body = ready(base)
    assert body["cache"] == "degraded"
    assert body["cache_reason"].startswith("NOAUTH: ")
