"""Service load benchmark: what the cache buys, on this machine.

One `python -m service` (one uvicorn worker) per scenario, a private redis-server and PostgreSQL,
and wrk (fixed duration and connection count) against:
  (a) GET /bench/baseline/{id}  the same payload from a plain dict (the ceiling for any cache)
  (n) GET /bench/cached/{id}    cached read without authentication (HIT; local stage only),
                                same request bytes as (b) (the token is sent, not checked)
  (b) GET /api/portfolio/{id}   cached read with each user's own access token: HIT
  (c) GET /api/portfolio/{id}   uncached read from Postgres, with the token: BYPASS
  (d) as (b), EMF metrics off (METRICS_EMF_ENABLED=false)
  (e) as (b), EMF flushed every second (60 x the production interval)
Requests cycle over 1000 users, each with its own token (local dev issuer, RS256) linked to
that user, so single-flight cannot collapse the uncached reads and the authorization check
looks up a real link. Authentication cost per cached read: 1/b - 1/n (one worker, so the
inverse throughput is the service's time per request), and in-process: one first-seen token
(RS256 verify) and one already verified (the cache every later request takes).
(b) runs with EMF on at its production interval (60 s).

Goals: b/a >= 0.8 in throughput with p99(b) <= 1.5 x p99(a); b/c >= 5;
EMF: e/d >= 0.99 (even 60 flushes a minute cost under 1 %), and the flush's measured share of
the loop at the production interval (its own FlushMilliseconds / 60 s) under 1 %.
Run: python -m bench.service
(BENCH_DURATION_S, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_ROUNDS override the defaults)
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.auth import devkeys  # noqa: E402
from service.auth.jwks import JwksCache, dev_key_fetch  # noqa: E402
from service.auth.tokens import TokenVerifier  # noqa: E402
from service.emf import EmfRecorder  # noqa: E402
from service.settings import LOCAL_CLIENT_ID, LOCAL_ISSUER  # noqa: E402
from testkit.emf import records_from  # noqa: E402
from testkit.servers import PostgresCluster, RedisServer, free_port  # noqa: E402

USERS = 1000
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "5"))
WARMUP_S = 2
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WRK = shutil.which("wrk") or "/usr/bin/wrk"

GOAL_B_OVER_A = 0.8
GOAL_P99_B_OVER_A = 1.5
GOAL_B_OVER_C = 5.0
GOAL_E_OVER_D = 0.99
GOAL_FLUSH_SHARE = 0.01
PRODUCTION_FLUSH_S = 60.0

# Requests are formatted once per wrk thread and then cycled: no Lua work on the hot path.
# %(tokens)s is a Lua list of bearer tokens, one per user (empty: no Authorization header).
# Each thread starts at a different user, so threads never ask for the same user at the same
# moment (single flight would merge those reads and flatter the uncached figure).
LUA = """
local threads = 0
setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
local paths = {}
local i = 0
local tokens = {%(tokens)s}
init = function(args)
  for n = 1, %(users)d do
    local headers = {}
    if tokens[n] then headers["Authorization"] = "Bearer " .. tokens[n] end
    paths[n] = wrk.format("GET", "%(prefix)s" .. n, headers)
  end
  i = math.floor(offset * %(users)d / %(threads)d)
end
request = function()
  i = i %% #paths + 1
  return paths[i]
end
"""


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    x_cache: str


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = float(match[1]), match[2]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx + socket errors) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(match[1])
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in match.groups())
    return rps, p50, p99, errors


def run_wrk(base_url: str, prefix: str, duration_s: int, workdir: Path, tokens: list[str]) -> str:
    script = workdir / f"bench{prefix.replace('/', '_')}.lua"
    listed = ",".join(f'"{t}"' for t in tokens)
    script.write_text(
        LUA % {"users": USERS, "prefix": prefix, "threads": THREADS, "tokens": listed}
    )
    return subprocess.run(
        [
            WRK,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{duration_s}s",
            "--latency",
            "-s",
            str(script),
            base_url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 60,
    ).stdout


class Service:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            "BENCH_ENDPOINTS": "1",  # only accepted in the local stage
            "APP_STAGE": "local",
            **env,
        }
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.05)

    def x_cache(self, path: str, token: str | None) -> str:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.base_url}{path}", headers=headers, timeout=5)
        return str(response.headers.get("x-cache", "-"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def add_bench_users(dsn: str) -> None:
    """Users 6..USERS, each holding what demo user (id mod 4) + 1 holds."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO users (id, name) SELECT n, 'Bench user ' || n"
            " FROM generate_series(6, %s) AS n ON CONFLICT DO NOTHING",
            (USERS,),
        )
        conn.execute(
            "INSERT INTO holdings (user_id, symbol, quantity, cost_basis)"
            " SELECT u.id, h.symbol, h.quantity, h.cost_basis"
            " FROM users u JOIN holdings h ON h.user_id = (u.id % 4) + 1"
            " WHERE u.id >= 6 ON CONFLICT DO NOTHING"
        )
        # Each user's token sub acts for that user (dev-user-N; users 1-5 are seeded).
        conn.execute(
            "INSERT INTO user_identities (sub, user_id) SELECT 'dev-user-' || n, n"
            " FROM generate_series(6, %s) AS n ON CONFLICT DO NOTHING",
            (USERS,),
        )


def mint_tokens(key_path: Path) -> list[str]:
    """One access token per user, from the local dev issuer the services trust."""
    key = devkeys.load_or_create_key(key_path)
    return [
        devkeys.mint(
            key,
            issuer=LOCAL_ISSUER,
            client_id=LOCAL_CLIENT_ID,
            sub=devkeys.dev_sub(n),
            ttl_s=6 * 3600,
        )
        for n in range(1, USERS + 1)
    ]


def auth_cost_in_process(key_path: Path, tokens: list[str]) -> tuple[float, float]:
    """(µs per first-seen token, µs per already verified token) of TokenVerifier.verify."""
    keys = JwksCache(dev_key_fetch(str(key_path)), min_refresh_s=30)
    verifier = TokenVerifier(
        keys,
        issuer=LOCAL_ISSUER,
        client_ids=(LOCAL_CLIENT_ID,),
        admin_group="fyntrix-admin",
        leeway_s=30,
    )

    async def run() -> tuple[float, float]:
        await keys.prefetch()
        started = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        first = (time.perf_counter() - started) / len(tokens)
        rounds = 20
        started = time.perf_counter()
        for _ in range(rounds):
            for token in tokens:
                await verifier.verify(token)
        cached = (time.perf_counter() - started) / (rounds * len(tokens))
        return first * 1e6, cached * 1e6

    return asyncio.run(run())


def measure(name: str, service: Service, prefix: str, workdir: Path, tokens: list[str]) -> Result:
    run_wrk(service.base_url, prefix, WARMUP_S, workdir, tokens)  # fill caches and pools
    output = run_wrk(service.base_url, prefix, DURATION_S, workdir, tokens)
    rps, p50, p99, errors = parse_wrk(output)
    x_cache = service.x_cache(f"{prefix}1", tokens[0] if tokens else None)
    return Result(name, rps, p50, p99, errors, x_cache)


def emf_flush_share(log: Path) -> float:
    """The flush's share of the event loop at the production interval, from the service's own
    EMF records: mean FlushMilliseconds (build + serialize + write, the loop-blocking part; Redis
    INFO is awaited, not blocking) over 60 s. Prints the figures it is made of."""
    flush_ms = [
        r["FlushMilliseconds"]
        for r in records_from(log.read_text())
        if r["Record"] == "service" and r["FlushMilliseconds"] > 0
    ]
    if not flush_ms:
        print("no EMF flush measured")
        return float("inf")
    mean_ms, worst_ms = statistics.fmean(flush_ms), max(flush_ms)
    print(
        f"EMF flush: {len(flush_ms)} flushes under load, mean {mean_ms:.3f} ms, "
        f"worst {worst_ms:.3f} ms; record() {emf_record_ns():.0f} ns per request"
    )
    return mean_ms / (PRODUCTION_FLUSH_S * 1000)


def emf_record_ns(calls: int = 200_000) -> float:
    """What counting one request costs (EmfRecorder.record, a HIT with its latency), in ns."""
    recorder = EmfRecorder()
    route = "/api/portfolio/{user_id}"
    start = time.perf_counter()
    for _ in range(calls):
        recorder.record(route, b"HIT", 0.00025)
    return (time.perf_counter() - start) / calls * 1e9


def best(results: list[Result]) -> Result:
    """The run with the highest throughput: the machine is shared, interference only slows."""
    return max(results, key=lambda r: r.rps)


def print_table(results: list[Result]) -> None:
    print(
        f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION_S}s (after {WARMUP_S} s warm-up), "
        f"best of {ROUNDS} interleaved rounds, {USERS} users cycled, 1 uvicorn worker, "
        f"{os.cpu_count()} CPUs shared by wrk, service, Redis and Postgres"
    )
    print(f"{'scenario':<38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  X-Cache")
    for r in results:
        print(
            f"{r.name:<38} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}"
            f"  {r.x_cache}"
        )


def main() -> int:
    if not Path(WRK).exists():
        print("wrk is not installed (make system-deps)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="fyntrix-bench-"))
    redis = RedisServer(
        workdir / "redis", directives={"maxmemory": "200mb", "maxmemory_policy": "allkeys-lru"}
    )
    cluster = PostgresCluster()
    services: list[Service] = []
    try:
        redis.start()
        cluster.init()
        cluster.start()
        dsn = cluster.create_database("fyntrix")
        key_path = workdir / "dev-jwt-key.pem"
        tokens = mint_tokens(key_path)
        common = {
            "DATABASE_URL": dsn,
            "DATABASE_POOL_MAX_SIZE": "16",
            "AUTH_DEV_KEY_PATH": str(key_path),
        }
        cached = Service({**common, "REDIS_PORT": str(redis.port)}, workdir / "cached.log")
        services.append(cached)
        add_bench_users(dsn)
        # Nothing listens on this port: every read is a BYPASS to Postgres.
        uncached = Service({**common, "REDIS_PORT": str(free_port())}, workdir / "uncached.log")
        services.append(uncached)
        emf_env = {**common, "REDIS_PORT": str(redis.port)}
        emf_off = Service({**emf_env, "METRICS_EMF_ENABLED": "false"}, workdir / "emf-off.log")
        services.append(emf_off)
        emf_log = workdir / "emf-1s.log"
        emf_1s = Service({**emf_env, "METRICS_FLUSH_INTERVAL_S": "1"}, emf_log)
        services.append(emf_1s)

        scenarios = [
            ("(a) baseline: payload from memory", cached, "/bench/baseline/", []),
            # Same request bytes as (b), Authorization header included, but not checked.
            ("(n) cached read, no auth (HIT)", cached, "/bench/cached/", tokens),
            ("(b) cached read, token (HIT)", cached, "/api/portfolio/", tokens),
            ("(c) uncached read, Postgres (BYPASS)", uncached, "/api/portfolio/", tokens),
            ("(d) cached read, token, EMF off", emf_off, "/api/portfolio/", tokens),
            ("(e) cached read, token, EMF every 1 s", emf_1s, "/api/portfolio/", tokens),
        ]
        runs: dict[str, list[Result]] = {name: [] for name, *_ in scenarios}
        for round_ in range(ROUNDS):  # interleaved: a noisy moment does not hit one scenario only
            # (d) and (e) swap places every round, so a drifting machine favours neither.
            order = scenarios if round_ % 2 == 0 else [*scenarios[:4], scenarios[5], scenarios[4]]
            for name, service, prefix, scenario_tokens in order:
                runs[name].append(measure(name, service, prefix, workdir, scenario_tokens))
        a, n, b, c, d, e = (best(runs[name]) for name, *_ in scenarios)
        print_table([a, n, b, c, d, e])
        first_us, cached_us = auth_cost_in_process(key_path, tokens)
        print(
            f"auth per cached read: {(1 / b.rps - 1 / n.rps) * 1e6:.1f} µs of service time "
            f"(1/b - 1/n), p50 {b.p50_ms - n.p50_ms:+.2f} ms; in-process verify: "
            f"{first_us:.0f} µs first-seen token (RS256), {cached_us:.2f} µs verified before"
        )

        b_over_a = b.rps / a.rps
        p99_ratio = b.p99_ms / a.p99_ms
        b_over_c = b.rps / c.rps
        flush_share = emf_flush_share(emf_log)
        checks = [
            ("b/a throughput", b_over_a, f">= {GOAL_B_OVER_A}", b_over_a >= GOAL_B_OVER_A),
            ("p99(b)/p99(a)", p99_ratio, f"<= {GOAL_P99_B_OVER_A}", p99_ratio <= GOAL_P99_B_OVER_A),
            ("b/c throughput", b_over_c, f">= {GOAL_B_OVER_C}", b_over_c >= GOAL_B_OVER_C),
            ("b/d throughput", b.rps / d.rps, "(EMF on/off, info)", True),
            (
                "e/d throughput",
                e.rps / d.rps,
                f">= {GOAL_E_OVER_D}",
                e.rps / d.rps >= GOAL_E_OVER_D,
            ),
            (
                "flush share @60s",
                flush_share,
                f"<= {GOAL_FLUSH_SHARE}",
                flush_share <= GOAL_FLUSH_SHARE,
            ),
        ]
        for label, value, goal, ok in checks:
            print(f"{label:<16} {value:10.4g}  goal {goal:<7} {'PASS' if ok else 'MISS'}")
        if b.x_cache != "HIT" or n.x_cache != "HIT" or c.x_cache != "BYPASS":
            print(f"unexpected X-Cache: (n) {n.x_cache}, (b) {b.x_cache}, (c) {c.x_cache}")
            return 1
        if any(r.errors for r in (a, n, b, c, d, e)):
            print("some requests failed (see the errors column)")
            return 1
        return 0
    finally:
        for service in services:
            service.stop()
        redis.kill()
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
