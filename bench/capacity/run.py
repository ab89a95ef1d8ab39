"""`python -m bench capacity`: what one task serves at p99 <= 100 ms, and the scaling targets.

The stage's task (BENCH_STAGE, default prod) runs as `make up` runs it, with its CPU and memory
enforced (bench/capacity/stand.py); an open-loop generator on this host loads its app port on
127.0.0.1 (bench/capacity/loadgen.py), one operation at a time:

* cached read:   GET /api/portfolio/{n}, each of 1000 users with their own token (X-Cache HIT;
                 the portfolio TTL is raised to an hour, so the figure is hits, not the refills
                 an expiring TTL mixes in);
* uncached read: GET /api/portfolio/{n} of a user never read before, with an admin token (MISS:
                 Redis, then Postgres, then the cache filled);
* write:         PUT /api/portfolio/{n}/holdings/AAPL (Postgres, NOTIFY, invalidation).

For each, the search (bench/capacity/search.py) finds the highest constant rate whose p99 is
at most 100 ms with every answer 2xx (and, for reads, at least 95 % of them the expected
X-Cache). Each step measures at least MIN_SAMPLES requests (p99 is then the 5th-worst or
later), and a rate fails only when it fails twice in a row: one stall of a shared machine does
not decide it. At that rate: the task's CPU (app + redis, of the task's CPU units), Redis's
share of it, the CPU per request beyond the idle task's (sampled before the searches), the app's
memory, and how often the task's cgroup was throttled. Then, when every operation has a figure,
the scaling settings of the stage beside what the figures give (bench/capacity/targets.py).

BENCH_CAPACITY_OPS (cached,uncached,write), BENCH_CAPACITY_MEASURE_S (4) and
BENCH_CAPACITY_WARM_S (1) override the defaults. The machine is shared with the load generator
and the database: the generator's own CPU and lateness and Postgres's CPU are printed beside
each step.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench.capacity.loadgen import OpenLoop, Tally, clock, percentile
from bench.capacity.search import Search, find_capacity
from bench.capacity.stand import (
    COLD_USERS,
    HOT_USERS,
    Stand,
    StandError,
    Usage,
    database,
    running_task,
    sample,
    usage,
)
from bench.capacity.targets import OperationCapacity, Target, derive
from infra.config import StageConfig
from infra.config.stages import load_configured_stage
from tools.containers.engine import EngineError, ensure_engine, stop_own_engine
from tools.containers.images import BuildError, build_images, postgres_image
from tools.containers.limits import UNITS_PER_VCPU
from tools.containers.standins import StandInError
from tools.containers.task import TaskError

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("RUN_DIR") or ROOT / ".run").resolve()
STAGE = os.environ.get("BENCH_STAGE", "prod")
OPS = os.environ.get("BENCH_CAPACITY_OPS", "cached,uncached,write").split(",")
MEASURE_S = float(os.environ.get("BENCH_CAPACITY_MEASURE_S", "4"))
MIN_SAMPLES = 500
MAX_MEASURE_S = 15.0
WARM_S = float(os.environ.get("BENCH_CAPACITY_WARM_S", "1"))
# How long priming the cache waits for its last answers, in seconds.
PRIME_GRACE_S = 60.0
# The idle task is sampled this long (seconds) for its CPU without requests.
IDLE_S = 16.0
# A failing rate is measured once more before it counts as failed (bench/capacity/search.py).
RETRIES = 1
P99_GOAL_MS = 100.0
# Reads must answer with their X-Cache at least this often to count as that kind of read.
EXPECTED_SHARE = 0.95
# What the task runs with besides its definition: hits stay hits for the whole run.
ENVIRONMENT = {"CACHE_TTL_PORTFOLIO_S": "3600"}
WRITE_SYMBOL = "AAPL"


@dataclass(frozen=True)
class Operation:
    name: str
    expect: str | None  # the X-Cache every answer should carry
    start_per_s: float
    request: Callable[[int], bytes]


@dataclass(frozen=True)
class Measured:
    tally: Tally
    usage: Usage
    generator_vcpus: float


def _request(port: int, method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}"
    if body:
        head += f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def operations(stand: Stand) -> dict[str, Operation]:
    port = stand.port
    hot = [
        _request(port, "GET", f"/api/portfolio/{n}", stand.hot_tokens[n - 1])
        for n in range(1, HOT_USERS + 1)
    ]
    writes = [
        _request(
            port,
            "PUT",
            f"/api/portfolio/{n}/holdings/{WRITE_SYMBOL}",
            stand.hot_tokens[n - 1],
            f'{{"quantity": {n}, "cost_basis": 150.25}}'.encode(),
        )
        for n in range(1, HOT_USERS + 1)
    ]
    cold = iter(range(HOT_USERS + 1, HOT_USERS + COLD_USERS + 1))

    def uncached(_: int) -> bytes:
        # Each request reads a user no request read before (a MISS), across every step.
        user = next(cold, HOT_USERS + 1)  # past the last: hits, which the X-Cache check fails
        return _request(port, "GET", f"/api/portfolio/{user}", stand.admin_token)

    return {
        "cached": Operation("cached read", "HIT", 400.0, lambda k: hot[k % HOT_USERS]),
        "uncached": Operation("uncached read", "MISS", 100.0, uncached),
        "write": Operation("write", None, 100.0, lambda k: writes[k % HOT_USERS]),
    }


def measure_s(rate_per_s: float) -> float:
    """A step's measured window: MEASURE_S, longer where that holds fewer than MIN_SAMPLES
    requests (up to MAX_MEASURE_S)."""
    return min(MAX_MEASURE_S, max(MEASURE_S, MIN_SAMPLES / rate_per_s))


async def _step(stand: Stand, op: Operation, rate_per_s: float, vcpus: float) -> Measured:
    window_s = measure_s(rate_per_s)
    gen = OpenLoop(
        "127.0.0.1", stand.port, op.request, rate_per_s, warm_s=WARM_S, measure_s=window_s
    )
    loop = asyncio.get_running_loop()
    running = asyncio.ensure_future(gen.run())
    await gen.started.wait()
    await asyncio.sleep(max(0.0, gen.start + WARM_S - clock()))
    before, cpu_before = await loop.run_in_executor(None, sample, stand), time.process_time()
    await asyncio.sleep(max(0.0, gen.start + WARM_S + window_s - clock()))
    after, cpu_after = await loop.run_in_executor(None, sample, stand), time.process_time()
    tally = await running
    generator = (cpu_after - cpu_before) / max(1e-6, after.at_s - before.at_s)
    return Measured(tally, usage(before, after, vcpus), generator)


def passes(op: Operation, m: Measured) -> bool:
    return m.tally.meets(P99_GOAL_MS, op.expect, EXPECTED_SHARE)


def describe_step(op: Operation, rate: float, m: Measured, ok: bool) -> str:
    t, u = m.tally, m.usage
    cache = f", {op.expect} {t.share(op.expect):.0%}" if op.expect else ""
    lag = percentile(t.send_lag_s, 0.99) * 1000
    return (
        f"  {rate:7.0f}/s: p50 {t.latency_ms(0.5):7.1f} ms  p99 {t.latency_ms(0.99):7.1f} ms  "
        f"{t.failed} failed, {t.unfinished} late{cache}; task CPU {u.task_cpu_percent:3.0f}% "
        f"(redis {u.redis_share:.0%}), throttled {u.throttled_percent:3.0f}%, app "
        f"{u.app_memory_mib:.0f} MiB; postgres {u.vcpus['postgres']:.2f} vCPU, generator "
        f"{m.generator_vcpus:.2f} vCPU (p99 lag {lag:.1f} ms), load {os.getloadavg()[0]:.1f}  "
        f"{'pass' if ok else 'FAIL'}"
    )


def search_operation(
    runner: asyncio.Runner, stand: Stand, op: Operation, vcpus: float
) -> Search[Measured]:
    print(f"{op.name}:", flush=True)

    def measure(rate: float) -> Measured:
        measured = runner.run(_step(stand, op, rate, vcpus))
        print(describe_step(op, rate, measured, passes(op, measured)), flush=True)
        time.sleep(1.0)  # the task drains what the step left queued
        return measured

    return find_capacity(
        measure, lambda m: passes(op, m), start_per_s=op.start_per_s, retries=RETRIES
    )


def prime(runner: asyncio.Runner, stand: Stand, op: Operation) -> None:
    """Every hot user read once (each key cached and each token verified) before measuring.
    Not a measurement: a slow start (a busy host, each token's first RS256 check) may queue
    requests, so every answer is awaited for up to PRIME_GRACE_S."""
    rate = 100.0
    gen = OpenLoop(
        "127.0.0.1",
        stand.port,
        op.request,
        rate,
        warm_s=0,
        measure_s=HOT_USERS / rate,
        grace_s=PRIME_GRACE_S,
    )
    tally = runner.run(gen.run())
    if tally.failed or tally.unfinished:
        raise StandError(f"priming the cache: {tally.failed} failed, {tally.unfinished} late")


def idle_usage(stand: Stand, vcpus: float) -> Usage:
    """What the task uses with no requests, over IDLE_S: long enough to hold one of each of
    its health checks (the app's runs a Python process every 15 s)."""
    before = sample(stand)
    time.sleep(IDLE_S)
    idle = usage(before, sample(stand), vcpus)
    print(
        f"idle task: CPU {idle.task_cpu_percent:.1f}% (redis {idle.redis_share:.0%}), "
        f"app {idle.app_memory_mib:.0f} MiB",
        flush=True,
    )
    return idle


def capacity_of(name: str, search: Search[Measured]) -> OperationCapacity | None:
    best, failed = search.best, search.first_failed
    if best is None:
        return None
    return OperationCapacity(
        name=name,
        rate_per_s=best.rate_per_s,
        cpu_percent=best.result.usage.task_cpu_percent,
        failing_cpu_percent=failed.result.usage.task_cpu_percent if failed else None,
        app_memory_mib=best.result.usage.app_memory_mib,
        failing_throttled_percent=failed.result.usage.throttled_percent if failed else 0.0,
    )


def limited_by(capacity: OperationCapacity, search: Search[Measured]) -> str:
    if search.first_failed is None:
        return "nothing found: the search's ceiling"
    if capacity.cpu_bound:
        return "the task's CPU"
    return "not the task's CPU (the machine, the database or the generator)"


def print_figures(
    searches: dict[str, Search[Measured]], vcpus: float, idle: Usage
) -> list[OperationCapacity]:
    print(
        f"\nper task ({vcpus:g} vCPU), highest rate at p99 <= {P99_GOAL_MS:.0f} ms "
        f"({os.cpu_count()} CPUs shared with the generator and Postgres; "
        f"1-min load average {os.getloadavg()[0]:.1f}):"
    )
    # "CPU µs/req": beyond the idle task's use. "at 100%": the rate at which that cost would
    # use the rest of the task's CPU; the measured rate is what met the latency goal here.
    print(
        f"{'operation':<15} {'req/s':>7} {'p99 ms':>7} {'task CPU':>9} {'CPU µs/req':>10} "
        f"{'at 100%':>8} {'redis':>6} {'app MiB':>8} {'throttled':>10}  limited by"
    )
    found = []
    for name, search in searches.items():
        capacity, best = capacity_of(name, search), search.best
        if capacity is None or best is None:
            lowest = min(s.rate_per_s for s in search.steps)
            print(f"{name:<15} no rate met the goal (lowest tried {lowest:.0f}/s)")
            continue
        u, t = best.result.usage, best.result.tally
        cpu_us = u.cpu_us_per_request(t.completed / t.measure_s, idle)
        at_full_per_s = max(0.0, vcpus - idle.task_vcpus) * 1e6 / max(1e-9, cpu_us)
        print(
            f"{name:<15} {capacity.rate_per_s:7.0f} {t.latency_ms(0.99):7.1f} "
            f"{u.task_cpu_percent:8.0f}% {cpu_us:10.0f} {at_full_per_s:8.0f} {u.redis_share:6.0%} "
            f"{u.app_memory_mib:8.0f} {u.throttled_percent:9.0f}%  {limited_by(capacity, search)}"
        )
        found.append(capacity)
    rates = {c.name: c.rate_per_s for c in found}
    if "cached read" in rates:
        for other in ("uncached read", "write"):
            if other in rates:
                print(f"cached read / {other}: {rates['cached read'] / rates[other]:.1f} x")
    return found


def print_targets(targets: list[Target], config: StageConfig, names: list[str]) -> None:
    print(
        f"\nscaling settings of {config.stage} beside what the figures of {', '.join(names)} give:"
    )
    print(f"{'setting':<22} {'set':>4} {'figures':>9}  verdict")
    for t in targets:
        verdict = "follows" if t.follows else "DIFFERS"
        print(f"{t.setting:<22} {t.configured:>4} {t.derived:>9}  {verdict}: {t.why}")


@contextmanager
def stand_up(config: StageConfig, work_dir: Path) -> Iterator[Stand]:
    engine = ensure_engine(RUN_DIR)
    with ExitStack() as stack:
        if engine.started_now:
            stack.callback(stop_own_engine, RUN_DIR)
        print(f"engine: {engine.describe()}", flush=True)
        built = {b.tag: b for b in build_images(engine.client, environ=dict(os.environ), say=print)}
        pg = postgres_image(engine.client, environ=dict(os.environ), say=print)
        postgres = stack.enter_context(database(engine.client, pg, uuid.uuid4().hex[:12]))
        say = lambda m: print(f"[task] {m}", flush=True)  # noqa: E731
        yield stack.enter_context(
            running_task(engine.client, config, built, postgres, work_dir, say, ENVIRONMENT)
        )


def main() -> int:
    config, _ = load_configured_stage(STAGE, image_tag="capacity-bench")
    vcpus = config.task_cpu / UNITS_PER_VCPU
    print(
        f"stage {config.stage}: task {config.task_cpu} CPU units, {config.task_memory_mib} MiB "
        f"(app {config.app.memory_mib} MiB, redis {config.redis.memory_mib} MiB); "
        f"overrides {ENVIRONMENT}; steps of {WARM_S:g} s warm-up + {MEASURE_S:g} s measured"
    )
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="fyntrix-capacity.") as tmp,
            stand_up(config, Path(tmp)) as stand,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            ops = operations(stand)
            prime(runner, stand, ops["cached"])
            idle = idle_usage(stand, vcpus)
            searches = {ops[k].name: search_operation(runner, stand, ops[k], vcpus) for k in OPS}
    except (EngineError, BuildError, StandInError, StandError, TaskError) as exc:
        print(f"capacity: {exc}")
        return 1
    found = print_figures(searches, vcpus, idle)
    missing = [name for name in searches if name not in {c.name for c in found}]
    if missing:
        # The task counts are bounded by the least capable operation: without one, a verdict
        # from the others would say "follows" about traffic nobody measured.
        print(f"\nscaling settings: not compared, no figure for {', '.join(missing)}")
    else:
        print_targets(derive(found, config), config, [c.name for c in found])
    print(f"\ncapacity bench took {time.monotonic() - started:.0f} s")
    return 0 if len(found) == len(searches) else 1
