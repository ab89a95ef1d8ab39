"""Helpers for the ops tests: the CLI as a real subprocess, a Redis set up like the design's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.config import load_stage
from service.settings import Settings
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


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def run_ops(*args: str, env: Mapping[str, str], timeout_s: float = 30.0) -> Result:
    """`python -m service.ops ARGS` as a real process: real exit status, real output."""
    proc = subprocess.run(
        [sys.executable, "-m", "service.ops", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def design_redis(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    """A redis-server configured like the sidecar on every target."""
    return redis_server_factory(**DESIGN_DIRECTIVES)
