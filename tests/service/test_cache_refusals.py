"""A Redis that refuses the app by configuration (NOAUTH, WRONGPASS, a password it does not
have) is loud: one WARNING per change of state, the breaker opens at once, and /ready and
/cache/stats name the reason. DENIED (protected mode) needs a non-loopback client: it is
tested with real containers in tests/containers/test_redis_network.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from pydantic import SecretStr
from redis.exceptions import AuthenticationError, ResponseError

from service.cache import refusal
from testkit.servers import RedisServer, free_port
from testkit.service import RunningApp, service_settings


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ResponseError("DENIED Redis is running in protected mode because ..."), "DENIED"),
        (AuthenticationError("Authentication required."), "NOAUTH"),
        (AuthenticationError("invalid username-password pair or user is disabled."), "WRONGPASS"),
        (ResponseError("AUTH <password> called without any password configured"), "NOPASS"),
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'."), None),
        (ConnectionError("refused"), None),
    ],
)
def test_refusal_classification(exc: BaseException, code: str | None) -> None:
    assert refusal(exc) == code


@pytest.mark.parametrize(
    ("requirepass", "password", "code"),
    # (Redis 6+ accepts any password when it has none: NOPASS comes only from older servers.)
    [("s3cret-pass", None, "NOAUTH"), ("s3cret-pass", "wrong", "WRONGPASS")],
)
async def test_refused_cache_is_named_by_ready_and_stats_and_logged_once(
    redis_server_factory: Callable[..., RedisServer],
    app_factory: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
    requirepass: str | None,
    password: str | None,
    code: str,
) -> None:
    server = redis_server_factory(**({"requirepass": requirepass} if requirepass else {}))
    settings = service_settings(
        None,
        redis_port=server.port,
        redis_password=SecretStr(password) if password else None,
        # Long enough that no probe closes it again during the test.
        circuit_breaker_reset_timeout_ms=60_000,
    )
    caplog.set_level(logging.WARNING, logger="service.cache")
    app = await app_factory(settings)  # type: ignore[misc]
    assert isinstance(app, RunningApp)
    for _ in range(5):
        response = await app.client.get("/api/portfolio/1")
        assert (response.status_code, response.headers["x-cache"]) == (200, "BYPASS")
    ready = await app.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["cache"] == "degraded"
    assert ready.json()["cache_reason"].startswith(f"{code}: ")
    stats = (await app.client.get("/cache/stats")).json()
    assert stats["breaker"] == "open"
    assert stats["reason"].startswith(f"{code}: ")
    loud = [r for r in caplog.records if r.levelno == logging.WARNING and code in r.getMessage()]
    # Once when it was first refused (plus the breaker opening), not once per request.
    assert 1 <= len(loud) <= 2, [r.getMessage() for r in caplog.records]


async def start_app(
    app_factory: Callable[..., object], redis_port: int, password: str | None
) -> RunningApp:
    settings = service_settings(
        None,
        redis_port=redis_port,
        redis_password=SecretStr(password) if password else None,
        circuit_breaker_reset_timeout_ms=60_000,
    )
    app = await app_factory(settings)  # type: ignore[misc]
    assert isinstance(app, RunningApp)
    return app


@pytest.mark.parametrize(
    ("password", "code"), [(None, "NOAUTH"), ("wrong", "WRONGPASS")], ids=["missing", "wrong"]
)
async def test_a_wrong_or_missing_password_is_loud_at_start_not_at_first_use(
    redis_server_factory: Callable[..., RedisServer],
    app_factory: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
    password: str | None,
    code: str,
) -> None:
    server = redis_server_factory(requirepass="s3cret-pass")
    caplog.set_level(logging.WARNING, logger="service.cache")
    app = await start_app(app_factory, server.port, password)
    # Started, no request yet: the log says it, and the cache is already out of use.
    assert any(code in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert app.services.cache.hits + app.services.cache.misses == 0
    assert not app.services.cache.available
    ready = (await app.client.get("/ready")).json()
    assert (ready["cache"], ready["cache_reason"].split(":")[0]) == ("degraded", code)


async def test_a_password_redis_does_not_ask_for_is_a_warning_at_start(
    redis_server: RedisServer,
    app_factory: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="service.cache")
    app = await start_app(app_factory, redis_server.port, "not-needed")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warnings if "NOPASS" in m and "REDIS_PASSWORD" in m], warnings
    ready = (await app.client.get("/ready")).json()
    assert ready["cache"] == "ok"
    assert ready["cache_warning"].startswith("NOPASS: ")
    # A warning, not a refusal: the cache works.
    statuses = [(await app.client.get("/api/top-picks")).headers["x-cache"] for _ in range(2)]
    assert statuses == ["MISS", "HIT"]


async def test_a_right_password_starts_quietly(
    redis_server_factory: Callable[..., RedisServer],
    app_factory: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = redis_server_factory(requirepass="s3cret-pass")
    caplog.set_level(logging.WARNING, logger="service.cache")
    app = await start_app(app_factory, server.port, "s3cret-pass")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    ready = (await app.client.get("/ready")).json()
    assert ready["cache"] == "ok" and "cache_warning" not in ready


async def test_ready_and_cache_stats_never_show_where_redis_is(
    app_factory: Callable[..., object],
) -> None:
    port = free_port()  # nothing listens: every Redis call fails with "connection refused"
    app = await start_app(app_factory, port, None)
    for _ in range(5):  # opens the breaker
        assert (await app.client.get("/api/portfolio/1")).status_code == 200
    stats = await app.client.get("/cache/stats")
    ready = await app.client.get("/ready")
    assert stats.json()["reason"] == "UNREACHABLE: ConnectionError: Connection refused"
    assert (
        stats.json()["redis"]["error"] == "redis unavailable: ConnectionError: Connection refused"
    )
    for text in (stats.text, ready.text):
        assert str(port) not in text and "127.0.0.1" not in text, text
