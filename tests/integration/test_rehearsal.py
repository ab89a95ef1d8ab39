"""`make up` / `make down` end to end: emulator, real CDK CLI bootstrap + deploy, verification,
redis-server with the sidecar's settings and the service answering MISS then HIT."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.config import service_stack_name
from tools.rehearsal.processes import ProcessRegistry, free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration]


def require_redis() -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def rehearsal_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    require_redis()
    env = {
        **os.environ,
        "RUN_DIR": str(tmp_path / "run"),
        # These tests check the process runtime; tests/containers runs RUNTIME=containers.
        "RUNTIME": "processes",
        "AWS_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "APP_PORT": str(free_port()),
    }
    env.pop("SET", None)
    yield env
    # Whatever happened, leave nothing running.
    subprocess.run(
        [sys.executable, "-m", "tools.rehearsal", "down"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )


def make(target: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def rehearsal(cmd: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.rehearsal", cmd, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def redis_config(port: str, key: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", port, "config", "get", key], capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    return lines[1] if len(lines) > 1 else ""


def deployed_redis_command(run_dir: Path) -> list[str]:
    import boto3

    endpoint = json.loads((run_dir / "state.json").read_text())["endpoint"]
    ecs = boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    td = ecs.describe_task_definition(taskDefinition="fyntrix-app-dev")["taskDefinition"]
    redis = next(c for c in td["containerDefinitions"] if c["name"] == "redis")
    command: list[str] = redis["command"]
    return command


def assert_all_checks_pass(run_dir: Path, stdout: str) -> None:
    checks = json.loads((run_dir / "verify.json").read_text())
    assert len(checks) >= 20
    assert [c["name"] for c in checks if not c["ok"]] == []
    assert " 0 failed" in stdout
    assert "FAIL " not in stdout


@pytest.mark.weight(40)
def test_up_update_and_down(rehearsal_env: dict[str, str]) -> None:
    env = rehearsal_env
    run_dir = Path(env["RUN_DIR"])
    reg = ProcessRegistry(run_dir)

    # GIVEN nothing running WHEN `make up`
    first = make("up", env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    # THEN every check passes and the service answers MISS then HIT from the sidecar's Redis
    assert_all_checks_pass(run_dir, first.stdout)
    assert "created" in first.stdout
    # AND the alarms, composite, topic, dashboard and Fyntrix-CI are in the emulator
    names = {c["name"] for c in json.loads((run_dir / "verify.json").read_text())}
    assert {
        "alarms: every alarm and threshold",
        "alarms: composite service-unhealthy",
        "alarm topic: KMS-encrypted",
        "dashboard: graphs with thresholds",
        "ci: GitHub OIDC provider",
        "ci: deploy role trust (branch, prod environment)",
    } <= names
    assert "Fyntrix-CI" in first.stdout
    assert "X-Cache: MISS, then HIT" in first.stdout
    assert "without a token -> 401" in first.stdout
    assert "/api/portfolio/2 -> 403" in first.stdout
    # AND the service's EMF records, flushed to its stdout, are valid and count those reads
    assert "records in Fyntrix/Service: portfolio HIT 1, MISS 1; schema valid" in first.stdout
    assert all(reg.running(n) for n in ("emulator", "redis", "service"))
    assert redis_config(env["REDIS_PORT"], "maxmemory") == str(192 * 1024 * 1024)
    assert redis_config(env["REDIS_PORT"], "maxmemory-policy") == "allkeys-lru"
    assert redis_config(env["REDIS_PORT"], "appendonly") == "no"
    assert redis_config(env["REDIS_PORT"], "save") == ""  # no RDB snapshots
    emulator_pid = reg.running("emulator").pid  # type: ignore[union-attr]

    # WHEN `make up` again with a changed setting THEN it goes through as a stack update
    second = make("up", env, "SET=redis.maxmemory_mib=150")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    assert_all_checks_pass(run_dir, second.stdout)
    # (the restarted service's own records: the earlier run's lines are not counted again)
    assert "portfolio HIT 1, MISS 1; schema valid" in second.stdout
    assert f"{service_stack_name('dev')} updated" in second.stdout
    assert reg.running("emulator").pid == emulator_pid  # type: ignore[union-attr]
    assert "150mb" in deployed_redis_command(run_dir)
    assert redis_config(env["REDIS_PORT"], "maxmemory") == str(150 * 1024 * 1024)

    # WHEN `make down` THEN nothing it started is left running, and the ports are free
    pids = [reg.get(n).pid for n in ("emulator", "redis", "service")]  # type: ignore[union-attr]
    down = make("down", env)
    assert down.returncode == 0
    assert "stopped: service, redis, emulator" in down.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    for key in ("AWS_PORT", "REDIS_PORT", "APP_PORT"):
        assert port_is_free(int(env[key])), key
    assert "nothing to stop" in make("down", env).stdout


# What `make up` after `make down` meets is nothing running, as here: its own test, so the
# three deploys spread over the workers instead of queueing in one test.
@pytest.mark.weight(20)
def test_up_from_nothing_with_other_settings_deploys_them(rehearsal_env: dict[str, str]) -> None:
    env = rehearsal_env
    run_dir = Path(env["RUN_DIR"])
    fresh = make("up", env, "SET=redis.memory_mib=512 task_memory_mib=2048")
    assert fresh.returncode == 0, fresh.stdout[-3000:] + fresh.stderr
    assert_all_checks_pass(run_dir, fresh.stdout)
    assert "created" in fresh.stdout
    assert "384mb" in deployed_redis_command(run_dir)  # 75 % of 512 MiB
    assert redis_config(env["REDIS_PORT"], "maxmemory") == str(384 * 1024 * 1024)


@pytest.mark.weight(2)  # fails before the deploy
def test_port_taken_fails_clearly_and_starts_nothing(rehearsal_env: dict[str, str]) -> None:
    env = rehearsal_env
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(env["REDIS_PORT"])))
        blocker.listen()
        result = rehearsal("up", env)
    assert result.returncode == 1
    assert f"port {env['REDIS_PORT']} for the Redis sidecar is taken" in result.stderr
    assert "REDIS_PORT=<port>" in result.stderr
    reg = ProcessRegistry(Path(env["RUN_DIR"]))
    assert not any(reg.running(n) for n in ("emulator", "redis", "service"))


@pytest.mark.weight(2)  # fails before the deploy
def test_missing_redis_server_says_how_to_install(rehearsal_env: dict[str, str]) -> None:
    env = {**rehearsal_env, "PATH": str(ROOT / ".venv" / "bin")}
    result = rehearsal("up", env)
    assert result.returncode == 1
    assert "redis-server is not installed" in result.stderr
    assert "apt-get install -y redis-server" in result.stderr


@pytest.mark.weight(2)  # fails before the deploy
def test_invalid_setting_fails_before_starting_anything(rehearsal_env: dict[str, str]) -> None:
    result = rehearsal("up", rehearsal_env, "--set", "redis.maxmemory_mib=250")
    assert result.returncode == 2
    assert "invalid setting `redis.maxmemory_mib`" in result.stderr
    assert not (Path(rehearsal_env["RUN_DIR"]) / "emulator.pid").exists()


@pytest.mark.weight(40)
def test_prod_rehearses_https_waf_and_cognito(rehearsal_env: dict[str, str]) -> None:
    # GIVEN no certificate configured WHEN `make up STAGE=prod`
    env = {**rehearsal_env, "STAGE": "prod"}
    result = rehearsal("up", env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_dir = Path(env["RUN_DIR"])
    # THEN the emulator's ACM issued a certificate for the placeholder domain and prod
    # deployed with it: HTTPS with the TLS 1.3 policy, 80 redirecting, the web ACL attached
    assert "ACM certificate for api.fyntrix.example" in result.stdout
    assert_all_checks_pass(run_dir, result.stdout)
    checks = {c["name"]: c for c in json.loads((run_dir / "verify.json").read_text())}
    assert "ELBSecurityPolicy-TLS13-1-2-2021-06" in checks["edge: TLS"]["detail"]
    assert "/metrics" in checks["edge: only /api/* and /health reach the app"]["detail"]
    assert "4 rules" in checks["edge: WAF web ACL, rate limit, encrypted logs"]["detail"]
    # AND the demo user signed in through Cognito and the service enforced it
    assert "demo user signed in (password + authenticator code)" in result.stdout
    assert "without a token -> 401" in result.stdout
    assert "X-Cache: MISS, then HIT; /api/portfolio/2 -> 403" in result.stdout


@pytest.mark.weight(20)
def test_a_certificate_the_emulator_does_not_know_fails_the_deploy(
    rehearsal_env: dict[str, str],
) -> None:
    unknown = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    env = {**rehearsal_env, "STAGE": "prod"}
    result = rehearsal("up", env, "--set", f"certificate_arn={unknown}")
    assert result.returncode == 1
    assert "CertificateNotFound" in result.stderr
    reg = ProcessRegistry(Path(env["RUN_DIR"]))
    assert not any(reg.running(n) for n in ("emulator", "redis", "service"))
