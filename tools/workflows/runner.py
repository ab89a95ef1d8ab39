"""Run one job of a GitHub Actions workflow here, step by step, the way GitHub's runner does.

A fresh workspace and RUNNER_TEMP per job (in a folder whose path has a space), the variables
GitHub sets (GITHUB_SHA, GITHUB_WORKSPACE, GITHUB_OUTPUT, CI=true, ...), the workflow's, job's
and step's `env:`, `${{ }}` expressions evaluated strictly (tools/workflows/expressions.py),
`run:` steps as `bash -e {0}` (`bash --noprofile --norc -eo pipefail {0}` with `shell: bash`)
as the runner account, `uses:` steps through their local equivalents
(tools/workflows/local_actions.py), `if:` with GitHub's implicit `success()`, step outputs
through $GITHUB_OUTPUT, $GITHUB_ENV and $GITHUB_PATH, and the job's `outputs:` for `needs`.
At the end of a job, as GitHub's runner does ("Cleaning up orphan processes"), every process
still carrying the job's RUNNER_TRACKING_ID in its environment is killed.

A step that would fail on GitHub fails here. What cannot run here is skipped with its reason:
configure-aws-credentials and every later step of its job (they run with the role's AWS
credentials), and steps that call GitHub's API.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from tools.workflows.account import Account
from tools.workflows.expressions import Context, Sparse, evaluate_if, substitute
from tools.workflows.local_actions import (
    ACTIONS,
    NEEDS_AWS,
    NEEDS_GITHUB_API,
    JobState,
    StepFailed,
    action_name,
)

# GitHub's ubuntu-24.04 PATH, without the language toolchains it also carries.
BASE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL: Final = ("bash", "-e")
BASH_SHELL: Final = ("bash", "--noprofile", "--norc", "-eo", "pipefail")


@dataclass(frozen=True)
class Event:
    """What triggered the run: `push` of a branch, or a `pull_request`."""

    name: str
    ref: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Run:
    """What every job of one tier run shares."""

    source: Path
    sha: str
    repository: str
    account: Account
    base: Path
    vars: Mapping[str, str]
    secrets: Mapping[str, str] = field(default_factory=dict)
    # Extra runner configuration (e.g. DOCKER_HOST, as a self-hosted runner's .env sets it).
    runner_env: Mapping[str, str] = field(default_factory=dict)
    out: IO[str] = sys.stdout


@dataclass(frozen=True)
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    detail: str
    seconds: float


@dataclass
class JobResult:
    job: str
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    skipped: str = ""
    workspace: Path | None = None

    @property
    def ok(self) -> bool:
        return not any(s.outcome == "failure" for s in self.steps)

    def outcome(self, name: str) -> str:
        (step,) = [s for s in self.steps if s.name == name]
        return step.outcome


def step_name(step: Mapping[str, Any]) -> str:
    return str(step.get("name") or (f"Run {step['run']}" if "run" in step else step["uses"]))


@dataclass
class _Job:
    """One job's run: its state, contexts and results."""

    run: Run
    workflow: Mapping[str, Any]
    job_id: str
    event: Event
    needs: Mapping[str, Any]
    state: JobState
    result: JobResult
    steps_ctx: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    aws_from: str = ""
    # In every step's environment; what outlives the job is found by it and killed.
    tracking_id: str = field(default_factory=lambda: f"github_{uuid.uuid4()}")

    @property
    def spec(self) -> Mapping[str, Any]:
        job: Mapping[str, Any] = self.workflow["jobs"][self.job_id]
        return job

    def context(self, env: Mapping[str, str] | None = None) -> Context:
        contexts = {
            "github": github_context(self.run, self.workflow, self.job_id, self.event, self.state),
            "env": dict(env if env is not None else self.state.env),
            "vars": dict(self.run.vars),
            "secrets": dict(self.run.secrets),
            "steps": self.steps_ctx,
            "needs": dict(self.needs),
            "runner": {"os": "Linux", "arch": "X64", "temp": str(self.state.temp)},
        }
        return Context(contexts, self.state.workspace, job_failed=self.failed)

    def evaluated(
        self, mapping: Mapping[str, Any] | None, env: Mapping[str, str]
    ) -> dict[str, str]:
        return {k: substitute(str(v), self.context(env)) for k, v in (mapping or {}).items()}


def github_context(
    run: Run, workflow: Mapping[str, Any], job_id: str, event: Event, state: JobState
) -> dict[str, Any]:
    return {
        "event_name": event.name,
        "event": dict(event.payload),
        "ref": event.ref,
        "ref_name": event.ref.rsplit("/", 1)[-1],
        "sha": run.sha,
        "repository": run.repository,
        "repository_owner": run.repository.split("/")[0],
        "workspace": str(state.workspace),
        "workflow": str(workflow.get("name", "")),
        "job": job_id,
        "run_id": "1",
        "run_number": "1",
        "actor": run.repository.split("/")[0],
        "server_url": "https://github.com",
    }


def runner_variables(job: _Job, files: Mapping[str, Path]) -> dict[str, str]:
    """The variables GitHub's runner sets for every step."""
    run, state, event = job.run, job.state, job.event
    owner = run.repository.split("/")[0]
    variables = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKFLOW": str(job.workflow.get("name", "")),
        "GITHUB_JOB": job.job_id,
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_NUMBER": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_ACTOR": owner,
        "GITHUB_REPOSITORY": run.repository,
        "GITHUB_REPOSITORY_OWNER": owner,
        "GITHUB_EVENT_NAME": event.name,
        "GITHUB_EVENT_PATH": str(files["event"]),
        "GITHUB_SHA": run.sha,
        "GITHUB_REF": event.ref,
        "GITHUB_REF_NAME": event.ref.rsplit("/", 1)[-1],
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_WORKSPACE": str(state.workspace),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "fyntrix-workflow-tier",
        "RUNNER_TEMP": str(state.temp),
        "RUNNER_TOOL_CACHE": str(state.tool_cache),
        "RUNNER_TRACKING_ID": job.tracking_id,
        "HOME": str(run.account.home),
        "USER": run.account.name,
        "LOGNAME": run.account.name,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        # Set in the ubuntu images' /etc/environment: apt never prompts.
        "DEBIAN_FRONTEND": "noninteractive",
    }
    for key in ("output", "env", "path", "step_summary", "state"):
        variables[f"GITHUB_{key.upper()}"] = str(files[key])
    return variables


def run_job(
    run: Run,
    workflow: Mapping[str, Any],
    job_id: str,
    event: Event,
    needs: Mapping[str, Any] | None = None,
    select: Callable[[str], bool] | None = None,
) -> JobResult:
    """Run `job_id` of `workflow` for `event`; `select` (by step name) limits what runs."""
    job = _prepare(run, workflow, job_id, event, needs or {})
    spec = job.spec
    if not evaluate_if(spec.get("if"), job.context()):
        job.result.skipped = f"if: {spec.get('if')} is false for a {event.name} event"
        _say(run, f"== {job_id}: skipped ({job.result.skipped})")
        return job.result
    started = time.monotonic()
    deadline = started + 60 * float(spec.get("timeout-minutes", 360))
    _say(run, f"== {job_id} ({event.name} {event.ref}) in {job.state.workspace}")
    try:
        for index, step in enumerate(spec["steps"]):
            job.result.steps.append(_step(job, index, step, deadline, select))
    finally:
        orphans = kill_tracked(job.tracking_id)
        if orphans:
            _say(run, f"   killed {len(orphans)} orphan process(es) of the job: {orphans}")
    context = job.context()
    job.result.outputs = {
        k: substitute(str(v), context) for k, v in (spec.get("outputs") or {}).items()
    }
    verdict = "ok" if job.result.ok else "FAILED"
    _say(run, f"== {job_id}: {verdict} in {time.monotonic() - started:.0f} s")
    return job.result


def _prepare(
    run: Run, workflow: Mapping[str, Any], job_id: str, event: Event, needs: Mapping[str, Any]
) -> _Job:
    root = run.base / "runner work" / job_id
    workspace = root / run.repository.split("/")[1]
    temp = root / "_temp"
    for folder in (workspace, temp):
        folder.mkdir(parents=True, exist_ok=True)
    tool_cache = run.account.home / "hostedtoolcache"
    tool_cache.mkdir(parents=True, exist_ok=True)
    run.account.chown(root)
    state = JobState(
        account=run.account,
        source=run.source,
        sha=run.sha,
        ref=event.ref,
        repository=run.repository,
        workspace=workspace,
        temp=temp,
        tool_cache=tool_cache,
    )
    job = _Job(run, workflow, job_id, event, needs, state, JobResult(job_id, workspace=workspace))
    base_env = {**job.evaluated(workflow.get("env"), {})}
    state.env = {**base_env, **job.evaluated(job.spec.get("env"), base_env)}
    return job


def _say(run: Run, message: str) -> None:
    print(message, file=run.out, flush=True)


def _skip_reason(job: _Job, step: Mapping[str, Any], select: Callable[[str], bool] | None) -> str:
    if job.aws_from:
        return f"needs AWS: runs with the role {job.aws_from} assumed"
    if select is not None and not select(step_name(step)):
        return "not selected for this run"
    if "uses" in step:
        name = action_name(str(step["uses"]))
        if name in NEEDS_AWS:
            job.aws_from = str(dict(step.get("with") or {}).get("role-to-assume", "?"))
            return f"needs AWS: assumes {job.aws_from} through GitHub's OIDC token"
        if name in NEEDS_GITHUB_API:
            return "needs GitHub's API and the job's token"
    return ""


def _step(
    job: _Job,
    index: int,
    step: Mapping[str, Any],
    deadline: float,
    select: Callable[[str], bool] | None,
) -> StepResult:
    name = step_name(step)
    started = time.monotonic()
    try:
        if not evaluate_if(step.get("if"), job.context()):
            return _record(job, step, StepResult(name, "skipped", "if: false", 0.0))
        reason = _skip_reason(job, step, select)
        if reason:
            return _record(job, step, StepResult(name, "skipped", reason, 0.0))
        _say(job.run, f"-- {job.job_id} / {name}")
        detail = _uses(job, step) if "uses" in step else _run(job, index, step, deadline)
        outcome = StepResult(name, "success", detail, time.monotonic() - started)
    except (StepFailed, ValueError, subprocess.CalledProcessError) as exc:
        job.failed = True
        outcome = StepResult(name, "failure", str(exc), time.monotonic() - started)
    return _record(job, step, outcome)


def _record(job: _Job, step: Mapping[str, Any], result: StepResult) -> StepResult:
    if "id" in step:
        entry = job.steps_ctx.setdefault(str(step["id"]), {"outputs": Sparse()})
        entry["outcome"] = entry["conclusion"] = result.outcome
    if result.outcome != "success":
        _say(job.run, f"   {result.outcome}: {result.name}: {result.detail}")
    if result.seconds:
        _say(job.run, f"   {result.outcome} in {result.seconds:.0f} s: {result.name}")
    return result


def _uses(job: _Job, step: Mapping[str, Any]) -> str:
    name = action_name(str(step["uses"]))
    if name not in ACTIONS:
        raise StepFailed(f"{step['uses']}: no local equivalent for {name}")
    inputs = job.evaluated(step.get("with"), job.state.env)
    detail = ACTIONS[name](job.state, inputs)
    job.run.account.chown(job.state.tool_cache)
    _say(job.run, f"   {detail}")
    return detail


def _run(job: _Job, index: int, step: Mapping[str, Any], deadline: float) -> str:
    state = job.state
    files = _command_files(job, index)
    step_env = job.evaluated(step.get("env"), state.env)
    path = os.pathsep.join([*state.path, str(job.run.account.home / ".local" / "bin"), BASE_PATH])
    env = {
        **runner_variables(job, files),
        **job.run.runner_env,
        **state.env,
        **step_env,
        "PATH": path,
    }
    script = files["script"]
    script.write_text(substitute(str(step["run"]), job.context(state.env)))
    shell = {None: DEFAULT_SHELL, "bash": BASH_SHELL}.get(step.get("shell"))
    if shell is None:
        raise StepFailed(f"shell {step.get('shell')!r} is not one the tier runs")
    cwd = state.workspace / str(step.get("working-directory", ""))
    timeout_s = deadline - time.monotonic()
    if "timeout-minutes" in step:
        timeout_s = min(timeout_s, 60 * float(step["timeout-minutes"]))
    job.run.account.chown(files["dir"])
    code = _execute([*shell, str(script)], env, cwd, timeout_s, job)
    if code != 0:
        raise StepFailed(f"exit {code}")
    _read_commands(job, step, files)
    return "exit 0"


def _command_files(job: _Job, index: int) -> dict[str, Path]:
    folder = job.state.temp / f"step-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"dir": folder, "script": folder / "script.sh", "event": job.state.temp / "event.json"}
    for key in ("output", "env", "path", "step_summary", "state"):
        files[key] = folder / key
        files[key].touch()
    files["event"].write_text(json.dumps(dict(job.event.payload)))
    return files


def _execute(
    argv: list[str], env: Mapping[str, str], cwd: Path, timeout_s: float, job: _Job
) -> int:
    """The step's process as the runner account, its output streamed to the run's output;
    on timeout its whole process group is killed, as GitHub cancels a step."""
    proc = job.run.account.popen(
        argv,
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        errors="replace",
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=40)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            job.run.out.write(line)
        job.run.out.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code: int = proc.wait(timeout=max(timeout_s, 1))
    except subprocess.TimeoutExpired:
        raise StepFailed(f"timed out after {timeout_s / 60:.0f} minutes") from None
    finally:
        # A timeout, or the tier itself interrupted: the step's process group goes too.
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    return code


def kill_tracked(tracking_id: str) -> list[int]:
    """Kill every process whose environment holds RUNNER_TRACKING_ID=`tracking_id` (those
    this user may read: all of them as root). Returns their pids."""
    marker = f"RUNNER_TRACKING_ID={tracking_id}".encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or another user's
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def _read_commands(job: _Job, step: Mapping[str, Any], files: Mapping[str, Path]) -> None:
    """$GITHUB_OUTPUT into steps.<id>.outputs, $GITHUB_ENV into the job's env, $GITHUB_PATH
    onto PATH (both for the later steps), as the runner reads them after each step."""
    outputs = parse_key_values(files["output"].read_text())
    if "id" in step:
        job.steps_ctx.setdefault(str(step["id"]), {"outputs": Sparse()})["outputs"].update(outputs)
    job.state.env.update(parse_key_values(files["env"].read_text()))
    for line in files["path"].read_text().splitlines():
        if line.strip():
            job.state.path.insert(0, line.strip())


def parse_key_values(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks (GitHub's file-command format)."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise StepFailed(f"{name}: no closing {delimiter!r} in a file command")
            i += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise StepFailed(f"cannot read file command line {line!r}")
    return values
