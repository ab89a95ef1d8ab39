"""The generated docker-compose.yml, run with `docker-compose` as the deployment guide says
(Debian 12's docker-compose 1.29, the only Compose here; Compose v2 reads the same file).

GIVEN the images built here (the stand-in bases passed through REDIS_IMAGE / PYTHON_IMAGE, as a
user behind a registry mirror would) WHEN `docker-compose up -d` THEN every service is healthy,
the app answers MISS then HIT, `docker-compose exec redis redis-cli ping` says PONG, and
`docker-compose down -v` leaves no container, network or volume of the project behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.containers import label_filter, wait_http
from testkit.servers import free_port, missing_binary
from testkit.service import ROOT
from tools.containers.engine import Engine
from tools.containers.images import Built

pytestmark = pytest.mark.containers
PROJECT_LABEL = "com.docker.compose.project"


class Compose:
    def __init__(self, engine: Engine, images: dict[str, Built], tmp: Path) -> None:
        binary = shutil.which("docker-compose")
        if binary is None:
            missing_binary("docker-compose (make system-deps installs it)")
        self.binary = str(binary)
        self.project = f"fyntrix-test-{uuid.uuid4().hex[:8]}"
        self.app_port = free_port()
        # An env file of the test's own, as `cp .env.example .env` plus a password would give:
        # a developer's .env must not change what is tested.
        self.env_file = tmp / "test.env"
        self.env_file.write_text(f"REDIS_PASSWORD={uuid.uuid4().hex}\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "DOCKER_HOST": engine.base_url,
            "APP_HOST_PORT": str(self.app_port),
            "REDIS_HOST_PORT": str(free_port()),
            "REDIS_IMAGE": images["redis"].base,
            "PYTHON_IMAGE": images["app"].base,
        }

    def __call__(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [
            self.binary,
            "--env-file",
            str(self.env_file),
            "-p",
            self.project,
            "-f",
            str(ROOT / "docker-compose.yml"),
            *args,
        ]
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )


@pytest.fixture
def compose(
    docker_engine: Engine, container_images: dict[str, Built], tmp_path: Path
) -> Iterator[Compose]:
    runner = Compose(docker_engine, container_images, tmp_path)
    yield runner
    runner("down", "-v", "--remove-orphans")


def project_leftovers(engine: Engine, project: str) -> list[str]:
    selector = label_filter(f"{PROJECT_LABEL}={project}")
    client = engine.client
    return (
        [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
        + [f"network {n.name}" for n in client.networks.list(filters=selector)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
    )


def wait_all_healthy(engine: Engine, project: str, timeout_s: float = 180) -> dict[str, str]:
    selector = label_filter(f"{PROJECT_LABEL}={project}")
    deadline = time.monotonic() + timeout_s
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = {
            c.labels["com.docker.compose.service"]: c.attrs["State"]
            .get("Health", {})
            .get("Status", "none")
            for c in engine.client.containers.list(all=True, filters=selector)
        }
        if health and all(v == "healthy" for v in health.values()):
            return health
        time.sleep(0.5)
    raise AssertionError(f"not every service became healthy: {health}")


def test_up_serves_miss_then_hit_and_down_leaves_nothing(
    compose: Compose, docker_engine: Engine
) -> None:
    up = compose("up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    assert wait_all_healthy(docker_engine, compose.project) == {
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
    assert project_leftovers(docker_engine, compose.project) == []


def test_a_missing_redis_password_is_one_clear_error(
    docker_engine: Engine, container_images: dict[str, Built], tmp_path: Path
) -> None:
    runner = Compose(docker_engine, container_images, tmp_path)
    runner.env_file.write_text("")
    result = runner("config", "-q")
    assert result.returncode != 0
    assert "set REDIS_PASSWORD in .env (cp .env.example .env)" in result.stderr
