"""The source when the stage requires a shared database and DATABASE_URL is not set.

It serves nothing: every call is a 503 naming the missing setting, /ready fails with that
reason, and the log says so, until the task restarts with DATABASE_URL. The alternative, each
task quietly keeping its own SQLite copy, would split the data between tasks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Literal, NoReturn

from service.source.base import PickRow, PortfolioRows, SourceNotConfiguredError

log = logging.getLogger(__name__)

REASON = (
    "DATABASE_URL is not set and this stage requires a shared database (REQUIRE_DATABASE_URL, "
    "true in prod): put the Postgres URL into the stage secret's DATABASE_URL, then restart"
)
# The reason is logged again at most this often (seconds) while readiness probes keep failing.
_LOG_EVERY_S = 60.0


class MissingDatabaseSource:
    kind: Literal["postgres", "sqlite", "none"] = "none"

    def __init__(self) -> None:
        self._logged_at = float("-inf")

    def _fail(self) -> NoReturn:
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            self._logged_at = now
            log.error("not ready: %s", REASON)
        raise SourceNotConfiguredError(REASON)

    async def open(self) -> None:
        log.error("serving no data: %s", REASON)
        self._logged_at = time.monotonic()

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        self._fail()

    async def portfolio(self, user_id: int) -> PortfolioRows | None:
        self._fail()

    async def top_picks(self, limit: int) -> list[PickRow]:
        self._fail()

    async def user_for_sub(self, sub: str) -> int | None:
        self._fail()

    async def users_for_subs(self, subs: Sequence[str]) -> dict[str, int | None]:
        self._fail()

    async def upsert_holding(
        self,
        user_id: int,
        symbol: str,
        quantity: float,
        cost_basis: float,
        *,
        announce: Sequence[str] = (),
    ) -> None:
        self._fail()

    async def delete_holding(
        self, user_id: int, symbol: str, *, announce: Sequence[str] = ()
    ) -> bool:
        self._fail()
