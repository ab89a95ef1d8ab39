"""The Docker engine the container tooling talks to: found, or started and stopped by us.

Order: `DOCKER_HOST` when set (the user chose it) -> our own daemon under the run folder when it
already answers -> the system's default socket when it answers -> as root with Debian's
`dockerd`, a daemon of our own (vfs storage, data root and socket under the run folder, so it
touches nothing of the machine's) that `stop_own_engine` stops again. Anything else is one line
saying how to get an engine.

Driven through the Docker SDK for Python; only `dockerd` itself is a process we start.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

# How long a freshly started dockerd may take to answer /_ping, in seconds.
_START_TIMEOUT_S = 60.0
# dockerd stops its containers on SIGTERM; give it that long before SIGKILL, in seconds.
_STOP_TIMEOUT_S = 30.0
# A unix socket path longer than this does not fit sockaddr_un (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100
_SYSTEM_SOCKET = Path("/var/run/docker.sock")
# Builds of both images take minutes on vfs; API calls wait that long for an answer.
API_TIMEOUT_S = 900


class EngineError(RuntimeError):
    """No Docker engine: the message is one line saying what to do."""


@dataclass(frozen=True, kw_only=True)
class Engine:
    client: docker.DockerClient
    base_url: str
    # "own" (our dockerd under the run folder), "env" (DOCKER_HOST) or "system".
    kind: str
    started_now: bool

    def describe(self) -> str:
        origin = {
            "own": "the tooling's own dockerd (vfs)",
            "env": "DOCKER_HOST",
            "system": "the system's Docker engine",
        }[self.kind]
        version = self.client.version().get("Version", "?")
        return f"Docker {version} at {self.base_url} ({origin})"


@dataclass(frozen=True)
class OwnDaemon:
    """Where our dockerd keeps its files: everything under `<run dir>/docker`."""

    run_dir: Path

    @property
    def home(self) -> Path:
        return self.run_dir / "docker"

    @property
    def exec_root(self) -> Path:
        # containerd's sockets live under the exec root: keep it short when the run folder
        # is deep (CI clones), in /run, named after the run folder.
        candidate = self.home / "exec"
        if len(str(candidate / "containerd" / "containerd-debug.sock")) <= _MAX_SOCKET_PATH:
            return candidate
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path("/run") / f"fyntrix-docker-{digest}"

    @property
    def socket(self) -> Path:
        return self.home / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.home / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.home / "dockerd.log"

    def pid(self) -> int | None:
        """The pid of our dockerd when it runs (checked against its command line)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        ours = Path(cmdline[0].decode()).name == "dockerd" and str(
            self.socket
        ).encode() in b"".join(cmdline)
        return pid if ours else None


def _answers(base_url: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=base_url, timeout=API_TIMEOUT_S)
        client.ping()
    except (DockerException, OSError):
        return None
    return client


def find_engine(run_dir: Path, environ: dict[str, str] | None = None) -> Engine | None:
    """An engine that answers now, without starting one. Raises for a dead DOCKER_HOST."""
    env = dict(os.environ) if environ is None else environ
    chosen = env.get("DOCKER_HOST")
    if chosen:
        client = _answers(chosen)
        if client is None:
            raise EngineError(
                f"DOCKER_HOST={chosen} does not answer: start that engine, or unset DOCKER_HOST "
                "to let the tooling find or start one"
            )
        return Engine(client=client, base_url=chosen, kind="env", started_now=False)
    own = OwnDaemon(run_dir)
    if own.socket.exists() and (client := _answers(own.base_url)) is not None:
        return Engine(client=client, base_url=own.base_url, kind="own", started_now=False)
    system = f"unix://{_SYSTEM_SOCKET}"
    if _SYSTEM_SOCKET.exists() and (client := _answers(system)) is not None:
        return Engine(client=client, base_url=system, kind="system", started_now=False)
    return None


def can_start_engine() -> bool:
    return os.geteuid() == 0 and shutil.which("dockerd") is not None


def ensure_engine(run_dir: Path, environ: dict[str, str] | None = None) -> Engine:
    """The engine to use; starts our own dockerd where none answers and we may."""
    found = find_engine(run_dir, environ)
    if found is not None:
        return found
    if not can_start_engine():
        raise EngineError(
            "no Docker engine answers: start one (Docker Desktop, or `sudo systemctl start "
            "docker`), set DOCKER_HOST, or run as root with Debian's dockerd "
            "(`make system-deps` installs docker.io); RUNTIME=processes needs none"
        )
    return _start_own(OwnDaemon(run_dir))


def _start_own(own: OwnDaemon) -> Engine:
    own.home.mkdir(parents=True, exist_ok=True)
    own.socket.unlink(missing_ok=True)
    argv = [
        shutil.which("dockerd") or "dockerd",
        "--data-root",
        str(own.home / "root"),
        "--exec-root",
        str(own.exec_root),
        "-H",
        own.base_url,
        "--pidfile",
        str(own.pidfile),
        # vfs: plain directory copies, no overlay mounts needed (works inside containers).
        "--storage-driver",
        "vfs",
    ]
    with own.log.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(
                f"dockerd exited at start (exit {proc.returncode}); its log: {own.log}: "
                f"{_last_line(own.log)}"
            )
        if own.socket.exists() and (client := _answers(own.base_url)) is not None:
            return Engine(client=client, base_url=own.base_url, kind="own", started_now=True)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    raise EngineError(f"dockerd did not answer within {_START_TIMEOUT_S:.0f} s; see {own.log}")


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(empty)"


def stop_own_engine(run_dir: Path) -> bool:
    """Stop the dockerd we started under `run_dir`. True if one was running."""
    own = OwnDaemon(run_dir)
    pid = own.pid()
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if _zombie(pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    own.socket.unlink(missing_ok=True)
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
