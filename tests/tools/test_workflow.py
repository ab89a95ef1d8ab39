"""The GitHub Actions workflow we ship for users is valid and runs the gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_ci_and_deploy_workflows_are_shipped() -> None:
    assert [w.name for w in WORKFLOWS] == ["ci.yml", "deploy.yml"]


# Every shipped workflow (ci.yml, deploy.yml) against GitHub's schema as vendored in the pinned
# check-jsonschema, so the check runs offline and changes only when the pin does.
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_workflow_matches_githubs_schema(workflow: Path) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_runs_check_test_and_synth_of_every_stage() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["check-test-synth"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make check" in runs
    assert "make test" in runs
    assert "for stage in dev prod" in runs
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    caches = [s for s in steps if s.get("uses", "").startswith("actions/cache")]
    assert caches and ".jsii-cache" in caches[0]["with"]["path"]
    assert doc["permissions"] == {"contents": "read"}


def test_workflow_needs_nothing_beside_the_clone() -> None:
    # A GitHub runner has only the checkout: `make setup` (which fetches and pins the Render
    # schema) runs before the gates and the tests, and no step points outside the workspace.
    doc = yaml.safe_load(WORKFLOW.read_text())
    runs = [s.get("run", "") for s in doc["jobs"]["check-test-synth"]["steps"]]
    order = [
        next(i for i, r in enumerate(runs) if cmd in r)
        for cmd in ("make setup", "make check", "make test")
    ]
    assert order == sorted(order)
    assert "../" not in WORKFLOW.read_text()
