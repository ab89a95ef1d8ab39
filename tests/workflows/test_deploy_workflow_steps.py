"""deploy.yml's jobs for a push to main and a pull request: every step that needs no AWS runs
here (checkout, setup, install, the image tag, each job's synth); the steps from
configure-aws-credentials on, and the GitHub API comment, are skipped with their reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tools.workflows.runner import Event, JobResult, run_job
from tools.workflows.tier import TIER_VARS, load_workflow, tier_run

ALWAYS_HERE = ("actions/checkout@", "actions/setup-python@", "actions/setup-node@")


def service_template(result: JobResult, stage: str) -> dict[str, Any]:
    assert result.workspace is not None
    path = Path(result.workspace) / "cdk.out" / stage / f"Fyntrix-Service-{stage}.template.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def assert_runs_until_credentials(result: JobResult) -> None:
    outcomes = [(s.name, s.outcome) for s in result.steps]
    first_aws = next(i for i, s in enumerate(result.steps) if "needs AWS" in s.detail)
    assert [o for _, o in outcomes[:first_aws]] == ["success"] * first_aws, outcomes
    assert all(s.outcome == "skipped" for s in result.steps[first_aws:]), outcomes
    assert any("Synthesize" in name for name, _ in outcomes[:first_aws]), outcomes


def test_deploy_yml_push_jobs_and_pull_request_diff_run_up_to_their_credentials() -> None:
    workflow = load_workflow("deploy.yml")
    with tier_run(sys.stdout) as run:
        push = Event("push", "refs/heads/main", {"ref": "refs/heads/main", "after": run.sha})
        build = run_job(run, workflow, "build", push)
        needs = {"build": {"result": "success", "outputs": build.outputs}}
        dev = run_job(run, workflow, "deploy-dev", push, needs)
        prod = run_job(run, workflow, "deploy-prod", push, {**needs, "deploy-dev": {}})
        skipped_diff = run_job(run, workflow, "diff", push)
        pull = {
            "pull_request": {
                "number": 1,
                "head": {"sha": run.sha, "repo": {"full_name": run.repository}},
            }
        }
        diff = run_job(run, workflow, "diff", Event("pull_request", "refs/pull/1/merge", pull))
        skipped_build = run_job(
            run, workflow, "build", Event("pull_request", "refs/pull/1/merge", pull)
        )
        templates = {"dev": service_template(dev, "dev"), "prod": service_template(prod, "prod")}
        diff_assemblies = sorted(p.name for p in (Path(str(diff.workspace)) / "cdk.out").iterdir())
    # THEN the image tag is the commit, and each deploy job synthesized its stage with it
    assert build.outputs == {"image_tag": run.sha}
    for job in (build, dev, prod, diff):
        assert_runs_until_credentials(job)
    for stage, template in templates.items():
        assert f":{run.sha}" in json.dumps(template), stage
    # AND prod with the certificate the repository variable names
    assert TIER_VARS["PROD_CERTIFICATE_ARN"] in json.dumps(templates["prod"])
    # AND the pull request's diff job synthesized both stages; the push jobs skip it and
    # the pull request skips the push jobs
    assert diff_assemblies == ["dev", "prod"]
    assert skipped_diff.skipped and not skipped_diff.steps
    assert skipped_build.skipped and not skipped_build.steps
