"""cfn-lint over every synthesized template: zero errors, zero warnings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.conftest import Synth
from tools.gates import gate_cfn_lint

STAGES = ("dev", "prod", "with_tls")


@dataclass(frozen=True)
class LintRun:
    findings: list[str]  # the gate's: cfn-lint's lines, or its stderr if it failed otherwise
    paths: dict[str, list[str]]  # the template files written for each stage

    def about(self, stage: str) -> list[str]:
        """The lines about this stage's templates (parseable format: `path:line:...`)."""
        prefixes = tuple(f"{path}:" for path in self.paths[stage])
        return [line for line in self.findings if line.startswith(prefixes)]


@pytest.fixture(scope="module")
def lint_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LintRun:
    """One cfn-lint run over the three stages' nine templates, as `make check` runs it but with
    no rule ignored: a run spends most of its time loading the resource schemas, so one run
    costs little more than one stage's."""
    root = tmp_path_factory.mktemp("cfn-lint")
    paths: dict[str, list[str]] = {}
    for stage in STAGES:
        s: Synth = request.getfixturevalue(stage)
        (root / stage).mkdir()
        paths[stage] = []
        for name, tpl in (
            ("registry", s.registry_template),
            ("state", s.state_template),
            ("service", s.service_template),
        ):
            path = root / stage / f"{name}.template.json"
            path.write_text(json.dumps(tpl.to_json(), indent=1))
            paths[stage].append(str(path))
    result = gate_cfn_lint([Path(p) for stage in STAGES for p in paths[stage]], {})
    return LintRun(result.findings, paths)


@pytest.mark.synth
@pytest.mark.parametrize("stage", STAGES)
def test_templates_pass_cfn_lint(stage: str, lint_run: LintRun) -> None:
    # Zero errors, zero warnings, zero informational findings on this stage's templates.
    findings = lint_run.about(stage)
    assert not findings, "\n".join(findings)
    # Anything else the run reported is about no stage's template (a template cfn-lint could
    # not read, a crash's stderr): it fails every stage's test.
    about_a_stage = {line for s in STAGES for line in lint_run.about(s)}
    assert [f for f in lint_run.findings if f not in about_a_stage] == []
