"""Embedded SQLite source of truth, for a single instance (local runs, demos, no DATABASE_URL).

sqlite3 is blocking, so every call runs on one dedicated worker thread: the connection is only
ever used from that thread, and calls are serialized without extra locking.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from service.source.base import (
    MAX_SUBS_PER_READ,
    PickRow,
    PortfolioRows,
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

T = TypeVar("T")

_PORTFOLIO_SQL, _PICKS_SQL, _IDENTITY_SQL = read_queries("?")
_SEED_IDENTITIES_SQL = (
    "INSERT INTO user_identities (sub, user_id) SELECT ?, id FROM users WHERE id = ?"
    " ON CONFLICT (sub) DO NOTHING"
)
_UPSERT_SQL = """
    INSERT INTO holdings (user_id, symbol, quantity, cost_basis) VALUES (?, ?, ?, ?)
    ON CONFLICT (user_id, symbol)
    DO UPDATE SET quantity = excluded.quantity, cost_basis = excluded.cost_basis
"""


class SqliteSource:
    kind: Literal["postgres", "sqlite", "none"] = "sqlite"

    def __init__(self, path: str, *, seed: bool = True) -> None:
        self.path = path
        self._seed = seed
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None:
                raise SourceUnavailableError("sqlite database is not open")
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as exc:  # locked, disk full, file gone...
                raise SourceUnavailableError(f"sqlite unavailable: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) below.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")  # ms
            conn.execute("BEGIN IMMEDIATE")
            try:
                for ddl in SCHEMA:
                    conn.execute(ddl)
                (count,) = conn.execute("SELECT count(*) FROM users").fetchone()
                if self._seed and count == 0:
                    conn.executemany("INSERT INTO users (id, name) VALUES (?, ?)", USERS)
                    conn.executemany(
                        "INSERT INTO prices (symbol, name, price, prev_close) VALUES (?, ?, ?, ?)",
                        PRICES,
                    )
                    conn.executemany(
                        "INSERT INTO holdings (user_id, symbol, quantity, cost_basis)"
                        " VALUES (?, ?, ?, ?)",
                        demo_holdings(),
                    )
                    conn.executemany(
                        "INSERT INTO picks (rank, symbol, score) VALUES (?, ?, ?)", PICKS
                    )
                    log.info("seeded demo data into %s", self.path)
                (links,) = conn.execute("SELECT count(*) FROM user_identities").fetchone()
                if self._seed and links == 0:
                    conn.executemany(_SEED_IDENTITIES_SQL, demo_identities())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                conn.close()
                raise
            self._conn = conn

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as exc:
            raise SourceUnavailableError(f"sqlite unavailable at {self.path}: {exc}") from exc

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def probe(self) -> None:
        await self.ping()  # no pool: the one connection is the new one

    async def portfolio(self, user_id: int) -> PortfolioRows | None:
        rows = await self._run(lambda c: c.execute(_PORTFOLIO_SQL, (user_id,)).fetchall())
        return portfolio_from_rows(user_id, rows)

    async def top_picks(self, limit: int) -> list[PickRow]:
        rows = await self._run(lambda c: c.execute(_PICKS_SQL, (limit,)).fetchall())
        return [PickRow(*r) for r in rows]

    async def user_for_sub(self, sub: str) -> int | None:
        row = await self._run(lambda c: c.execute(_IDENTITY_SQL, (sub,)).fetchone())
        return None if row is None else int(row[0])

    async def users_for_subs(self, subs: Sequence[str]) -> dict[str, int | None]:
        if not 0 < len(subs) <= MAX_SUBS_PER_READ:
            raise ValueError(f"between 1 and {MAX_SUBS_PER_READ} subs per read")
        sql = identities_query("?", len(subs))
        rows = await self._run(lambda c: c.execute(sql, tuple(subs)).fetchall())
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
        # One instance only: nobody else to announce the stale keys to.
        def write(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                if c.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                    raise UnknownUserError(user_id)
                if c.execute("SELECT 1 FROM prices WHERE symbol = ?", (symbol,)).fetchone() is None:
                    raise UnknownSymbolError(symbol)
                c.execute(_UPSERT_SQL, (user_id, symbol, quantity, cost_basis))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        await self._run(write)

    async def delete_holding(
        self, user_id: int, symbol: str, *, announce: Sequence[str] = ()
    ) -> bool:
        def delete(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                if c.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                    raise UnknownUserError(user_id)
                cur = c.execute(
                    "DELETE FROM holdings WHERE user_id = ? AND symbol = ?", (user_id, symbol)
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return cur.rowcount > 0

        return await self._run(delete)
