"""docker-compose.yml with the Postgres override, run as the targets page says:
`.env` with POSTGRES_PASSWORD and DATABASE_URL, then
`docker-compose -f docker-compose.yml -f docker-compose.postgres.yml up -d`.

GIVEN the images built here and POSTGRES_IMAGE pointing at the Postgres image (its stand-in where
no registry answers) WHEN the project is up THEN redis, postgres and app are healthy; a dev token
(the seed links its `sub` to the demo user: no `link-user` needed) reads a portfolio MISS then
HIT; a PUT makes the next read a MISS showing the new holding, then HIT; a second app instance
holding the portfolio in its in-process cache drops it when the first one writes (Postgres
NOTIFY, the cross-instance path); Postgres runs as `postgres` with its data in the named volume
and stops cleanly; `down -v` leaves nothing of the project.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.config import load_stage
from testkit.compose import BASE_FILE, POSTGRES_FILE, SERVICE_LABEL, Compose
from testkit.containers import exec_text, label_filter, wait_http
from testkit.servers import free_port
from tools.containers.engine import Engine
from tools.containers.images import Built

pytestmark = pytest.mark.containers
USER = 1
SYMBOL = "NVDA"
# The second instance keeps an L1 copy this long (the default, 5 s, is too close to the
# notice's delivery to tell an invalidation from an expiry).
L1_TTL_MS = 60_000


@pytest.fixture
def pg_compose(
    docker_engine: Engine,
    container_images: dict[str, Built],
    postgres_container_image: Built,
    tmp_path: Path,
) -> Iterator[Compose]:
    password = uuid.uuid4().hex
    runner = Compose(
        docker_engine,
        {**container_images, "postgres": postgres_container_image},
        tmp_path,
        files=(BASE_FILE, POSTGRES_FILE),
        # The two lines .env.example asks for with the override, word for word.
        env_file={
            "POSTGRES_PASSWORD": password,
            "DATABASE_URL": "postgresql://fyntrix:${POSTGRES_PASSWORD}@postgres:5432/fyntrix",
        },
    )
    yield runner
    runner.remove()


def _get(base: str, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    response = httpx.get(f"{base}/api/portfolio/{USER}", headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.json()


def _quantity(portfolio: dict[str, Any]) -> float | None:
    found = [h["quantity"] for h in portfolio["holdings"] if h["symbol"] == SYMBOL]
    return found[0] if found else None


def _put(base: str, auth: dict[str, str], quantity: float) -> None:
    response = httpx.put(
        f"{base}/api/portfolio/{USER}/holdings/{SYMBOL}",
        headers=auth,
        json={"quantity": quantity, "cost_basis": 101.5},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _service(compose: Compose, name: str) -> Any:
    selector = label_filter(f"{SERVICE_LABEL}={name}")
    found = [
        c
        for c in compose.engine.client.containers.list(filters=selector)
        if c.labels.get("com.docker.compose.project") == compose.project
    ]
    assert len(found) == 1, found
    return found[0]


# The app's ops port in the container (OPS_PORT, app.ops_port).
OPS_PORT = load_stage("dev").app.ops_port


def test_postgres_override_serves_writes_and_invalidates_across_instances(
    pg_compose: Compose,
) -> None:
    compose = pg_compose
    up = compose("up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    assert compose.wait_all_healthy() == {
        "redis": "healthy",
        "postgres": "healthy",
        "app": "healthy",
    }
    base = f"http://127.0.0.1:{compose.app_port}"
    wait_http(f"{base}/health")
    # The ops endpoints answer on the ops port only (OPS_PORT), never on the API's
    assert httpx.get(f"{base}/ready", timeout=10).status_code == 404
    ready = httpx.get(f"http://127.0.0.1:{compose.ops_port}/ready", timeout=10).json()
    assert (ready["source"], ready["database"], ready["invalidation"]) == (
        "postgres",
        "ok",
        "listening",
    ), ready
    token = compose("exec", "-T", "app", "python", "-m", "service.ops", "token", "--user", "1")
    assert token.returncode == 0, token.stderr
    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}

    first, before = _get(base, auth)
    assert [first, _get(base, auth)[0]] == ["MISS", "HIT"]
    new_quantity = (_quantity(before) or 0) + 7
    _put(base, auth, new_quantity)
    status, after = _get(base, auth)
    assert (status, _quantity(after)) == ("MISS", new_quantity)
    assert _get(base, auth)[0] == "HIT"

    _second_instance_drops_its_copy_on_notify(compose, auth_for_first=auth, quantity=new_quantity)
    _postgres_runs_as_its_user_on_the_volume(compose)

    down = compose("down", "-v")
    assert down.returncode == 0, down.stdout + down.stderr
    assert compose.leftovers() == []


def _second_instance_drops_its_copy_on_notify(
    compose: Compose, *, auth_for_first: dict[str, str], quantity: float
) -> None:
    """Both instances share this project's Redis, so only the second one's in-process L1 can
    go stale: the first one's write reaches it through Postgres NOTIFY alone."""
    port, ops_port = free_port(), free_port()
    run = compose(
        *("run", "-d", "--no-deps", "-p", f"127.0.0.1:{port}:8000"),
        *("-p", f"127.0.0.1:{ops_port}:{OPS_PORT}"),
        *("-e", f"CACHE_L1_TTL_MS={L1_TTL_MS}", "app"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    second = compose.engine.client.containers.get(run.stdout.strip().splitlines()[-1])
    other = f"http://127.0.0.1:{port}"
    # Ready and listening is what the rest needs; Docker's first health check would come only
    # one interval (15 s) after the start.
    _wait_listening(f"http://127.0.0.1:{ops_port}", second)
    # Its dev key is its own (in its /tmp): mint its token there, as for the first.
    code, token = exec_text(second, ["python", "-m", "service.ops", "token", "--user", "1"])
    assert code == 0, token
    auth = {"Authorization": f"Bearer {token.strip()}"}
    # Its listener's first connect flushed the shared Redis (notices may have been missed):
    # a MISS from Postgres, then a HIT; either way a copy is now in its own L1.
    reads = [_get(other, auth) for _ in "ab"]
    assert [(s, _quantity(p)) for s, p in reads] == [("MISS", quantity), ("HIT", quantity)]

    _put(f"http://127.0.0.1:{compose.app_port}", auth_for_first, quantity + 1)
    deadline = time.monotonic() + 10  # far below the L1 copy's 60 s
    while (seen := _get(other, auth))[0] == "HIT" and time.monotonic() < deadline:
        assert _quantity(seen[1]) == quantity  # the stale copy, until the notice lands
        time.sleep(0.05)
    assert (seen[0], _quantity(seen[1])) == ("MISS", quantity + 1)


def _wait_listening(base: str, container: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            body = httpx.get(f"{base}/ready", timeout=2).json()
            if body.get("invalidation") == "listening":
                return
        time.sleep(0.2)
    logs = container.logs(tail=20).decode(errors="replace")
    raise AssertionError(f"second instance not listening ({body}):\n{logs}")


def _postgres_runs_as_its_user_on_the_volume(compose: Compose) -> None:
    postgres = _service(compose, "postgres")
    code, uid = exec_text(postgres, ["id", "-u", "postgres"])
    assert code == 0 and uid.strip() != "0", uid
    # `docker top` runs the host's ps: numeric ids (the host names them after its own users).
    top = postgres.top(ps_args="-o pid,uid,comm")
    column = top["Titles"].index("UID")
    assert {row[column] for row in top["Processes"]} == {uid.strip()}, top
    mounts = {m["Destination"]: m for m in postgres.attrs["Mounts"]}
    data = mounts["/var/lib/postgresql/data"]
    assert (data["Type"], data["Name"]) == ("volume", f"{compose.project}_postgres-data")
    code, out = exec_text(postgres, ["pg_isready", "-U", "fyntrix", "-d", "fyntrix"])
    assert code == 0, out
    # A network login needs the password (the app's connections prove the right one works).
    code, out = exec_text(
        postgres, ["psql", "-h", "127.0.0.1", "-U", "fyntrix", "-w", "-c", "select 1"]
    )
    assert code != 0 and "password" in out, out
    stop = compose("stop", "-t", "10", "app", "postgres")
    assert stop.returncode == 0, stop.stderr
    postgres.reload()
    assert postgres.attrs["State"]["ExitCode"] == 0
    logs = postgres.logs().decode(errors="replace")
    assert "fast shutdown request" in logs and "database system is shut down" in logs, logs
