"""`python -m service.ops doctor --target T` against real redis-servers, as a real process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest

from service.ops import doctor
from testkit.servers import RedisServer, free_port
from tests.ops.conftest import DESIGN_DIRECTIVES, DEV, clean_env, redis_env, run_ops

Factory = Callable[..., RedisServer]
CHECKS = [
    "settings",
    "REDIS_HOST",
    "resolve",
    "connect",
    "redis",
    "maxmemory-policy",
    "maxmemory",
    "rdb",
    "aof",
]


def statuses(stdout: str) -> dict[str, str]:
    """{check name: status} from the one line per check."""
    found = {}
    for line in stdout.splitlines()[1:-1]:
        status, name = line.split()[:2]
        found[name] = status
    # Targets where Redis sits on a network add `auth` after `redis`.
    assert [n for n in found if n != "auth"] == CHECKS, stdout
    assert "auth" not in found or list(found).index("auth") == CHECKS.index("redis") + 1
    return found


def line_of(stdout: str, name: str) -> str:
    return next(line for line in stdout.splitlines() if line.split()[1:2] == [name])


def only_failing(stdout: str, *names: str) -> None:
    got = statuses(stdout)
    assert {n for n, s in got.items() if s != "PASS"} == set(names), stdout
    assert all(got[n] == "FAIL" for n in names), stdout


# ------------------------------------------------------------------------------ all passing


@pytest.mark.parametrize("target", ["local", "ecs"])
def test_a_redis_set_up_like_the_design_passes_every_check(
    design_redis: RedisServer, target: str
) -> None:
    result = run_ops("doctor", "--target", target, env=redis_env(design_redis))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert set(statuses(result.stdout).values()) == {"PASS"}
    assert result.lines[-1] == "9 checks: all pass"
    assert result.lines[0].startswith(
        f"doctor --target {target}: Redis at localhost:{design_redis.port} db 0 ("
    )
    assert re.fullmatch(
        r"PASS +resolve +localhost -> [0-9a-f.:, ]+ \(\d+\.\d\d ms\)",
        line_of(result.stdout, "resolve"),
    )
    assert line_of(result.stdout, "maxmemory").endswith(
        "201326592 bytes (192.0 MiB), as expected (REDIS_EXPECTED_MAXMEMORY_BYTES; the stage "
        "config keeps it under 80 % of the redis container's memory)"
    )
    assert line_of(result.stdout, "rdb").endswith('off (save "")')
    assert line_of(result.stdout, "aof").endswith("off (appendonly no)")


def test_expected_values_come_from_the_stage_config() -> None:
    # The doctor's expectations reach the app through app_environment on every target.
    env = DEV.app_environment(redis_host="localhost")
    assert env["REDIS_EXPECTED_MAXMEMORY_BYTES"] == str(201326592)
    assert env["REDIS_EXPECTED_MAXMEMORY_POLICY"] == "allkeys-lru"


def test_without_expected_values_it_checks_the_design_rules(design_redis: RedisServer) -> None:
    env = clean_env(REDIS_HOST="localhost", REDIS_PORT=str(design_redis.port), APP_STAGE="local")
    result = run_ops("doctor", "--target", "local", env=env)
    assert result.returncode == 0, result.stdout
    assert "allkeys-lru, as expected (the design's)" in line_of(result.stdout, "maxmemory-policy")
    assert "REDIS_EXPECTED_MAXMEMORY_BYTES is not set" in line_of(result.stdout, "maxmemory")


def test_the_password_is_used_and_reported(redis_server_factory: Factory) -> None:
    server = redis_server_factory(requirepass="s3cret", **DESIGN_DIRECTIVES)
    result = run_ops("doctor", "--target", "local", env=redis_env(server, REDIS_PASSWORD="s3cret"))
    assert result.returncode == 0, result.stdout
    assert "(AUTH ok, Redis 7." in line_of(result.stdout, "redis")
    assert "s3cret" not in result.stdout


def test_json_output(design_redis: RedisServer) -> None:
    result = run_ops("doctor", "--target", "ecs", "--json", env=redis_env(design_redis))
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["target"] == "ecs"
    assert data["ok"] is True
    assert [c["name"] for c in data["checks"]] == CHECKS
    assert {c["status"] for c in data["checks"]} == {"PASS"}


# ---------------------------------------------------------------------- misconfigured Redis


@pytest.mark.parametrize(
    ("directives", "check", "detail"),
    [
        (
            {"maxmemory_policy": "noeviction"},
            "maxmemory-policy",
            "noeviction, expected allkeys-lru (REDIS_EXPECTED_MAXMEMORY_POLICY): a full cache "
            "rejects every write (OOM errors) instead of evicting",
        ),
        ({"save": "3600 1 300 100"}, "rdb", 'snapshots on (save "3600 1 300 100")'),
        ({"appendonly": "yes"}, "aof", "on (appendonly yes)"),
        ({"maxmemory": "0"}, "maxmemory", "not set (0 = unbounded)"),
        (
            {"maxmemory": "100mb"},
            "maxmemory",
            "104857600 bytes (100.0 MiB), expected 201326592 bytes (192.0 MiB): a smaller cache",
        ),
        (
            {"maxmemory": "250mb"},
            "maxmemory",
            "262144000 bytes (250.0 MiB), expected 201326592 bytes (192.0 MiB): less headroom",
        ),
    ],
    ids=["noeviction", "rdb-on", "aof-on", "no-maxmemory", "maxmemory-small", "maxmemory-big"],
)
def test_doctor_catches_a_misconfigured_redis(
    redis_server_factory: Factory, directives: dict[str, str], check: str, detail: str
) -> None:
    # GIVEN a Redis like the design's but for one setting
    server = redis_server_factory(**{**DESIGN_DIRECTIVES, **directives})
    # WHEN the doctor runs for ECS
    result = run_ops("doctor", "--target", "ecs", env=redis_env(server))
    # THEN exactly that check fails, with the fix for ECS, and the status is 1
    assert result.returncode == 1, result.stdout
    only_failing(result.stdout, check)
    line = line_of(result.stdout, check)
    assert detail in line
    assert line.endswith(
        "Fix: the redis container's command comes from infra/config/ (redis.*): fix it there "
        "and `make deploy` (a CONFIG SET lasts only until the task is replaced)"
    )
    assert result.lines[-1] == "9 checks: 8 pass, 1 fail; fix the FAIL lines first"


def test_the_local_fix_is_the_redis_server_command_line(redis_server_factory: Factory) -> None:
    server = redis_server_factory(maxmemory_policy="noeviction", maxmemory="192mb")
    result = run_ops("doctor", "--target", "local", env=redis_env(server))
    assert result.returncode == 1
    assert line_of(result.stdout, "maxmemory-policy").endswith(
        f"Fix: restart it with the design's settings: redis-server --port {server.port} "
        "--maxmemory 192mb --maxmemory-policy allkeys-lru --save '' --appendonly no"
    )


def test_config_renamed_away_falls_back_to_info(redis_server_factory: Factory) -> None:
    # GIVEN CONFIG renamed away (as hardened or managed Redis often has it) and noeviction
    server = redis_server_factory('rename-command CONFIG ""', maxmemory="192mb")
    # WHEN
    result = run_ops("doctor", "--target", "ecs", env=redis_env(server))
    got = statuses(result.stdout)
    # THEN policy and maxmemory come from INFO memory, AOF from INFO persistence, and `save`,
    # which INFO does not show, is "could not read" with a hint, not a crash.
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    policy = line_of(result.stdout, "maxmemory-policy")
    assert got["maxmemory-policy"] == "FAIL"
    assert "noeviction, expected allkeys-lru" in policy
    assert "(read from INFO memory: CONFIG is renamed or disabled)" in policy
    assert got["maxmemory"] == "PASS"
    assert "(read from INFO memory: CONFIG is renamed or disabled)" in line_of(
        result.stdout, "maxmemory"
    )
    assert got["aof"] == "PASS"
    assert "(read from INFO persistence: CONFIG is renamed or disabled)" in line_of(
        result.stdout, "aof"
    )
    rdb = line_of(result.stdout, "rdb")
    assert got["rdb"] == "UNKNOWN"
    assert "could not read `save` (CONFIG is renamed or disabled)" in rdb
    assert 'Hint: check Redis\'s command line or config file for save ""' in rdb


def test_config_renamed_and_rdb_saves_seen_in_info_fails(redis_server_factory: Factory) -> None:
    server = redis_server_factory('rename-command CONFIG ""', **DESIGN_DIRECTIVES)
    server.client().bgsave()  # one RDB save since start, as a `save` rule would make
    client = server.client()
    for _ in range(200):
        if client.info("persistence")["rdb_bgsave_in_progress"] == 0:
            break
        time.sleep(0.01)
    result = run_ops("doctor", "--target", "local", env=redis_env(server))
    assert result.returncode == 1
    only_failing(result.stdout, "rdb")
    assert "INFO persistence shows 1 RDB saves since start" in line_of(result.stdout, "rdb")


# ------------------------------------------------------------------------- wrong wiring


@pytest.mark.parametrize(
    ("target", "host", "expected", "fix"),
    [
        ("compose", "localhost", "(redis)", "set REDIS_HOST=redis (the compose service name)"),
        (
            "render",
            "localhost",
            "(fyntrix-<stage>-redis*)",
            "`fromService: {type: pserv, name: fyntrix",
        ),
        ("local", "127.0.0.2", "(localhost)", "export REDIS_HOST=localhost"),
    ],
)
def test_the_wrong_redis_host_for_the_target(
    design_redis: RedisServer, target: str, host: str, expected: str, fix: str
) -> None:
    # GIVEN the Redis is reachable, but REDIS_HOST is not what the target's wiring gives the app
    # (127.0.0.2 is loopback too, so every later check still runs against the real server)
    result = run_ops("doctor", "--target", target, env=redis_env(design_redis, host=host))
    assert result.returncode == 1, result.stdout
    line = line_of(result.stdout, "REDIS_HOST")
    assert line.startswith(f"FAIL    REDIS_HOST       {host} is not what {target} needs {expected}")
    assert fix in line


def test_ecs_with_the_compose_host_fails(design_redis: RedisServer) -> None:
    result = run_ops("doctor", "--target", "ecs", env=redis_env(design_redis, host="redis"))
    assert result.returncode == 1
    line = line_of(result.stdout, "REDIS_HOST")
    assert "redis is not what ecs needs (localhost)" in line
    assert "REDIS_HOST must be localhost: both containers share the task's network" in line


def test_render_accepts_the_private_service_hostname_and_explains_why() -> None:
    # The resolve step cannot pass here (no Render network): the REDIS_HOST line is the point.
    # GIVEN the environment render.yaml gives the app, with the host Render filled in
    env = clean_env(**DEV.app_environment(redis_host="fyntrix-dev-redis-a1b2"))
    result = run_ops("doctor", "--target", "render", "--timeout", "1", env=env)
    line = line_of(result.stdout, "REDIS_HOST")
    assert line.startswith(
        "PASS    REDIS_HOST       fyntrix-dev-redis-a1b2 (starts with fyntrix-<stage>-redis) "
        "is right for render"
    )
    assert "fyntrix-<stage>-redis or fyntrix-<stage>-redis-<suffix>" in line
    assert "any name starting with fyntrix-<stage>-redis is right" in line
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("target", "host", "ok"),
    [
        ("render", "fyntrix-prod-redis", True),
        ("render", "fyntrix-prod-redis-xyz9", True),
        ("render", "fyntrix-dev-redis", True),  # dev's private service
        ("render", "fyntrix-redis", False),  # no stage: not a name the Blueprint gives
        ("render", "red-d0abc1234example", True),  # a Key Value's internal host
        ("render", "redis", False),
        ("render", "localhost", False),
        ("compose", "redis", True),
        ("compose", "fyntrix-redis", False),
        ("ecs", "localhost", True),
        ("ecs", "127.0.0.1", True),
        ("ecs", "::1", True),
        ("ecs", "redis", False),
        ("local", "localhost", True),
        ("local", "fyntrix-redis", False),
    ],
)
def test_host_rules_per_target(target: str, host: str, ok: bool) -> None:
    assert doctor.TARGETS[target].host_ok(host) is ok


# ------------------------------------------------------------------------ unreachable Redis


def test_a_closed_port_fails_connect_and_skips_the_rest() -> None:
    port = free_port()
    env = clean_env(REDIS_HOST="localhost", REDIS_PORT=str(port), APP_STAGE="local")
    result = run_ops("doctor", "--target", "local", env=env)
    assert result.returncode == 1
    got = statuses(result.stdout)
    assert [got[c] for c in CHECKS] == ["PASS"] * 3 + ["FAIL"] + ["SKIP"] * 5
    line = line_of(result.stdout, "connect")
    assert f"nothing listens on port {port} of localhost (connection refused)" in line
    assert f"Fix: start one: redis-server --port {port} " in line
    assert line_of(result.stdout, "redis").endswith("needs a passing `connect` check")
    assert result.lines[-1] == "9 checks: 3 pass, 1 fail, 5 skip; fix the FAIL lines first"


def test_an_unresolvable_host_fails_resolve() -> None:
    env = clean_env(REDIS_HOST="no-such-host.invalid")
    result = run_ops("doctor", "--target", "compose", env=env)
    assert result.returncode == 1
    got = statuses(result.stdout)
    assert got["REDIS_HOST"] == "FAIL"
    assert got["resolve"] == "FAIL"
    assert {got[c] for c in CHECKS[4:]} == {"SKIP"}
    line = line_of(result.stdout, "resolve")
    assert "REDIS_HOST=no-such-host.invalid does not resolve" in line
    assert "the name `redis` exists only on the compose network" in line


def test_a_wrong_password_fails_the_redis_check(redis_server_factory: Factory) -> None:
    server = redis_server_factory(requirepass="right", **DESIGN_DIRECTIVES)
    result = run_ops("doctor", "--target", "ecs", env=redis_env(server, REDIS_PASSWORD="wrong"))
    assert result.returncode == 1
    got = statuses(result.stdout)
    assert got["connect"] == "PASS"
    assert got["redis"] == "FAIL"
    line = line_of(result.stdout, "redis")
    assert "AUTH failed" in line
    assert "Fix: set REDIS_PASSWORD to the password Redis runs with (its requirepass)" in line


def test_a_hung_redis_fails_the_redis_check(design_redis: RedisServer) -> None:
    design_redis.pause()
    try:
        result = run_ops(
            "doctor", "--target", "local", "--timeout", "0.3", env=redis_env(design_redis)
        )
    finally:
        design_redis.resume()
    assert result.returncode == 1
    assert "did not answer within 0.3 s" in line_of(result.stdout, "redis")


# ---------------------------------------------------------------------------------- settings


def test_an_invalid_app_setting_fails_settings_but_the_rest_still_runs(
    design_redis: RedisServer,
) -> None:
    env = redis_env(design_redis, DATABASE_URL="mysql://x")
    result = run_ops("doctor", "--target", "local", env=env)
    assert result.returncode == 1
    only_failing(result.stdout, "settings")
    line = line_of(result.stdout, "settings")
    assert "the app would refuse to start (exit 2): invalid setting DATABASE_URL" in line
    assert "mysql" not in line  # the value may hold a password


def test_an_invalid_redis_setting_fails_settings_and_skips_the_rest() -> None:
    result = run_ops("doctor", "--target", "ecs", env=clean_env(REDIS_PORT="sixty"))
    assert result.returncode == 1
    got = statuses(result.stdout)
    assert got["settings"] == "FAIL"
    assert {got[c] for c in CHECKS[1:]} == {"SKIP"}
    assert "invalid setting REDIS_PORT" in line_of(result.stdout, "settings")


def test_an_unknown_target_is_a_usage_error() -> None:
    result = run_ops("doctor", "--target", "heroku", env=clean_env())
    assert result.returncode == 2
    assert "invalid choice: 'heroku'" in result.stderr


def test_a_deployed_stage_without_cognito_settings_fails_settings(
    design_redis: RedisServer,
) -> None:
    env = redis_env(design_redis, APP_STAGE="prod", DATABASE_URL="postgresql://db/fyntrix")
    result = run_ops("doctor", "--target", "ecs", env=env)
    assert result.returncode == 1
    line = line_of(result.stdout, "settings")
    assert "invalid setting AUTH_ISSUER: required when APP_STAGE=prod" in line
    assert line_of(result.stdout, "redis").startswith("PASS")  # the Redis checks still run


# ---------------------------------------------------------------------- Redis on a network


@pytest.mark.parametrize("target", ["compose", "render"])
def test_a_networked_redis_must_refuse_clients_without_the_password(
    redis_server_factory: Factory, target: str
) -> None:
    # GIVEN Redis as the generated files run it on a network: a password, protected mode on
    server = redis_server_factory(requirepass="s3cret", protected_mode="yes", **DESIGN_DIRECTIVES)
    # WHEN the doctor runs for that target (the host check fails: `localhost` is not the
    # target's host name, which does not resolve on this machine; the rest runs)
    result = run_ops("doctor", "--target", target, env=redis_env(server, REDIS_PASSWORD="s3cret"))
    # THEN an anonymous client is refused, and that is a pass
    auth = line_of(result.stdout, "auth")
    assert auth.split()[0] == "PASS", result.stdout
    assert "refuses clients without the password (NOAUTH)" in auth
    assert "s3cret" not in result.stdout


@pytest.mark.parametrize(
    ("target", "fix"),
    [
        ("compose", "--requirepass ${REDIS_PASSWORD:?...}"),
        ("render", "REDIS_PASSWORD with `generateValue: true`"),
    ],
)
def test_a_networked_redis_without_a_password_fails_the_auth_check(
    redis_server_factory: Factory, target: str, fix: str
) -> None:
    # GIVEN an open Redis (no password)
    server = redis_server_factory(**DESIGN_DIRECTIVES)
    # WHEN the doctor runs for a target where Redis sits on a network
    result = run_ops("doctor", "--target", target, env=redis_env(server))
    # THEN the auth check fails with that target's fix
    assert result.returncode == 1
    auth = line_of(result.stdout, "auth")
    assert auth.split()[0] == "FAIL", result.stdout
    assert "answers clients that send no password" in auth
    assert fix in auth


def test_loopback_targets_have_no_auth_check(design_redis: RedisServer) -> None:
    for target in ("ecs", "local"):
        result = run_ops("doctor", "--target", target, env=redis_env(design_redis))
        assert "auth" not in statuses(result.stdout)
