"""The generated compose files, run with `docker-compose` as the deployment guide says (Debian
12's docker-compose 1.29, the only Compose here; Compose v2 reads the same files).

`Compose` runs one project (a random name, host ports of its own, an env file of the test's
own) against the images built here: the stand-in bases reach the files through REDIS_IMAGE /
PYTHON_IMAGE / POSTGRES_IMAGE, as a user behind a registry mirror would pass them. `remove()`
takes the project down and then removes by label anything `down` left, so a failed test leaves
nothing running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from docker.errors import NotFound

from testkit.containers import label_filter
from testkit.servers import free_port, missing_binary
from testkit.service import ROOT
from tools.containers.engine import Engine
from tools.containers.images import Built

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
BASE_FILE = ROOT / "docker-compose.yml"
POSTGRES_FILE = ROOT / "docker-compose.postgres.yml"
# The compose variable naming each image's base (the Postgres image is used as it is).
_IMAGE_VARIABLES = {"app": "PYTHON_IMAGE", "redis": "REDIS_IMAGE", "postgres": "POSTGRES_IMAGE"}


class Compose:
    def __init__(
        self,
        engine: Engine,
        images: Mapping[str, Built],
        tmp: Path,
        *,
        files: Sequence[Path] = (BASE_FILE,),
        env_file: Mapping[str, str] | None = None,
    ) -> None:
        binary = shutil.which("docker-compose")
        if binary is None:
            missing_binary("docker-compose (make system-deps installs it)")
        self.binary = str(binary)
        self.engine = engine
        self.files = tuple(files)
        self.project = f"fyntrix-test-{uuid.uuid4().hex[:8]}"
        self.app_port = free_port()
        self.ops_port = free_port()  # the app's ops endpoints (OPS_PORT), as compose publishes
        # An env file of the test's own, as `cp .env.example .env` plus a password would give:
        # a developer's .env must not change what is tested.
        self.env_file = tmp / "test.env"
        lines = {"REDIS_PASSWORD": uuid.uuid4().hex, **(env_file or {})}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "DOCKER_HOST": engine.base_url,
            "APP_HOST_PORT": str(self.app_port),
            "OPS_HOST_PORT": str(self.ops_port),
            "REDIS_HOST_PORT": str(free_port()),
            **{_IMAGE_VARIABLES[name]: built.base for name, built in images.items()},
        }

    def __call__(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "--env-file", str(self.env_file), "-p", self.project]
        for path in self.files:
            argv += ["-f", str(path)]
        return subprocess.run(
            [*argv, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def leftovers(self) -> list[str]:
        """Every container, network and volume of the project that still exists."""
        selector = label_filter(f"{PROJECT_LABEL}={self.project}")
        client = self.engine.client
        return (
            [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in client.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
        )

    def remove(self) -> None:
        """`down -v`, then by label whatever it left (one-off containers, a timed-out down)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self("down", "-v", "--remove-orphans", "--timeout", "5", timeout_s=120)
        selector = label_filter(f"{PROJECT_LABEL}={self.project}")
        client = self.engine.client
        for container in client.containers.list(all=True, filters=selector):
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)
        for network in client.networks.list(filters=selector):
            with contextlib.suppress(NotFound):
                network.remove()
        for volume in client.volumes.list(filters=selector):
            with contextlib.suppress(NotFound):
                volume.remove(force=True)

    def wait_all_healthy(self, timeout_s: float = 180) -> dict[str, str]:
        """{service: health} once every container of the project is healthy."""
        selector = label_filter(f"{PROJECT_LABEL}={self.project}")
        deadline = time.monotonic() + timeout_s
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = {
                c.labels[SERVICE_LABEL]: c.attrs["State"].get("Health", {}).get("Status", "none")
                for c in self.engine.client.containers.list(all=True, filters=selector)
            }
            if health and all(v == "healthy" for v in health.values()):
                return health
            time.sleep(0.5)
        raise AssertionError(f"not every service became healthy: {health}")
