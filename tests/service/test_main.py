"""`python -m service` (service/__main__.py) as a real process, over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest

from service.settings import LOCAL_ISSUER
from testkit.auth import default_issuer
from testkit.servers import PostgresCluster, RedisServer, free_port
from testkit.service import ROOT, ServiceProcess, service_env

StartService = Callable[..., ServiceProcess]


def run_service(env: dict[str, str], timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=service_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"REDIS_PORT": "six-three-seven-nine"}, ["REDIS_PORT"]),
        ({"CACHE_TTL_PORTFOLIO_S": "0", "PORT": "99999"}, ["PORT", "CACHE_TTL_PORTFOLIO_S"]),
        ({"DATABASE_URL": "mysql://root:hunter2@db/fyntrix"}, ["DATABASE_URL"]),
        # A deployed stage without Cognito settings: no way to start with auth off; and prod
        # without its database.
        (
            {"APP_STAGE": "prod", "AUTH_ISSUER": "", "AUTH_JWKS_URL": "", "AUTH_CLIENT_IDS": ""},
            ["AUTH_ISSUER", "AUTH_CLIENT_IDS", "DATABASE_URL"],
        ),
        # The local dev issuer is refused outside the local stage.
        (
            {"APP_STAGE": "dev", "AUTH_ISSUER": LOCAL_ISSUER, "AUTH_JWKS_URL": ""},
            ["AUTH_ISSUER"],
        ),
        (
            {"APP_STAGE": "dev", "FORWARDED_ALLOW_IPS": "*"},
            ["FORWARDED_ALLOW_IPS", "AUTH_ISSUER", "AUTH_JWKS_URL"],  # http:// outside local
        ),
    ],
)
def test_invalid_settings_exit_2_naming_the_variable(env: dict[str, str], names: list[str]) -> None:
    result = run_service(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(line.split()[2].rstrip(":") for line in lines) == sorted(names)
    assert all(line.startswith("invalid setting ") for line in lines)
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout


def _prod_task_environment() -> dict[str, str]:
    """The app container's environment in prod's task definition (ecs-task-definition.json,
    generated from the stage config), with its secrets as the stack first creates them
    (empty) and its Cognito placeholders filled in."""
    task = json.loads((ROOT / "ecs-task-definition.json").read_text())
    app = next(c for c in task["containerDefinitions"] if c["name"] == "app")
    env = {e["name"]: e["value"] for e in app["environment"]}
    env["AUTH_ISSUER"] = env["AUTH_ISSUER"].replace("YOUR_USER_POOL_ID", "us-east-1_AbCdEf123")
    env["AUTH_CLIENT_IDS"] = "4tl7d0vq2q9example0000"
    env.update({s["name"]: "{}" for s in app["secrets"]})
    return env


def test_a_prod_task_without_its_database_exits_at_start() -> None:
    # GIVEN prod's task environment, with the stage secret's DATABASE_URL still empty
    env = {**_prod_task_environment(), "PORT": str(free_port()), "HOST": "127.0.0.1"}
    assert env["APP_STAGE"] == "prod"
    assert env["APP_SECRETS"] == "{}" and "DATABASE_URL" not in env
    # WHEN the container starts THEN it exits non-zero at once (so the deployment's tasks fail
    # and ECS's circuit breaker rolls the deploy back), naming the variable and where to set it,
    # instead of serving 503 behind a healthy /health
    # Nothing but the task's environment (service_env() would add the test issuer's).
    machine = {k: v for k, v in service_env().items() if k in ("PATH", "HOME", "PYTHONPATH")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env={**machine, **env},
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"prod without DATABASE_URL kept running: {exc.stdout!r}")
    assert result.returncode == 2, result.stdout[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("invalid setting DATABASE_URL: required when APP_STAGE=prod")
    assert "stage's secret" in line


def test_unreachable_database_exits_3_at_start() -> None:
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
        "DATABASE_CONNECT_TIMEOUT_S": "1",
        "PORT": str(free_port()),
    }
    start = time.monotonic()
    result = run_service(env)
    assert result.returncode == 3, result.stdout[-2000:]
    assert time.monotonic() - start < 15


def test_serves_over_http_and_stops_gracefully_on_sigterm(
    redis_server: RedisServer,
    postgres_cluster: PostgresCluster,
    postgres_dsn: str,
    service_process_factory: StartService,
) -> None:
    """GIVEN the real process on Postgres + Redis
    WHEN a write is in flight (held by a row lock) and SIGTERM arrives
    THEN the write completes with 200 and the process exits 0 after its lifespan shutdown."""
    service = service_process_factory(
        {"REDIS_PORT": str(redis_server.port), "DATABASE_URL": postgres_dsn}
    )
    base = service.base_url
    issuer = default_issuer()
    auth = issuer.bearer(issuer.user_token(1))
    first = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=5)
    second = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=5)
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    assert first.json() == second.json()
    ready = httpx.get(f"{base}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["invalidation"] == "listening"

    # The container health check, run the way ECS runs it.
    check = subprocess.run(
        [sys.executable, "-m", "service.healthcheck"],
        cwd=ROOT,
        env=service_env(PORT=str(service.port)),
        timeout=10,
    )
    assert check.returncode == 0

    result: dict[str, httpx.Response] = {}
    with psycopg.connect(postgres_dsn) as locker:
        locker.execute("SELECT 1 FROM users WHERE id = 1 FOR UPDATE")  # holds the write
        writer = threading.Thread(
            target=lambda: result.update(
                put=httpx.put(
                    f"{base}/api/portfolio/1/holdings/AAPL",
                    json={"quantity": 7, "cost_basis": 150.0},
                    headers=auth,
                    timeout=20,
                )
            )
        )
        writer.start()
        time.sleep(0.3)  # the PUT is now waiting on the lock
        service.proc.send_signal(15)
        time.sleep(0.3)
        assert service.proc.poll() is None  # still draining the in-flight request
    # Lock released (transaction rolled back on exit): the write proceeds.
    writer.join(timeout=20)
    assert result["put"].status_code == 200
    assert service.proc.wait(timeout=20) == 0
    assert "fyntrix service stopped" in service.log()


def test_healthcheck_fails_when_nothing_listens() -> None:
    check = subprocess.run(
        [sys.executable, "-m", "service.healthcheck"],
        cwd=ROOT,
        env=service_env(PORT=str(free_port())),
        timeout=10,
    )
    assert check.returncode == 1


_OPS_PATHS = ("/ready", "/metrics", "/cache/stats", "/docs", "/redoc", "/openapi.json")


def test_with_an_ops_port_the_public_port_serves_no_ops_endpoint(
    redis_server: RedisServer, service_process_factory: StartService
) -> None:
    """GIVEN OPS_PORT, as Render and compose run the service (nothing filters paths in front)
    THEN the public port answers the API and /health only, and the ops port the rest."""
    ops_port = free_port()
    service = service_process_factory(
        {"REDIS_PORT": str(redis_server.port), "OPS_PORT": str(ops_port)}
    )
    public, ops = service.base_url, f"http://127.0.0.1:{ops_port}"
    assert httpx.get(f"{public}/health", timeout=5).status_code == 200
    refused = {path: httpx.get(f"{public}{path}", timeout=5).status_code for path in _OPS_PATHS}
    assert refused == dict.fromkeys(_OPS_PATHS, 404)
    issuer = default_issuer()
    auth = issuer.bearer(issuer.user_token(1))
    assert httpx.get(f"{public}/api/portfolio/1", timeout=5).status_code == 401
    assert httpx.get(f"{public}/api/portfolio/1", headers=auth, timeout=5).status_code == 200
    # The ops port serves them, reading the same state as the API (the read above is counted)
    served = {path: httpx.get(f"{ops}{path}", timeout=5).status_code for path in _OPS_PATHS}
    assert served == dict.fromkeys(_OPS_PATHS, 200)
    assert httpx.get(f"{ops}/ready", timeout=5).json()["status"] == "ready"
    metrics = httpx.get(f"{ops}/metrics", timeout=5).text
    assert 'route="/api/portfolio/{user_id}"' in metrics
    # Its docs describe the whole API, the ops routes included
    paths = httpx.get(f"{ops}/openapi.json", timeout=5).json()["paths"]
    assert {"/api/portfolio/{user_id}", "/health", "/ready", "/metrics"} <= set(paths)
    # and it serves nothing of the API itself
    assert httpx.get(f"{ops}/api/portfolio/1", headers=auth, timeout=5).status_code == 404
    assert service.terminate() == 0


def test_an_ops_port_that_is_taken_exits_3(redis_server: RedisServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = run_service(
            {"REDIS_PORT": str(redis_server.port), "PORT": str(free_port()),
             "HOST": "127.0.0.1", "OPS_PORT": str(busy)}
        )  # fmt: skip
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{busy}" in result.stdout + result.stderr
