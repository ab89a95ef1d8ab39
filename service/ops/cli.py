"""`python -m service.ops`: cache ping | cache stats | cache keys PATTERN | doctor --target T |
token --user N | link-user --sub S --user N | unlink-user --sub S.

The cache and doctor commands talk to the Redis the app would use (REDIS_HOST, REDIS_PORT, REDIS_DB,
REDIS_PASSWORD; flags override them), with short timeouts and no retries. Failures are one line
on stderr saying what is wrong and the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from service.ops import commands, doctor, identity, units
from service.ops.conn import (
    DEFAULT_TIMEOUT_S,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    Endpoint,
    OpsError,
    explain,
    load_settings,
    make_client,
    resolve,
)
from service.settings import MaxmemoryPolicy

EXIT_STATUSES = f"""\
exit status: {EXIT_OK} ok; {EXIT_PROBLEM} Redis unreachable or refusing (or a doctor check did not
pass); {EXIT_USAGE} bad flags or an invalid REDIS_* setting.
"""

CONNECTION_HELP = """\
environment (the app's own settings; flags win): REDIS_HOST (localhost), REDIS_PORT (6379),
REDIS_DB (0), REDIS_PASSWORD (unset).
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text} is outside 0-60 seconds")
    return value


def _int_range(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}-{high}")
        return value

    return parse


def _connection_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("connection (defaults from the environment)")
    group.add_argument("--host", help="Redis host (REDIS_HOST)")
    group.add_argument("--port", type=_int_range(1, 65535), help="Redis port (REDIS_PORT)")
    group.add_argument("--db", type=_int_range(0, 15), help="database index (REDIS_DB)")
    group.add_argument(
        "--password",
        help="Redis password (REDIS_PASSWORD; prefer the variable: a flag shows in `ps`)",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"connect and reply timeout per step, in seconds (default {DEFAULT_TIMEOUT_S:g})",
    )
    return flags


def build_parser() -> argparse.ArgumentParser:
    conn = _connection_flags()
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m service.ops",
        description="Operate the service's Redis cache: ping, stats, keys, and a doctor that "
        "checks a deploy target's Redis wiring.",
        epilog=CONNECTION_HELP + EXIT_STATUSES,
        formatter_class=fmt,
    )
    top = parser.add_subparsers(
        dest="command", required=True, metavar="{cache,doctor,token,link-user,unlink-user}"
    )

    cache = top.add_parser(
        "cache",
        help="ping, stats, keys",
        description="Look at the cache Redis.",
        epilog=CONNECTION_HELP + EXIT_STATUSES,
        formatter_class=fmt,
    )
    sub = cache.add_subparsers(dest="cache_command", required=True, metavar="{ping,stats,keys}")

    p = sub.add_parser(
        "ping",
        parents=[conn],
        help="PONG and the round-trip time",
        description="PING Redis: PONG and the round-trip time on an open connection (the first "
        "PING, which also connects and authenticates, is shown apart).",
        epilog=CONNECTION_HELP + EXIT_STATUSES,
        formatter_class=fmt,
    )
    p.add_argument(
        "--count",
        type=_int_range(1, 1000),
        default=1,
        help="timed PINGs after the first (default 1); shows min/avg/max",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser(
        "stats",
        parents=[conn],
        help="hits, misses, memory, evictions, with advice",
        description="Hits, misses, hit ratio, used memory vs maxmemory, fragmentation, evicted "
        "and expired keys, connected clients (Redis INFO), with advice when the hit ratio is "
        f"low (< {units.percent(commands.LOW_HIT_RATIO)} over at least "
        f"{commands.MIN_LOOKUPS_FOR_ADVICE} lookups) or evictions are high (>= "
        f"{units.percent(commands.HIGH_EVICTION_SHARE)} of the keys leaving Redis). Counters "
        "run since Redis started (or CONFIG RESETSTAT).",
        epilog=CONNECTION_HELP + EXIT_STATUSES,
        formatter_class=fmt,
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")

    k = sub.add_parser(
        "keys",
        parents=[conn],
        help="count and sample keys matching a pattern (SCAN, never KEYS)",
        description="Count the keys matching PATTERN and show a sample with their TTLs. Uses "
        "SCAN, which does a bounded amount of work per call; KEYS would block Redis (and every "
        "request of the app) until it has walked the whole keyspace.",
        epilog=CONNECTION_HELP + EXIT_STATUSES,
        formatter_class=fmt,
    )
    k.add_argument("pattern", metavar="PATTERN", help='glob-style pattern, e.g. "dashboard:*"')
    k.add_argument(
        "--limit",
        type=_int_range(0, 10_000),
        default=20,
        help="sampled keys to show, with TTL and type (default 20)",
    )
    k.add_argument(
        "--scan-count",
        type=_int_range(10, 100_000),
        default=1000,
        help="SCAN COUNT hint: slots visited per call (default 1000)",
    )
    k.add_argument("--json", action="store_true", help="machine-readable output")

    d = top.add_parser(
        "doctor",
        parents=[conn],
        help="check a target's Redis wiring, with the fix for each failure",
        description="Check, one line each: the app's settings, that REDIS_HOST is what the "
        "target needs, that it resolves, that the port accepts a connection, that Redis "
        "answers (AUTH, db), and that its live settings are a cache's: maxmemory-policy and "
        "maxmemory as expected (REDIS_EXPECTED_MAXMEMORY_POLICY / _BYTES, set from the stage "
        "config on every target), no RDB snapshots, no AOF. CONFIG renamed or denied: read "
        "from INFO where it has the value.",
        epilog="targets and the REDIS_HOST each needs:\n"
        + "".join(
            f"  {t.name:<8} {t.expected_host}{'*' if t.name == 'render' else ''}: {t.where}\n"
            for t in doctor.TARGETS.values()
        )
        + CONNECTION_HELP
        + f"exit status: {EXIT_OK} every check passed; {EXIT_PROBLEM} a check failed, was "
        f"skipped or could not be read; {EXIT_USAGE} bad flags.\n",
        formatter_class=fmt,
    )
    d.add_argument(
        "--target",
        required=True,
        choices=sorted(doctor.TARGETS),
        help="where the app runs: compose, ecs, render or local",
    )
    d.add_argument(
        "--expected-maxmemory-bytes",
        type=_int_range(0, 2**63 - 1),
        help="override REDIS_EXPECTED_MAXMEMORY_BYTES",
    )
    d.add_argument(
        "--expected-maxmemory-policy",
        choices=typing.get_args(MaxmemoryPolicy),
        metavar="POLICY",
        help="override REDIS_EXPECTED_MAXMEMORY_POLICY (e.g. allkeys-lru)",
    )
    d.add_argument("--json", action="store_true", help="machine-readable output")
    _identity_parsers(top, fmt)
    return parser


def _identity_parsers(top: Any, fmt: type[argparse.HelpFormatter]) -> None:
    user = _int_range(1, 2_147_483_647)
    t = top.add_parser(
        "token",
        help="mint a local access token (APP_STAGE=local only)",
        description="Print an access token of the local dev issuer for user N, signed with the "
        "key at AUTH_DEV_KEY_PATH (the file the local service trusts; created if missing). "
        "Its sub is dev-user-N, which the demo seed links to user N (others: link-user). "
        'Use: curl -H "Authorization: Bearer $(python -m service.ops token --user 1)" ...',
        formatter_class=fmt,
    )
    t.add_argument("--user", type=user, required=True, help="user id the token acts for")
    t.add_argument("--admin", action="store_true", help="add the admin group (any user)")
    t.add_argument("--sub", help="token sub instead of dev-user-N")
    t.add_argument(
        "--ttl", type=_int_range(60, 86_400), default=3600, help="lifetime in seconds (3600)"
    )
    link = top.add_parser(
        "link-user",
        help="let a Cognito sub act for a user",
        description=identity.__doc__,
        formatter_class=fmt,
    )
    link.add_argument("--sub", required=True, help="the `sub` claim of the user's tokens")
    link.add_argument("--user", type=user, required=True, help="user id it acts for")
    unlink = top.add_parser(
        "unlink-user", help="remove a sub's link", description=identity.__doc__, formatter_class=fmt
    )
    unlink.add_argument("--sub", required=True, help="the `sub` to unlink")


def _identity(args: argparse.Namespace) -> int:
    settings = identity.app_settings()
    if args.command == "token":
        print(
            identity.mint_local_token(
                settings, args.user, admin=args.admin, sub=args.sub, ttl_s=args.ttl
            )
        )
    elif args.command == "link-user":
        print(identity.link(settings, args.sub, args.user))
    else:
        print(identity.unlink(settings, args.sub))
    return EXIT_OK


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = {
        "host": "redis_host",
        "port": "redis_port",
        "db": "redis_db",
        "password": "redis_password",
        "expected_maxmemory_bytes": "redis_expected_maxmemory_bytes",
        "expected_maxmemory_policy": "redis_expected_maxmemory_policy",
    }
    return {
        field: getattr(args, flag)
        for flag, field in names.items()
        if getattr(args, flag, None) is not None
    }


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# ------------------------------------------------------------------------------------ cache


def _render_ping(ep: Endpoint, result: commands.PingResult) -> str:
    if len(result.rtts_s) == 1:
        rtt = f"round trip {units.millis(result.rtts_s[0])}"
    else:
        rtt = (
            f"round trip min {units.millis(result.min_s)} / avg {units.millis(result.avg_s)} / "
            f"max {units.millis(result.max_s)} over {len(result.rtts_s)} PINGs"
        )
    return (
        f"PONG from {ep.where} db {ep.db}: {rtt} "
        f"(connect + first PING {units.millis(result.connect_s)})"
    )


def _render_stats(ep: Endpoint, st: commands.CacheStats) -> str:
    rows: list[tuple[str, str]] = []
    rows.append(("hits", units.count(st.hits)))
    rows.append(("misses", units.count(st.misses)))
    ratio = st.hit_ratio
    if ratio is None:
        shown = "n/a (no lookups yet)"
    elif st.lookups < commands.MIN_LOOKUPS_FOR_ADVICE:
        shown = f"{units.percent(ratio)} (only {st.lookups} lookups: too few to judge)"
    else:
        shown = units.percent(ratio)
    rows.append(("hit ratio", shown))
    if st.maxmemory_bytes:
        memory = (
            f"{units.mib(st.used_memory_bytes)} of {units.mib(st.maxmemory_bytes)} maxmemory "
            f"({units.percent(st.memory_ratio or 0.0)})"
        )
    else:
        memory = f"{units.mib(st.used_memory_bytes)}, no maxmemory (unbounded)"
    rows.append(("used memory", f"{memory}, policy {st.maxmemory_policy}"))
    rows.append(
        (
            "fragmentation",
            f"{st.fragmentation_ratio:.2f} (RSS {units.mib(st.used_memory_rss_bytes)} / "
            f"used {units.mib(st.used_memory_bytes)})",
        )
    )
    rows.append(("evicted keys", units.count(st.evicted_keys)))
    rows.append(("expired keys", units.count(st.expired_keys)))
    rows.append(("connected clients", units.count(st.connected_clients)))
    rows.append(
        (
            f"keys in db {st.db}",
            f"{units.count(st.db_keys)} ({units.count(st.db_keys_with_ttl)} with a TTL)",
        )
    )
    advice = st.advice()
    if advice:
        rows += [("advice", line) for line in advice]
    else:
        rows.append(("advice", "none: hit ratio, evictions and memory look healthy"))
    head = (
        f"Redis {st.version} at {ep.where} db {st.db}, up {units.duration(st.uptime_s)} "
        "(counters since start or CONFIG RESETSTAT)"
    )
    return "\n".join([head, *(f"{name:<18} {value}" for name, value in rows)])


def _render_keys(ep: Endpoint, scan: commands.KeyScan, scan_count: int) -> str:
    lines = [
        f"SCAN MATCH {scan.pattern} COUNT {scan_count} on {ep.where} db {scan.db} "
        "(never KEYS: it blocks Redis)",
        f"{units.plural(scan.matched, 'key')} match, of {units.count(scan.db_keys)} in db "
        f"{scan.db} ({units.plural(scan.scan_calls, 'SCAN call')}, {scan.elapsed_s:.2f} s)",
    ]
    if scan.sample:
        lines.append(
            f"{'TTL':<12} {'TYPE':<7} KEY   (first {len(scan.sample)} of "
            f"{units.count(scan.matched)}; --limit {scan.limit})"
        )
        lines += [f"{units.ttl(k.ttl_ms):<12} {k.type:<7} {k.key}" for k in scan.sample]
        if scan.sample_without_ttl:
            lines.append(
                f"{scan.sample_without_ttl} of the {len(scan.sample)} sampled keys never expire: "
                "cache entries should always have a TTL (only eviction removes these)"
            )
    return "\n".join(lines)


def _cache(args: argparse.Namespace, ep: Endpoint) -> int:
    # Resolve first with a bound of our own: redis-py's name lookup has no timeout.
    resolve(ep.host, ep.port, ep.timeout_s)
    client = make_client(ep)
    try:
        if args.cache_command == "ping":
            result = commands.ping(client, args.count)
            if args.json:
                _print_json(
                    {
                        "host": ep.host,
                        "port": ep.port,
                        "db": ep.db,
                        "reply": "PONG",
                        "connect_ms": round(result.connect_s * 1000, 3),
                        "rtt_ms": [round(s * 1000, 3) for s in result.rtts_s],
                    }
                )
            else:
                print(_render_ping(ep, result))
        elif args.cache_command == "stats":
            st = commands.stats(client, ep.db)
            if args.json:
                _print_json({"host": ep.host, "port": ep.port, **st.as_dict()})
            else:
                print(_render_stats(ep, st))
        else:
            scan = commands.scan_keys(
                client, args.pattern, db=ep.db, limit=args.limit, scan_count=args.scan_count
            )
            if args.json:
                _print_json({"host": ep.host, "port": ep.port, **scan.as_dict()})
            else:
                print(_render_keys(ep, scan, args.scan_count))
    except (RedisError, OSError) as exc:
        raise explain(exc, ep) from exc
    finally:
        client.close()
    return EXIT_OK


# ----------------------------------------------------------------------------------- doctor


def _doctor(args: argparse.Namespace) -> int:
    target = doctor.TARGETS[args.target]
    try:
        settings, errors = load_settings(_overrides(args))
    except OpsError as exc:
        # Without valid REDIS_* settings there is nothing to connect to: report, skip the rest.
        checks = [
            doctor.Check(name="settings", status=doctor.Status.FAIL, detail=exc.what, fix=exc.fix),
            *doctor.skip_all(
                ("REDIS_HOST", "resolve", "connect", "redis", *doctor.LIVE_CHECKS), "settings"
            ),
        ]
        where = "(invalid settings)"
    else:
        checks = doctor.run(target, settings, errors, timeout_s=args.timeout)
        if settings.database_url is not None:
            checks.append(doctor.database_check(settings, args.timeout))
        ep = Endpoint.from_settings(settings, timeout_s=args.timeout)
        where = f"Redis at {ep.where} db {ep.db}"
    ok = all(c.status is doctor.Status.PASS for c in checks)
    if args.json:
        _print_json({"target": target.name, "ok": ok, "checks": [c.as_dict() for c in checks]})
        return EXIT_OK if ok else EXIT_PROBLEM
    print(f"doctor --target {target.name}: {where} ({target.where})")
    for check in checks:
        print(check.line())
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.status.value] = counts.get(check.status.value, 0) + 1
    summary = ", ".join(f"{n} {status.lower()}" for status, n in counts.items())
    if ok:
        print(f"{len(checks)} checks: all pass")
    else:
        print(f"{len(checks)} checks: {summary}; fix the FAIL lines first")
    return EXIT_OK if ok else EXIT_PROBLEM


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return _doctor(args)
        if args.command in ("token", "link-user", "unlink-user"):
            return _identity(args)
        settings, _unrelated = load_settings(_overrides(args))
        return _cache(args, Endpoint.from_settings(settings, timeout_s=args.timeout))
    except OpsError as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
