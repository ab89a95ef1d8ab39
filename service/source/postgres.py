"""Postgres source of truth: psycopg 3 with an async connection pool.

Writes publish the cache keys they make stale with NOTIFY inside the same transaction, so the
notice is delivered to every listening instance exactly when (and only if) the write commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from service.invalidation import CHANNEL, encode_notice
from service.source.base import (
    MAX_SUBS_PER_READ,
    PickRow,
    PortfolioRows,
    SourceTimeoutError,
    SourceUnavailableError,
    UnknownSymbolError,
    UnknownUserError,
    identities_query,
    links_of,
    portfolio_from_rows,
    read_queries,
)
from service.source.seed import PICKS, PRICES, SCHEMA, USERS, demo_holdings, demo_identities

log = logging.getLogger(__name__)

# Serializes schema creation and seeding when several instances start against one database.
_SCHEMA_LOCK_ID = 0x46594E54  # "FYNT"
# libpq's connect timeout for the pool's own connects, in whole seconds (libpq's minimum is 2):
# without one, a connect to a hung server waits forever. Requests never wait for it: they wait
# at most the pool timeout, and the breaker's probe bounds its own connect.
_LIBPQ_CONNECT_TIMEOUT_S = 2
# Longest an old pool may take to hand back its connections once a probe renewed it, seconds.
_OLD_POOL_CLOSE_S = 5.0

_PORTFOLIO_SQL, _PICKS_SQL, _IDENTITY_SQL = read_queries("%s")
_SEED_IDENTITIES_SQL = (
    "INSERT INTO user_identities (sub, user_id) SELECT %s, id FROM users WHERE id = %s"
    " ON CONFLICT (sub) DO NOTHING"
)
_UPSERT_SQL = """
    INSERT INTO holdings (user_id, symbol, quantity, cost_basis) VALUES (%s, %s, %s, %s)
    ON CONFLICT (user_id, symbol)
    DO UPDATE SET quantity = EXCLUDED.quantity, cost_basis = EXCLUDED.cost_basis
"""


class PostgresSource:
    kind: Literal["postgres", "sqlite", "none"] = "postgres"

    def __init__(
        self,
        conninfo: str,
        *,
        instance_id: str,
        max_size: int = 10,
        seed: bool = True,
        channel: str = CHANNEL,
        open_timeout_s: float = 10.0,
        pool_timeout_s: float = 5.0,
    ) -> None:
        self.conninfo = conninfo
        self.instance_id = instance_id
        self.channel = channel
        self._seed = seed
        self._open_timeout_s = open_timeout_s
        self._max_size = max_size
        self._pool_timeout_s = pool_timeout_s
        self._pool = self._new_pool()
        self._retiring: set[asyncio.Task[None]] = set()

    def _new_pool(self) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=self._max_size,
            open=False,
            # How long a request waits for a pooled connection before it gets a 503.
            timeout=self._pool_timeout_s,
            kwargs={"connect_timeout": _LIBPQ_CONNECT_TIMEOUT_S},
            name="fyntrix",
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=self._open_timeout_s)
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
                for ddl in SCHEMA:
                    await conn.execute(ddl)
                cur = await conn.execute("SELECT count(*) FROM users")
                row = await cur.fetchone()
                if self._seed and row is not None and row[0] == 0:
                    await _seed(conn)
                    log.info("seeded demo data into an empty postgres database")
                cur = await conn.execute("SELECT count(*) FROM user_identities")
                row = await cur.fetchone()
                if self._seed and row is not None and row[0] == 0:
                    async with conn.cursor() as seed_cur:
                        await seed_cur.executemany(_SEED_IDENTITIES_SQL, demo_identities())
        except (psycopg.OperationalError, PoolTimeout) as exc:
            await self._pool.close()
            raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc

    async def close(self) -> None:
        for task in list(self._retiring):
            await task
        await self._pool.close()

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(2.0), self._pool.connection() as conn:
                await conn.execute("SELECT 1")
        except (psycopg.OperationalError, PoolTimeout, TimeoutError) as exc:
            raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc

    async def probe(self) -> None:
        """A new connection answers SELECT 1, then a new pool replaces the old one: after an
        outage the old pool retries its connects with a backoff that doubles up to a minute,
        so recovery would wait for its next attempt."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=_LIBPQ_CONNECT_TIMEOUT_S
            )
            async with conn:
                await conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc
        old, self._pool = self._pool, self._new_pool()
        await self._pool.open(wait=False)
        task = asyncio.create_task(old.close(timeout=_OLD_POOL_CLOSE_S))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _read(self, sql: str, params: tuple[object, ...]) -> list[TupleRow]:
        # One retry: after a Postgres restart every pooled connection is broken once, and the
        # pool discards a broken connection when it comes back. (Checking each connection on
        # checkout instead would cost a round trip on every request.)
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(sql, params)
                    return await cur.fetchall()
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc
            except PoolTimeout as exc:
                raise SourceTimeoutError(f"postgres unavailable: {exc}") from exc
        raise AssertionError("unreachable")

    async def portfolio(self, user_id: int) -> PortfolioRows | None:
        rows = await self._read(_PORTFOLIO_SQL, (user_id,))
        return portfolio_from_rows(user_id, rows)

    async def top_picks(self, limit: int) -> list[PickRow]:
        return [PickRow(*r) for r in await self._read(_PICKS_SQL, (limit,))]

    async def user_for_sub(self, sub: str) -> int | None:
        rows = await self._read(_IDENTITY_SQL, (sub,))
        return int(rows[0][0]) if rows else None

    async def users_for_subs(self, subs: Sequence[str]) -> dict[str, int | None]:
        if not 0 < len(subs) <= MAX_SUBS_PER_READ:
            raise ValueError(f"between 1 and {MAX_SUBS_PER_READ} subs per read")
        rows = await self._read(identities_query("%s", len(subs)), tuple(subs))
        return links_of(subs, rows)

    async def upsert_holding(
        self,
        user_id: int,
        symbol: str,
        quantity: float,
        cost_basis: float,
        *,
        announce: Sequence[str] = (),
    ) -> None:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await self._check_user(conn, user_id)
                cur = await conn.execute("SELECT 1 FROM prices WHERE symbol = %s", (symbol,))
                if await cur.fetchone() is None:
                    raise UnknownSymbolError(symbol)
                await conn.execute(_UPSERT_SQL, (user_id, symbol, quantity, cost_basis))
                await self._announce(conn, announce)
        except PoolTimeout as exc:
            raise SourceTimeoutError(f"postgres unavailable: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc

    async def delete_holding(
        self, user_id: int, symbol: str, *, announce: Sequence[str] = ()
    ) -> bool:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await self._check_user(conn, user_id)
                cur = await conn.execute(
                    "DELETE FROM holdings WHERE user_id = %s AND symbol = %s", (user_id, symbol)
                )
                deleted = cur.rowcount > 0
                if deleted:
                    await self._announce(conn, announce)
        except PoolTimeout as exc:
            raise SourceTimeoutError(f"postgres unavailable: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise SourceUnavailableError(f"postgres unavailable: {exc}") from exc
        return deleted

    @staticmethod
    async def _check_user(conn: psycopg.AsyncConnection[TupleRow], user_id: int) -> None:
        # FOR SHARE: the user cannot disappear between this check and the write.
        cur = await conn.execute("SELECT 1 FROM users WHERE id = %s FOR SHARE", (user_id,))
        if await cur.fetchone() is None:
            raise UnknownUserError(user_id)

    async def _announce(self, conn: psycopg.AsyncConnection[TupleRow], keys: Sequence[str]) -> None:
        if keys:
            # Transactional: listeners hear it at commit, never for a rolled-back write.
            await conn.execute(
                "SELECT pg_notify(%s, %s)", (self.channel, encode_notice(self.instance_id, keys))
            )


async def _seed(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany("INSERT INTO users (id, name) VALUES (%s, %s)", USERS)
        await cur.executemany(
            "INSERT INTO prices (symbol, name, price, prev_close) VALUES (%s, %s, %s, %s)", PRICES
        )
        await cur.executemany(
            "INSERT INTO holdings (user_id, symbol, quantity, cost_basis) VALUES (%s, %s, %s, %s)",
            demo_holdings(),
        )
        await cur.executemany("INSERT INTO picks (rank, symbol, score) VALUES (%s, %s, %s)", PICKS)
