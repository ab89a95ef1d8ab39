"""Background processes of the rehearsal: start, track by pid file, stop exactly those."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class RehearsalError(RuntimeError):
    """A failure the operator can act on; the message says what and how."""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, from /proc (identifies it beyond
    its pid, which the kernel may reuse once it exits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ")".
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True, kw_only=True)
class Tracked:
    name: str
    pid: int
    start_ticks: int | None

    def alive(self) -> bool:
        ticks = _start_ticks(self.pid)
        return ticks is not None and ticks == self.start_ticks


class ProcessRegistry:
    """Pid files in the run directory: one JSON file per process `make up` started."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def get(self, name: str) -> Tracked | None:
        path = self._path(name)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return Tracked(name=name, pid=int(data["pid"]), start_ticks=data.get("start_ticks"))

    def running(self, name: str) -> Tracked | None:
        tracked = self.get(name)
        return tracked if tracked and tracked.alive() else None

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
    ) -> Tracked:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (self.run_dir / f"{name}.log").open("ab")
        # A session of its own: `down` can signal the whole process group, and Ctrl-C in the
        # terminal that ran `make up` does not reach it.
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        tracked = Tracked(name=name, pid=proc.pid, start_ticks=_start_ticks(proc.pid))
        self._path(name).write_text(
            json.dumps({"pid": tracked.pid, "start_ticks": tracked.start_ticks, "argv": argv})
        )
        return tracked

    def stop(self, name: str, *, timeout_s: float = 10.0) -> bool:
        """SIGTERM the process group, SIGKILL after `timeout_s`. True if something stopped."""
        tracked = self.get(name)
        self._path(name).unlink(missing_ok=True)
        if tracked is None or not tracked.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tracked.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not tracked.alive() or _is_zombie(tracked.pid):
                return True
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tracked.pid, signal.SIGKILL)
        return True

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.run_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_free_port(port: int, what: str, setting: str) -> None:
    if not port_is_free(port):
        raise RehearsalError(
            f"port {port} for the {what} is taken by another process. "
            f"Stop that process (e.g. `ss -ltnp 'sport = :{port}'` shows it) or choose another "
            f"port with {setting}=<port>."
        )


def wait_until(
    check: Callable[[], bool], *, timeout_s: float, what: str, on_timeout: Callable[[], str]
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise RehearsalError(f"{what} did not answer within {timeout_s:.0f} s.\n{on_timeout()}")


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (loopback URL we built)
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_get(
    url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback URL we built)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 (loopback URL we built)
            return int(resp.status), {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
