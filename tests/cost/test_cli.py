"""`python -m tools.cost estimate` on a `cdk.out` folder: the report, and clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cost.samples import SAMPLES

ROOT = Path(__file__).resolve().parents[2]


def _cdk_out(folder: Path, resources: dict[str, Any]) -> Path:
    """A synth output as the CDK CLI lays it out: a manifest naming one stack's template."""
    folder.mkdir()
    (folder / "Stack.template.json").write_text(json.dumps({"Resources": resources}))
    manifest = {
        "version": "48.0.0",
        "artifacts": {
            "Stack": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "Stack.template.json"},
            },
            "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _resources(*types: str) -> dict[str, Any]:
    return {
        lid: {"Type": kind, "Properties": props} for t in types for lid, kind, props in SAMPLES[t]
    }


def _estimate(cdk_out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cost",
            "estimate",
            "--stage",
            "dev",
            "--cdk-out",
            str(cdk_out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_lists_each_item_the_totals_and_render_beside_them(tmp_path: Path) -> None:
    cdk_out = _cdk_out(
        tmp_path / "out", _resources("AWS::EC2::NatGateway", "AWS::Cognito::UserPool")
    )
    result = _estimate(cdk_out, "--set", "cost.mau=4000")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "NAT gateway" in out
    assert "4,000 monthly active users (cost.mau)" in out  # the --set reached the estimate
    assert "TOTAL AWS" in out and "TOTAL Render" in out
    assert "cost.mau=4000" in out  # the assumptions are stated


def test_an_unknown_type_fails_with_the_fix_and_no_traceback(tmp_path: Path) -> None:
    resources = _resources("AWS::EC2::NatGateway")
    resources["Handler"] = {"Type": "AWS::Lambda::Function", "Properties": {}}
    result = _estimate(_cdk_out(tmp_path / "out", resources))
    assert result.returncode == 2
    assert (
        "error: AWS::Lambda::Function (Stack/Handler) is neither priced nor listed as free"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "TOTAL" not in result.stdout


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    cdk_out = _cdk_out(tmp_path / "out", _resources("AWS::EC2::NatGateway"))
    result = _estimate(cdk_out, "--set", "cost.mau=-5")
    assert result.returncode == 2
    assert "invalid setting `cost.mau`" in result.stderr
    result = _estimate(cdk_out, "--set", "cost.mau")
    assert result.returncode == 2
    assert "is not PATH=VALUE" in result.stderr


def test_a_folder_without_a_synth_is_refused(tmp_path: Path) -> None:
    result = _estimate(tmp_path)
    assert result.returncode == 2
    assert "holds no manifest.json" in result.stderr
