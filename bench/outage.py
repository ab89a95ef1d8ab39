"""A database outage under reads, measured: `python -m bench.outage [--stale-s N] [--outage-s S]`.

`python -m service` (one uvicorn worker) on a private redis-server and PostgreSQL, the stage
defaults' TTLs (portfolio 60 s, dashboard 30 s, top picks 300 s) and identity links (30 s).
READERS readers, each with its own user's token (users 1-4) or an admin token, read their
portfolio, dashboard and the top picks over and over (a pause of PAUSE_S between reads, so the
two cores are not all the client's). Then:

1. every key is read once (cached), and a write to user 2 changes its portfolio; the old
   portfolio's bytes are remembered;
2. Postgres stops like a crash (`pg_ctl stop -m immediate`) for `--outage-s` seconds, readers
   reading all along;
3. Postgres starts again; readers go on until every one of them has had a fresh answer.

Reported: answers by status and X-Cache during the outage, 5xx among keys cached before the
stop, answers carrying the written key's old bytes after the write (must be 0), the slowest
answer (client-side, while the outage lasted and overall), and how long after Postgres was
back the first fresh answer came and the last stale one went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testkit.auth import default_issuer
from testkit.servers import PostgresCluster, RedisServer
from testkit.service import ServiceProcess, start_service_process

READERS = 20
PAUSE_S = 0.05
WRITTEN = "/api/portfolio/2"
HOLDING = "/api/portfolio/2/holdings/KO"


@dataclass
class Answer:
    at: float  # monotonic, when it was sent
    path: str
    status: int
    cache: str
    seconds: float
    body: bytes


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    stopping: bool = False


def reader_paths(n: int) -> tuple[dict[str, str], list[str]]:
    """Reader `n`'s headers and the paths it reads."""
    issuer = default_issuer()
    user = n % 5  # 0: an admin; 1-4: users reading their own data
    if user == 0:
        token = issuer.token(sub=f"bench-admin-{n}", admin=True)
        return issuer.bearer(token), ["/api/portfolio/3", "/api/dashboard/4", "/api/top-picks"]
    token = issuer.user_token(user)
    paths = [f"/api/portfolio/{user}", f"/api/dashboard/{user}", "/api/top-picks"]
    return issuer.bearer(token), paths


async def reader(client: httpx.AsyncClient, n: int, run: Run) -> None:
    headers, paths = reader_paths(n)
    i = 0
    while not run.stopping:
        path = paths[i % len(paths)]
        i += 1
        start = time.perf_counter()
        at = time.monotonic()
        try:
            response = await client.get(path, headers=headers)
            status, cache, body = (
                response.status_code,
                response.headers.get("x-cache", "-"),
                response.content,
            )
        except httpx.HTTPError as exc:
            status, cache, body = 0, type(exc).__name__, b""
        run.answers.append(Answer(at, path, status, cache, time.perf_counter() - start, body))
        await asyncio.sleep(PAUSE_S)


def service_env(redis: RedisServer, dsn: str, stale_s: int) -> dict[str, str]:
    return {
        "APP_STAGE": "local",
        "DATABASE_URL": dsn,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "CACHE_STALE_IF_ERROR_S": str(stale_s),
        "CACHE_TTL_PORTFOLIO_S": "60",
        "CACHE_TTL_DASHBOARD_S": "30",
        "CACHE_TTL_TOP_PICKS_S": "300",
        "METRICS_EMF_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }


async def measure(base_url: str, cluster: PostgresCluster, outage_s: float) -> dict[str, object]:
    run = Run()
    admin = default_issuer().bearer(default_issuer().token(sub="bench-writer", admin=True))
    limits = httpx.Limits(max_connections=READERS + 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        old = (await client.get(WRITTEN, headers=admin)).content
        readers = [asyncio.create_task(reader(client, n, run)) for n in range(READERS)]
        await asyncio.sleep(3)  # every key read (cached) by now
        put = await client.put(HOLDING, json={"quantity": 777, "cost_basis": 1.0}, headers=admin)
        assert put.status_code == 200, put.text
        written_at = time.monotonic()
        await asyncio.sleep(0.5)  # the test cluster commits asynchronously: WAL to disk
        await asyncio.to_thread(cluster.stop, "immediate")
        stopped_at = time.monotonic()
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(cluster.start)
        back_at = time.monotonic()
        await asyncio.sleep(10)
        run.stopping = True
        await asyncio.gather(*readers)
    return report(run, old, written_at, stopped_at, back_at)


def report(
    run: Run, old: bytes, written_at: float, stopped_at: float, back_at: float
) -> dict[str, object]:
    during = [a for a in run.answers if stopped_at <= a.at < back_at]
    after = [a for a in run.answers if a.at >= back_at]
    cached_before = [a for a in during if a.path != WRITTEN]
    fresh_after = [a for a in after if a.status == 200 and a.cache != "STALE"]
    stale_after = [a for a in after if a.cache == "STALE"]
    return {
        "answers during the outage": len(during),
        "during, by status and X-Cache": dict(Counter(f"{a.status} {a.cache}" for a in during)),
        "5xx for keys cached before the stop": sum(a.status >= 500 for a in cached_before),
        "answers with the written key's old value after the write": sum(
            a.body == old for a in run.answers if a.at > written_at and a.path == WRITTEN
        ),
        "written key during the outage, by status": dict(
            Counter(a.status for a in during if a.path == WRITTEN)
        ),
        "slowest answer during the outage (s)": round(max(a.seconds for a in during), 3),
        "slowest answer overall (s)": round(max(a.seconds for a in run.answers), 3),
        "first fresh answer after Postgres was back (s)": round(
            min(a.at for a in fresh_after) - back_at, 3
        )
        if fresh_after
        else None,
        "last stale answer after Postgres was back (s)": round(
            max(a.at + a.seconds for a in stale_after) - back_at, 3
        )
        if stale_after
        else None,
        "5xx after Postgres was back": sum(a.status >= 500 for a in after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stale-s", type=int, default=300, help="CACHE_STALE_IF_ERROR_S")
    parser.add_argument("--outage-s", type=float, default=60.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fyntrix-outage-"))
    cluster = PostgresCluster()
    redis = RedisServer(root / "redis", directives={"maxmemory": "64mb"})
    service: ServiceProcess | None = None
    try:
        cluster.init()
        cluster.start()
        dsn = cluster.create_database("fyntrix")
        redis.start()
        env = service_env(redis, dsn, args.stale_s)
        service = start_service_process(env, root / "service.log")
        figures = asyncio.run(measure(service.base_url, cluster, args.outage_s))
    finally:
        if service is not None:
            service.stop()
        redis.kill()
        with contextlib.suppress(Exception):
            cluster.destroy()
    print(f"CACHE_STALE_IF_ERROR_S={args.stale_s}, {args.outage_s:g} s outage, {READERS} readers")
    for name, value in figures.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
