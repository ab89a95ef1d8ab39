"""`make up` / `make down`: rehearse the AWS deployment locally, no AWS account.

up:   local AWS emulator -> real `cdk bootstrap` + `cdk deploy --all` (pinned CLI) -> verify via
      the AWS APIs and the template -> with RECREATE=1, `cdk destroy` the service stack, deploy
      it again on the same emulator and verify again (tools/rehearsal/recreate.py) -> then, by
      RUNTIME:
      containers (default where a Docker engine answers or can be started): both images built,
      the deployed task definition run as real containers with Fargate's semantics
      (tools/rehearsal/containers.py);
      processes: redis-server with the sidecar's exact settings and the service
      (`python -m service`) with the ECS environment -> first request MISS, second HIT.
down: stops exactly what `up` started (pid files with process start times; the task's
      containers, network and volumes by its label; the engine if the tooling started it).

What it proves: the templates deploy through the same CLI, bootstrap stack, asset publishing
and change sets as a real deploy, and the deployed resources carry the intended settings.
What it does not: the emulator itself does not run containers, pull images or route traffic.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import (
    CI_STACK_NAME,
    REGISTRY_STACK_NAME,
    ConfigError,
    StageConfig,
    StageFile,
    load_configured_stage,
)
from infra.task_design import ECS_REDIS_BIND
from service.secrets_env import SECRETS_JSON_ENV
from tools.containers.task import TASK_LABEL
from tools.rehearsal import containers, release
from tools.rehearsal.cognito import SignedIn, ensure_demo_user, sign_in
from tools.rehearsal.emf_check import FLUSH_INTERVAL_S, check_emf
from tools.rehearsal.processes import (
    ProcessRegistry,
    RehearsalError,
    Tracked,
    free_port,
    http_get,
    http_ok,
    require_free_port,
    wait_until,
)
from tools.rehearsal.recreate import destroy_and_redeploy
from tools.rehearsal.verify import Check, format_table, verify
from tools.release import ReleaseError
from tools.stack_outputs import DeployedNames

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # the emulator's default account
EMULATOR, REDIS, SERVICE, CONTAINERS = "emulator", "redis", "service", "containers"
# A domain nobody owns (RFC 2606): the emulator's ACM issues a certificate for it and its
# Route 53 holds the zone, so prod rehearses its HTTPS listener and alias record without one.
REHEARSAL_ZONE = "fyntrix.example"
REHEARSAL_DOMAIN = f"api.{REHEARSAL_ZONE}"
# Dummy credentials: the emulator accepts any; they can never reach a real account because
# every call goes to AWS_ENDPOINT_URL on loopback.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REHEARSAL_REPOSITORY = "rehearsal/fyntrix"
# The line above the summary's commands (tests run what follows it exactly as printed).
PASTE_HEADER = "Try it (paste into a shell in this folder):"
# awscli's `aws` script names its interpreter in a shebang, which breaks in a clone whose path
# has a space; the module runs anywhere.
VENV_AWS = ".venv/bin/python -m awscli"


@dataclass(frozen=True, kw_only=True)
class Options:
    stage: str = "dev"
    stage_file: Path | None = None  # None: stages/<stage>.toml
    overrides: dict[str, str] = field(default_factory=dict)
    image_tag: str | None = None  # None: named after the images built (release.release_tag)
    aws_port: int | None = None
    redis_port: int = 6379
    app_port: int = 8000
    run_dir: Path = ROOT / ".run"
    runtime: str = "auto"  # auto | containers | processes
    # After the first verify: destroy the service stack, deploy it again, verify again.
    recreate: bool = False


@dataclass
class Timer:
    phases: list[tuple[str, float]] = field(default_factory=list)
    start: float = field(default_factory=time.monotonic)

    def mark(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.phases.append((name, now - since))
        return now


def _say(step: str, message: str) -> None:
    print(f"[{step}] {message}", flush=True)


def _tool_env(endpoint: str, region: str) -> dict[str, str]:
    env = {
        **os.environ,
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "CDK_DISABLE_VERSION_CHECK": "1",
        # A rehearsal against an emulator is no CDK usage to report to AWS, and the CLI's
        # telemetry sender is one more node process per command.
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # Never let a developer's real profile or session token leak into the rehearsal.
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        env.pop(key, None)
    return env


def _context_args(opts: Options) -> list[str]:
    tag = opts.image_tag or release.PLACEHOLDER_TAG
    args = ["-c", f"stage={opts.stage}", "-c", f"imageTag={tag}"]
    if opts.stage_file is not None:
        args += ["-c", f"stageFile={opts.stage_file}"]
    for path, value in sorted(opts.overrides.items()):
        args += ["-c", f"set:{path}={value}"]
    return args


def _cdk() -> Path:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise RehearsalError("the CDK CLI is not installed: run `make setup` (npm ci)")
    return cdk


def _run_cli(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(argv)}\n{output}\n")
    if result.returncode != 0:
        raise RehearsalError(
            f"`{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(argv))}` "
            f"failed (exit {result.returncode}):\n{_failure_lines(output)}"
        )
    return output


def _failure_lines(output: str) -> str:
    keep = [
        line
        for line in output.splitlines()
        if any(mark in line for mark in ("❌", "‣", "FAILED", "Error", "error", "failed"))
    ]
    return "\n".join(keep[-15:]) or "\n".join(output.splitlines()[-15:])


def _stack_failures(session: Any, stack: str) -> str:
    """The failing resource and reason, from the stack's events."""
    try:
        events = session.client("cloudformation").describe_stack_events(StackName=stack)[
            "StackEvents"
        ]
    except Exception as exc:  # the stack may not exist at all
        return f"(no stack events for {stack}: {exc})"
    failed = [e for e in events if "FAILED" in e.get("ResourceStatus", "")]
    return "\n".join(
        f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
        for e in failed[:10]
    )


def _boto_creds() -> dict[str, str]:
    return {
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


class _EndpointSession:
    """A boto3 session whose clients all talk to the emulator."""

    def __init__(self, endpoint: str, region: str) -> None:
        import boto3

        self._session = boto3.session.Session(region_name=region, **_boto_creds())
        self._endpoint = endpoint

    def client(self, name: str) -> Any:
        return self._session.client(name, endpoint_url=self._endpoint)


def up(opts: Options) -> int:
    timer = Timer()
    # Fyntrix-CI needs a repository to trust; the rehearsal deploys it with a placeholder
    # (`--set ci.github_repository=...` picks another).
    opts = dataclasses.replace(
        opts, overrides={"ci.github_repository": REHEARSAL_REPOSITORY, **opts.overrides}
    )
    try:
        config, stage_file = _load(opts)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reg = ProcessRegistry(opts.run_dir)
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    try:
        done = _rehearse(opts, config, stage_file, reg, started, timer)
    except RehearsalError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        _stop_started(opts.run_dir, reg, started)
        return 1

    total = time.monotonic() - timer.start
    (opts.run_dir / "timings.json").write_text(
        json.dumps({"total_s": total, "phases": dict(timer.phases)}, indent=1)
    )
    names = DeployedNames.of(done.session, done.config)
    _summary(
        done.opts,
        done.config,
        done.endpoint,
        names,
        done.first,
        done.second,
        total,
        timer,
        done.runtime,
    )
    return 0


@dataclass(frozen=True, kw_only=True)
class _Rehearsed:
    """What a rehearsal that went through deployed and started."""

    opts: Options  # with the certificate and image tag the run chose
    config: StageConfig
    runtime: str
    endpoint: str
    session: Any
    first: str  # X-Cache of the first request, then of the second
    second: str


def _rehearse(
    opts: Options,
    config: StageConfig,
    stage_file: StageFile,
    reg: ProcessRegistry,
    started: list[str],
    timer: Timer,
) -> _Rehearsed:
    """Steps 1 to 6; what each starts is appended to `started` (stopped if a later one fails)."""
    runtime, why = containers.choose_runtime(opts.runtime, opts.run_dir)
    print(f"Runtime: {runtime} ({why}); RUNTIME=processes|containers chooses")
    _preflight(opts, reg, runtime)
    print(
        f"Fyntrix local rehearsal: stage {config.stage}, account {ACCOUNT}, "
        f"region {config.region}, image tag {_tag_said(opts, runtime)}"
    )
    t = time.monotonic()
    endpoint, reused = _ensure_emulator(opts, reg, started)
    t = timer.mark("emulator", t)
    env = _tool_env(endpoint, config.region)
    session = _EndpointSession(endpoint, config.region)
    opts, config = _with_certificate(opts, config, stage_file, session)
    _bootstrap(opts, config, session, env)
    t = timer.mark("bootstrap", t)

    # As on AWS: both images pushed and tagged for the stage before the service deploy.
    prepared = None
    if runtime == "containers":
        started.append(CONTAINERS)  # the engine, if it starts one: stopped on failure
        prepared = containers.prepare(opts.run_dir, _say)
    opts, config = _release(opts, config, session, prepared, env=env)
    t = timer.mark("release", t)
    _deploy_all(opts, config, session, env, reused=reused)
    t = timer.mark("deploy", t)

    cdk_out = opts.run_dir / "cdk.out"
    _verified(opts, verify(config=config, session=session, cdk_out=cdk_out))
    t = timer.mark("verify", t)
    if opts.recreate:
        _recreate(opts, config, session, env)
        t = timer.mark("recreate", t)

    if runtime == "containers":
        first, second = _start_containers(opts, config, session, prepared)
        timer.mark("containers", t)
    else:
        _start_redis(opts, config, reg, started)
        t = timer.mark("redis", t)
        user = _demo_user(opts, config, session)
        first, second = _start_service(
            opts, config, reg, started, endpoint=endpoint, session=session, user=user
        )
        timer.mark("service", t)
    return _Rehearsed(
        opts=opts,
        config=config,
        runtime=runtime,
        endpoint=endpoint,
        session=session,
        first=first,
        second=second,
    )


def _stop_started(run_dir: Path, reg: ProcessRegistry, started: list[str]) -> None:
    """Stop what a failed run started, last first."""
    for name in reversed(started):
        if name == CONTAINERS:
            containers.stop(run_dir)
        else:
            reg.stop(name)
    if started:
        print(f"stopped what this run started: {', '.join(started)}", file=sys.stderr)


def _bootstrap(opts: Options, config: StageConfig, session: Any, env: dict[str, str]) -> None:
    if _bootstrapped(session):
        _say("2/6 bootstrap", "CDKToolkit already present in the emulator")
        return
    # Run outside the project so the CLI does not synthesize the app just to bootstrap.
    _run_cli(
        [str(_cdk()), "bootstrap", f"aws://{ACCOUNT}/{config.region}", "--no-notices"],
        env=env,
        cwd=opts.run_dir,
        log=opts.run_dir / "cdk.log",
    )
    _say("2/6 bootstrap", f"cdk bootstrap aws://{ACCOUNT}/{config.region}: CDKToolkit created")


def _deploy_all(
    opts: Options, config: StageConfig, session: Any, env: dict[str, str], *, reused: bool
) -> None:
    """`cdk deploy --all`, saying whether the service stack was created, updated or kept."""
    output = _deploy(opts, config, session, env)
    if not reused:
        verb = "created"
    elif f"{config.service_stack_name} (no changes)" in output:
        verb = "unchanged"
    else:
        verb = "updated"
    _say(
        "3/6 deploy",
        f"cdk deploy --all: {REGISTRY_STACK_NAME}, {CI_STACK_NAME}, "
        f"{config.state_stack_name}, {config.service_stack_name} {verb}",
    )


def _start_containers(
    opts: Options, config: StageConfig, session: Any, prepared: containers.Prepared | None
) -> tuple[str, str]:
    """The task definition run as real containers; X-Cache of the first two requests."""
    first, second, healthy = containers.start(
        config=config,
        session=session,
        cdk_out=opts.run_dir / "cdk.out",
        run_dir=opts.run_dir,
        app_port=opts.app_port,
        account=ACCOUNT,
        say=_say,
        prepared=prepared,
    )
    took = ", ".join(f"{name} {secs:.1f} s" for name, secs in healthy.items())
    _say(
        "6/6 task",
        f"healthy after start: {took}; GET /api/portfolio/1 without a token -> 401; "
        f"with user 1's -> X-Cache: {first}, then {second}",
    )
    return first, second


def _deploy(
    opts: Options,
    config: StageConfig,
    session: Any,
    env: dict[str, str],
    stacks: Sequence[str] = ("--all",),
) -> str:
    """`cdk deploy` of `stacks` (every stack by default) into the emulator; the CLI's output.
    Fails with the failing resources, and on an emulator that failed a request while the CLI
    reported success."""
    emulator_log = opts.run_dir / f"{EMULATOR}.log"
    log_mark = emulator_log.stat().st_size if emulator_log.exists() else 0
    # As `make deploy` does: a stack created again adopts what it retained under a fixed name.
    argv = ["deploy", *stacks, "--require-approval", "never", "--no-notices"]
    argv += ["--import-existing-resources"]
    argv += ["--progress", "events", "-o", str(opts.run_dir / "cdk.out"), *_context_args(opts)]
    try:
        output = _run_cli([str(_cdk()), *argv], env=env, cwd=ROOT, log=opts.run_dir / "cdk.log")
    except RehearsalError as exc:
        raise RehearsalError(
            f"{exc}\nfailing resources:\n{_stack_failures(session, config.service_stack_name)}"
        ) from exc
    _emulator_errors(emulator_log, log_mark)
    return output


def _verified(opts: Options, checks: list[Check], step: str = "4/6 verify") -> None:
    """Print and record the checks; fail the run if any failed."""
    _write_checks(opts.run_dir, checks)
    print(f"[{step}]")
    print(format_table(checks))
    failed = [c for c in checks if not c.ok]
    if failed:
        raise RehearsalError(f"{len(failed)} verification check(s) failed (see the table)")


def _recreate(opts: Options, config: StageConfig, session: Any, env: dict[str, str]) -> None:
    """`cdk destroy` the service stack (as `make destroy` does) and deploy again on the same
    emulator; then every check again, and the re-creation's own."""
    cdk_out = opts.run_dir / "cdk.out"
    argv = [str(_cdk()), "destroy", config.service_stack_name, "--force", "--no-notices"]
    argv += ["-o", str(cdk_out), *_context_args(opts)]

    def destroy() -> None:
        _run_cli(argv, env=env, cwd=ROOT, log=opts.run_dir / "cdk.log")
        _say("4/6 recreate", f"cdk destroy {config.service_stack_name}: deleted")

    def deploy() -> None:
        _deploy(opts, config, session, env)
        _say("4/6 recreate", f"cdk deploy --all: {config.service_stack_name} created again")

    checks = destroy_and_redeploy(config=config, session=session, destroy=destroy, deploy=deploy)
    checks += verify(config=config, session=session, cdk_out=cdk_out)
    _verified(opts, checks, step="4/6 recreate: verify")


def _tag_said(opts: Options, runtime: str) -> str:
    if opts.image_tag:
        return opts.image_tag
    return "named after the images" if runtime == "containers" else release.PLACEHOLDER_TAG


def _release(
    opts: Options,
    config: StageConfig,
    session: Any,
    prepared: containers.Prepared | None,
    *,
    env: dict[str, str],
) -> tuple[Options, StageConfig]:
    """The registry (once, as `make deploy-registry`), both images pushed to it and tagged for
    the stage (`python -m tools.release tag-stage`, as `make deploy` does first). Without
    IMAGE_TAG the release is named after the images, so a rebuilt image is a new release."""
    manifests = (
        prepared.manifests()
        if prepared
        else {name: release.placeholder_manifest(name) for name in ("app", "redis")}
    )
    tag = release.release_tag(opts.image_tag, manifests if prepared else None)
    opts = dataclasses.replace(opts, image_tag=tag)
    config = _load(opts)[0]
    if not release.repository_exists(session, config.repository_name):
        _deploy(opts, config, session, env, stacks=(REGISTRY_STACK_NAME,))
        _say("3/6 release", f"cdk deploy {REGISTRY_STACK_NAME}: the repository, before a push")
    if prepared is None:
        _say("3/6 release", "RUNTIME=processes builds no image: an empty one stands for each")
    try:
        release.publish_and_tag(session, config, manifests, _say)
    except ReleaseError as exc:
        raise RehearsalError(str(exc)) from exc
    return opts, config


def _emulator_errors(log: Path, since: int) -> None:
    """Fail on an emulator crash during the deploy. An exception inside moto answers 500 to
    one request, and the CDK CLI can still report success while every resource after the
    failing one is missing (an unsupported `Fn::GetAtt` did exactly that)."""
    if not log.exists():
        return
    with log.open("rb") as fh:
        fh.seek(since)
        text = fh.read().decode(errors="replace")
    if "Traceback (most recent call last)" not in text:
        return
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line and not line.startswith((" ", "127.0.0.1"))]
    raise RehearsalError(
        "the AWS emulator failed a request during the deploy, so resources may be missing "
        f"even though the CLI succeeded:\n{chr(10).join(errors[-5:])}\n"
        f"(full log: {log}; teach tools/rehearsal/emulator.py what moto mishandles)"
    )


def _preflight(opts: Options, reg: ProcessRegistry, runtime: str) -> None:
    if runtime == "containers":
        require_free_port(opts.app_port, "service (the task's published port)", "APP_PORT")
        return
    if shutil.which("redis-server") is None:
        raise RehearsalError(
            "redis-server is not installed. Install it with `sudo apt-get install -y "
            "redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), or run `make setup`."
        )
    # Ports of processes we are about to (re)start must be free or held by our own process.
    if reg.running(REDIS) is None:
        require_free_port(opts.redis_port, "Redis sidecar", "REDIS_PORT")
    if reg.running(SERVICE) is None:
        require_free_port(opts.app_port, "service", "APP_PORT")


def _ensure_emulator(opts: Options, reg: ProcessRegistry, started: list[str]) -> tuple[str, bool]:
    state_file = opts.run_dir / "state.json"
    running = reg.running(EMULATOR)
    if running and state_file.exists():
        port = int(json.loads(state_file.read_text())["aws_port"])
        endpoint = f"http://localhost:{port}"
        if opts.aws_port not in (None, port):
            raise RehearsalError(
                f"the emulator already runs on port {port}; run `make down` first to move it "
                f"to {opts.aws_port}"
            )
        if http_ok(f"{endpoint}/moto-api/"):
            _say(
                "1/6 emulator", f"reusing {endpoint} (pid {running.pid}); this deploy is an update"
            )
            return endpoint, True
        reg.stop(EMULATOR)
    port = opts.aws_port if opts.aws_port is not None else free_port()
    require_free_port(port, "AWS emulator", "AWS_PORT")
    # `localhost`, not 127.0.0.1: with an IP, moto reads the bootstrap bucket name as "127".
    endpoint = f"http://localhost:{port}"
    tracked, took = _launch(
        reg,
        started,
        EMULATOR,
        [sys.executable, "-m", "tools.rehearsal.emulator", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **DUMMY_CREDENTIALS},
        cwd=ROOT,
        what="the AWS emulator",
        waiting_for=f"the AWS emulator at {endpoint}",
        ready=lambda: http_ok(f"{endpoint}/moto-api/"),
        timeout_s=30,
    )
    state_file.write_text(json.dumps({"aws_port": port, "endpoint": endpoint}))
    _say(
        "1/6 emulator", f"moto server at {endpoint} (pid {tracked.pid}), answering in {took:.1f} s"
    )
    return endpoint, False


def _launch(
    reg: ProcessRegistry,
    started: list[str],
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    what: str,
    waiting_for: str,
    ready: Callable[[], bool],
    timeout_s: float,
) -> tuple[Tracked, float]:
    """Start a background process, record it as started by this run, and wait until `ready`
    answers; fail with its log tail if it exits first or never answers."""
    tracked = reg.start(name, argv, env=env, cwd=cwd)
    started.append(name)

    def check() -> bool:
        if not tracked.alive():
            raise RehearsalError(f"{what} exited at start:\n{reg.log_tail(name)}")
        return ready()

    took = wait_until(
        check, timeout_s=timeout_s, what=waiting_for, on_timeout=lambda: reg.log_tail(name)
    )
    return tracked, took


def _bootstrapped(session: Any) -> bool:
    try:
        session.client("cloudformation").describe_stacks(StackName="CDKToolkit")
    except Exception:
        return False
    return True


def _load(opts: Options) -> tuple[StageConfig, StageFile]:
    """The stage as `make deploy` synthesizes it: its stage file, then the overrides."""
    return load_configured_stage(
        opts.stage,
        image_tag=opts.image_tag or release.PLACEHOLDER_TAG,
        overrides=opts.overrides,
        stage_file=opts.stage_file,
    )


def _with_certificate(
    opts: Options, config: StageConfig, stage_file: StageFile, session: Any
) -> tuple[Options, StageConfig]:
    """A stage that must serve HTTPS (prod) and names no certificate, or only the stage
    file's placeholder, gets one from the emulator's ACM for a placeholder domain, and that
    domain's hosted zone from the emulator's Route 53 (so the alias record deploys too), both
    made once and reused. A certificate the operator names is used as given: one the emulator
    does not know fails the deploy with CertificateNotFound, as it would in AWS."""
    try:
        config.check_deployable()
        if "certificate_arn" not in stage_file.placeholders_in_use(config):
            return opts, config
    except ConfigError as exc:
        if exc.setting != "certificate_arn":
            raise RehearsalError(str(exc)) from exc
    arn = _rehearsal_certificate(session.client("acm"))
    zone_id = _rehearsal_zone(session.client("route53"))
    _say("1/6 emulator", f"ACM certificate for {REHEARSAL_DOMAIN}: {arn}; zone {zone_id}")
    overrides = {
        **opts.overrides,
        "certificate_arn": arn,
        "domain_name": REHEARSAL_DOMAIN,
        "hosted_zone_id": zone_id,
    }
    opts = dataclasses.replace(opts, overrides=overrides)
    try:
        return opts, _load(opts)[0]
    except ConfigError as exc:
        raise RehearsalError(str(exc)) from exc


def _rehearsal_certificate(acm: Any) -> str:
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        if summary["DomainName"] == REHEARSAL_DOMAIN:
            return str(summary["CertificateArn"])
    requested = acm.request_certificate(DomainName=REHEARSAL_DOMAIN, ValidationMethod="DNS")
    return str(requested["CertificateArn"])


def _rehearsal_zone(route53: Any) -> str:
    """The placeholder zone's id, without the `/hostedzone/` prefix."""
    zones = route53.list_hosted_zones_by_name(DNSName=REHEARSAL_ZONE)["HostedZones"]
    found = [z["Id"] for z in zones if z["Name"].rstrip(".") == REHEARSAL_ZONE]
    if found:
        return str(found[0]).rsplit("/", 1)[-1]
    created = route53.create_hosted_zone(Name=REHEARSAL_ZONE, CallerReference=REHEARSAL_ZONE)
    return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DemoUser:
    """The demo user signed in to the deployed pool, and where the service checks tokens."""

    pool_id: str
    client_id: str
    signed_in: SignedIn

    def issuer(self, config: StageConfig) -> str:
        return config.auth.issuer(config.region, self.pool_id)


def _demo_user(opts: Options, config: StageConfig, session: Any) -> DemoUser:
    """Sign the demo user in to the pool the stack deployed (or the configured one)."""
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in session.client("cloudformation").describe_stacks(
            StackName=config.service_stack_name
        )["Stacks"][0]["Outputs"]
    }
    pool_id, client_id = outputs["UserPoolId"], outputs["AppClientIds"].split(",")[0]
    idp = session.client("cognito-idp")
    sub = ensure_demo_user(idp, pool_id)
    authenticator = opts.run_dir / "demo-user-totp"
    signed_in = sign_in(idp, pool_id, client_id, sub, authenticator=authenticator)
    _say(
        "5/6 cognito",
        f"pool {pool_id}: demo user signed in (SRP + authenticator code), sub {sub}",
    )
    return DemoUser(pool_id=pool_id, client_id=client_id, signed_in=signed_in)


def redis_argv(config: StageConfig, *, port: int, workdir: Path) -> list[str]:
    """The sidecar's exact settings (from the config), on the chosen loopback port."""
    args = config.redis.command_args(bind=ECS_REDIS_BIND)
    args[args.index("--port") + 1] = str(port)
    # Foreground under our own process tracking; a private working directory.
    return [*args, "--daemonize", "no", "--dir", str(workdir)]


def _start_redis(
    opts: Options, config: StageConfig, reg: ProcessRegistry, started: list[str]
) -> None:
    # Restart on every `up`: a changed setting must reach the running Redis too.
    reg.stop(REDIS)
    require_free_port(opts.redis_port, "Redis sidecar", "REDIS_PORT")
    workdir = opts.run_dir / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    argv = redis_argv(config, port=opts.redis_port, workdir=workdir)

    def pong() -> bool:
        out = subprocess.run(
            ["redis-cli", "-p", str(opts.redis_port), "ping"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() == "PONG"

    tracked, _ = _launch(
        reg,
        started,
        REDIS,
        argv,
        env=dict(os.environ),
        cwd=workdir,
        what="redis-server",
        waiting_for="redis-server",
        ready=pong,
        timeout_s=10,
    )
    _say(
        "5/6 redis",
        f"redis-server 127.0.0.1:{opts.redis_port} (pid {tracked.pid}): "
        f"maxmemory {config.redis.effective_maxmemory_mib}mb {config.redis.maxmemory_policy}, "
        "no RDB, no AOF",
    )


def _start_service(
    opts: Options,
    config: StageConfig,
    reg: ProcessRegistry,
    started: list[str],
    *,
    endpoint: str,
    session: Any,
    user: DemoUser,
) -> tuple[str, str]:
    reg.stop(SERVICE)
    require_free_port(opts.app_port, "service", "APP_PORT")
    env = {
        **os.environ,
        # The ECS task's environment, but for the ports chosen on this machine.
        **config.app_environment(redis_host="localhost"),
        "REDIS_PORT": str(opts.redis_port),
        "PORT": str(opts.app_port),
        "HOST": "127.0.0.1",
        "SQLITE_PATH": str(opts.run_dir / "fyntrix.sqlite3"),
        "DATABASE_URL": "",
        # The app secret, the way ECS passes it (service/secrets_json.py); the variables set
        # here win over its keys, as they would in the task.
        SECRETS_JSON_ENV: _app_secret(session, config),
        # This process runs on this machine, not in the task (local stage: SQLite, plain-HTTP
        # JWKS allowed), but it verifies tokens of the deployed pool: the issuer Cognito
        # writes into them, the keys from the emulator's JWKS endpoint.
        "APP_STAGE": "local",
        "SEED_DEMO_DATA": "",  # the local stage's demo data (prod's task says false)
        "AUTH_ISSUER": user.issuer(config),
        "AUTH_JWKS_URL": f"{endpoint}/{user.pool_id}/.well-known/jwks.json",
        "AUTH_CLIENT_IDS": user.client_id,
        "AUTH_ADMIN_GROUP": config.auth.admin_group,
        "AUTH_DEV_KEY_PATH": str(opts.run_dir / "dev-jwt-key.pem"),
        # Flush the EMF figures soon after the requests below, so they can be checked now.
        "METRICS_FLUSH_INTERVAL_S": str(FLUSH_INTERVAL_S),
    }
    base = f"http://127.0.0.1:{opts.app_port}"
    # service.log is appended to across runs: this run's records start at its current end.
    log_path = opts.run_dir / f"{SERVICE}.log"
    log_mark = log_path.stat().st_size if log_path.exists() else 0
    tracked, took = _launch(
        reg,
        started,
        SERVICE,
        [sys.executable, "-m", "service"],
        env=env,
        cwd=ROOT,
        what="the service",
        waiting_for=f"the service at {base}/ready",
        ready=lambda: http_ok(f"{base}/ready"),
        timeout_s=30,
    )
    _ops(env, "link-user", "--sub", user.signed_in.sub, "--user", "1")
    statuses = _auth_checks(base, user.signed_in.access_token)
    _say(
        "6/6 service",
        f"{base} ready in {took:.1f} s (pid {tracked.pid}); the demo user's Cognito sub acts "
        f"for user 1. GET /api/portfolio/1 without a token -> 401; with the demo user's "
        f"-> X-Cache: {statuses[0]}, then {statuses[1]}; /api/portfolio/2 -> 403",
    )

    def this_run() -> str:
        with log_path.open("rb") as fh:
            fh.seek(log_mark)
            return fh.read().decode(errors="replace")

    _say("6/6 emf", check_emf(this_run, namespace=env["METRICS_NAMESPACE"]))
    return statuses[0], statuses[1]


def _app_secret(session: Any, config: StageConfig) -> str:
    arn = DeployedNames.of(session, config).secret_arn
    value: str = session.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return value


def _auth_checks(base: str, access_token: str) -> list[str]:
    """No token -> 401; the user's own portfolio -> 200 MISS then HIT; another's -> 403."""
    code, headers, _ = http_get(f"{base}/api/portfolio/1")
    if code != 401 or not headers.get("www-authenticate", "").startswith("Bearer"):
        raise RehearsalError(f"GET /api/portfolio/1 without a token answered {code}, not 401")
    auth = {"Authorization": f"Bearer {access_token}"}
    statuses = []
    for _ in range(2):
        code, headers, body = http_get(f"{base}/api/portfolio/1", headers=auth)
        if code != 200:
            raise RehearsalError(
                f"GET /api/portfolio/1 with the demo user's token answered {code}: {body[:200]!r}"
            )
        statuses.append(headers.get("x-cache", "?"))
    if statuses != ["MISS", "HIT"]:
        raise RehearsalError(f"expected X-Cache MISS then HIT, got {statuses}")
    code, _, _ = http_get(f"{base}/api/portfolio/2", headers=auth)
    if code != 403:
        raise RehearsalError(f"GET /api/portfolio/2 (another user's) answered {code}, not 403")
    return statuses


def _ops(env: dict[str, str], *args: str) -> str:
    """`python -m service.ops ...` with the service's environment, as an operator runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "service.ops", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RehearsalError(
            f"python -m service.ops {' '.join(args)} failed: {result.stderr.strip()}"
        )
    return result.stdout.strip()


def _write_checks(run_dir: Path, checks: list[Check]) -> None:
    (run_dir / "verify.json").write_text(
        json.dumps([c.__dict__ for c in checks], indent=1, sort_keys=True)
    )


def _summary(
    opts: Options,
    config: StageConfig,
    endpoint: str,
    names: DeployedNames,
    first: str,
    second: str,
    total: float,
    timer: Timer,
    runtime: str,
) -> None:
    """What runs where, and commands that work pasted as printed into a new shell in the
    project folder: every variable they need is set by an earlier line (DOCKER_HOST, the
    emulator's endpoint and keys), and every path is quoted (a clone may have a space)."""
    phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in timer.phases)
    base = f"http://127.0.0.1:{opts.app_port}"
    run_dir = shlex.quote(str(opts.run_dir))
    if runtime == "containers":
        task = json.loads((opts.run_dir / containers.STATE_FILE).read_text())["task_id"]
        app = f"label={TASK_LABEL}={task} -f label=com.amazonaws.ecs.container-name=app"
        mint = [
            f"export DOCKER_HOST={shlex.quote(containers.docker_host(opts.run_dir))}",
            f'TOKEN=$(docker exec "$(docker ps -q -f {app})" \\\n'
            "    python -m service.ops token --user 1)",
        ]
        redis_line = "only inside the task (the app's localhost:6379); containers labelled "
        redis_line += "com.amazonaws.ecs.cluster; restarts and stops as ECS does them: "
        redis_line += f"{opts.run_dir}/task-status.json"
        redis_try: list[str] = []
    else:
        # The service checks the deployed pool's tokens: sign the demo user in again.
        mint = [
            f"TOKEN=$(.venv/bin/python -m tools.rehearsal.demo_token --run-dir {run_dir} \\\n"
            f"    --stage {config.stage})"
        ]
        redis_line = f"127.0.0.1:{opts.redis_port}, the sidecar's settings"
        redis_try = [f"redis-cli -p {opts.redis_port} INFO memory"]
    # The project's AWS CLI (requirements-dev.txt), by its path: a runner or laptop may have
    # none on PATH. The endpoint goes as a flag, which every CLI version reads.
    aws = [
        f"{VENV_AWS} --endpoint-url {endpoint} ecs describe-services \\\n"
        f"    --cluster {names.cluster} --services {names.service} \\\n"
        "    --query 'services[0].status'"
    ]
    commands = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing \\\n"
        f"    AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={config.region}",
        *aws,
        *mint,
        f'curl -i -H "Authorization: Bearer $TOKEN" {base}/api/portfolio/1',
        *redis_try,
    ]
    down = "make down" if opts.run_dir == ROOT / ".run" else f"make down RUN_DIR={run_dir}"
    print(
        f"""
Rehearsal complete in {total:.1f} s ({phases}).

  AWS emulator  {endpoint} (account {ACCOUNT}, region {config.region})
  service       {base} (API docs at /docs); /api/* needs a token (below)
  redis         {redis_line}
  logs          {opts.run_dir}/*.log

{PASTE_HEADER}
{chr(10).join("  " + c for c in commands)}

Stop everything with: {down}"""
    )


def down(opts: Options) -> int:
    reg = ProcessRegistry(opts.run_dir)
    stopped = containers.stop(opts.run_dir)
    stopped += [name for name in (SERVICE, REDIS, EMULATOR) if reg.stop(name)]
    (opts.run_dir / "state.json").unlink(missing_ok=True)
    if stopped:
        print(f"stopped: {', '.join(stopped)}")
    else:
        print("nothing to stop: no process started by `make up` is running")
    return 0


def status(opts: Options) -> int:
    reg = ProcessRegistry(opts.run_dir)
    for name in (EMULATOR, REDIS, SERVICE):
        tracked = reg.running(name)
        print(f"{name:<9} {'running (pid ' + str(tracked.pid) + ')' if tracked else 'stopped'}")
    return 0


def parse_args(argv: Sequence[str], environ: dict[str, str]) -> tuple[str, Options]:
    """Flags win over the environment (`make up REDIS_PORT=6380 SET=redis.memory_mib=512`)."""
    p = argparse.ArgumentParser(
        prog="python -m tools.rehearsal", description=__doc__.split("\n")[0]
    )
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--stage", default=environ.get("STAGE", "dev"))
    p.add_argument(
        "--stage-file",
        type=Path,
        default=Path(environ["STAGE_FILE"]) if environ.get("STAGE_FILE") else None,
        help="the stage's settings file (default: stages/<stage>.toml)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[s for s in environ.get("SET", "").split() if s],
        metavar="SETTING=VALUE",
        help="override a stage setting, e.g. --set redis.maxmemory_mib=150 (repeatable)",
    )
    p.add_argument(
        "--image-tag",
        default=environ.get("IMAGE_TAG") or None,
        help="release tag to deploy (default: named after the images built)",
    )
    p.add_argument("--aws-port", type=int, default=_int(environ.get("AWS_PORT")))
    p.add_argument("--redis-port", type=int, default=_int(environ.get("REDIS_PORT")) or 6379)
    p.add_argument("--app-port", type=int, default=_int(environ.get("APP_PORT")) or 8000)
    p.add_argument("--run-dir", type=Path, default=Path(environ.get("RUN_DIR") or ROOT / ".run"))
    p.add_argument(
        "--runtime",
        choices=["auto", "containers", "processes"],
        default=environ.get("RUNTIME") or "auto",
        help="containers where a Docker engine answers or can be started (auto), else processes",
    )
    p.add_argument(
        "--recreate",
        action="store_true",
        default=environ.get("RECREATE", "") not in ("", "0"),
        help="after verifying, cdk destroy the service stack and deploy it again (RECREATE=1)",
    )
    a = p.parse_args(list(argv))
    overrides = {}
    for item in a.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: use SETTING=VALUE, e.g. redis.maxmemory_mib=150")
        overrides[key] = value
    return a.command, Options(
        stage=a.stage,
        stage_file=a.stage_file.resolve() if a.stage_file else None,
        overrides=overrides,
        image_tag=a.image_tag,
        aws_port=a.aws_port,
        redis_port=a.redis_port,
        app_port=a.app_port,
        run_dir=a.run_dir.resolve(),
        runtime=a.runtime,
        recreate=a.recreate,
    )


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def main(argv: Sequence[str]) -> int:
    command, opts = parse_args(argv, dict(os.environ))
    if command == "up":
        return up(opts)
    if command == "down":
        return down(opts)
    return status(opts)
