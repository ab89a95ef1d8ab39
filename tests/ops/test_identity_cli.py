"""`python -m service.ops token | link-user | unlink-user` against a real local service."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkit.servers import RedisServer
from testkit.service import ServiceProcess
from tests.ops.conftest import clean_env, run_ops


@pytest.fixture
def local_env(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    """The local stage with the dev issuer: what `make up` and docker-compose run."""
    return clean_env(
        APP_STAGE="local",
        AUTH_DEV_KEY_PATH=str(tmp_path / "dev-key.pem"),
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(redis_server.port),
        AUTH_IDENTITY_CACHE_TTL_S="1",
    )


@pytest.fixture
def local_service(
    local_env: dict[str, str], service_process_factory: Callable[..., ServiceProcess]
) -> ServiceProcess:
    # Blank AUTH_*: the fixture's default test issuer must not apply, the dev issuer must.
    blank = {"AUTH_ISSUER": "", "AUTH_JWKS_URL": "", "AUTH_CLIENT_IDS": ""}
    return service_process_factory({**local_env, **blank})


def token(env: dict[str, str], *args: str) -> str:
    result = run_ops("token", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def status(service: ServiceProcess, path: str, bearer: str) -> int:
    headers = {"Authorization": f"Bearer {bearer}"}
    return httpx.get(f"{service.base_url}{path}", headers=headers, timeout=5).status_code


def status_within(wait_s: float, service: ServiceProcess, path: str, bearer: str) -> int:
    """The first 200 within `wait_s` seconds, else the status answered at `wait_s`."""
    deadline = time.monotonic() + wait_s
    while (code := status(service, path, bearer)) != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    return code


def test_minted_tokens_are_accepted_by_the_local_service(
    local_env: dict[str, str], local_service: ServiceProcess
) -> None:
    user1 = token(local_env, "--user", "1")
    assert status(local_service, "/api/portfolio/1", user1) == 200
    assert status(local_service, "/api/portfolio/2", user1) == 403
    admin = token(local_env, "--user", "1", "--admin")
    assert status(local_service, "/api/portfolio/2", admin) == 200


def test_link_user_lets_a_new_sub_act_for_a_user(
    local_env: dict[str, str], local_service: ServiceProcess
) -> None:
    sub = "3f0c2d4e-0000-4000-8000-00000000abcd"
    newcomer = token(local_env, "--user", "4", "--sub", sub)
    assert status(local_service, "/api/portfolio/4", newcomer) == 403
    linked = run_ops("link-user", "--sub", sub, "--user", "4", env=local_env)
    assert (linked.returncode, linked.stdout.strip()) == (
        0,
        f"linked sub {sub} to user 4 (Edsger Dijkstra)",
    )
    # The service rereads a link after AUTH_IDENTITY_CACHE_TTL_S=1: by 1.2 s after the link
    # at the latest (polled, as the 403 it cached may be older than the link).
    assert status_within(1.2, local_service, "/api/portfolio/4", newcomer) == 200
    unlinked = run_ops("unlink-user", "--sub", sub, env=local_env)
    assert unlinked.returncode == 0
    again = run_ops("unlink-user", "--sub", sub, env=local_env)
    assert again.returncode == 1 and "is not linked" in again.stderr


def test_link_user_to_a_missing_user_fails_clearly(
    local_env: dict[str, str], local_service: ServiceProcess
) -> None:
    result = run_ops("link-user", "--sub", "x", "--user", "999", env=local_env)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: user 999 does not exist. Fix: pick an existing user id"


def test_no_tokens_outside_the_local_stage(local_env: dict[str, str]) -> None:
    env = {
        **local_env,
        "APP_STAGE": "prod",
        "AWS_COGNITO_USER_POOL_ID": "eu-west-1_AbC123",
        "AWS_COGNITO_CLIENT_ID": "app-client",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    result = run_ops("token", "--user", "1", env=env)
    assert result.returncode == 1
    assert "tokens are minted only for the local dev issuer (APP_STAGE=prod" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
