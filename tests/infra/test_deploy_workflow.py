"""The GitHub deploy workflow: valid, pinned, build-once, and aligned with Fyntrix-CI's trust.

Its validity against GitHub's workflow schema is checked with ci.yml's, in
tests/tools/test_workflow.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.config import CI_STACK_NAME, load_stage, service_stack_name, state_stack_name

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
SMOKE_SH = ROOT / "scripts" / "smoke.sh"
PIN = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")


def doc() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc()["jobs"][job]["steps"]
    return found


def runs(job: str) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_tag() -> None:
    lines = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert lines
    pins: dict[str, set[str]] = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"not pinned to a commit SHA with a version comment: {line.strip()}"
        pins.setdefault(match.group(1), set()).add(match.group(2))
    # One commit per action across the workflow.
    assert all(len(shas) == 1 for shas in pins.values()), pins


def test_triggers_and_least_privilege_permissions() -> None:
    d = doc()
    # PyYAML reads the `on` key as True.
    on = d["on"] if "on" in d else d[True]
    assert on == {"push": {"branches": [load_stage("dev").ci.deploy_branch]}, "pull_request": None}
    assert d["permissions"] == {"contents": "read"}
    for name, job in d["jobs"].items():
        perms = job["permissions"]
        assert perms["contents"] == "read", name
        assert perms["id-token"] == "write", name  # each job assumes a role via OIDC
        assert set(perms) <= {"contents", "id-token", "pull-requests"}, name
    assert "pull-requests" in d["jobs"]["diff"]["permissions"]


def test_the_image_is_built_once_tagged_with_the_commit_sha() -> None:
    d = doc()
    assert d["jobs"]["build"]["outputs"] == {"image_tag": "${{ steps.tag.outputs.image_tag }}"}
    (tag,) = [s for s in steps("build") if s.get("id") == "tag"]
    assert tag["run"] == 'echo "image_tag=$GITHUB_SHA" >> "$GITHUB_OUTPUT"'
    build = runs("build")
    assert build.count("docker build") == 1 and build.count("docker push") == 1
    # A re-run finds the immutable tag already pushed and does not try to overwrite it.
    assert "aws ecr describe-images" in build
    for job in ("diff", "deploy-dev", "deploy-prod"):
        assert "docker" not in runs(job), job


def test_both_images_of_the_release_are_built_for_fargate_and_pushed() -> None:
    """The app and Redis (service/Dockerfile.redis) images, tagged <sha> and redis-<sha>,
    for the task definition's X86_64 Linux, one manifest each."""
    build = runs("build")
    assert '"$IMAGE_TAG:Dockerfile" "redis-$IMAGE_TAG:Dockerfile.redis"' in build
    assert "docker build --platform linux/amd64 --provenance=false" in build


def test_each_deploy_tags_both_images_for_its_stage_before_deploying() -> None:
    """The lifecycle rules keep every stage-tagged image; a deploy tags first, so no task ever
    starts on an image that could still expire."""
    for stage in ("dev", "prod"):
        job = steps(f"deploy-{stage}")
        names = [s.get("run", "") for s in job]
        (tag_at,) = [i for i, run in enumerate(names) if "tools.release tag-stage" in run]
        (deploy_at,) = [i for i, run in enumerate(names) if "cdk deploy --app" in run]
        assert tag_at < deploy_at, stage
        assert job[tag_at]["run"] == (
            f'.venv/bin/python -m tools.release tag-stage --stage {stage} --image-tag "$IMAGE_TAG"'
        )
        assert job[tag_at]["env"] == {"IMAGE_TAG": "${{ needs.build.outputs.image_tag }}"}


def step_env(job: str, word: str) -> dict[str, str]:
    (step,) = [s for s in steps(job) if word in s.get("name", "")]
    env: dict[str, str] = step.get("env", {})
    return env


def test_dev_then_prod_deploy_the_same_tag() -> None:
    d = doc()
    dev, prod = d["jobs"]["deploy-dev"], d["jobs"]["deploy-prod"]
    assert dev["needs"] == "build"
    assert prod["needs"] == ["build", "deploy-dev"]
    for job in ("deploy-dev", "deploy-prod"):
        assert step_env(job, "Synthesize")["IMAGE_TAG"] == "${{ needs.build.outputs.image_tag }}"
        assert '-c "imageTag=$IMAGE_TAG"' in runs(job)
        assert "--outputs-file cdk-outputs.json" in runs(job)
        assert CI_STACK_NAME not in runs(job)  # Fyntrix-CI is deployed by hand, once
    # Each deploys exactly the assembly it synthesized, and only its own state and service
    # stacks (the build job deployed the registry)
    for stage in ("dev", "prod"):
        job = f"deploy-{stage}"
        synth = f"cdk synth --quiet -c stage={stage} "
        assert synth in runs(job)
        deploy = (
            f"cdk deploy --app cdk.out/{stage} --exclusively \\\n"
            f"  {state_stack_name(stage)} {service_stack_name(stage)}"
        )
        assert deploy in runs(job)
        # Every setting from the committed stage file, region included; a deploy never
        # admits the file's example values (no allowPlaceholders), so prod with them fails
        assert "allowPlaceholders" not in runs(job)
        assert f'echo "AWS_REGION=$(make -s region STAGE={stage})" >> "$GITHUB_ENV"' in runs(job)
        assert "certificateArn" not in runs(job) and "vars.PROD_" not in WORKFLOW.read_text()


def test_jobs_match_the_subjects_each_role_trusts() -> None:
    ci = load_stage("dev").ci
    d = doc()
    # Without an environment the token's sub is ref:refs/heads/<branch>, the only subject
    # dev's role trusts; with the prod environment it is environment:prod, the only one
    # prod's role trusts (tests/infra/test_ci_stack.py).
    for job in ("build", "deploy-dev"):
        assert "environment" not in d["jobs"][job], job
    assert d["jobs"]["deploy-prod"]["environment"] == {"name": ci.prod_environment}
    role_of = {
        job: [
            s["with"]["role-to-assume"] for s in steps(job) if "role-to-assume" in s.get("with", {})
        ]
        for job in d["jobs"]
    }
    assert role_of == {
        "diff": ["${{ vars.AWS_DIFF_ROLE_ARN }}"],
        "build": ["${{ vars.AWS_DEV_DEPLOY_ROLE_ARN }}"],
        "deploy-dev": ["${{ vars.AWS_DEV_DEPLOY_ROLE_ARN }}"],
        "deploy-prod": ["${{ vars.AWS_PROD_DEPLOY_ROLE_ARN }}"],
    }
    assert d["jobs"]["build"]["if"] == "github.event_name == 'push'"
    assert (
        "github.event.pull_request.head.repo.full_name == github.repository"
        in d["jobs"]["diff"]["if"]
    )


def test_each_job_runs_the_commits_code_before_it_has_credentials() -> None:
    # The synth (app.py: the commit's own code) runs before configure-aws-credentials; the
    # steps after it deploy or diff the synthesized assembly and never synthesize again.
    for job in doc()["jobs"]:
        job_steps = steps(job)
        (creds,) = [
            i for i, s in enumerate(job_steps) if "configure-aws-credentials" in s.get("uses", "")
        ]
        before = "\n".join(s.get("run", "") for s in job_steps[:creds])
        after = "\n".join(s.get("run", "") for s in job_steps[creds:])
        assert "cdk synth" in before, job
        assert "cdk synth" not in after, job
        for command in re.findall(r"cdk (?:deploy|diff) [^\n]*", after):
            assert "--app " in command, (job, command)


def test_deploys_queue_per_stage_and_never_cancel() -> None:
    d = doc()
    # No workflow-wide group: a prod deploy waiting for reviewers must not hold dev's queue.
    assert "concurrency" not in d
    groups = {job: d["jobs"][job]["concurrency"] for job in ("build", "deploy-dev", "deploy-prod")}
    assert {g["group"] for g in groups.values()} == {"deploy-registry", "deploy-dev", "deploy-prod"}
    assert all(g["cancel-in-progress"] is False for g in groups.values())
    assert d["jobs"]["diff"]["concurrency"] == {
        "group": "diff-${{ github.ref }}",
        "cancel-in-progress": True,
    }


def test_pull_requests_get_a_template_diff_posted_as_one_comment() -> None:
    diff = runs("diff")
    # A template diff of the synthesized assemblies, no change set: the diff role may only
    # read templates
    assert 'cdk diff --app "cdk.out/$stage" --no-change-set' in diff
    assert "for stage in dev prod" in diff
    (post,) = [s for s in steps("diff") if s.get("uses", "").startswith("actions/github-script@")]
    script = post["with"]["script"]
    assert "<!-- fyntrix-cdk-diff -->" in script
    assert "updateComment" in script and "createComment" in script


def test_each_deploy_is_smoke_tested_with_an_authenticated_read() -> None:
    for job, stack, prefix in (
        ("deploy-dev", service_stack_name("dev"), "SMOKE_DEV_"),
        ("deploy-prod", service_stack_name("prod"), "SMOKE_"),
    ):
        (smoke,) = [s for s in steps(job) if s.get("run", "").startswith("scripts/smoke.sh")]
        assert smoke["run"] == f"scripts/smoke.sh {stack}"
        env = smoke["env"]
        assert env["SMOKE_USERNAME"] == f"${{{{ secrets.{prefix}USERNAME }}}}"
        assert env["SMOKE_PASSWORD"] == f"${{{{ secrets.{prefix}PASSWORD }}}}"
        # The pool requires MFA: the authenticator's secret is a secret too, never a variable.
        assert env["SMOKE_TOTP_SECRET"] == f"${{{{ secrets.{prefix}TOTP_SECRET }}}}"
        assert env["SMOKE_CLIENT_SECRET"].startswith("${{ secrets.")
    text = SMOKE_SH.read_text()
    # The tool signs in itself (SRP + authenticator code); secrets stay out of argv.
    assert "python -m tools.smoke" in text and "initiate-auth" not in text
    assert "SMOKE_TOTP_SECRET" in text and "$SMOKE_PASSWORD" not in text


def test_smoke_script_refuses_without_the_test_user(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "SMOKE_CLIENT_ID": "abc", "SMOKE_USERNAME": "smoke"}
    result = subprocess.run(
        ["bash", str(SMOKE_SH), "Fyntrix-Service-dev"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SMOKE_PASSWORD is empty" in result.stderr
    assert "docs/deploy.md" in result.stderr
