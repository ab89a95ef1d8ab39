"""ci.yml's job, every step, in a clean clone of HEAD as GitHub's runner would run it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tools.workflows.runner import Event, run_job
from tools.workflows.tier import load_workflow, tier_run, uncommitted


def test_ci_yml_runs_end_to_end_on_a_push_to_main() -> None:
    workflow = load_workflow("ci.yml")
    if uncommitted():
        print("note: uncommitted changes are not part of this run (it checks out HEAD)")
    started = time.monotonic()
    with tier_run(sys.stdout) as run:
        result = run_job(run, workflow, "check-test-synth", Event("push", "refs/heads/main", {}))
        out = Path(str(result.workspace)) / "cdk.out"
        assembly = {
            stage: sorted(p.name for p in (out / stage).glob("*.json")) for stage in ("dev", "prod")
        }
    print(f"ci.yml check-test-synth: {time.monotonic() - started:.0f} s")
    # Every step ran and passed: nothing here needs AWS or GitHub's API.
    assert [(s.name, s.outcome) for s in result.steps if s.outcome != "success"] == []
    steps = [s.name for s in result.steps]
    assert "Tests" in steps and "Synthesize every stage" in steps
    # The synth step wrote both stages' assemblies that the upload step found.
    assert "Fyntrix-Service-prod.template.json" in assembly["prod"]
    assert "Fyntrix-Service-dev.template.json" in assembly["dev"]
