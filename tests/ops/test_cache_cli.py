"""`python -m service.ops cache ping|stats|keys` against real redis-servers, as real processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis as redis_py
from redis.exceptions import ResponseError

from service.ops import cli, commands
from testkit.servers import RedisServer, free_port
from tests.ops.conftest import DESIGN_DIRECTIVES, clean_env, redis_env, run_ops

Factory = Callable[..., RedisServer]


def _one_error_line(stderr: str) -> str:
    """The whole stderr of a failed command: exactly one `error: ... Fix: ...` line."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert ". Fix: " in lines[0]
    assert "Traceback" not in stderr
    return lines[0]


# ------------------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["cache"],
        ["cache", "ping"],
        ["cache", "stats"],
        ["cache", "keys"],
        ["doctor"],
    ],
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m service.ops")
    assert "exit status" in out


def test_importing_the_cli_loads_neither_fastapi_nor_uvicorn() -> None:
    # The ops CLI must start fast in the task and must not build the app as a side effect.
    probe = (
        "import sys, service.ops.cli, service.ops.__main__;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'uvicorn', 'starlette', 'service.app', 'psycopg'));"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"
    assert "service.app" not in out.stdout


# ------------------------------------------------------------------------------------- ping


def test_ping_prints_pong_and_round_trip(design_redis: RedisServer) -> None:
    result = run_ops("cache", "ping", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert re.fullmatch(
        rf"PONG from localhost:{design_redis.port} db 0: round trip \d+\.\d\d ms "
        r"\(connect \+ first PING \d+\.\d\d ms\)\n",
        result.stdout,
    ), result.stdout


def test_ping_json_times_each_ping(design_redis: RedisServer) -> None:
    result = run_ops("cache", "ping", "--count", "3", "--json", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["reply"] == "PONG"
    assert data["port"] == design_redis.port
    assert len(data["rtt_ms"]) == 3
    assert all(0 < ms < 1000 for ms in data["rtt_ms"])


def test_flags_override_the_environment(design_redis: RedisServer) -> None:
    # GIVEN an environment pointing at a closed port and a database that does not exist
    env = clean_env(REDIS_HOST="no-such-host.invalid", REDIS_PORT=str(free_port()))
    # WHEN the flags name the real Redis
    result = run_ops(
        "cache",
        "ping",
        "--host",
        "127.0.0.1",
        "--port",
        str(design_redis.port),
        "--db",
        "3",
        env=env,
    )
    # THEN the flags win
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"PONG from 127.0.0.1:{design_redis.port} db 3:")


def test_an_invalid_unrelated_setting_does_not_stop_the_cache_commands(
    design_redis: RedisServer,
) -> None:
    env = redis_env(design_redis, DATABASE_URL="mysql://not-postgres", LOG_LEVEL="LOUD")
    result = run_ops("cache", "ping", env=env)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------ stats


def _lookups(server: RedisServer, hits: int, misses: int) -> None:
    client = server.client()
    client.set("dashboard:1", b"{}", ex=300)
    pipe = client.pipeline(transaction=False)
    for _ in range(hits):
        pipe.get("dashboard:1")
    for i in range(misses):
        pipe.get(f"dashboard:missing:{i}")
    pipe.execute()


def test_stats_shows_counters_memory_and_no_advice_when_healthy(design_redis: RedisServer) -> None:
    # GIVEN 190 hits and 10 misses (95 %) and no evictions
    _lookups(design_redis, hits=190, misses=10)
    # WHEN
    result = run_ops("cache", "stats", env=redis_env(design_redis))
    # THEN
    assert result.returncode == 0, result.stderr
    head, *body = result.lines
    rows = {line[:18].strip(): line[19:] for line in body}
    assert re.fullmatch(
        rf"Redis 7\.\d+\.\d+ at localhost:{design_redis.port} db 0, up (\d+ min )?\d+ s "
        r"\(counters since start or CONFIG RESETSTAT\)",
        head,
    ), head
    assert rows["hits"] == "190"
    assert rows["misses"] == "10"
    assert rows["hit ratio"] == "95.0 %"
    assert re.fullmatch(
        r"\d+\.\d MiB of 192\.0 MiB maxmemory \(\d+\.\d %\), policy allkeys-lru",
        rows["used memory"],
    ), rows["used memory"]
    assert re.fullmatch(r"\d+\.\d\d \(RSS \d+\.\d MiB / used \d+\.\d MiB\)", rows["fragmentation"])
    assert rows["evicted keys"] == "0"
    assert rows["expired keys"] == "0"
    assert int(rows["connected clients"]) >= 1
    assert rows["keys in db 0"] == "1 (1 with a TTL)"
    assert rows["advice"].startswith("none")


def test_stats_json_has_every_figure(design_redis: RedisServer) -> None:
    _lookups(design_redis, hits=3, misses=1)
    result = run_ops("cache", "stats", "--json", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hits"] == 3
    assert data["misses"] == 1
    assert data["hit_ratio"] == 0.75
    assert data["maxmemory_bytes"] == 192 * 1024 * 1024
    assert data["maxmemory_policy"] == "allkeys-lru"
    assert data["used_memory_bytes"] > 0
    assert data["fragmentation_ratio"] > 0
    assert data["evicted_keys"] == 0
    assert data["connected_clients"] >= 1
    # Too few lookups to judge: no advice on a 75 % ratio.
    assert data["advice"] == []


def test_stats_advises_longer_ttls_when_hits_are_low_without_evictions(
    design_redis: RedisServer,
) -> None:
    _lookups(design_redis, hits=20, misses=180)
    result = run_ops("cache", "stats", "--json", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)["advice"]
    assert len(advice) == 1
    assert advice[0].startswith("hit ratio 10.0 % is below 80.0 % over 200 lookups")
    assert "raise the TTLs (CACHE_TTL_<NS>_S" in advice[0]


def test_stats_advises_more_memory_when_evictions_are_high(
    redis_server_factory: Factory,
) -> None:
    # GIVEN a Redis far too small for what is written to it (2 MiB, 4 MiB of values)
    server = redis_server_factory(maxmemory="2mb", maxmemory_policy="allkeys-lru")
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(4000):
        pipe.set(f"portfolio:{i}", b"x" * 1024, ex=300)
    pipe.execute()
    for i in range(200):  # mostly misses: most of those keys were evicted
        client.get(f"portfolio:{i}")
    # WHEN
    result = run_ops("cache", "stats", env=redis_env(server))
    # THEN
    assert result.returncode == 0, result.stderr
    advice = [line for line in result.lines if line.startswith("advice")]
    evicted = next(line for line in result.lines if line.startswith("evicted keys"))
    assert int(evicted.split()[-1].replace(",", "")) > 1000
    assert any("evictions are high" in a and "Raise redis.memory_mib" in a for a in advice)
    assert any(a.split(None, 1)[1].startswith("hit ratio") for a in advice)
    assert any("give Redis more memory first" in a for a in advice)


def test_stats_flags_an_unbounded_noeviction_redis(redis_server_factory: Factory) -> None:
    server = redis_server_factory()  # redis-server's defaults: maxmemory 0, noeviction
    result = run_ops("cache", "stats", "--json", env=redis_env(server))
    advice = json.loads(result.stdout)["advice"]
    assert any(a.startswith("maxmemory is not set") for a in advice)
    assert any(a.startswith("maxmemory-policy is noeviction") for a in advice)


def test_stats_advice_thresholds() -> None:
    base = commands.CacheStats(
        version="7",
        uptime_s=1,
        db=0,
        hits=0,
        misses=0,
        used_memory_bytes=1,
        used_memory_rss_bytes=1,
        maxmemory_bytes=10,
        maxmemory_policy="allkeys-lru",
        fragmentation_ratio=1.0,
        evicted_keys=0,
        expired_keys=0,
        connected_clients=1,
        db_keys=0,
        db_keys_with_ttl=0,
    )

    def advice(**changes: object) -> list[str]:
        import dataclasses

        return dataclasses.replace(base, **changes).advice()  # type: ignore[arg-type]

    # Exactly at the thresholds: 80 % hits is fine, 10 % of removals evicted is high.
    assert advice(hits=80, misses=20) == []
    assert len(advice(hits=79, misses=21)) == 1
    assert advice(hits=7, misses=2) == []  # 9 lookups: too few to judge
    assert advice(evicted_keys=9, expired_keys=91) == []
    assert advice(evicted_keys=10, expired_keys=90)[0].startswith("evictions are high")
    big = 100 * 1024 * 1024
    frag = advice(fragmentation_ratio=1.6, used_memory_rss_bytes=big, used_memory_bytes=big // 2)
    assert frag[0].startswith("fragmentation 1.60")
    assert advice(fragmentation_ratio=9.0, used_memory_rss_bytes=1024) == []  # tiny: noise


# ------------------------------------------------------------------------------------- keys


def _populate(client: redis_py.Redis, prefix: str, count: int) -> None:
    """`count` keys `<prefix>:<n>`: DEBUG POPULATE when the server allows it, else pipelined
    MSETs (both take well under a second for 100k keys)."""
    try:
        client.execute_command("DEBUG", "POPULATE", count, prefix)  # type: ignore[no-untyped-call]
        return
    except ResponseError:
        pass
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, 1000):
        pipe.mset({f"{prefix}:{n}": b"v" for n in range(start, min(start + 1000, count))})
    pipe.execute()


@pytest.fixture
def big_keyspace(redis_server_factory: Factory) -> RedisServer:
    """100,000 dashboard keys (all with a 300 s TTL) and 20,000 portfolio keys (none), on a
    Redis whose KEYS command is renamed away."""
    server = redis_server_factory(
        'rename-command KEYS ""', enable_debug_command="local", **DESIGN_DIRECTIVES
    )
    client = server.client()
    _populate(client, "dashboard", 100_000)
    _populate(client, "portfolio", 20_000)
    pipe = client.pipeline(transaction=False)
    for n in range(100_000):
        pipe.expire(f"dashboard:{n}", 300)
    pipe.execute()
    assert client.dbsize() == 120_000
    with pytest.raises(ResponseError, match="unknown command"):
        client.execute_command("KEYS", "*")  # type: ignore[no-untyped-call]
    client.config_resetstat()
    return server


def test_keys_counts_and_samples_100k_keys_with_scan_when_keys_is_disabled(
    big_keyspace: RedisServer,
) -> None:
    started = time.monotonic()
    result = run_ops("cache", "keys", "dashboard:*", "--limit", "5", env=redis_env(big_keyspace))
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    lines = result.lines
    assert lines[0] == (
        f"SCAN MATCH dashboard:* COUNT 1000 on localhost:{big_keyspace.port} db 0 "
        "(never KEYS: it blocks Redis)"
    )
    assert re.fullmatch(
        r"100,000 keys match, of 120,000 in db 0 \(\d+ SCAN calls, \d+\.\d\d s\)", lines[1]
    ), lines[1]
    assert lines[2].startswith("TTL          TYPE    KEY   (first 5 of 100,000; --limit 5)")
    sample = lines[3:]
    assert len(sample) == 5
    for line in sample:
        # A 300 s TTL read less than a minute later (seconds, even on a loaded machine).
        assert re.fullmatch(r"(4 min [0-5]?\d s|5 min 0 s) +string  dashboard:\d+", line), line
    # Redis saw only SCANs (many bounded calls), never KEYS.
    commandstats = big_keyspace.client().info("commandstats")
    assert commandstats["cmdstat_scan"]["calls"] >= 100
    assert not any("keys" in name.lower() for name in commandstats if name != "cmdstat_scan")
    assert took < 20  # seconds; typically well under 1 s


def test_keys_json_shows_keys_without_ttl(big_keyspace: RedisServer) -> None:
    result = run_ops(
        "cache", "keys", "portfolio:*", "--limit", "3", "--json", env=redis_env(big_keyspace)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["matched"] == 20_000
    assert data["db_keys"] == 120_000
    assert data["scan_calls"] >= 20
    assert [k["ttl_ms"] for k in data["sample"]] == [-1, -1, -1]
    assert all(re.fullmatch(r"portfolio:\d+", k["key"]) for k in data["sample"])


def test_keys_text_warns_about_keys_without_ttl(design_redis: RedisServer) -> None:
    client = design_redis.client()
    client.set("top_picks:all", b"[]")
    client.set("top_picks:tech", b"[]", ex=60)
    result = run_ops("cache", "keys", "top_picks:*", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    assert "2 keys match, of 2 in db 0 (1 SCAN call," in result.stdout
    assert re.search(r"^no expiry +string  top_picks:all$", result.stdout, re.M)
    assert re.search(r"^([1-5]?\d|60) s +string  top_picks:tech$", result.stdout, re.M)
    assert result.lines[-1].startswith("1 of the 2 sampled keys never expire")


def test_keys_with_no_match(design_redis: RedisServer) -> None:
    result = run_ops("cache", "keys", "nothing:*", env=redis_env(design_redis))
    assert result.returncode == 0, result.stderr
    assert result.lines[1].startswith("0 keys match, of 0 in db 0")
    assert len(result.lines) == 2


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("command", [["cache", "ping"], ["cache", "stats"], ["cache", "keys", "*"]])
def test_a_closed_port_is_one_line_and_status_1(command: list[str]) -> None:
    port = free_port()
    result = run_ops(*command, env=clean_env(REDIS_HOST="127.0.0.1", REDIS_PORT=str(port)))
    assert result.returncode == 1
    assert result.stdout == ""
    line = _one_error_line(result.stderr)
    assert line.startswith(f"error: nothing listens on 127.0.0.1:{port} (connection refused).")


def test_an_unresolvable_host_is_one_line_and_status_1() -> None:
    result = run_ops("cache", "ping", env=clean_env(REDIS_HOST="no-such-host.invalid"))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert line.startswith("error: REDIS_HOST=no-such-host.invalid does not resolve (")
    assert "doctor --target" in line


def test_a_wrong_password_says_auth_failed(redis_server_factory: Factory) -> None:
    server = redis_server_factory(requirepass="right-one")
    result = run_ops("cache", "stats", env=redis_env(server, REDIS_PASSWORD="wrong-one"))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert line.startswith(f"error: AUTH failed: Redis at localhost:{server.port} rejected")
    assert "Fix: set REDIS_PASSWORD to the password Redis runs with" in line
    assert "wrong-one" not in line and "right-one" not in line


def test_a_missing_password_says_auth_failed(redis_server_factory: Factory) -> None:
    server = redis_server_factory(requirepass="right-one")
    result = run_ops("cache", "ping", env=redis_env(server))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "AUTH failed" in line and "REDIS_PASSWORD is not set" in line
    ok = run_ops("cache", "ping", env=redis_env(server, REDIS_PASSWORD="right-one"))
    assert ok.returncode == 0, ok.stderr


def test_a_password_for_a_redis_without_one(design_redis: RedisServer) -> None:
    result = run_ops("cache", "ping", env=redis_env(design_redis, REDIS_PASSWORD="stale"))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert line == (
        f"error: AUTH failed: REDIS_PASSWORD is set but Redis at localhost:{design_redis.port} "
        "has no password. Fix: unset REDIS_PASSWORD (or give Redis a password with requirepass)"
    )


def test_a_database_redis_does_not_have(redis_server_factory: Factory) -> None:
    server = redis_server_factory(databases=4)
    result = run_ops("cache", "ping", "--db", "5", env=redis_env(server))
    assert result.returncode == 1
    assert "REDIS_DB=5 does not exist" in _one_error_line(result.stderr)


def test_a_hung_redis_times_out(design_redis: RedisServer) -> None:
    # GIVEN a Redis whose port accepts connections but which answers nothing (SIGSTOP)
    design_redis.pause()
    try:
        started = time.monotonic()
        result = run_ops("cache", "ping", "--timeout", "0.3", env=redis_env(design_redis))
        took = time.monotonic() - started
    finally:
        design_redis.resume()
    assert result.returncode == 1
    assert "did not answer within 0.3 s" in _one_error_line(result.stderr)
    assert took < 5  # seconds: interpreter start + one 0.3 s timeout, no retries


def test_an_invalid_redis_setting_is_a_usage_error() -> None:
    result = run_ops("cache", "ping", env=clean_env(REDIS_PORT="sixty"))
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("error: invalid setting REDIS_PORT:")


def test_a_bad_flag_is_a_usage_error() -> None:
    result = run_ops("cache", "keys", "*", "--limit", "-1", env=clean_env())
    assert result.returncode == 2
    assert "argument --limit: -1 is outside 0-10000" in result.stderr
