"""Docs that run: the deploy guide's AWS commands, run as a user runs them, for dev and prod.

docs/deploy.md marks each command block of its "Deploy to AWS" section with the stages it runs
for (testkit/docs_run/page.py). For each stage, this tier clones HEAD into a folder whose path
has a space, starts a fresh AWS emulator (`make up`'s, tools/rehearsal/emulator.py), and runs
that stage's blocks in page order in ONE `bash -Eeuo pipefail` with a user's PATH (no `node`;
`aws` and a `docker` whose login/push reach the emulator's ECR: testkit/docs_run/session.py).
Only the placeholders below are filled in, each of which must still be in the page; the values
the page has the user type (`read -rs NAME`) come on stdin. A command that fails for a user
fails here, naming its line in the page: one run in the wrong order (users before the pool),
a variable never exported, a secret pasted from an example, a build without `--platform`, a
CDK CLI called without make (no `node` on PATH).

Besides the session's exit status, the tier looks at what the guide produced: before the stage
is removed, the deployed task's settings (its secret included) pass the service's own start-up
validation; afterwards both images of the release are in the registry with the stage's tags,
and the stage's stacks are gone while the registry stays.

FYNTRIX_DOCS_RUN_REF=<commit> runs the page of another commit (HEAD by default).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.config import service_stack_name, state_stack_name
from testkit.docs_run import checks
from testkit.docs_run import page as docs_page
from testkit.docs_run.page import PageError, Placeholder
from testkit.docs_run.session import (
    PRELUDE,
    Outcome,
    block_seconds,
    clone,
    git,
    run,
    session_env,
    user_bin,
)
from testkit.emulator import running_emulator
from tools.containers.engine import Engine
from tools.containers.images import APP, REDIS, resolve_base

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deploy.md"
REGION = "us-east-1"  # both stage files' region
REPOSITORY = "fyntrix-app"
# The domain a prod user owns (the page's example is refused, as the stage file's placeholder),
# and the Route 53 zone they already hold for it.
DOMAIN = "api.fyntrix.example"
ZONE_DOMAIN = "fyntrix.example"
ZONE_ID = "__ZONE_ID__"  # replaced by the id the emulator gives the zone
PLACEHOLDERS = (
    Placeholder(text="export STAGE=dev", values={"prod": "export STAGE=prod"}),
    Placeholder(text="api.example.com", values={"prod": DOMAIN}),
    # The certificate the page's own request got (it sets CERT).
    Placeholder(
        text="arn:aws:acm:us-east-1:111122223333:certificate/UUID", values={"prod": "${CERT}"}
    ),
    Placeholder(text="Z0123456789ABCDEFGHIJ", values={"prod": ZONE_ID}),
)
# What the user types where the page reads a value (`read -rs NAME`).
TYPED = {
    "DATABASE_URL": "postgresql://fyntrix:docs-run-password@fyntrix-db.internal:5432/fyntrix",
    "VALUE": "docs-run-market-data-key",
}
# Run in the session just before the block holding the key: the stage is still deployed there.
TASK_START_CHECK = "make destroy-state STAGE=$STAGE"
SESSION_TIMEOUT_S = 1800.0


def page_text() -> str:
    return PAGE.read_text(encoding="utf-8")


# ---- the page's rules (unit tier) ---------------------------------------------------------


def test_every_command_block_of_the_aws_section_says_where_it_runs() -> None:
    blocks = docs_page.blocks(page_text())
    assert blocks, "no fenced block in the Deploy to AWS section"
    for stage in docs_page.STAGES:
        assert any(stage in b.stages for b in blocks), f"no block runs for {stage}"


def test_an_unmarked_bash_block_is_refused() -> None:
    page = "# Deploy\n\n## Deploy to AWS\n\n```bash\nmake deploy\n```\n\n## Costs\n"
    with pytest.raises(PageError, match=r"docs/deploy.md:5: a ```bash block without data-run"):
        docs_page.blocks(page)


def test_every_placeholder_the_tier_fills_is_in_the_page() -> None:
    # A placeholder the page no longer has would be filled in nowhere: the tier would then run
    # something else than the page says, or the reader be left with a value to guess.
    assert docs_page.missing_placeholders(page_text(), PLACEHOLDERS) == []


@pytest.mark.parametrize("stage", docs_page.STAGES)
def test_the_tier_types_every_value_the_page_reads(stage: str) -> None:
    script = docs_page.script(page_text(), stage, PLACEHOLDERS)
    assert set(docs_page.reads(script.text)) == set(TYPED), (
        "the page reads other values than the tier types: add each to TYPED"
    )


def test_a_script_names_the_page_line_of_each_command() -> None:
    page = (
        "# D\n\n## Deploy to AWS\n\ntext\n"
        '```{.bash data-run="dev"}\necho one\necho two\n```\n'
        '```{.bash data-run="prod"}\necho prod\n```\n'
        "## Costs\n"
    )
    script = docs_page.script(page, "dev", [])
    lines = script.text.splitlines()
    assert lines[script_line(script, "echo two") - 1] == "echo two"
    assert script.page_line(script_line(script, "echo two")) == 8
    assert "echo prod" not in script.text


def script_line(script: docs_page.Script, text: str) -> int:
    return script.text.splitlines().index(text) + 1


def test_the_page_shows_what_the_dev_deploy_prints() -> None:
    (example,) = docs_page.examples(page_text(), "dev")
    assert "Fyntrix-Service-dev.ServiceUrl = http://" in example.body


def test_an_example_line_matches_only_what_a_tool_printed() -> None:
    printed = (
        "Fyntrix-Service-dev.ClusterName = Fyntrix-Service-dev-ClusterC2E21B66-2LO1TLDGFHMR\n"
        "Fyntrix-Service-dev.UserPoolId = us-east-1_50bb0de7ca6547278c287821fd3fb79e\n"
    )
    # Another run's ids: the same lines
    other_run = (
        "Fyntrix-Service-dev.ClusterName = Fyntrix-Service-dev-ClusterC2E21B66-VLJC9U0FN5XQ\n"
        "Fyntrix-Service-dev.UserPoolId = us-east-1_0730ad5db7c648bdb107d8d6dfbf65da\n"
    )
    assert docs_page.unmatched_lines(other_run, printed) == []
    # A hand-made value, a renamed output, a line no tool prints: refused
    made_up = (
        "Fyntrix-Service-dev.UserPoolId = us-east-1_AbCdEf\n"
        "Fyntrix-Service-dev.Cluster = Fyntrix-Service-dev-ClusterC2E21B66-VLJC9U0FN5XQ\n"
        "Deployed in no time\n"
    )
    assert docs_page.unmatched_lines(made_up, printed) == made_up.splitlines()


def test_a_toml_block_goes_above_the_placeholders_table(tmp_path: Path) -> None:
    # GIVEN a stage file with its [placeholders] table, and the page's values for it
    (tmp_path / "stages").mkdir()
    stage_file = tmp_path / "stages" / "prod.toml"
    stage_file.write_text('region = "us-east-1"\n\n[placeholders]\ndomain_name = "x"\n')
    page = (
        "# D\n\n## Deploy to AWS\n\n"
        '```{.toml data-run="prod"}\ndomain_name = "$DOMAIN"\n```\n\n## Costs\n'
    )
    script = docs_page.script(page, "prod", [], prelude=PRELUDE)
    # WHEN the session runs the block (the page's values from the session's variables)
    done = subprocess.run(
        ["bash", "-Eeuo", "pipefail", "-c", script.text],
        cwd=tmp_path,
        env={**os.environ, "STAGE": "prod", "DOMAIN": "api.example.com",
             "DOCS_RUN_PYTHON": sys.executable},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # THEN the value is a top-level setting, above the table
    assert done.returncode == 0, done.stderr
    assert stage_file.read_text().startswith('region = "us-east-1"\n\ndomain_name = "api.exa')


# ---- what fails for a user fails in the tier ----------------------------------------------


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("{...}", "invalid setting APP_SECRETS: is not valid JSON"),
        ('{"AWS_COGNITO_USER_POOL_ID":"..."}', "is not a Cognito user pool id"),
    ],
)
def test_the_task_start_check_fails_a_secret_pasted_from_an_example(
    secret: str, message: str
) -> None:
    # GIVEN a dev task's environment whose secret holds an example copied literally
    env = {"APP_STAGE": "dev", "APP_SECRETS": secret, **AUTH_ENV}
    # WHEN the tier checks it as the app's start would THEN the app would exit 2
    done = checks.validate(env, ROOT)
    assert (done.returncode, message in done.stderr) == (2, True), done.stderr
    # AND the guide's way (jq, the value typed) gives a secret that starts
    good = json.dumps({"DATABASE_URL": TYPED["DATABASE_URL"]})
    assert checks.validate({**env, "APP_SECRETS": good}, ROOT).returncode == 0


AUTH_ENV = {
    "AUTH_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
    "AUTH_CLIENT_IDS": "4tl7d0vq2q9example0000",
}


def test_a_users_path_has_no_node_and_the_cdk_cli_needs_one(tmp_path: Path) -> None:
    # GIVEN the session's PATH: the machine's tools without Node
    path = user_bin(tmp_path)
    env = {"PATH": path, "HOME": str(tmp_path)}
    # WHEN a command calls the CDK CLI without make THEN it fails: no `node`
    cdk = ["/bin/bash", "-c", "node_modules/.bin/cdk --version"]
    done = subprocess.run(cdk, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "node" in done.stderr, done.stderr
    # AND the tools the guide names are there
    which = subprocess.run(["/bin/bash", "-c", "command -v make git jq aws docker"],
                           env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert which.returncode == 0, which.stderr


def standin(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testkit.docs_run.docker_standin", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_docker_standin_refuses_a_build_without_the_tasks_platform(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    done = standin("build", "-t", "fyntrix-app:x", "service/", env=env)
    assert done.returncode == 1
    assert "without --platform linux/amd64" in done.stderr
    # With it, the real CLI runs (here: its help)
    helped = standin("build", "--platform", "linux/amd64", "--help", env=env)
    assert helped.returncode == 0 and "Usage:" in helped.stdout + helped.stderr


def test_the_docker_standin_logs_in_and_pushes_only_as_ecr_allows(
    emulator: str, tmp_path: Path
) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "AWS_ENDPOINT_URL": emulator,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    registry = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
    # A push before any login is refused, as docker refuses it
    pushed = standin("push", f"{registry}/{REPOSITORY}:t1", env=env)
    assert pushed.returncode == 1 and "no basic auth credentials" in pushed.stderr
    # A password that is not the registry's token is refused
    wrong = standin("login", "--username", "AWS", "--password-stdin", registry,
                    env=env, stdin="not-the-token\n")  # fmt: skip
    assert wrong.returncode == 1 and "401 Unauthorized" in wrong.stderr
    # The token `aws ecr get-login-password` prints is accepted
    token = aws(emulator, "ecr").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)[1]
    right = standin("login", "--username", "AWS", "--password-stdin", registry,
                    env=env, stdin=f"{password}\n")  # fmt: skip
    assert (right.returncode, right.stdout.strip()) == (0, "Login Succeeded"), right.stderr


@pytest.mark.parametrize("without", ["nothing", "the region"])
def test_a_block_run_before_what_it_needs_fails_naming_its_line(
    without: str, emulator: str, tmp_path: Path
) -> None:
    # GIVEN the guide's user block (step 5) run on an account where nothing is deployed yet,
    # after the settings block, or after nothing at all (no region exported)
    page = page_text()
    runnable = [b for b in docs_page.blocks(page) if "dev" in b.stages]
    settings = next(b for b in runnable if "AWS_REGION=" in b.body)
    secrets = next(b for b in runnable if "output()" in b.body)
    users = next(b for b in runnable if "admin-create-user" in b.body)
    output_function = secrets.body[secrets.body.index("output()") : secrets.body.index("SECRET=")]
    region = "" if without == "the region" else settings.body.split("make bootstrap")[0]
    prelude = PRELUDE + region.replace("$(make -s region STAGE=$STAGE)", REGION) + output_function
    mini = f'# D\n\n## Deploy to AWS\n\n```{{.bash data-run="dev"}}\n{users.body}```\n\n## Costs\n'
    script = docs_page.script(mini, "dev", [], prelude=prelude)
    env = session_env(tmp_path / "home", user_bin(tmp_path / "bin"), emulator, {})
    # WHEN it runs
    outcome = run(tmp_path, script.text, env, "", 120)
    # THEN the session fails at the block's first command, and says which one
    assert outcome.returncode != 0
    message = failure(outcome, script, tmp_path / "mini.md", mini)
    assert "POOL=$(output Fyntrix-Service-$STAGE UserPoolId)" in message, message


# ---- the tier: every marked block, in order, against the emulator -------------------------


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    """A fresh emulator of `make up`, issuing ACM certificates at once (it validates none)."""
    with running_emulator(tmp_path, {"MOTO_ACM_VALIDATION_WAIT": "0"}) as endpoint:
        yield endpoint


def aws(emulator: str, name: str) -> Any:
    return boto3.client(
        name, region_name=REGION, endpoint_url=emulator,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def documented_variables(engine: Engine) -> dict[str, str]:
    """The page's own variables the tier sets: CDK_FLAGS (answer the CDK CLI's questions) and,
    where the upstream bases cannot be pulled, PYTHON_IMAGE/REDIS_IMAGE (stand-ins)."""
    env = {"CDK_FLAGS": "--yes", "DOCKER_HOST": engine.base_url}
    for spec in (APP, REDIS):
        base, kind = resolve_base(engine.client, spec, {}, lambda m: print(m, file=sys.stderr))
        if kind != "upstream":
            env[spec.base_arg] = base
    return env


def failure(outcome: Outcome, script: docs_page.Script, page_file: Path, text: str = "") -> str:
    """The page's command that failed, and the end of what it printed."""
    marks = [ln for ln in outcome.stderr.splitlines() if ln.startswith("::docs-run failed")]
    where = ""
    if marks:
        script_line = int(marks[0].split("script line ", 1)[1].split(",", 1)[0])
        line = script.page_line(script_line)
        if line is not None:
            lines = (text or page_file.read_text()).splitlines()
            where = f"docs/deploy.md:{line}: {lines[line - 1].strip()}\n"
    tail = (outcome.stdout[-2500:] + "\n--- stderr ---\n" + outcome.stderr[-4000:]).strip()
    return f"{where}{marks[0] if marks else 'exit ' + str(outcome.returncode)}\n{tail}"


def tier_ref() -> str:
    return os.environ.get("FYNTRIX_DOCS_RUN_REF", "HEAD")


@pytest.mark.integration
# Both stages on one worker, one after the other: each is a whole deploy session (synths,
# image builds on the one Docker engine), and side by side they would starve the rest.
@pytest.mark.xdist_group("docs_run")
@pytest.mark.parametrize("stage", docs_page.STAGES)
def test_the_guide_deploys_the_stage_as_written(
    stage: str, emulator: str, docker_engine: Engine, tmp_path: Path
) -> None:
    # GIVEN a clean clone in a path with a space, a fresh emulator, the user's PATH
    checkout = clone(tmp_path / "docs run" / "fyntrix deploy", tier_ref())
    route53 = aws(emulator, "route53")
    created = route53.create_hosted_zone(Name=ZONE_DOMAIN, CallerReference="docs-run")
    zone = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
    placeholders = [
        Placeholder(text=p.text, values={k: v.replace(ZONE_ID, zone) for k, v in p.values.items()})
        for p in PLACEHOLDERS
    ]
    check = (
        f'PYTHONPATH={shlex.quote(str(ROOT))} "$DOCS_RUN_PYTHON" -m testkit.docs_run.checks '
        "task-start --stage $STAGE"
    )
    page_file = checkout / "docs" / "deploy.md"
    script = docs_page.script(
        page_file.read_text(), stage, placeholders, prelude=PRELUDE,
        before={TASK_START_CHECK: check},
    )  # fmt: skip
    typed = "".join(f"{TYPED[name]}\n" for name in docs_page.reads(script.text))
    env = session_env(tmp_path / "home", user_bin(tmp_path / "bin"), emulator,
                      documented_variables(docker_engine))  # fmt: skip
    image_tag = git("rev-parse", "--short", "HEAD", cwd=checkout)
    registry = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
    try:
        # WHEN the stage's blocks run in order, in one shell
        outcome = run(checkout, script.text, env, typed, SESSION_TIMEOUT_S)
        times = ", ".join(f"{line}: {s} s" for line, s in block_seconds(outcome))
        print(f"\n[docs-run] {stage}: {outcome.elapsed_s} s (block at line: time) {times}",
              file=sys.stderr)  # fmt: skip
        # THEN every command succeeded
        assert outcome.returncode == 0, failure(outcome, script, page_file)
        assert f"[docs-run] the {stage} task's settings validate" in outcome.stdout
        # AND the page's example output is what these commands printed
        assert_examples_printed(page_file.read_text(), stage, outcome, tmp_path)
        assert_released(emulator, docker_engine, stage, image_tag, registry)
        assert_removed(emulator, stage)
    finally:
        for tag in (image_tag, f"redis-{image_tag}"):
            subprocess.run(["/usr/bin/docker", "rmi", "--no-prune", f"{registry}:{tag}"],
                           env={**os.environ, "DOCKER_HOST": docker_engine.base_url},
                           capture_output=True, check=False)  # fmt: skip


def assert_examples_printed(page: str, stage: str, outcome: Outcome, folder: Path) -> None:
    """Every line of the stage's example outputs is one the session printed (ids aside)."""
    printed = outcome.stdout + "\n" + outcome.stderr
    for example in docs_page.examples(page, stage):
        missing = docs_page.unmatched_lines(example.body, printed)
        if missing:
            transcript = folder / "session-output.txt"
            transcript.write_text(printed)
            raise AssertionError(
                f"docs/deploy.md:{example.line}: example output no command printed (the "
                f"session's output, to copy from, is in {transcript}):\n" + "\n".join(missing)
            )


def assert_released(
    emulator: str, engine: Engine, stage: str, image_tag: str, registry: str
) -> None:
    """Both images of the release are the ones built, under their tags and the stage's."""
    ecr = aws(emulator, "ecr")
    local = {t for i in engine.client.images.list(name=registry) for t in i.tags}
    pushed = ecr.list_images(repositoryName=REPOSITORY)["imageIds"]
    for tag in (image_tag, f"redis-{image_tag}"):
        assert f"{registry}:{tag}" in local, (
            f"{registry}:{tag} is not in the engine at {engine.base_url}; it holds "
            f"{sorted(local)}; the registry holds {sorted(i.get('imageTag', '') for i in pushed)}"
        )
        built = engine.client.images.get(f"{registry}:{tag}").id
        for name in (tag, f"{stage}-{tag}"):
            (image,) = ecr.batch_get_image(
                repositoryName=REPOSITORY, imageIds=[{"imageTag": name}]
            )["images"]
            assert json.loads(image["imageManifest"])["config"]["digest"] == built, name


def assert_removed(emulator: str, stage: str) -> None:
    """The guide ends by removing the stage: its stacks are gone, the shared registry stays."""
    stacks = aws(emulator, "cloudformation").describe_stacks()["Stacks"]
    live = {s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"}
    assert service_stack_name(stage) not in live, live
    assert state_stack_name(stage) not in live, live
    assert "Fyntrix-Registry" in live, live
