"""The GitHub Actions workflows we ship: valid, pinned, audited (zizmor), and CI runs the gates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.gates import gate_zizmor, tool

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
            *tool(Path(sys.executable).parent / "check-jsonschema"),
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


def test_ci_runs_the_workflow_tier_after_the_suite() -> None:
    # A workflow step that would fail on GitHub fails CI: .ci/run stops at the first failing
    # command, and the tier runs the workflows' steps as GitHub's non-root runner would.
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "set -euo pipefail" in lines
    assert lines.index("make test-workflows") > lines.index("make test")


PIN = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")


def all_steps(workflow: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(workflow.read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(workflow: Path) -> None:
    lines = [line for line in workflow.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert PIN.match(line), f"not pinned to a commit SHA with its version: {line.strip()}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_checkouts_keep_no_credentials_and_scripts_expand_no_expressions(workflow: Path) -> None:
    steps = all_steps(workflow)
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    # The token stays out of .git/config, where any later step (or an uploaded artifact)
    # could read it.
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)
    # `${{ }}` inside a script is pasted into its text before bash reads it: a value with a
    # quote or `$(...)` becomes code. Values reach scripts through `env:`.
    assert not [s["run"] for s in steps if "${{" in s.get("run", "")]


def test_prod_synth_in_ci_uses_the_stage_files_placeholders() -> None:
    """CI synthesizes prod with stages/prod.toml's example certificate and domain, which only
    `allowPlaceholders` admits (a deploy never passes it)."""
    doc = yaml.safe_load(WORKFLOW.read_text())
    job = doc["jobs"]["check-test-synth"]
    assert "PLACEHOLDER_CERTIFICATE_ARN" not in job["env"]
    (synth,) = [s for s in job["steps"] if s.get("name") == "Synthesize every stage"]
    assert "-c allowPlaceholders=true" in synth["run"]
    assert "certificateArn" not in synth["run"]


def test_zizmor_gate_passes_on_the_shipped_workflows() -> None:
    result = gate_zizmor()
    assert result.ok, result.findings
    assert result.summary.startswith("0 high, 0 medium, 0 low, 0 informational (2 workflows")


UNSAFE_WORKFLOW = """\
name: unsafe
on: pull_request
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_zizmor_gate_fails_on_an_unpinned_action_and_an_expression_in_a_script(
    tmp_path: Path,
) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "unsafe.yml").write_text(UNSAFE_WORKFLOW)
    result = gate_zizmor(workflows)
    assert not result.ok
    audits = {f.split()[1] for f in result.findings}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= audits, result.findings
    assert all(f.startswith(str(workflows / "unsafe.yml")) for f in result.findings)
