"""`make cost STAGE=prod` end to end: the real CDK CLI synthesizes prod (a placeholder
certificate, since none is given) and the estimate equals the committed page."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.infra.conftest import ROOT
from tools.cost.pages import page_path


@pytest.mark.cli_synth
def test_make_cost_for_prod_synthesizes_with_placeholders_and_matches_the_page() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.cost", "estimate", "--stage", "prod", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    placeholders = "certificate_arn, domain_name, hosted_zone_id, app.image_tag"
    assert f"placeholder {placeholders}: no effect on cost" in result.stderr
    committed = (ROOT / page_path("prod")).read_text(encoding="utf-8")
    assert result.stdout == committed, f"{page_path('prod')} differs from the CLI synth's estimate"
