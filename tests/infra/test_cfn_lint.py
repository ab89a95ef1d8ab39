"""cfn-lint over every synthesized template: zero errors, zero warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.conftest import Synth

STAGES = ("dev", "prod", "with_tls")


@dataclass(frozen=True)
class LintRun:
    result: subprocess.CompletedProcess[str]
    paths: dict[str, list[str]]  # the template files written for each stage

    def findings(self, stage: str) -> list[str]:
        """The run's lines about this stage's templates (parseable format: `path:line:...`)."""
        return [
            line
            for line in self.result.stdout.splitlines()
            if any(line.startswith(f"{path}:") for path in self.paths[stage])
        ]


@pytest.fixture(scope="module")
def lint_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LintRun:
    """One cfn-lint run over the three stages' six templates: a run spends most of its time
    loading the resource schemas, so one run costs little more than one stage's."""
    root = tmp_path_factory.mktemp("cfn-lint")
    paths: dict[str, list[str]] = {}
    for stage in STAGES:
        s: Synth = request.getfixturevalue(stage)
        (root / stage).mkdir()
        paths[stage] = []
        for name, tpl in (("registry", s.registry_template), ("service", s.service_template)):
            path = root / stage / f"{name}.template.json"
            path.write_text(json.dumps(tpl.to_json(), indent=1))
            paths[stage].append(str(path))
    all_paths = [p for stage in STAGES for p in paths[stage]]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", *all_paths],
        capture_output=True,
        text=True,
        check=False,
    )
    return LintRun(result, paths)


@pytest.mark.synth
@pytest.mark.weight(4)  # its share of the one run above, on the synth tests' worker
@pytest.mark.parametrize("stage", STAGES)
def test_templates_pass_cfn_lint(stage: str, lint_run: LintRun) -> None:
    # Zero errors, zero warnings, zero informational findings on this stage's templates.
    findings = lint_run.findings(stage)
    assert not findings, "\n".join(findings)
    # Every line of output is about some stage's template, so a failure that is no finding
    # (a template cfn-lint could not read, a crash) fails every stage's test.
    lines = [line for line in lint_run.result.stdout.splitlines() if line.strip()]
    assert all(any(line in lint_run.findings(s) for s in STAGES) for line in lines), lines
    assert lint_run.result.returncode == 0 or lines, lint_run.result.stderr
