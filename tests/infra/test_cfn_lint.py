"""cfn-lint over every synthesized template: zero errors, zero warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import Synth


@pytest.mark.synth
@pytest.mark.weight(8)  # cfn-lint loads its schemas per run
@pytest.mark.parametrize("stage", ["dev", "prod", "with_tls"])
def test_templates_pass_cfn_lint(
    stage: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    s: Synth = request.getfixturevalue(stage)
    paths = []
    for name, tpl in (("registry", s.registry_template), ("service", s.service_template)):
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(tpl.to_json(), indent=1))
        paths.append(str(path))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    # Zero errors, zero warnings, zero informational findings.
    assert not findings, "\n".join(findings)
    assert result.returncode == 0, result.stderr
