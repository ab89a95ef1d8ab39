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
SLOW_S = 0.5  # answers slower than this are listed one by one
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


class Connection:
    """One keep-alive HTTP/1.1 connection, GETs only: a tenth of httpx's CPU per request, so
    on a loaded machine the figures are the server's more than the client's."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, str, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{self.head}\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        return int(head[0].split()[1]), fields.get("x-cache", "-"), body


async def reader(port: int, n: int, run: Run) -> None:
    headers, paths = reader_paths(n)
    connection = Connection(port, headers)
    i = 0
    while not run.stopping:
        path = paths[i % len(paths)]
        i += 1
        start = time.perf_counter()
        at = time.monotonic()
        try:
            status, cache, body = await connection.get(path)
        except (OSError, asyncio.IncompleteReadError) as exc:
            status, cache, body = 0, type(exc).__name__, b""
            connection.streams = None
        run.answers.append(Answer(at, path, status, cache, time.perf_counter() - start, body))
        await asyncio.sleep(PAUSE_S)


def server_slow(metrics: str, over_s: float) -> dict[str, float]:
    """Requests per route the server took longer than `over_s` for (its latency histogram)."""
    within: dict[str, float] = {}
    total: dict[str, float] = {}
    for line in metrics.splitlines():
        if not line.startswith("fyntrix_http_request_duration_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        route = labels.split('route="')[1].split('"')[0]
        if f'le="{over_s}"' in labels:
            within[route] = within.get(route, 0.0) + float(value)
        elif 'le="+Inf"' in labels:
            total[route] = total.get(route, 0.0) + float(value)
    return {r: total[r] - within.get(r, 0.0) for r in total if total[r] > within.get(r, 0.0)}


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


async def measure(
    service: ServiceProcess, cluster: PostgresCluster, outage_s: float
) -> dict[str, object]:
    run = Run()
    admin = default_issuer().bearer(default_issuer().token(sub="bench-writer", admin=True))
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        old = (await client.get(WRITTEN, headers=admin)).content
        readers = [asyncio.create_task(reader(service.port, n, run)) for n in range(READERS)]
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
        metrics = (await client.get("/metrics")).text
    figures = report(run, old, written_at, stopped_at, back_at)
    figures["server-side: requests slower than 1 s, by route"] = server_slow(metrics, 1.0)
    return figures


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
        "client-side answers slower than 0.5 s": sum(a.seconds > SLOW_S for a in run.answers),
        "client-side answers slower than 1 s (at s after the stop, path, status, cache, s)": [
            (round(a.at - stopped_at, 2), a.path, a.status, a.cache, round(a.seconds, 3))
            for a in run.answers
            if a.seconds > 1.0
        ],
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
        figures = asyncio.run(measure(service, cluster, args.outage_s))
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
