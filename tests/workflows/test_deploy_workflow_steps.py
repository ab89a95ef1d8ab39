"""deploy.yml's jobs for a push to main and a pull request: every step that needs no AWS runs
here (checkout, setup, install, the image tag, each job's synth); the steps from
configure-aws-credentials on, and the GitHub API comment, are skipped with their reason.

Prod deploys from a stage file a team has completed (the committed one holds example values
that refuse to deploy, by design): its job runs on a commit of HEAD with stages/prod.toml
completed as docs/deploy.md says."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.workflows.runner import Event, JobResult, Run, run_job
from tools.workflows.tier import PLACEHOLDER_ACCOUNT, load_workflow, tier_run

ALWAYS_HERE = ("actions/checkout@", "actions/setup-python@", "actions/setup-node@")
TEAM_CERTIFICATE_ARN = (
    f"arn:aws:acm:us-east-1:{PLACEHOLDER_ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
)
TEAM_DOMAIN = "api.fyntrix.example"


def team_commit(run: Run, folder: Path) -> Run:
    """The run on a commit of HEAD with stages/prod.toml completed by a team: its certificate
    and domain written above the [placeholders] table."""
    clone = folder / "team"
    subprocess.run(["git", "clone", "-q", str(run.source), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "-B", "main", run.sha], check=True)
    stage_file = clone / "stages" / "prod.toml"
    mine = f'certificate_arn = "{TEAM_CERTIFICATE_ARN}"\ndomain_name = "{TEAM_DOMAIN}"\n'
    stage_file.write_text(mine + stage_file.read_text(encoding="utf-8"), encoding="utf-8")
    git = ["git", "-C", str(clone), "-c", "user.name=team", "-c", "user.email=team@example.com"]
    subprocess.run([*git, "commit", "-q", "-am", "stages: prod values"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return dataclasses.replace(run, source=clone, sha=sha)


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


def test_deploy_yml_push_jobs_and_pull_request_diff_run_up_to_their_credentials(
    tmp_path: Path,
) -> None:
    workflow = load_workflow("deploy.yml")
    with tier_run(sys.stdout) as run:
        push = Event("push", "refs/heads/main", {"ref": "refs/heads/main", "after": run.sha})
        build = run_job(run, workflow, "build", push)
        needs = {"build": {"result": "success", "outputs": build.outputs}}
        dev = run_job(run, workflow, "deploy-dev", push, needs)
        team = team_commit(run, tmp_path)
        prod = run_job(team, workflow, "deploy-prod", push, {**needs, "deploy-dev": {}})
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
    # AND prod with the certificate and domain of the team's stage file
    assert TEAM_CERTIFICATE_ARN in json.dumps(templates["prod"])
    assert TEAM_DOMAIN in json.dumps(templates["prod"])
    # AND the pull request's diff job synthesized both stages; the push jobs skip it and
    # the pull request skips the push jobs
    assert diff_assemblies == ["dev", "prod"]
    assert skipped_diff.skipped and not skipped_diff.steps
    assert skipped_build.skipped and not skipped_build.steps
