"""`python -m tools.smoke` (the deploy workflow's smoke test) against a real local service."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.servers import RedisServer, free_port
from testkit.service import ServiceProcess
from tests.ops.conftest import clean_env, run_ops

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_env(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    return clean_env(
        APP_STAGE="local",
        AUTH_DEV_KEY_PATH=str(tmp_path / "dev-key.pem"),
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(redis_server.port),
    )


@pytest.fixture
def service(
    local_env: dict[str, str], service_process_factory: Callable[..., ServiceProcess]
) -> ServiceProcess:
    blank = {"AUTH_ISSUER": "", "AUTH_JWKS_URL": "", "AUTH_CLIENT_IDS": ""}
    return service_process_factory({**local_env, **blank})


def smoke(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env.pop("SMOKE_ACCESS_TOKEN", None)
    if token is not None:
        env["SMOKE_ACCESS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "tools.smoke", url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def user_token(env: dict[str, str], user_id: int) -> str:
    result = run_ops("token", "--user", str(user_id), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_passes_health_401_and_an_authenticated_cached_read(
    local_env: dict[str, str], service: ServiceProcess
) -> None:
    result = smoke(service.base_url, user_token(local_env, 1), "--user-id", "1", "--wait-s", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok   GET {service.base_url}/health -> 200"
    assert lines[1].endswith("without a token -> 401")
    assert "with a token -> 200, X-Cache: " in lines[2]


def test_fails_when_the_token_is_for_another_user(
    local_env: dict[str, str], service: ServiceProcess
) -> None:
    result = smoke(service.base_url, user_token(local_env, 2), "--user-id", "1", "--wait-s", "5")
    assert result.returncode == 1
    assert "answered 403, not 200" in result.stdout
    assert "link-user" in result.stdout


def test_fails_on_a_forged_token(service: ServiceProcess) -> None:
    result = smoke(service.base_url, "not-a-jwt", "--wait-s", "5")
    assert result.returncode == 1
    assert "answered 401, not 200" in result.stdout


def test_without_a_token_says_how_to_get_one() -> None:
    result = smoke("http://127.0.0.1:1", None)
    assert result.returncode == 2
    assert "SMOKE_ACCESS_TOKEN is empty" in result.stderr
    assert "initiate-auth" in result.stderr


def test_a_dead_url_fails_after_the_wait_naming_health() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = smoke(url, "x", "--wait-s", "0.5", "--timeout-s", "0.5")
    assert result.returncode == 1
    assert f"FAIL GET {url}/health never answered 200 in 0.5 s" in result.stdout
