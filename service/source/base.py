"""The source-of-truth interface the API depends on, and the rows it returns.

Two implementations: Postgres (psycopg 3, async pool; shared by every task) and an embedded SQLite
file (one task, demo/local use). Both create the schema on start and seed the same demo data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol


class SourceError(Exception):
    """Base class of the errors a source raises on purpose."""


class NotFoundError(SourceError):
    """The request names something that does not exist (mapped to HTTP 404)."""


class UnknownUserError(NotFoundError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")


class UnknownSymbolError(NotFoundError):
    def __init__(self, symbol: str) -> None:
        super().__init__(f"symbol {symbol} not found")


class SourceUnavailableError(SourceError):
    """The database did not answer (mapped to HTTP 503)."""


class SourceTimeoutError(SourceUnavailableError):
    """The database did not answer in time, or no pooled connection came free in time."""


class SourceOpenError(SourceUnavailableError):
    """The database's circuit breaker is open: the call failed at once, nothing was sent."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("database circuit breaker open")
        self.retry_after_s = retry_after_s


class SourceNotConfiguredError(SourceUnavailableError):
    """The stage requires a shared database and none is configured (503; the message is safe
    to show: it names settings, never values)."""


@dataclass(frozen=True, slots=True)
class HoldingRow:
    symbol: str
    name: str
    quantity: float
    cost_basis: float  # average cost per share, in the price currency
    price: float
    prev_close: float


@dataclass(frozen=True, slots=True)
class PortfolioRows:
    user_id: int
    name: str
    holdings: tuple[HoldingRow, ...]  # sorted by symbol


@dataclass(frozen=True, slots=True)
class PickRow:
    rank: int
    symbol: str
    name: str
    score: float
    price: float
    prev_close: float


def read_queries(param: str) -> tuple[str, str, str]:
    """(portfolio, picks, identity) queries with the driver's parameter marker (`%s` or `?`):
    the two sources run the same SQL, so identical data gives identical API results."""
    portfolio = f"""
    SELECT u.name, h.symbol, p.name, h.quantity, h.cost_basis, p.price, p.prev_close
    FROM users u
    LEFT JOIN holdings h ON h.user_id = u.id
    LEFT JOIN prices p ON p.symbol = h.symbol
    WHERE u.id = {param}
"""  # noqa: S608 - `param` is the driver's placeholder, never data
    identity = f"SELECT user_id FROM user_identities WHERE sub = {param}"  # noqa: S608
    picks = f"""
    SELECT k.rank, k.symbol, p.name, k.score, p.price, p.prev_close
    FROM picks k JOIN prices p ON p.symbol = k.symbol
    ORDER BY k.rank
    LIMIT {param}
"""  # noqa: S608 - `param` is the driver's placeholder, never data
    return portfolio, picks, identity


# Links re-read in one query (SQLite allows 999 parameters; Postgres takes one array).
MAX_SUBS_PER_READ = 500


def identities_query(param: str, count: int) -> str:
    """The links of `count` subs, with the driver's parameter marker."""
    markers = ", ".join([param] * count)
    return f"SELECT sub, user_id FROM user_identities WHERE sub IN ({markers})"  # noqa: S608


def links_of(subs: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, int | None]:
    """Each sub's user from (sub, user_id) rows; None for a sub without a row."""
    found = {str(r[0]): int(r[1]) for r in rows}
    return {sub: found.get(sub) for sub in subs}


def portfolio_from_rows(user_id: int, rows: Sequence[Sequence[Any]]) -> PortfolioRows | None:
    """Rows of the portfolio query (one per holding; one all-NULL holding for a user without
    any; none for an unknown user) as PortfolioRows, holdings sorted by symbol."""
    if not rows:
        return None
    holdings = tuple(
        sorted(
            (HoldingRow(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows if r[1] is not None),
            key=lambda h: h.symbol,
        )
    )
    return PortfolioRows(user_id, rows[0][0], holdings)


class Source(Protocol):
    """What the API needs from the source of truth.

    Writes take `announce`: cache keys that the write makes stale. A source shared by several
    instances (Postgres) publishes them atomically with the write, so every instance can drop
    its copies; a single-instance source may ignore them.
    """

    kind: Literal["postgres", "sqlite", "none"]

    async def open(self) -> None:
        """Connect, create the schema if missing, seed demo data into an empty database."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise SourceUnavailableError unless the database answers a trivial query."""

    async def probe(self) -> None:
        """ping() over a new connection, not a pooled one (a pool backs off its reconnects for
        up to a minute); on success the pool is renewed. The circuit breaker's half-open
        probe: raises SourceUnavailableError while the database is down."""

    async def portfolio(self, user_id: int) -> PortfolioRows | None:
        """The user's holdings joined with prices, or None for an unknown user."""

    async def top_picks(self, limit: int) -> list[PickRow]:
        """Up to `limit` ranked picks, best first."""

    async def user_for_sub(self, sub: str) -> int | None:
        """The user a token's `sub` acts for (table user_identities), None when not linked."""

    async def users_for_subs(self, subs: Sequence[str]) -> dict[str, int | None]:
        """user_for_sub of each of up to MAX_SUBS_PER_READ subs, in one query."""

    async def upsert_holding(
        self,
        user_id: int,
        symbol: str,
        quantity: float,
        cost_basis: float,
        *,
        announce: Sequence[str] = (),
    ) -> None:
        """Create or replace one holding. Raises UnknownUserError / UnknownSymbolError."""

    async def delete_holding(
        self, user_id: int, symbol: str, *, announce: Sequence[str] = ()
    ) -> bool:
        """Delete one holding; False when there was none. Raises UnknownUserError."""
