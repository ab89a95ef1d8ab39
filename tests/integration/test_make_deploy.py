"""`make deploy STAGE=prod`, as the deploy guide has it, against the rehearsal's AWS emulator.

The same make targets, stage file and CDK CLI as a real deploy; only AWS_ENDPOINT_URL points at
the emulator on loopback (tools/require_aws.py accepts that and says so). Prod deploys from its
stage file once the file's placeholders are replaced, never before; `make diff` then sees the
same thing deployed, and the file's values (certificate, domain, alarm e-mails) are what the
deployed stack carries.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.config import load_stage, service_stack_name
from infra.config.names import redis_image_tag
from testkit.emulator import DUMMY_CREDENTIALS
from tests.ops.conftest import emulator as emulator  # the rehearsal's moto, on a free port
from tests.ops.conftest import image_manifest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("make_deploy_prod"),  # one deploy, asserted on by every test
]

REGION = "us-east-1"  # stages/prod.toml's region
STACK = service_stack_name("prod")
DOMAIN = "api.fyntrix.example"
ONCALL = "oncall@fyntrix.example"
REPOSITORY = load_stage("dev").repository_name  # one repository for every stage


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDK CLI's output folder (CDK_FLAGS=-o ...), so no other run's cdk.out is touched."""
    return tmp_path_factory.mktemp("cdk.out")


def flags(out_dir: Path, *more: str) -> str:
    return "CDK_FLAGS=" + " ".join(["-o", str(out_dir), *more])


@pytest.fixture(scope="module")
def aws_env(emulator: str) -> dict[str, str]:
    """The shell the guide describes, pointed at the emulator: no real profile, the stage's
    region exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    for key in ("STAGE", "SET", "IMAGE_TAG", "STAGE_FILE", "CDK_FLAGS"):
        env.pop(key, None)
    return {
        **env,
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": emulator,
        "AWS_REGION": REGION,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "-o",
         "node_modules/.installed", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip


def client(env: dict[str, str], name: str) -> Any:
    return boto3.client(
        name,
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def filled_stage_file(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stages/prod.toml as an operator completes it (docs/deploy.md): a certificate (here from
    the emulator's ACM) and its domain and zone written above the placeholders, and who hears
    the alarms."""
    arn = client(aws_env, "acm").request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")[
        "CertificateArn"
    ]
    zone = (
        client(aws_env, "route53")
        .create_hosted_zone(Name="fyntrix.example", CallerReference="make-deploy-test")[
            "HostedZone"
        ]["Id"]
        .rsplit("/", 1)[-1]
    )
    committed = (ROOT / "stages" / "prod.toml").read_text(encoding="utf-8")
    mine = f'certificate_arn = "{arn}"\ndomain_name = "{DOMAIN}"\nhosted_zone_id = "{zone}"\n'
    # The [alarms] table goes before the [placeholders] table line, as the file says.
    alarms = f'\n[alarms]\nnotification_emails = ["{ONCALL}"]\n\n[placeholders]\n'
    assert committed.count("\n[placeholders]\n") == 1
    filled = mine + committed.replace("\n[placeholders]\n", alarms)
    path = tmp_path_factory.mktemp("stages") / "prod.toml"
    path.write_text(filled, encoding="utf-8")
    return path


def push_release(env: dict[str, str], out_dir: Path, tag: str) -> None:
    """The guide's steps before a deploy: the registry stack, then both images pushed (here
    their manifests, as `docker push` ends), so the deploy can tag them for the stage."""
    registry = make(
        env, "deploy-registry", "STAGE=prod", flags(out_dir, "--require-approval", "never")
    )
    assert registry.returncode == 0, registry.stdout[-3000:] + registry.stderr[-3000:]
    ecr = client(env, "ecr")
    for image_tag in (tag, redis_image_tag(tag)):
        ecr.put_image(
            repositoryName=REPOSITORY, imageManifest=image_manifest(image_tag), imageTag=image_tag
        )


@pytest.fixture(scope="module")
def deployed(aws_env: dict[str, str], filled_stage_file: Path, out_dir: Path) -> dict[str, Any]:
    bootstrap = make(aws_env, "bootstrap", "STAGE=prod", flags(out_dir))
    assert bootstrap.returncode == 0, bootstrap.stdout[-3000:] + bootstrap.stderr[-3000:]
    assert f"deploying to the AWS emulator at {aws_env['AWS_ENDPOINT_URL']}" in bootstrap.stdout
    push_release(aws_env, out_dir, "t1")
    result = make(
        aws_env, "deploy", "STAGE=prod", "IMAGE_TAG=t1", f"STAGE_FILE={filled_stage_file}",
        flags(out_dir, "--require-approval", "never"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (stack,) = client(aws_env, "cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    stack_: dict[str, Any] = stack
    return stack_


def test_the_committed_placeholders_never_deploy(aws_env: dict[str, str], out_dir: Path) -> None:
    # WHEN prod is deployed from the committed stage file, examples and all
    result = make(
        aws_env, "deploy", "STAGE=prod", "IMAGE_TAG=t1",
        flags(out_dir, "--require-approval", "never"),
    )  # fmt: skip
    # THEN make refuses before anything is deployed, naming the file and the settings
    assert result.returncode != 0
    assert "invalid setting `certificate_arn` in stages/prod.toml" in result.stderr
    assert "certificate_arn, domain_name still hold the example value" in result.stderr
    stacks = client(aws_env, "cloudformation").describe_stacks()["Stacks"]
    assert STACK not in {s["StackName"] for s in stacks}


def test_make_deploy_prod_deploys_the_stage_file(
    aws_env: dict[str, str], deployed: dict[str, Any]
) -> None:
    assert deployed["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in deployed["Outputs"]}
    # The file's domain and region reach the stack
    assert outputs["ServiceUrl"] == f"https://{DOMAIN}"
    assert outputs["DashboardUrl"].startswith(f"https://{REGION}.console.aws.amazon.com/")
    # The file's alarm e-mail subscribes to the stage's alarm topic (moto keeps no subscription
    # made by CloudFormation: read the template the stack was deployed with)
    body = client(aws_env, "cloudformation").get_template(StackName=STACK)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    subscriptions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription"
    ]
    assert [(p["Protocol"], p["Endpoint"]) for p in subscriptions] == [("email", ONCALL)]
    # The task runs prod's rules: its stage, no demo data, the tag that was asked for
    ecs = client(aws_env, "ecs")
    (service,) = ecs.describe_services(
        cluster=outputs["ClusterName"], services=[outputs["ServiceName"]]
    )["services"]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    app = next(c for c in task["taskDefinition"]["containerDefinitions"] if c["name"] == "app")
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert (env["APP_STAGE"], env["SEED_DEMO_DATA"]) == ("prod", "false")
    assert app["image"].endswith(":t1") and f".dkr.ecr.{REGION}." in app["image"]


def test_make_diff_sees_the_same_thing_deployed(
    aws_env: dict[str, str], deployed: dict[str, Any], filled_stage_file: Path, out_dir: Path
) -> None:
    # GIVEN prod deployed from its stage file
    # WHEN make diff runs with the same file and tag (as the next deploy would synthesize it)
    same = make(
        aws_env, "diff", "STAGE=prod", "IMAGE_TAG=t1", f"STAGE_FILE={filled_stage_file}",
        flags(out_dir, "--no-change-set"),
    )  # fmt: skip
    # THEN nothing differs: the settings came from the file, not from a one-off flag
    output = same.stdout + same.stderr
    assert same.returncode == 0, output[-3000:]
    assert "Number of stacks with differences: 0" in output, output[-3000:]
    # AND a one-off override shows up as the change it would make, and is gone next time
    once = make(
        aws_env, "diff", "STAGE=prod", "IMAGE_TAG=t1", f"STAGE_FILE={filled_stage_file}",
        "SET=alarms.p99_latency_ms=750", flags(out_dir, "--no-change-set"),
    )  # fmt: skip
    assert "Number of stacks with differences: 1" in once.stdout + once.stderr
    assert json.dumps(750) in once.stdout + once.stderr
