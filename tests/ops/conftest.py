"""Helpers for the ops tests: the CLI as a real process, a Redis set up like the design's,
the rehearsal's AWS emulator."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from infra.config import load_stage
from service.settings import Settings
from testkit.emulator import running_emulator
from testkit.forked import Preloader, Run
from testkit.servers import RedisServer

ROOT = Path(__file__).resolve().parents[2]
DEV = load_stage("dev")
# What every target gives the app (StageConfig.app_environment), minus REDIS_HOST/PORT,
# which each test points at its own redis-server.
EXPECTED_ENV = {
    "REDIS_EXPECTED_MAXMEMORY_BYTES": str(DEV.redis.maxmemory_bytes),
    "REDIS_EXPECTED_MAXMEMORY_POLICY": DEV.redis.maxmemory_policy,
}
# The sidecar's settings (RedisSettings.directives): maxmemory and policy; the fixture already
# runs every server with save "" and appendonly no.
DESIGN_DIRECTIVES: dict[str, object] = {
    "maxmemory": f"{DEV.redis.effective_maxmemory_mib}mb",
    "maxmemory_policy": DEV.redis.maxmemory_policy,
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any variable the app's settings read, plus `extra`."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(extra)
    return env


def redis_env(server: RedisServer, *, host: str = "localhost", **extra: str) -> dict[str, str]:
    """The environment the app has on a target, pointed at `server` (in the local stage,
    which needs no Cognito settings: the doctor's settings check would report them missing)."""
    values = {"APP_STAGE": "local", **extra}
    return clean_env(
        REDIS_HOST=host, REDIS_PORT=str(server.port), REDIS_DB="0", **EXPECTED_ENV, **values
    )


# Each run is a process forked from one that has imported the CLI (testkit/forked.py): the
# import is most of a run's cost. test_cli_process.py checks a fork answers as a new interpreter.
OPS_PRELOADER = Preloader(["service.ops.cli"])
atexit.register(OPS_PRELOADER.close)


def run_ops(*args: str, env: Mapping[str, str], timeout_s: float = 30.0) -> Run:
    """`python -m service.ops ARGS` as a real process: real exit status, real output."""
    return OPS_PRELOADER.run("service.ops", args, env=env, cwd=ROOT, timeout_s=timeout_s)


def run_ops_new_interpreter(*args: str, env: Mapping[str, str]) -> Run:
    """`python -m service.ops ARGS` in a new interpreter, imports and all."""
    proc = subprocess.run(
        [sys.executable, "-m", "service.ops", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def design_redis(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server configured like the sidecar on every target."""
    return redis_server_factory(**DESIGN_DIRECTIVES)


def image_manifest(name: str) -> str:
    """A distinct image manifest (a config digest of its own) as `docker push` sends it."""
    digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    layer = "sha256:" + hashlib.sha256(f"layer of {name}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 31_457_280,
                    "digest": layer,
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The rehearsal's AWS emulator on a free port; yields its endpoint URL."""
    with running_emulator(tmp_path_factory.mktemp("emulator")) as endpoint:
        yield endpoint
