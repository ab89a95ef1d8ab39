"""The real CDK CLI (pinned in package.json) synthesizes the app, nag gate included."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.config import REGISTRY_STACK_NAME, service_stack_name, state_stack_name

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def run_cdk(
    *args: str, outdir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `make setup`")
    env = {
        # The shell's AWS region must agree with the stage's (app.py checks): none here.
        **{k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")},
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",  # tests are no CDK usage to report
        **(env or {}),
    }
    return subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(outdir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass(frozen=True)
class CliRun:
    result: subprocess.CompletedProcess[str]
    outdir: Path


# A stage file that moves dev to another region than the default: the region the templates,
# `make dashboard-url` and the ECS Exec commands must all agree on.
OTHER_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def dev_with_an_override(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """One full dev synth through the CLI, from a stage file in another region, with one
    setting overridden on the command line; the tests below assert different things about it
    (one `xdist_group` keeps them on one worker)."""
    outdir = tmp_path_factory.mktemp("cdk-dev")
    stage_file = outdir.parent / "dev-elsewhere.toml"
    stage_file.write_text(f'region = "{OTHER_REGION}"\n[redis]\nmaxmemory_mib = 180\n')
    result = run_cdk(
        "-c", "stage=dev", "-c", f"stageFile={stage_file}", "-c", "set:redis.maxmemory_mib=150",
        outdir=outdir,
    )  # fmt: skip
    return CliRun(result, outdir)


@pytest.mark.cli_synth
@pytest.mark.xdist_group("cli_synth_dev")
def test_cli_synth_writes_both_templates_with_a_clean_nag_report(
    dev_with_an_override: CliRun,
) -> None:
    result, outdir = dev_with_an_override.result, dev_with_an_override.outdir
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in outdir.glob("*.template.json"))
    service_file = f"{service_stack_name('dev')}.template.json"
    state_file = f"{state_stack_name('dev')}.template.json"
    assert names == [f"{REGISTRY_STACK_NAME}.template.json", service_file, state_file]
    service = json.loads((outdir / service_file).read_text())
    assert "AWS::ECS::TaskDefinition" in {r["Type"] for r in service["Resources"].values()}
    # The nag packs ran as validation plugins; a failing plugin would be listed here.
    report = json.loads((outdir / "validation-report.json").read_text())
    findings = [
        (p["pluginName"], v["ruleName"])
        for p in report["pluginReports"]
        for v in p.get("violations", [])
        if v.get("severity") != "warning"
    ]
    assert findings == []
    # AND dev without a certificate admits no client, and synth says how to change that (a
    # warning: it does not fail the synth)
    output = result.stdout + result.stderr
    assert "the load balancer admits no client" in output
    assert "add HTTPS with certificate_arn and domain_name in stages/dev.toml" in output
    assert 'allowed_ingress_cidrs = ["203.0.113.0/24"]' in output


@pytest.mark.cli_synth
def test_cli_synth_rejects_bad_config_naming_the_setting(tmp_path: Path) -> None:
    result = run_cdk("-c", "stage=prod", "-c", "imageTag=latest", outdir=tmp_path)
    assert result.returncode != 0
    assert "invalid setting `app.image_tag`" in result.stderr
    assert "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.cli_synth
@pytest.mark.xdist_group("cli_synth_dev")
def test_cli_context_overrides_reach_the_template(dev_with_an_override: CliRun) -> None:
    result, outdir = dev_with_an_override.result, dev_with_an_override.outdir
    assert result.returncode == 0, result.stderr
    service = json.loads((outdir / f"{service_stack_name('dev')}.template.json").read_text())
    (td,) = [r for r in service["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    redis = next(c for c in td["Properties"]["ContainerDefinitions"] if c["Name"] == "redis")
    # the command line wins over the stage file (180), for this run
    assert "150mb" in redis["Command"]


@pytest.mark.cli_synth
@pytest.mark.xdist_group("cli_synth_dev")
def test_the_stage_files_region_reaches_every_region_in_the_templates(
    dev_with_an_override: CliRun,
) -> None:
    result, outdir = dev_with_an_override.result, dev_with_an_override.outdir
    assert result.returncode == 0, result.stderr
    manifest = json.loads((outdir / "manifest.json").read_text())
    regions = {a["environment"].rsplit("/", 1)[-1] for a in manifest["artifacts"].values()
               if a["type"] == "aws:cloudformation:stack"}  # fmt: skip
    assert regions == {OTHER_REGION}
    service = (outdir / f"{service_stack_name('dev')}.template.json").read_text()
    # The app image comes from the registry in that region, the dashboard link points there.
    assert f".dkr.ecr.{OTHER_REGION}." in service
    outputs = json.loads(service)["Outputs"]
    assert outputs["DashboardUrl"]["Value"].startswith(f"https://{OTHER_REGION}.console.aws")
    assert "us-east-1" not in service


def _stage_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stage.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.cli_synth
def test_cli_synth_refuses_prod_without_a_certificate(tmp_path: Path) -> None:
    bare = _stage_file(tmp_path, 'region = "us-east-1"\n')
    result = run_cdk(
        "-c", "stage=prod", "-c", "imageTag=v1", "-c", f"stageFile={bare}", outdir=tmp_path
    )
    assert result.returncode != 0
    assert "invalid setting `certificate_arn`" in result.stderr
    assert "aws acm request-certificate" in result.stderr
    assert "in stages/prod.toml" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.cli_synth
def test_a_deploy_refuses_the_committed_placeholders(tmp_path: Path) -> None:
    # GIVEN prod's committed stage file, whose certificate and domain are examples
    # WHEN synthesized the way `make deploy` (or a plain `cdk deploy`) does: without
    # -c allowPlaceholders=true
    result = run_cdk("-c", "stage=prod", "-c", "imageTag=v1", outdir=tmp_path)
    # THEN nothing is synthesized, and the error names the file and the settings
    assert result.returncode != 0
    assert "invalid setting `certificate_arn` in stages/prod.toml" in result.stderr
    assert "certificate_arn, domain_name still hold the example value" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.cli_synth
def test_a_shell_in_another_region_than_the_stage_is_refused(tmp_path: Path) -> None:
    # GIVEN a shell that exported another region than the stage file's (the docs' image push
    # and aws commands would go there)
    result = run_cdk("-c", "stage=dev", outdir=tmp_path, env={"AWS_REGION": "eu-central-1"})
    assert result.returncode != 0
    assert "AWS_REGION=eu-central-1 in this shell, but the stage deploys to us-east-1" in (
        result.stderr
    )
    assert "export AWS_REGION=$(make -s region STAGE=dev)" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))
