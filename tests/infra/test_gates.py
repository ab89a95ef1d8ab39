"""The `make check` gates can fail: each one is shown a real defect and reports it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tools.gates import (
    CHECKOV,
    ROOT,
    gate_cfn_lint,
    gate_docs,
    judge_checkov,
    load_exceptions,
    run_checkov,
)

UNENCRYPTED_BUCKET = {
    "Resources": {
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {}},
    }
}
# An access key id in AWS's format (made up, and assembled here so no file holds one).
PLANTED_KEY_ID = "AKIA" + "Z4Q7WVX2M3N8P5RT"
BUCKET_AND_A_PLANTED_KEY = {
    "Resources": {
        **UNENCRYPTED_BUCKET["Resources"],
        "Key": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": PLANTED_KEY_ID},
        },
    }
}


def write_template(tmp_path: Path, body: Mapping[str, Any]) -> Path:
    d = tmp_path / "assembly"
    d.mkdir()
    path = d / "Bad.template.json"
    path.write_text(json.dumps(body))
    return path


def test_committed_exceptions_all_have_reasons_and_resources() -> None:
    data = load_exceptions()
    assert set(data) == {"checkov", "cfn-lint", "hadolint"}


def test_an_exception_without_a_reason_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "exceptions.yaml"
    bad.write_text("checkov:\n  CKV_AWS_18:\n    reason: because\n    resources: [x]\n")
    with pytest.raises(ValueError, match="needs a reason"):
        load_exceptions(bad)


@pytest.mark.slow
@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov venv missing: run `make setup`")
def test_checkov_fails_on_an_unlisted_finding_and_skips_only_listed_resources(
    tmp_path: Path,
) -> None:
    template = write_template(tmp_path, BUCKET_AND_A_PLANTED_KEY)
    # One real checkov run; the gate then judges its reports under each set of exceptions.
    reports = run_checkov([template])
    # GIVEN no exception THEN the bucket's failures are findings, and the same run's secrets
    # scan finds the key in the template
    bare = judge_checkov(reports, {})
    assert not bare.ok
    assert any("AWS::S3::Bucket.Logs" in f for f in bare.findings)
    (secret,) = [f for f in bare.findings if f.startswith("CKV_SECRET_2 ")]
    # AND the finding names the planted file wherever the clone and the temp folder are
    # (the project's own files are named relative to it, any other file absolutely)
    shown = secret.split(" (", 1)[1].split("): ", 1)[0]
    assert (ROOT / shown).resolve() == template.resolve(), secret
    dockerfile_findings = [f for f in bare.findings if "service/Dockerfile" in f]
    assert dockerfile_findings and all("(service/Dockerfile" in f for f in dockerfile_findings)
    key_exception = {"CKV_SECRET_2": {"reason": "x" * 40, "resources": [secret.split()[1]]}}
    failing = sorted({f.split()[0] for f in bare.findings if "AWS::S3::Bucket.Logs" in f})
    # GIVEN every failing check listed for exactly that resource THEN all are skipped
    # (The gate also scans the project's Dockerfiles: their own listed exceptions apply.)
    dockerfiles = {
        check: entry
        for check, entry in load_exceptions()["checkov"].items()
        if check.startswith("CKV_DOCKER")
    }
    listed = {
        check: {"reason": "x" * 40, "resources": ["AWS::S3::Bucket.Logs"]} for check in failing
    }
    assert judge_checkov(reports, {**listed, **dockerfiles, **key_exception}).ok
    # GIVEN the same checks listed for another resource THEN they are still findings,
    # and the exceptions that no longer match anything are reported as stale
    elsewhere = {
        check: {"reason": "x" * 40, "resources": ["AWS::S3::Bucket.Other"]} for check in failing
    }
    scoped = judge_checkov(reports, {**elsewhere, **key_exception})
    assert not scoped.ok
    assert any(f.startswith("stale exception") for f in scoped.findings)


def test_cfn_lint_gate_reports_errors(tmp_path: Path) -> None:
    template = write_template(
        tmp_path, {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}}
    )
    result = gate_cfn_lint([template], {})
    assert not result.ok
    assert any(":E" in f for f in result.findings)


def copy_docs(tmp_path: Path) -> Path:
    """The committed site sources in a scratch folder; returns its mkdocs.yml."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path / "mkdocs.yml"


def test_docs_gate_passes_on_the_committed_pages(tmp_path: Path) -> None:
    result = gate_docs(copy_docs(tmp_path))
    assert result.ok, result.findings
    assert result.summary.startswith("0 warnings")


def test_docs_gate_fails_on_a_broken_link_and_on_a_page_missing_from_the_nav(
    tmp_path: Path,
) -> None:
    config = copy_docs(tmp_path)
    # GIVEN a link to a page that does not exist, and a page the nav leaves out
    page = tmp_path / "docs" / "deploy.md"
    page.write_text(page.read_text() + "\nSee [nowhere](nowhere.md).\n")
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    # WHEN the gate builds THEN it fails, naming both
    result = gate_docs(config)
    assert not result.ok
    assert any("nowhere.md" in f for f in result.findings), result.findings
    assert any("orphan.md" in f for f in result.findings), result.findings
