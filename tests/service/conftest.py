"""Helpers shared by the service tests: an app on either source of truth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.servers import RedisServer
from testkit.service import RunningApp, service_settings

AppFactory = Callable[..., Awaitable[RunningApp]]


@pytest.fixture(params=["sqlite", "postgres"])
def source_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest,
    app_factory: Callable[[Any], Awaitable[RunningApp]],
    tmp_path: Path,
) -> AppFactory:
    """make_app(redis, kind="sqlite"|"postgres", **settings) -> RunningApp.

    Postgres apps made in one test share one fresh database (like tasks sharing RDS).
    """
    shared: dict[str, str] = {}

    async def make(redis: RedisServer | None, kind: str = "sqlite", **overrides: Any) -> RunningApp:
        if kind == "postgres":
            if "dsn" not in shared:
                shared["dsn"] = request.getfixturevalue("postgres_dsn")
            settings = service_settings(redis, database_url=shared["dsn"], **overrides)
        else:
            path = tmp_path / "fyntrix.sqlite3"
            settings = service_settings(redis, sqlite_path=path, **overrides)
        return await app_factory(settings)

    return make


def execute_sql(app: RunningApp, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Change the source of truth behind the service's back (like another system would)."""
    settings = app.services.settings
    if settings.database_url is not None:
        import psycopg

        with psycopg.connect(settings.database_url.get_secret_value()) as conn:
            conn.execute(sql.replace("?", "%s").encode(), params)
    else:
        import sqlite3

        lite = sqlite3.connect(settings.sqlite_path)
        with lite:
            lite.execute(sql, params)
        lite.close()
