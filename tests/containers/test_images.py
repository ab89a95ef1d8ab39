"""The images themselves: what they ship, and that they run read-only with no shell at all.

The app's command and health check are exec form (no /bin/sh -c): with the shells replaced by
empty, non-executable files, it still starts, serves and reports healthy on a read-only root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from docker.types import Mount

from testkit.containers import Containers, wait_healthy, wait_http
from testkit.servers import free_port
from tools.containers.engine import Engine
from tools.containers.images import Built
from tools.containers.task import LOCAL_AUTH_ENV, mint_token

pytestmark = pytest.mark.containers
_NO_INSTALLER = (
    "import pathlib, sys\n"
    "venv = pathlib.Path('/opt/venv')\n"
    "found = [p.name for p in venv.glob('lib/python*/site-packages/*')\n"
    "         if p.name.split('-')[0] in ('pip', 'setuptools', '_distutils_hack')]\n"
    "found += [p.name for p in venv.glob('bin/pip*')]\n"
    "print(found)\n"
    "sys.exit(1 if found else 0)\n"
)


def test_runtime_venv_has_no_pip_or_setuptools(
    containers: Containers, container_images: dict[str, Built]
) -> None:
    c = containers.run(
        container_images["app"].tag,
        entrypoint=["python", "-c", _NO_INSTALLER],
        command=[],
        read_only=True,
    )
    assert c.wait(timeout=60)["StatusCode"] == 0, c.logs().decode()


def test_app_runs_read_only_with_no_shell_at_all(
    containers: Containers, container_images: dict[str, Built], tmp_path: Path
) -> None:
    empty = tmp_path / "no-shell"
    empty.write_text("")
    empty.chmod(0o644)
    # Debian (stand-in) and python:*-slim both point /bin/sh at dash; bash is there too.
    shells = ["/usr/bin/dash", "/usr/bin/bash"]
    port = free_port()
    app = containers.run(
        container_images["app"].tag,
        read_only=True,
        user="10001:10001",
        tmpfs={"/tmp": "size=64m"},
        # No Redis: the app runs without it.
        environment={"REDIS_HOST": "127.0.0.1", **LOCAL_AUTH_ENV},
        ports={"8000/tcp": ("127.0.0.1", port)},
        mounts=[Mount(target=s, source=str(empty), type="bind", read_only=True) for s in shells],
    )
    code, _ = app.exec_run(["sh", "-c", "true"])
    assert code != 0  # the shell really is gone
    took = wait_healthy(app)  # the image's own exec-form HEALTHCHECK
    print(f"app healthy without a shell after {took:.1f} s", file=sys.stderr)
    wait_http(f"http://127.0.0.1:{port}/health")
    auth = {"Authorization": f"Bearer {mint_token(app)}"}  # exec form: no shell either
    response = httpx.get(f"http://127.0.0.1:{port}/api/portfolio/1", headers=auth, timeout=10)
    assert (response.status_code, response.headers["x-cache"]) == (200, "BYPASS")


def test_stand_in_bases_are_never_tagged_under_an_upstream_name(
    docker_engine: Engine, container_images: dict[str, Built]
) -> None:
    tags = {t for image in docker_engine.client.images.list() for t in image.tags}
    for built in container_images.values():
        if built.base_kind == "stand-in":
            assert built.base.startswith("fyntrix-standin/")
    assert not tags & {"python:3.11-slim", "redis:7-alpine"} or all(
        b.base_kind == "upstream" for b in container_images.values()
    )
