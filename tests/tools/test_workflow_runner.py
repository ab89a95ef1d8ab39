"""The workflow tier's runner on small workflows in a scratch repository: GitHub's shells,
variables, file commands, `if:` rules, and the steps it must skip or fail (the real
workflows run in `make test-workflows`)."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.workflows.account import current_account
from tools.workflows.runner import Event, JobResult, Run, run_job

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
AWS = "aws-actions/configure-aws-credentials@ececac1a45f3b08a01d2dd070d28d111c5fe6722"
PUSH = Event("push", "refs/heads/main", {})


def repository(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "source"
    repo.mkdir()
    (repo / "README.md").write_text("demo\n")
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "c"],
    ):
        subprocess.run(["git", "-C", str(repo), *argv], check=True)
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return repo, sha


def run_steps(tmp_path: Path, steps: list[dict[str, Any]], **job: Any) -> tuple[JobResult, str]:
    source, sha = repository(tmp_path)
    workflow = {
        "name": "demo",
        "env": {"FROM_WORKFLOW": "${{ vars.REGION }}"},
        "jobs": {"j": {"runs-on": "ubuntu-24.04", "steps": steps, **job}},
    }
    out = io.StringIO()
    base = tmp_path / "base"
    base.mkdir()
    run = Run(source, sha, "acme/demo", current_account(), base, {"REGION": "eu-west-1"}, out=out)
    return run_job(run, workflow, "j", PUSH), out.getvalue()


def outcomes(result: JobResult) -> list[tuple[str, str]]:
    return [(s.name, s.outcome) for s in result.steps]


def test_checkout_variables_outputs_and_env_reach_later_steps(tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [
        {"uses": CHECKOUT, "with": {"persist-credentials": False}},
        {
            "name": "github vars",
            "id": "first",
            "run": 'test "$CI" = true && test "$PWD" = "$GITHUB_WORKSPACE" && test -f README.md\n'
            'test "$(git rev-parse HEAD)" = "$GITHUB_SHA"\n'
            "! git config --get-regexp extraheader\n"
            'echo "tag=$GITHUB_SHA" >> "$GITHUB_OUTPUT"\n'
            'echo "LATER=from-env-file" >> "$GITHUB_ENV"\n'
            'test "$FROM_WORKFLOW" = eu-west-1',
        },
        {
            "name": "reads them",
            "env": {"TAG": "${{ steps.first.outputs.tag }}"},
            "run": 'test "$TAG" = "$GITHUB_SHA" && test "$LATER" = from-env-file',
        },
    ]
    result, out = run_steps(tmp_path, steps, outputs={"tag": "${{ steps.first.outputs.tag }}"})
    assert outcomes(result) == [
        (CHECKOUT, "success"),
        ("github vars", "success"),
        ("reads them", "success"),
    ], out
    assert len(result.outputs["tag"]) == 40
    # The workspace path has a space, as the tier's always do.
    assert result.workspace is not None and " " in str(result.workspace)


@pytest.mark.parametrize(
    ("step", "ok"),
    [
        ({"run": "false\necho reached"}, False),  # bash -e: the first failure ends the step
        ({"run": "false | true"}, True),  # no pipefail by default, as on GitHub
        ({"run": "false | true", "shell": "bash"}, False),  # shell: bash adds pipefail
    ],
)
def test_steps_run_with_githubs_bash_options(
    tmp_path: Path, step: dict[str, Any], ok: bool
) -> None:
    result, out = run_steps(tmp_path, [{"name": "s", **step}])
    assert result.ok is ok, out


def test_a_failed_step_skips_the_rest_except_always(tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [
        {"name": "fails", "run": "exit 3"},
        {"name": "after", "run": "true"},
        {"name": "always", "if": "always()", "run": "true"},
    ]
    result, _ = run_steps(tmp_path, steps)
    assert outcomes(result) == [("fails", "failure"), ("after", "skipped"), ("always", "success")]
    assert result.steps[0].detail == "exit 3"


def test_steps_from_aws_credentials_on_are_skipped_with_the_reason(tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [
        {"name": "before", "run": "true"},
        {"uses": AWS, "with": {"role-to-assume": "${{ vars.REGION }}"}},
        {"name": "deploy", "run": "exit 1"},
    ]
    result, _ = run_steps(tmp_path, steps)
    assert outcomes(result) == [("before", "success"), (AWS, "skipped"), ("deploy", "skipped")]
    assert "needs AWS" in result.steps[2].detail and result.ok


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"uses": "actions/checkout@v4"}, "not pinned to a full commit SHA"),
        ({"uses": "acme/unknown@" + "0" * 40}, "no local equivalent for acme/unknown"),
        ({"run": "echo ${{ vars.NOPE }}"}, "vars.NOPE is not set"),
        ({"run": "true", "shell": "pwsh"}, "shell 'pwsh'"),
    ],
)
def test_what_the_tier_cannot_run_faithfully_fails(
    tmp_path: Path, step: dict[str, Any], message: str
) -> None:
    result, _ = run_steps(tmp_path, [step])
    (only,) = result.steps
    assert only.outcome == "failure" and message in only.detail


def test_the_shipped_workflows_use_only_what_the_tier_knows() -> None:
    root = Path(__file__).resolve().parents[2] / ".github" / "workflows"
    for path in root.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            assert job["runs-on"] == "ubuntu-24.04", path.name
            for step in job["steps"]:
                assert step.get("shell") in (None, "bash"), (path.name, step)


def test_processes_a_job_leaves_running_are_killed_at_its_end(tmp_path: Path) -> None:
    """As GitHub's runner cleans up orphan processes: whatever a step started in the
    background and left behind, in a session of its own, is gone when the job ends."""
    pid_file = tmp_path / "orphan.pid"
    steps: list[dict[str, Any]] = [
        {"name": "leaves one", "run": f"setsid sleep 300 >/dev/null 2>&1 &\necho $! > '{pid_file}'"}
    ]
    result, out = run_steps(tmp_path, steps)
    assert result.ok, out
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), out
    assert f"killed 1 orphan process(es) of the job: [{pid}]" in out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has been killed)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
