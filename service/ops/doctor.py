"""`doctor --target compose|ecs|render|local`: is the app wired to a Redis that is a cache?

One check per line, in the order a connection is made (settings, REDIS_HOST, name, port, Redis,
then its live settings), each failure with the fix for that target. A check that depends on a
failed one is skipped, not guessed. Exit status 0 only when every check passes.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from service.ops import units
from service.ops.conn import (
    Endpoint,
    OpsError,
    denied,
    explain,
    first_reply,
    make_client,
    resolve,
    tcp_connect,
)
from service.settings import Settings

# Facts of the infra that the doctor needs where the stage's environment may be missing. The
# service image is built from service/ alone and cannot import infra/ or generators/:
# tests/service/test_infra_parity.py fails when one of these drifts from its source.
# The policy the design runs (infra/config/settings.py RedisSettings.maxmemory_policy) when
# REDIS_EXPECTED_MAXMEMORY_POLICY is not set, e.g. on a laptop without the stage's environment.
DESIGN_POLICY = "allkeys-lru"
# Render's services are named `fyntrix-<stage>-<role>` (generators/render_blueprint.py
# REDIS_SERVICE, WEB_SERVICE are the roles); a private service's internal host is its name,
# maybe with a suffix Render adds.
RENDER_REDIS_SERVICE = "redis"
RENDER_WEB_SERVICE = "backend"
_RENDER_REDIS = f"fyntrix-<stage>-{RENDER_REDIS_SERVICE}"
_RENDER_WEB = f"fyntrix-<stage>-{RENDER_WEB_SERVICE}"
_RENDER_REDIS_HOST = re.compile(rf"fyntrix-[a-z0-9]+-{RENDER_REDIS_SERVICE}")
# Render Key Value's internal hostnames (render.cache = keyvalue) start with this.
RENDER_KEYVALUE_HOST_PREFIX = "red-"
# The ECS redis container's log group on the AWS CLI path, with <stage> left open
# (generators/ecs.py log_group_name).
ECS_REDIS_LOG_GROUP = "/fyntrix/<stage>/redis"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Status(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 (a status word, not a password)
    FAIL = "FAIL"
    SKIP = "SKIP"  # depends on a check that failed
    UNKNOWN = "UNKNOWN"  # Redis would not tell (e.g. CONFIG renamed away)


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.value:<7} {self.name:<16} {self.detail}"
        if self.fix:
            label = "Hint" if self.status is Status.UNKNOWN else "Fix"
            text += f". {label}: {self.fix}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    where: str  # where this target runs Redis, shown in the header
    expected_host: str
    host_ok: Callable[[str], bool]
    host_note: str  # why that host, printed with a passing REDIS_HOST check
    host_fix: str
    resolve_fix: str
    unreachable_fix: str
    config_fix: str  # how to change Redis's own settings on this target
    # Redis is another host on a shared network: it must refuse clients without the password.
    auth_fix: str = ""

    @property
    def networked(self) -> bool:
        return bool(self.auth_fix)


def _is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS


TARGETS: dict[str, Target] = {
    "compose": Target(
        name="compose",
        where="docker-compose: Redis is the `redis` service on the compose network",
        expected_host="redis",
        host_ok=lambda host: host == "redis",
        host_note="the compose service's DNS name on the compose network",
        host_fix="set REDIS_HOST=redis (the compose service name) in the app's environment in "
        "docker-compose.yml (`make targets` regenerates it), then `docker compose up -d app`",
        resolve_fix="the name `redis` exists only on the compose network: run this in the app "
        "container (`docker compose exec app python -m service.ops doctor --target compose`) "
        "and check that `docker compose ps redis` lists it",
        unreachable_fix="`docker compose ps redis` must show it running and healthy; "
        "`docker compose logs redis` says why not",
        config_fix="the redis service's command in docker-compose.yml comes from infra/config/:"
        " `make targets`, then `docker compose up -d redis`",
        auth_fix="Redis listens on the compose network: the generated docker-compose.yml runs it "
        "with --requirepass ${REDIS_PASSWORD:?...} and gives the app the same REDIS_PASSWORD; "
        "set REDIS_PASSWORD in .env, `make targets`, then `docker compose up -d`",
    ),
    "ecs": Target(
        name="ecs",
        where="ECS Fargate: the redis sidecar shares the task's network namespace",
        expected_host="localhost",
        host_ok=_is_loopback,
        host_note="the redis container is in the same task (one network namespace)",
        host_fix="REDIS_HOST must be localhost: both containers share the task's network "
        "namespace. The task definition's environment comes from infra/config/ "
        "(app_environment): fix it there and `make deploy`",
        resolve_fix="localhost always resolves in a task: check the app container's /etc/hosts",
        unreachable_fix="the task's redis container is not running or not listening yet: "
        "`aws ecs describe-tasks --cluster <cluster> --tasks <task>` shows its lastStatus and "
        f"healthStatus, and the redis container's log group ({ECS_REDIS_LOG_GROUP} on the CLI "
        "path; `aws ecs describe-task-definition` names it under the CDK) says why",
        config_fix="the redis container's command comes from infra/config/ (redis.*): fix it "
        "there and `make deploy` (a CONFIG SET lasts only until the task is replaced)",
    ),
    "render": Target(
        name="render",
        where=f"Render: Redis is the private service {_RENDER_REDIS}",
        expected_host=_RENDER_REDIS,
        host_ok=lambda host: (
            bool(_RENDER_REDIS_HOST.match(host)) or host.startswith(RENDER_KEYVALUE_HOST_PREFIX)
        ),
        host_note=f"render.yaml sets it with `fromService: {{name: {_RENDER_REDIS}, "
        f"property: host}}`, the private service's internal hostname: {_RENDER_REDIS} or "
        f"{_RENDER_REDIS}-<suffix>, so any name starting with {_RENDER_REDIS} is "
        f"right (with Render Key Value: its internal host, {RENDER_KEYVALUE_HOST_PREFIX}...)",
        host_fix="in render.yaml the app's REDIS_HOST must be `fromService: {type: pserv, name: "
        f"{_RENDER_REDIS}, property: host}}` (`make targets` generates it); sync the "
        "Blueprint",
        resolve_fix="private hostnames resolve only on Render's private network of one region "
        f"and workspace: run this in the {_RENDER_WEB} shell and keep both services in "
        "the same region",
        unreachable_fix=f"check that {_RENDER_REDIS} is live in the Render Dashboard and "
        "read its logs; it must listen on 0.0.0.0 (service/redis.conf: bind)",
        config_fix="service/redis.conf is generated from infra/config/ (`make targets`): "
        f"commit, push and redeploy {_RENDER_REDIS}",
        auth_fix=f"every service of the workspace reaches {_RENDER_REDIS} on the private "
        "network: render.yaml gives it REDIS_PASSWORD with `generateValue: true` (its "
        "Dockerfile.redis passes it to --requirepass) and the app `fromService: {type: pserv, "
        f"name: {_RENDER_REDIS}, envVarKey: REDIS_PASSWORD}}` (`make targets`); sync the "
        "Blueprint",
    ),
    "local": Target(
        name="local",
        where="local: redis-server on this machine",
        expected_host="localhost",
        host_ok=_is_loopback,
        host_note="redis-server runs on this machine",
        host_fix="export REDIS_HOST=localhost (a redis-server on this machine)",
        resolve_fix="localhost must resolve: check /etc/hosts",
        unreachable_fix="start one: {redis_server}",
        config_fix="restart it with the design's settings: {redis_server}",
    ),
}


@dataclass(frozen=True, kw_only=True)
class Expected:
    maxmemory_bytes: int | None
    policy: str
    policy_from_env: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Expected:
        policy = settings.redis_expected_maxmemory_policy
        return cls(
            maxmemory_bytes=settings.redis_expected_maxmemory_bytes,
            policy=policy or DESIGN_POLICY,
            policy_from_env=policy is not None,
        )

    def redis_server_command(self, port: int) -> str:
        size = self.maxmemory_bytes
        if size is None:
            maxmemory = "<75 % of its RAM, e.g. 192mb>"
        elif size % units.MIB == 0:
            maxmemory = f"{size // units.MIB}mb"
        else:
            maxmemory = str(size)
        return (
            f"redis-server --port {port} --maxmemory {maxmemory} "
            f"--maxmemory-policy {self.policy} --save '' --appendonly no"
        )


def _fix(template: str, expected: Expected, port: int) -> str:
    return template.format(redis_server=expected.redis_server_command(port))


def _settings_check(errors: list[str]) -> Check:
    if not errors:
        return Check(name="settings", status=Status.PASS, detail="the app's settings are valid")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return Check(
        name="settings",
        status=Status.FAIL,
        detail=f"the app would refuse to start (exit 2): {errors[0]}{more}",
        fix="correct those environment variables; `python -m service` lists them all",
    )


def _host_check(target: Target, host: str) -> Check:
    if target.host_ok(host):
        if host == target.expected_host:
            same = ""
        elif _is_loopback(host):
            same = f" (loopback, like {target.expected_host})"
        else:
            same = f" (starts with {target.expected_host})"
        return Check(
            name="REDIS_HOST",
            status=Status.PASS,
            detail=f"{host}{same} is right for {target.name}: {target.host_note}",
        )
    expected = target.expected_host + ("*" if target.name == "render" else "")
    return Check(
        name="REDIS_HOST",
        status=Status.FAIL,
        detail=f"{host} is not what {target.name} needs ({expected})",
        fix=target.host_fix,
    )


def _config_get(client: redis.Redis, name: str) -> tuple[str | None, str | None]:
    """(value, None), or (None, why) when CONFIG is renamed, disabled or denied by ACL."""
    try:
        reply = client.config_get(name)
    except ResponseError as exc:
        message = str(exc).strip()
        if message.lower().startswith("unknown command"):
            return None, "CONFIG is renamed or disabled"
        if message.startswith("NOPERM") or "permission" in message:
            return None, "CONFIG is denied to this user (ACL)"
        return None, f"CONFIG GET {name} failed: {message}"
    values = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in dict(reply).items()
    }
    if name not in values:
        return None, f"CONFIG GET {name}: no such parameter"
    return values[name], None


def _info(client: redis.Redis, section: str) -> dict[str, Any] | None:
    try:
        return dict(client.info(section))
    except RedisError:
        return None


def _read_live(
    client: redis.Redis,
    info_memory: dict[str, Any] | None,
    config_name: str,
    info_key: str,
    what: str,
) -> tuple[str, str] | Check:
    """(value, where-it-came-from note) from CONFIG GET, else from INFO memory; an UNKNOWN
    check named `config_name` when neither answers."""
    live, why = _config_get(client, config_name)
    if live is not None:
        return live, ""
    if info_memory is not None and info_key in info_memory:
        return str(info_memory[info_key]), f" (read from INFO memory: {why})"
    return Check(
        name=config_name,
        status=Status.UNKNOWN,
        detail=f"could not read it ({why}; INFO memory failed too)",
        fix=f"check {what} in Redis's command line or config file",
    )


def _policy_check(
    client: redis.Redis, info_memory: dict[str, Any] | None, expected: Expected, config_fix: str
) -> Check:
    read = _read_live(client, info_memory, "maxmemory-policy", "maxmemory_policy", "the policy")
    if isinstance(read, Check):
        return read
    live, source = read
    wanted = expected.policy
    origin = "REDIS_EXPECTED_MAXMEMORY_POLICY" if expected.policy_from_env else "the design's"
    if live == wanted:
        return Check(
            name="maxmemory-policy",
            status=Status.PASS,
            detail=f"{live}, as expected ({origin}){source}",
        )
    consequence = (
        ": a full cache rejects every write (OOM errors) instead of evicting"
        if live == "noeviction"
        else ""
    )
    return Check(
        name="maxmemory-policy",
        status=Status.FAIL,
        detail=f"{live}, expected {wanted} ({origin}){consequence}{source}",
        fix=config_fix,
    )


def _maxmemory_check(
    client: redis.Redis, info_memory: dict[str, Any] | None, expected: Expected, config_fix: str
) -> Check:
    read = _read_live(client, info_memory, "maxmemory", "maxmemory", "maxmemory")
    if isinstance(read, Check):
        return read
    raw, source = read
    live = int(raw)
    if live == 0:
        return Check(
            name="maxmemory",
            status=Status.FAIL,
            detail="not set (0 = unbounded): Redis grows until its container is OOM-killed "
            f"instead of evicting{source}",
            fix=config_fix,
        )
    shown = f"{live} bytes ({units.mib(live)})"
    wanted = expected.maxmemory_bytes
    if wanted is None:
        return Check(
            name="maxmemory",
            status=Status.PASS,
            detail=f"{shown}, set; REDIS_EXPECTED_MAXMEMORY_BYTES is not set, so its size "
            f"and headroom were not compared{source}",
        )
    if live == wanted:
        return Check(
            name="maxmemory",
            status=Status.PASS,
            detail=f"{shown}, as expected (REDIS_EXPECTED_MAXMEMORY_BYTES; the stage config "
            f"keeps it under 80 % of the redis container's memory){source}",
        )
    if live > wanted:
        why_bad = "less headroom below the container's memory limit than the stage config "
        why_bad += "allows: Redis may be OOM-killed before it evicts"
    else:
        why_bad = "a smaller cache than the stage config: more evictions, fewer hits"
    return Check(
        name="maxmemory",
        status=Status.FAIL,
        detail=f"{shown}, expected {wanted} bytes ({units.mib(wanted)}): {why_bad}{source}",
        fix=config_fix,
    )


def _rdb_check(
    client: redis.Redis, info_persistence: dict[str, Any] | None, config_fix: str
) -> Check:
    save, why = _config_get(client, "save")
    if save is not None:
        if save.strip() == "":
            return Check(name="rdb", status=Status.PASS, detail='off (save "")')
        return Check(
            name="rdb",
            status=Status.FAIL,
            detail=f'snapshots on (save "{save}"): a cache must start empty, and each snapshot '
            "forks Redis and writes to disk",
            fix=config_fix,
        )
    saves = None if info_persistence is None else info_persistence.get("rdb_saves")
    if saves is not None and int(saves) > 0:
        return Check(
            name="rdb",
            status=Status.FAIL,
            detail=f"INFO persistence shows {saves} RDB saves since start ({why})",
            fix=config_fix,
        )
    seen = "no RDB save since start" if saves is not None else "no persistence info either"
    return Check(
        name="rdb",
        status=Status.UNKNOWN,
        detail=f"could not read `save` ({why}); INFO persistence shows {seen}, which does not "
        "prove snapshots are off",
        fix='check Redis\'s command line or config file for save "" (or run CONFIG GET save '
        "as a user allowed to)",
    )


def _aof_check(
    client: redis.Redis, info_persistence: dict[str, Any] | None, config_fix: str
) -> Check:
    value, why = _config_get(client, "appendonly")
    source = ""
    if value is None and info_persistence is not None and "aof_enabled" in info_persistence:
        enabled = int(info_persistence["aof_enabled"]) == 1
        value, source = ("yes" if enabled else "no"), f" (read from INFO persistence: {why})"
    if value is None:
        return Check(
            name="aof",
            status=Status.UNKNOWN,
            detail=f"could not read it ({why}; INFO persistence failed too)",
            fix="check Redis's command line or config file for appendonly no",
        )
    if value == "no":
        return Check(name="aof", status=Status.PASS, detail=f"off (appendonly no){source}")
    return Check(
        name="aof",
        status=Status.FAIL,
        detail=f"on (appendonly {value}): every write also goes to disk, which a cache never "
        f"needs{source}",
        fix=config_fix,
    )


LIVE_CHECKS = ("maxmemory-policy", "maxmemory", "rdb", "aof")


def _auth_check(target: Target, ep: Endpoint) -> Check:
    """A networked Redis must refuse a client that sends no password (NOAUTH)."""
    anonymous = make_client(dataclasses.replace(ep, password=None))
    try:
        anonymous.ping()
    except AuthenticationError:
        return Check(
            name="auth",
            status=Status.PASS,
            detail=f"Redis refuses clients without the password (NOAUTH) on the {target.name} "
            "network",
        )
    except (RedisError, OSError) as exc:
        if "NOAUTH" in str(exc) or "DENIED" in str(exc):
            return Check(name="auth", status=Status.PASS, detail=f"refused: {exc}")
        raise
    finally:
        anonymous.close()
    return Check(
        name="auth",
        status=Status.FAIL,
        detail=f"Redis answers clients that send no password: anything on the {target.name} "
        "network can read and change the cache",
        fix=target.auth_fix,
    )


def database_check(settings: Settings, timeout_s: float) -> Check:
    """Does the app's Postgres answer, and what cached reads answer while it does not (the
    stale-if-error bound)? Only with DATABASE_URL: an embedded SQLite file has no outage."""
    import psycopg

    bound = settings.cache_stale_if_error_s
    if bound:
        meanwhile = (
            f"while it is down, cached reads answer copies up to {bound} s past expiry "
            "(X-Cache: STALE), then 503"
        )
    else:
        meanwhile = "while it is down, every read answers 503 (CACHE_STALE_IF_ERROR_S=0)"
    assert settings.database_url is not None
    started = time.perf_counter()
    try:
        with psycopg.connect(
            settings.database_url.get_secret_value(),
            connect_timeout=max(2, math.ceil(timeout_s)),
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # The message names host and port, not the password; the class says enough.
        return Check(
            name="database",
            status=Status.FAIL,
            detail=f"Postgres does not answer ({type(exc).__name__}); {meanwhile}",
            fix="bring the database back (RDS events, security groups, DATABASE_URL in the "
            "stage secret); the app's breaker finds it again within a second",
        )
    took = time.perf_counter() - started
    return Check(
        name="database",
        status=Status.PASS,
        detail=f"Postgres answers ({units.millis(took)}); {meanwhile}",
    )


def skip_all(names: tuple[str, ...], after: str) -> list[Check]:
    return [
        Check(name=name, status=Status.SKIP, detail=f"needs a passing `{after}` check")
        for name in names
    ]


def _unreachable(exc: OSError, ep: Endpoint, timeout_s: float) -> str:
    """Why a TCP connection to Redis failed, in one line."""
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens on port {ep.port} of {ep.host} (connection refused)"
    if isinstance(exc, TimeoutError):
        return (
            f"no answer on port {ep.port} of {ep.host} within {timeout_s:g} s "
            "(packets dropped: firewall, security group, wrong port)"
        )
    return f"cannot connect to port {ep.port} of {ep.host}: {exc.strerror or exc}"


def run(
    target: Target, settings: Settings, settings_errors: list[str], *, timeout_s: float
) -> list[Check]:
    ep = Endpoint.from_settings(settings, timeout_s=timeout_s)
    expected = Expected.from_settings(settings)
    config_fix = _fix(target.config_fix, expected, ep.port)
    unreachable_fix = _fix(target.unreachable_fix, expected, ep.port)
    checks = [_settings_check(settings_errors), _host_check(target, ep.host)]
    live = ("auth", *LIVE_CHECKS) if target.networked else LIVE_CHECKS

    started = time.perf_counter()
    try:
        addresses = resolve(ep.host, ep.port, timeout_s)
    except OpsError as exc:
        checks.append(
            Check(name="resolve", status=Status.FAIL, detail=exc.what, fix=target.resolve_fix)
        )
        return [*checks, *skip_all(("connect", "redis", *live), "resolve")]
    took = time.perf_counter() - started
    checks.append(
        Check(
            name="resolve",
            status=Status.PASS,
            detail=f"{ep.host} -> {', '.join(addresses)} ({units.millis(took)})",
        )
    )

    try:
        address, took = tcp_connect(addresses, ep.port, timeout_s)
    except OSError as exc:
        what = _unreachable(exc, ep, timeout_s)
        checks.append(Check(name="connect", status=Status.FAIL, detail=what, fix=unreachable_fix))
        return [*checks, *skip_all(("redis", *live), "connect")]
    checks.append(
        Check(
            name="connect",
            status=Status.PASS,
            detail=f"{address} port {ep.port} accepts TCP connections ({units.millis(took)})",
        )
    )

    client = make_client(ep)  # connects at its first command, inside the try
    try:
        started = time.perf_counter()
        client.ping()
        took = time.perf_counter() - started
        server = _info(client, "server") or {}
    except (RedisError, OSError) as exc:
        problem = explain(exc, ep)
        reply = first_reply(address, ep.port, timeout_s)
        if reply is not None and reply.startswith("-DENIED"):
            problem = denied(f"Redis at {ep.where}", config_fix)
        checks.append(Check(name="redis", status=Status.FAIL, detail=problem.what, fix=problem.fix))
        client.close()
        return [*checks, *skip_all(live, "redis")]
    auth = "AUTH ok, " if ep.password else ""
    checks.append(
        Check(
            name="redis",
            status=Status.PASS,
            detail=f"PONG in {units.millis(took)} ({auth}Redis {server.get('redis_version', '?')}"
            f", db {ep.db})",
        )
    )
    try:
        if target.networked:
            checks.append(_auth_check(target, ep))
        info_memory = _info(client, "memory")
        info_persistence = _info(client, "persistence")
        checks += [
            _policy_check(client, info_memory, expected, config_fix),
            _maxmemory_check(client, info_memory, expected, config_fix),
            _rdb_check(client, info_persistence, config_fix),
            _aof_check(client, info_persistence, config_fix),
        ]
    except (RedisError, OSError) as exc:
        # Redis went away between the checks (a restart): say so instead of half a report.
        problem = explain(exc, ep)
        done = {c.name for c in checks}
        checks += [
            Check(name=name, status=Status.FAIL, detail=problem.what, fix=problem.fix)
            for name in live
            if name not in done
        ]
    finally:
        client.close()
    return checks
