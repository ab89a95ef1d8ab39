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


def run_cdk(*args: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `make setup`")
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",  # tests are no CDK usage to report
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


@pytest.fixture(scope="module")
def dev_with_an_override(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """One full dev synth through the CLI, with one setting overridden on the command line; the
    tests below assert different things about it (`shared_run` keeps them on one worker)."""
    outdir = tmp_path_factory.mktemp("cdk-dev")
    result = run_cdk("-c", "stage=dev", "-c", "set:redis.maxmemory_mib=150", outdir=outdir)
    return CliRun(result, outdir)


@pytest.mark.cli_synth
@pytest.mark.shared_run("cdk synth dev")
@pytest.mark.weight(15)  # a full synth with nag
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
    assert "-c certificateArn=ARN -c domainName=api.example.com" in output
    assert "-c set:allowed_ingress_cidrs=203.0.113.0/24" in output


@pytest.mark.cli_synth
def test_cli_synth_rejects_bad_config_naming_the_setting(tmp_path: Path) -> None:
    result = run_cdk("-c", "stage=prod", "-c", "imageTag=latest", outdir=tmp_path)
    assert result.returncode != 0
    assert "invalid setting `app.image_tag`" in result.stderr
    assert "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.cli_synth
@pytest.mark.shared_run("cdk synth dev")
@pytest.mark.weight(1)  # reads the run above
def test_cli_context_overrides_reach_the_template(dev_with_an_override: CliRun) -> None:
    result, outdir = dev_with_an_override.result, dev_with_an_override.outdir
    assert result.returncode == 0, result.stderr
    service = json.loads((outdir / f"{service_stack_name('dev')}.template.json").read_text())
    (td,) = [r for r in service["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    redis = next(c for c in td["Properties"]["ContainerDefinitions"] if c["Name"] == "redis")
    assert "150mb" in redis["Command"]


@pytest.mark.cli_synth
def test_cli_synth_refuses_prod_without_a_certificate(tmp_path: Path) -> None:
    result = run_cdk("-c", "stage=prod", "-c", "imageTag=v1", outdir=tmp_path)
    assert result.returncode != 0
    assert "invalid setting `certificate_arn`" in result.stderr
    assert "aws acm request-certificate" in result.stderr
    assert "-c certificateArn=" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))
