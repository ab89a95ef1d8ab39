"""The workflow tier's run as GitHub's runner runs a job: steps as an unprivileged user with
passwordless sudo, so a step that needs root without asking for it fails here as it fails on
GitHub, and fails the job; the run leaves none of its files behind. Only root can switch to
the runner account (as CI and this machine do); elsewhere the tier runs as the user itself."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from tests.tools.test_workflow_runner import CHECKOUT, PUSH, outcomes, repository
from tools.workflows.runner import run_job
from tools.workflows.tier import tier_run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root switches to the tier's runner account"
)

STEPS: list[dict[str, Any]] = [
    {"uses": CHECKOUT, "with": {"persist-credentials": False}},
    {
        "name": "unprivileged, with sudo",
        "id": "user",
        "run": 'test "$(id -u)" -ne 0 && test "$(id -un)" = "$USER"\n'
        'test "$(sudo -n id -u)" = 0\n'
        'test -w "$GITHUB_WORKSPACE" && git status --short\n'
        'echo "probe=$(mktemp)" >> "$GITHUB_OUTPUT"',
    },
    # On GitHub this needs `sudo`: without it the step fails, and so the job.
    {"name": "writes root's files", "run": "touch /etc/fyntrix-workflow-tier-probe"},
    {"name": "after", "run": "true"},
]


def test_steps_run_unprivileged_and_one_that_needs_root_fails_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FYNTRIX_KEEP_WORKFLOW_RUN", raising=False)
    source, sha = repository(tmp_path)
    job = {
        "runs-on": "ubuntu-24.04",
        "steps": STEPS,
        "outputs": {"probe": "${{ steps.user.outputs.probe }}"},
    }
    workflow = {"name": "demo", "jobs": {"j": job}}
    out = io.StringIO()
    with tier_run(out, root=source, sha=sha, docker=False) as run:
        result = run_job(run, workflow, "j", PUSH)
        base = run.base
        probe = Path(result.outputs["probe"])
        assert probe.is_file(), out.getvalue()
    assert outcomes(result) == [
        (CHECKOUT, "success"),
        ("unprivileged, with sudo", "success"),
        ("writes root's files", "failure"),
        ("after", "skipped"),
    ], out.getvalue()
    assert not result.ok
    assert "Permission denied" in out.getvalue()
    assert not Path("/etc/fyntrix-workflow-tier-probe").exists()
    # The run's folder and what its steps left in /tmp are gone.
    assert not base.exists()
    assert not probe.exists()
