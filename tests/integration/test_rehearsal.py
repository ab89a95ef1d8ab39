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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_stage, service_stack_name
from testkit.pasted import printed_commands, run_pasted
from tools.rehearsal.cli import PASTE_HEADER
from tools.rehearsal.processes import ProcessRegistry, free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration]


def require_redis() -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def rehearsal_environment(folder: Path) -> dict[str, str]:
    require_redis()
    env = {
        **os.environ,
        "RUN_DIR": str(folder / "run"),
        # These tests check the process runtime; tests/containers runs RUNTIME=containers.
        "RUNTIME": "processes",
        "AWS_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "APP_PORT": str(free_port()),
    }
    env.pop("SET", None)
    return env


def stop_everything(env: dict[str, str]) -> None:
    """Whatever happened, leave nothing running."""
    subprocess.run(
        [sys.executable, "-m", "tools.rehearsal", "down"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )


@pytest.fixture
def rehearsal_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = rehearsal_environment(tmp_path)
    yield env
    stop_everything(env)


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
    family = load_stage("dev").task_family
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    redis = next(c for c in td["containerDefinitions"] if c["name"] == "redis")
    command: list[str] = redis["command"]
    return command


def verify_checks(run_dir: Path) -> list[dict[str, Any]]:
    """The checks the last `make up` wrote (each run writes the file anew)."""
    checks: list[dict[str, Any]] = json.loads((run_dir / "verify.json").read_text())
    return checks


def assert_all_checks_pass(run_dir: Path, stdout: str) -> None:
    assert_checks_pass(verify_checks(run_dir), stdout)


def assert_checks_pass(checks: list[dict[str, Any]], stdout: str) -> None:
    assert len(checks) >= 20
    assert [c["name"] for c in checks if not c["ok"]] == []
    assert " 0 failed" in stdout
    assert "FAIL " not in stdout


REDIS_KEYS = ("maxmemory", "maxmemory-policy", "appendonly", "save")
PORT_KEYS = ("AWS_PORT", "REDIS_PORT", "APP_PORT")


@dataclass
class UpUpdateDown:
    """One rehearsal, start to end, and what was read between its steps: `make up` from
    nothing with other settings, `make up` again with another change (an update), `make
    down`, `make down` again. No step runs after a failed one."""

    env: dict[str, str]
    first: subprocess.CompletedProcess[str]
    first_checks: list[dict[str, Any]] = field(default_factory=list)
    first_redis: dict[str, str] = field(default_factory=dict)
    first_command: list[str] = field(default_factory=list)
    first_running: dict[str, bool] = field(default_factory=dict)
    second: subprocess.CompletedProcess[str] | None = None
    second_checks: list[dict[str, Any]] = field(default_factory=list)
    second_command: list[str] = field(default_factory=list)
    second_maxmemory: str = ""
    emulator_pids: list[int] = field(default_factory=list)
    # The commands the second `make up` printed, and their run as pasted into a new shell.
    pasted_commands: list[str] = field(default_factory=list)
    pasted: subprocess.CompletedProcess[str] | None = None
    stopped_pids: list[int] = field(default_factory=list)
    down: subprocess.CompletedProcess[str] | None = None
    ports_free_after_down: dict[str, bool] = field(default_factory=dict)
    down_again: subprocess.CompletedProcess[str] | None = None


def _pid(reg: ProcessRegistry, name: str) -> int:
    found = reg.get(name)
    assert found is not None, name
    return found.pid


def _rehearse_up_update_down(env: dict[str, str]) -> UpUpdateDown:
    run_dir = Path(env["RUN_DIR"])
    reg = ProcessRegistry(run_dir)
    run = UpUpdateDown(env, make("up", env, "SET=redis.memory_mib=512 task_memory_mib=2048"))
    if run.first.returncode != 0:
        return run
    run.first_checks = verify_checks(run_dir)
    run.first_redis = {key: redis_config(env["REDIS_PORT"], key) for key in REDIS_KEYS}
    run.first_command = deployed_redis_command(run_dir)
    run.first_running = {n: bool(reg.running(n)) for n in ("emulator", "redis", "service")}
    run.emulator_pids = [_pid(reg, "emulator")]
    run.second = make("up", env, "SET=redis.maxmemory_mib=150")
    if run.second.returncode != 0:
        return run
    run.second_checks = verify_checks(run_dir)
    run.second_command = deployed_redis_command(run_dir)
    run.second_maxmemory = redis_config(env["REDIS_PORT"], "maxmemory")
    run.emulator_pids.append(_pid(reg, "emulator"))
    run.pasted_commands = printed_commands(run.second.stdout, PASTE_HEADER)
    run.pasted = run_pasted(run.pasted_commands)
    run.stopped_pids = [_pid(reg, n) for n in ("emulator", "redis", "service")]
    # The printed way to stop, pasted as printed (it names this run's folder).
    stop_line = run.second.stdout.split("Stop everything with: ", 1)[1].splitlines()[0]
    run.down = run_pasted([stop_line])
    run.ports_free_after_down = {key: port_is_free(int(env[key])) for key in PORT_KEYS}
    run.down_again = make("down", env)
    return run


@pytest.fixture(scope="module")
def up_update_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpUpdateDown]:
    """The two tests below assert different things about this one rehearsal (one
    `xdist_group` keeps them on one worker): each `make up` from nothing costs a deploy of
    its own (a CLI synth with both nag packs, bootstrap, the emulator's work), about a tenth
    of the suite's CPU time."""
    env = rehearsal_environment(tmp_path_factory.mktemp("rehearsal"))
    try:
        yield _rehearse_up_update_down(env)
    finally:
        stop_everything(env)


@pytest.mark.xdist_group("rehearsal_up_update_down")
def test_up_from_nothing_with_other_settings_deploys_them(up_update_down: UpUpdateDown) -> None:
    # GIVEN nothing running WHEN `make up SET="redis.memory_mib=512 task_memory_mib=2048"`
    first = up_update_down.first
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    # THEN the stacks are created, every check passes, and the settings reach the task
    # definition and the running Redis (maxmemory: 75 % of 512 MiB)
    assert "created" in first.stdout
    assert_checks_pass(up_update_down.first_checks, first.stdout)
    assert "384mb" in up_update_down.first_command
    assert up_update_down.first_redis["maxmemory"] == str(384 * 1024 * 1024)


@pytest.mark.xdist_group("rehearsal_up_update_down")
def test_up_update_and_down(up_update_down: UpUpdateDown) -> None:
    run = up_update_down
    first = run.first
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    # GIVEN the first `make up` (above): the service answered MISS then HIT from the
    # sidecar's Redis, and the alarms, composite, topic, dashboard and Fyntrix-CI are in the
    # emulator
    names = {c["name"] for c in run.first_checks}
    assert {
        "alarms: every alarm and threshold",
        "alarms: composite service-unhealthy",
        "alarm topic: KMS-encrypted",
        "dashboard: graphs with thresholds",
        "ci: GitHub OIDC provider",
        "ci: one role per job kind, one subject each",
        "ci: deploy role permissions",
        "ci: diff role reads only this project's templates",
    } <= names
    assert "Fyntrix-CI" in first.stdout
    assert "X-Cache: MISS, then HIT" in first.stdout
    assert "without a token -> 401" in first.stdout
    assert "/api/portfolio/2 -> 403" in first.stdout
    # AND the service's EMF records, flushed to its stdout, are valid and count those reads
    assert "records in Fyntrix/Service: portfolio HIT 1, MISS 1; schema valid" in first.stdout
    assert run.first_running == {"emulator": True, "redis": True, "service": True}
    # AND Redis is the bounded cache the stage describes: LRU, no AOF, no RDB snapshots
    assert run.first_redis["maxmemory-policy"] == "allkeys-lru"
    assert run.first_redis["appendonly"] == "no"
    assert run.first_redis["save"] == ""

    # WHEN `make up` again with a changed setting THEN it goes through as a stack update
    second = run.second
    assert second is not None and second.returncode == 0, second and (
        second.stdout[-3000:] + second.stderr
    )
    assert_checks_pass(run.second_checks, second.stdout)
    # (the restarted service's own records: the earlier run's lines are not counted again)
    assert "portfolio HIT 1, MISS 1; schema valid" in second.stdout
    assert f"{service_stack_name('dev')} updated" in second.stdout
    assert run.emulator_pids[0] == run.emulator_pids[1]
    assert "150mb" in run.second_command
    assert run.second_maxmemory == str(150 * 1024 * 1024)

    # AND every command the summary prints works pasted as printed into a new shell, whatever
    # AWS CLI its PATH has or lacks: the project's CLI describes the service, the service
    # answers the token the printed command got, and Redis answers redis-cli
    assert [c.split()[0] for c in run.pasted_commands] == [
        "export",
        ".venv/bin/python",
        "TOKEN=$(.venv/bin/python",
        "curl",
        "redis-cli",
    ]
    assert run.pasted_commands[1].startswith(".venv/bin/python -m awscli --endpoint-url ")
    pasted = run.pasted
    assert pasted is not None and pasted.returncode == 0, pasted and (
        pasted.stdout[-2000:] + pasted.stderr[-2000:]
    )
    assert '"ACTIVE"' in pasted.stdout
    assert "HTTP/1.1 200 OK" in pasted.stdout and "x-cache: " in pasted.stdout.lower()
    assert "used_memory:" in pasted.stdout

    # WHEN the printed `make down` THEN nothing it started is left running, and the ports
    # are free
    down = run.down
    assert down is not None and down.returncode == 0
    assert "stopped: service, redis, emulator" in down.stdout
    for pid in run.stopped_pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert run.ports_free_after_down == dict.fromkeys(PORT_KEYS, True)
    assert run.down_again is not None and "nothing to stop" in run.down_again.stdout


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


def test_missing_redis_server_says_how_to_install(rehearsal_env: dict[str, str]) -> None:
    env = {**rehearsal_env, "PATH": str(ROOT / ".venv" / "bin")}
    result = rehearsal("up", env)
    assert result.returncode == 1
    assert "redis-server is not installed" in result.stderr
    assert "apt-get install -y redis-server" in result.stderr


def test_invalid_setting_fails_before_starting_anything(rehearsal_env: dict[str, str]) -> None:
    result = rehearsal("up", rehearsal_env, "--set", "redis.maxmemory_mib=250")
    assert result.returncode == 2
    assert "invalid setting `redis.maxmemory_mib`" in result.stderr
    assert not (Path(rehearsal_env["RUN_DIR"]) / "emulator.pid").exists()


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
    # AND the ServiceUrl output is the domain, whose alias record in the emulator's zone points
    # at the load balancer; the app client signs in with SRP only; the tier is Plus
    domain = checks["edge: ServiceUrl and the domain's alias record"]["detail"]
    assert "ServiceUrl https://api.fyntrix.example; api.fyntrix.example. A alias" in domain
    flows = checks["auth: app client SRP only, no OAuth"]["detail"]
    assert "ALLOW_USER_PASSWORD_AUTH" not in flows and "ALLOW_USER_SRP_AUTH" in flows
    assert "Cognito PLUS" in checks["cost: capacity providers, Cognito plan"]["detail"]
    # AND the demo user signed in through Cognito and the service enforced it
    assert "demo user signed in (SRP + authenticator code)" in result.stdout
    assert "without a token -> 401" in result.stdout
    assert "X-Cache: MISS, then HIT; /api/portfolio/2 -> 403" in result.stdout


def test_a_certificate_the_emulator_does_not_know_fails_the_deploy(
    rehearsal_env: dict[str, str],
) -> None:
    unknown = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    env = {**rehearsal_env, "STAGE": "prod"}
    tls = ("--set", f"certificate_arn={unknown}", "--set", "domain_name=api.fyntrix.example")
    result = rehearsal("up", env, *tls)
    assert result.returncode == 1
    assert "CertificateNotFound" in result.stderr
    reg = ProcessRegistry(Path(env["RUN_DIR"]))
    assert not any(reg.running(n) for n in ("emulator", "redis", "service"))
