"""Which Redis to talk to, how to connect, and what a failure means in one line.

The Redis is the one the app would use: `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`, `REDIS_PASSWORD`
read by the app's own settings class (same names, same validation), each overridable by a flag.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, BusyLoadingError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from service.settings import Settings, format_errors

# Exit statuses of every ops command (2 matches argparse and `python -m service`).
EXIT_OK = 0
EXIT_PROBLEM = 1  # Redis unreachable or refusing, or `doctor` found a problem
EXIT_USAGE = 2  # bad flags or invalid REDIS_* settings

# An operator command may wait longer than the app's request path (100-200 ms), but never hang:
# a dead or hung Redis must end the command within about this many seconds per step.
DEFAULT_TIMEOUT_S = 2.0

# The settings the ops commands read; errors in any other setting do not stop them.
REDIS_FIELDS = tuple(name for name in Settings.model_fields if name.startswith("redis_"))

DOCTOR_HINT = "`python -m service.ops doctor --target compose|ecs|render|local` checks the wiring"


class OpsError(Exception):
    """A problem the operator can act on: what went wrong and the fix, printed as one line."""

    def __init__(self, what: str, fix: str, *, exit_code: int = EXIT_PROBLEM) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.exit_code = exit_code

    def line(self) -> str:
        return f"{self.what}. Fix: {self.fix}"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    host: str
    port: int
    db: int
    password: str | None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_s: float) -> Endpoint:
        password = settings.redis_password
        return cls(
            host=settings.redis_host,
            port=settings.redis_port,
            db=settings.redis_db,
            password=None if password is None else password.get_secret_value(),
            timeout_s=timeout_s,
        )


class _InitOnlySettings(Settings):
    """The app's settings class reading only its keyword arguments (no environment)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(
    overrides: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> tuple[Settings, list[str]]:
    """The settings the app would read here, with `overrides` (from flags) taking precedence.

    Returns them with one line per invalid non-Redis setting: the cache commands ignore those,
    `doctor` reports them. An invalid Redis setting raises OpsError (exit status 2).
    """
    try:
        return Settings(**overrides), []  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        lines = format_errors(exc)
        redis_lines = [
            line
            for item, line in zip(errors, lines, strict=True)
            if str((item.get("loc") or ("?",))[0]) in REDIS_FIELDS
        ]
        if redis_lines:
            raise OpsError(
                "; ".join(redis_lines),
                "correct those environment variables (or pass --host/--port/--db)",
                exit_code=EXIT_USAGE,
            ) from None
        other = lines
    # Names are case-insensitive, as for the app (pydantic-settings lower-cases them).
    env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
    values: dict[str, Any] = {name: env[name] for name in REDIS_FIELDS if name in env}
    values.update(overrides)
    # Only the Redis fields of this object are read; the local stage keeps the other fields'
    # stage rules (Cognito settings, reported in `other` already) from failing it again.
    values["app_stage"] = "local"
    return _InitOnlySettings(**values), other


def make_client(ep: Endpoint) -> redis.Redis:
    """A synchronous client with short timeouts and no retries (a retry only hides the fault).

    It connects lazily, at its first command: creating it never fails.
    """
    return redis.Redis(
        host=ep.host,
        port=ep.port,
        db=ep.db,
        password=ep.password,
        socket_connect_timeout=ep.timeout_s,
        socket_timeout=ep.timeout_s,
        retry=Retry(NoBackoff(), 0),
        # RESP2 with plain AUTH: works on every Redis version and gives plain error replies.
        protocol=2,
        # No CLIENT SETINFO round trips: nothing here needs them.
        lib_name=None,
        lib_version=None,
    )


def resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """The addresses `host` resolves to, in the order a client tries them.

    getaddrinfo has no timeout of its own (a dead DNS server costs 5 s per attempt), so it runs
    in a daemon thread that is abandoned after `timeout_s` seconds.
    """
    found: list[tuple[Any, ...]] = []
    failed: list[OSError] = []

    def work() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name="ops-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise OpsError(
            f"resolving REDIS_HOST={host} took longer than {timeout_s:g} s",
            "check the DNS resolver of this host (/etc/resolv.conf), then REDIS_HOST",
        )
    if failed:
        reason = failed[0].strerror or str(failed[0])
        raise OpsError(
            f"REDIS_HOST={host} does not resolve ({reason})",
            f"check the name in REDIS_HOST; {DOCTOR_HINT}",
        )
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def tcp_connect(addresses: list[str], port: int, timeout_s: float) -> tuple[str, float]:
    """(address, seconds) of the first address that accepts a TCP connection on `port`."""
    last: OSError | None = None
    for address in addresses:
        started = time.perf_counter()
        try:
            with socket.create_connection((address, port), timeout=timeout_s):
                return address, time.perf_counter() - started
        except OSError as exc:
            last = exc
    assert last is not None, "no address to connect to"
    raise last


def first_reply(address: str, port: int, timeout_s: float) -> str | None:
    """The first line a Redis answers to a bare PING, or None.

    A Redis in protected mode answers `-DENIED ...` and closes the connection; client
    libraries report that in ways that lose the reply ("Connection not ready"), so the doctor
    asks the server directly when a failure has no clearer cause.
    """
    try:
        with socket.create_connection((address, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            data = sock.recv(512)
    except OSError:
        return None
    return data.split(b"\r\n", 1)[0].decode(errors="replace") or None


def denied(where: str, config_fix: str) -> OpsError:
    return OpsError(
        f"{where} refuses this client: DENIED (protected mode is on and Redis has no "
        "password, so it answers only loopback clients)",
        f"run Redis with `protected-mode no` (it is on a private network) or a password; "
        f"{config_fix}",
    )


def os_cause(exc: BaseException) -> OSError | None:
    """The socket error under a redis-py exception (redis-py wraps them in its own types)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def explain(exc: BaseException, ep: Endpoint) -> OpsError:
    """One actionable line for a failed Redis call (never a traceback)."""
    where = f"Redis at {ep.where}"
    message = str(exc)
    found = _explain_refusal(exc, ep) or _explain_connection(exc, ep)
    if found is not None:
        return found
    if isinstance(exc, ResponseError):
        return OpsError(
            f"{where} refused the command: {message}",
            "check that this Redis allows the command (ACL, rename-command) and its log",
        )
    if isinstance(exc, RedisError):
        return OpsError(f"{where}: {type(exc).__name__}: {message}", DOCTOR_HINT)
    return OpsError(f"{where}: unexpected {type(exc).__name__}: {message}", DOCTOR_HINT)


def _explain_refusal(exc: BaseException, ep: Endpoint) -> OpsError | None:
    """Redis answered, and refused: authentication, database, protected mode, loading."""
    where = f"Redis at {ep.where}"
    message = str(exc)
    if "without any password configured" in message:
        return OpsError(
            f"AUTH failed: REDIS_PASSWORD is set but {where} has no password",
            "unset REDIS_PASSWORD (or give Redis a password with requirepass)",
        )
    if isinstance(exc, AuthenticationError) or "NOAUTH" in message or "WRONGPASS" in message:
        if ep.password is None:
            return OpsError(
                f"AUTH failed: {where} requires a password and REDIS_PASSWORD is not set",
                "set REDIS_PASSWORD to the password Redis runs with (its requirepass)",
            )
        return OpsError(
            f"AUTH failed: {where} rejected REDIS_PASSWORD ({message.rstrip('.')})",
            "set REDIS_PASSWORD to the password Redis runs with (its requirepass), "
            "or unset it if Redis has none",
        )
    if "DB index is out of range" in message:
        return OpsError(
            f"REDIS_DB={ep.db} does not exist on {where} (DB index is out of range)",
            "set REDIS_DB to a database Redis has (0-15 with the default `databases 16`)",
        )
    if "protected mode" in message:
        return OpsError(
            f"{where} refuses non-loopback clients (protected mode, no password)",
            "run Redis with `protected-mode no` (it is on a private network) or a password",
        )
    if isinstance(exc, BusyLoadingError):
        return OpsError(
            f"{where} is still loading a dataset from disk",
            "wait, then check why it loads one: a cache runs with no RDB and no AOF",
        )
    return None


def _explain_connection(exc: BaseException, ep: Endpoint) -> OpsError | None:
    """Redis could not be reached: name, port, timeout, another socket error."""
    where = f"Redis at {ep.where}"
    cause = os_cause(exc)
    if isinstance(cause, socket.gaierror):
        return OpsError(
            f"REDIS_HOST={ep.host} does not resolve ({cause.strerror})",
            f"check the name in REDIS_HOST; {DOCTOR_HINT}",
        )
    if isinstance(cause, ConnectionRefusedError):
        return OpsError(
            f"nothing listens on {ep.where} (connection refused)",
            f"start Redis, or point REDIS_HOST/REDIS_PORT at it; {DOCTOR_HINT}",
        )
    if isinstance(exc, RedisTimeoutError | TimeoutError) or isinstance(cause, TimeoutError):
        return OpsError(
            f"{where} did not answer within {ep.timeout_s:g} s",
            "check that Redis runs and is not stuck (a paused or overloaded process, a "
            "firewall or security group dropping packets); raise --timeout for a slow link",
        )
    if cause is not None:
        reason = cause.strerror or str(cause)
        return OpsError(
            f"cannot connect to {where}: {reason}",
            f"check REDIS_HOST/REDIS_PORT and the network; {DOCTOR_HINT}",
        )
    return None
