"""`python -m service` (service/__main__.py) as a real process, over real HTTP."""

from __future__ import annotations

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
        # A deployed stage without Cognito settings: no way to start with auth off.
        (
            {"APP_STAGE": "prod", "AUTH_ISSUER": "", "AUTH_JWKS_URL": "", "AUTH_CLIENT_IDS": ""},
            ["AUTH_ISSUER", "AUTH_CLIENT_IDS"],
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
