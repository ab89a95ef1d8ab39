"""Who is who: link a Cognito `sub` to a user, and mint local dev tokens.

    python -m service.ops link-user --sub SUB --user N   # the token's sub acts for user N
    python -m service.ops unlink-user --sub SUB
    python -m service.ops token --user N [--admin]       # local stage only

Links are rows of user_identities in the source of truth the app uses (DATABASE_URL, else the
SQLite file at SQLITE_PATH): run the command where the app runs (ECS Exec in the task, or
anywhere with the stage's DATABASE_URL). Running apps pick a change up within
AUTH_IDENTITY_CACHE_TTL_S seconds.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import ValidationError

from service.ops.conn import EXIT_USAGE, OpsError
from service.settings import Settings, format_errors

_UPSERT = (
    "INSERT INTO user_identities (sub, user_id) VALUES ({p}, {p})"
    " ON CONFLICT (sub) DO UPDATE SET user_id = excluded.user_id"
)


def app_settings() -> Settings:
    """The app's settings from the environment; invalid ones are a usage error (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise OpsError(
            "; ".join(format_errors(exc)),
            "set the variables the app runs with (same names, same rules)",
            exit_code=EXIT_USAGE,
        ) from None


def _execute(settings: Settings, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction on the app's source of truth."""
    if settings.database_url is not None:
        import psycopg

        try:
            with psycopg.connect(settings.database_url.get_secret_value(), connect_timeout=5) as c:
                cur = c.execute(sql.format(p="%s").encode(), params)
                return list(cur.fetchall()) if cur.description else [(cur.rowcount,)]
        except psycopg.Error as exc:
            raise OpsError(f"database error: {exc}".strip(), "check DATABASE_URL") from None
    if settings.require_database_url:
        raise OpsError("DATABASE_URL is not set", "this stage keeps its data in Postgres only")
    try:
        conn = sqlite3.connect(f"file:{settings.sqlite_path}?mode=rw", uri=True)
    except sqlite3.Error as exc:
        raise OpsError(
            f"no SQLite database at {settings.sqlite_path} ({exc})",
            "start the service once (it creates and seeds it) or set SQLITE_PATH",
        ) from None
    try:
        with conn:
            conn.execute("PRAGMA foreign_keys=ON")
            lite = conn.execute(sql.format(p="?"), params)
            return list(lite.fetchall()) if lite.description else [(lite.rowcount,)]
    except sqlite3.Error as exc:
        raise OpsError(f"database error: {exc}", "check SQLITE_PATH") from None
    finally:
        conn.close()


def link(settings: Settings, sub: str, user_id: int) -> str:
    found = _execute(settings, "SELECT name FROM users WHERE id = {p}", (user_id,))
    if not found:
        raise OpsError(f"user {user_id} does not exist", "pick an existing user id")
    _execute(settings, _UPSERT, (sub, user_id))
    return f"linked sub {sub} to user {user_id} ({found[0][0]})"


def unlink(settings: Settings, sub: str) -> str:
    [(count,)] = _execute(settings, "DELETE FROM user_identities WHERE sub = {p}", (sub,))
    if not count:
        raise OpsError(f"sub {sub} is not linked to any user", "nothing to do")
    return f"unlinked sub {sub}"


def mint_local_token(
    settings: Settings, user_id: int, *, admin: bool, sub: str | None, ttl_s: int
) -> str:
    """A token the local service accepts (the dev issuer's key at AUTH_DEV_KEY_PATH)."""
    from service.auth import devkeys
    from service.settings import LOCAL_ISSUER

    if settings.app_stage != "local" or settings.auth_issuer != LOCAL_ISSUER:
        raise OpsError(
            f"tokens are minted only for the local dev issuer (APP_STAGE={settings.app_stage}, "
            f"AUTH_ISSUER={settings.auth_issuer})",
            "sign in through the stage's Cognito user pool; locally, set APP_STAGE=local and "
            "leave AUTH_ISSUER unset",
        )
    try:
        key = devkeys.load_or_create_key(settings.auth_dev_key_path)
    except (OSError, ValueError) as exc:
        raise OpsError(
            f"dev key {settings.auth_dev_key_path} unusable: {exc}",
            "point AUTH_DEV_KEY_PATH at the file the service uses (same value for both)",
        ) from None
    groups = (settings.auth_admin_group,) if admin else ()
    return devkeys.mint(
        key,
        issuer=LOCAL_ISSUER,
        client_id=settings.auth_client_ids[0],
        sub=sub or devkeys.dev_sub(user_id),
        groups=groups,
        ttl_s=ttl_s,
    )
