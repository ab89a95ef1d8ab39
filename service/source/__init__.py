"""Source of truth: Postgres when DATABASE_URL is set, else embedded SQLite (a stage that
requires a shared database refuses to start without DATABASE_URL: service/settings.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.source.base import (
    HoldingRow,
    NotFoundError,
    PickRow,
    PortfolioRows,
    Source,
    SourceError,
    SourceNotConfiguredError,
    SourceOpenError,
    SourceUnavailableError,
    UnknownSymbolError,
    UnknownUserError,
)

if TYPE_CHECKING:
    from service.settings import Settings

__all__ = [
    "HoldingRow",
    "NotFoundError",
    "PickRow",
    "PortfolioRows",
    "Source",
    "SourceError",
    "SourceNotConfiguredError",
    "SourceOpenError",
    "SourceUnavailableError",
    "UnknownSymbolError",
    "UnknownUserError",
    "make_source",
]


def make_source(settings: Settings, instance_id: str) -> Source:
    if settings.database_url is not None:
        from service.source.postgres import PostgresSource

        return PostgresSource(
            settings.database_url.get_secret_value(),
            instance_id=instance_id,
            max_size=settings.database_pool_max_size,
            seed=settings.seed_demo_data is True,
            open_timeout_s=settings.database_connect_timeout_s,
            pool_timeout_s=settings.database_pool_timeout_ms / 1000,
        )
    from service.source.sqlite import SqliteSource

    return SqliteSource(settings.sqlite_path, seed=settings.seed_demo_data is True)
