"""The generated docker-compose.yml, run with `docker-compose` as the deployment guide says
(Debian 12's docker-compose 1.29, the only Compose here; Compose v2 reads the same file).

GIVEN the images built here (the stand-in bases passed through REDIS_IMAGE / PYTHON_IMAGE, as a
user behind a registry mirror would) WHEN `docker-compose up -d` THEN every service is healthy,
the app answers MISS then HIT, `docker-compose exec redis redis-cli ping` says PONG, and
`docker-compose down -v` leaves no container, network or volume of the project behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.compose import Compose
from testkit.containers import wait_http
from tools.containers.engine import Engine
from tools.containers.images import Built

pytestmark = pytest.mark.containers


@pytest.fixture
def compose(
    docker_engine: Engine, container_images: dict[str, Built], tmp_path: Path
) -> Iterator[Compose]:
    runner = Compose(docker_engine, container_images, tmp_path)
    yield runner
    runner.remove()


def test_up_serves_miss_then_hit_and_down_leaves_nothing(compose: Compose) -> None:
    up = compose("up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    assert compose.wait_all_healthy() == {
        "redis": "healthy",
        "app": "healthy",
    }
    base = f"http://127.0.0.1:{compose.app_port}"
    wait_http(f"{base}/health")
    assert httpx.get(f"{base}/api/portfolio/1", timeout=10).status_code == 401
    # The guide's way to a local token: mint it in the app container.
    token = compose("exec", "-T", "app", "python", "-m", "service.ops", "token", "--user", "1")
    assert token.returncode == 0, token.stderr
    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
    statuses = [
        httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10).headers["x-cache"]
        for _ in "ab"
    ]
    assert statuses == ["MISS", "HIT"]
    ping = compose("exec", "-T", "redis", "redis-cli", "ping")
    assert (ping.returncode, ping.stdout.strip()) == (0, "PONG"), ping.stderr
    down = compose("down", "-v")
    assert down.returncode == 0, down.stdout + down.stderr
    assert compose.leftovers() == []


def test_a_missing_redis_password_is_one_clear_error(
    docker_engine: Engine, container_images: dict[str, Built], tmp_path: Path
) -> None:
    runner = Compose(docker_engine, container_images, tmp_path)
    runner.env_file.write_text("")  # nothing runs: `config` stops first
    result = runner("config", "-q")
    assert result.returncode != 0
    assert "set REDIS_PASSWORD in .env (cp .env.example .env)" in result.stderr
