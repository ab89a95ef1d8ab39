"""The README's generated sections match the config and the nag reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from generators.docs import DESCRIPTIONS, README, render
from infra.config import setting_paths

ROOT = Path(__file__).resolve().parents[2]


def test_readme_generated_sections_are_current() -> None:
    text = README.read_text()
    assert render(text) == text, "README.md is stale: run `make docs`"


def test_every_setting_is_described() -> None:
    paths = {p for p, _, _ in setting_paths()}
    assert paths == set(DESCRIPTIONS), paths ^ set(DESCRIPTIONS)


def test_deploy_guard_refuses_without_credentials(tmp_path: Path) -> None:
    # GIVEN an environment with no AWS credentials anywhere
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k != "CDK_DEFAULT_ACCOUNT"
    }
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    # WHEN the guard that `make deploy/diff/destroy` run first is invoked
    result = subprocess.run(
        [sys.executable, "-m", "tools.require_aws"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN it refuses, saying how to fix it
    assert result.returncode == 2
    assert "no usable AWS credentials" in result.stderr
    assert "aws configure" in result.stderr
