"""The reference pages under docs/reference/ are generated whole from the code they describe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from generators.docs import PAGES, SECURITY_PAGE, SETTINGS_PAGE, render_pages
from infra.config import load_stage, setting_paths
from infra.nag_reasons import REASONS

ROOT = Path(__file__).resolve().parents[2]


def _docs_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generators.docs", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_setting_is_described_beside_it() -> None:
    undescribed = [s.path for s in setting_paths() if len(s.description) < 10]
    assert undescribed == []


def test_settings_page_lists_every_setting_with_both_stages() -> None:
    page = render_pages()[SETTINGS_PAGE]
    prod = {s.path: s for s in setting_paths(load_stage("prod", image_tag="GIT_SHA"))}
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == len(prod)
    for row, setting in zip(rows, setting_paths(), strict=True):
        cells = [c.strip() for c in row.replace("\\|", "/").strip("|").split(" | ")]
        assert len(cells) == 5, row
        assert cells[0] == f"`{setting.path}`"
        assert cells[4] == setting.description
    retain = next(r for r in rows if r.startswith("| `retain_on_delete`"))
    assert "| False | True |" in retain


def test_security_page_carries_every_acknowledgment() -> None:
    page = render_pages()[SECURITY_PAGE]
    for rule in REASONS:
        assert f"| `{rule}` |" in page
    assert "| checkov | `CKV_AWS_260` |" in page


def test_check_cli_passes_on_the_repository() -> None:
    result = _docs_cli("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_cli_reports_stale_and_missing_pages_and_writes_nothing(tmp_path: Path) -> None:
    # GIVEN a copy of the pages with one edited by hand and one missing
    for rel in PAGES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    settings = tmp_path / SETTINGS_PAGE
    settings.write_text(
        settings.read_text().replace("| `max_azs` | int | 2 |", "| `max_azs` | int | 9 |")
    )
    (tmp_path / SECURITY_PAGE).unlink()
    # WHEN --check runs on it THEN it fails with the diff and writes nothing
    result = _docs_cli("--check", "--root", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"--- a/{SETTINGS_PAGE}" in result.stdout
    assert "-| `max_azs` | int | 9 |" in result.stdout
    assert f"+++ b/{SECURITY_PAGE}" in result.stdout
    assert "2 reference page(s) are stale" in result.stderr
    assert not (tmp_path / SECURITY_PAGE).exists()
    # AND the generator itself restores exactly the committed pages
    result = _docs_cli("--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for rel in PAGES:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


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
