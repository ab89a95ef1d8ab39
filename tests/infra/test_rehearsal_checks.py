"""The rehearsal's checks are registered by name and run one at a time (tools/rehearsal/).

The template checks run here against a real synth; the API checks run in the rehearsal
(tests/integration/test_rehearsal.py) against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import REGISTRY_STACK_NAME
from tests.infra.conftest import Synth
from tools.rehearsal import verify_service, verify_task
from tools.rehearsal.checks import Deployment, run_one
from tools.rehearsal.verify import CHECKS


def test_every_check_has_one_name_and_a_source() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names)), "two checks share a name"
    assert {c.source for c in CHECKS} == {"api", "template"}
    assert len(names) >= 40
    # Each module's list is registered whole, in its order.
    assert [c.name for c in verify_task.CHECKS] == names[: len(list(verify_task.CHECKS))]


def _deployment(tmp_path: Path, synth: Synth, edit: Any = None) -> Deployment:
    """The stage's synthesized templates in a cdk.out of their own; `edit` changes the
    service template first. No session: template checks never call AWS."""
    service = synth.service_template.to_json()
    if edit is not None:
        edit(service)
    (tmp_path / f"{synth.config.service_stack_name}.template.json").write_text(json.dumps(service))
    registry = synth.registry_template.to_json()
    (tmp_path / f"{REGISTRY_STACK_NAME}.template.json").write_text(json.dumps(registry))
    return Deployment(config=synth.config, session=None, cdk_out=tmp_path)


@pytest.mark.parametrize(
    "check", [c for c in CHECKS if c.source == "template"], ids=lambda c: c.name
)
def test_each_template_check_passes_alone_on_the_synth(
    check: Any, dev: Synth, tmp_path: Path
) -> None:
    if not check.applies(dev.config):
        pytest.skip(f"{check.name}: not for this stage")
    if check.name.startswith("ci:"):
        pytest.skip("reads the CI stack's template, synthesized by the rehearsal")
    result = run_one(CHECKS, check.name, _deployment(tmp_path, dev))
    assert result.ok, result.detail
    assert result.source == "template"


def _scale_to_one(template: dict[str, Any]) -> None:
    for res in template["Resources"].values():
        if res["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget":
            res["Properties"]["MaxCapacity"] = 1


def test_one_check_alone_fails_on_a_defect_and_names_it(dev: Synth, tmp_path: Path) -> None:
    deployment = _deployment(tmp_path, dev, edit=_scale_to_one)
    result = run_one(CHECKS, "service: autoscaling", deployment)
    assert (result.ok, result.detail) == (False, "bounds")
    # The other checks of the module do not depend on it.
    assert run_one(verify_service.CHECKS, "service: deployment, exec, LB target", deployment).ok


def test_a_check_is_found_by_its_title_for_the_stage(dev: Synth, tmp_path: Path) -> None:
    titled = f"sg: {dev.config.redis.port} only from the task group"
    assert titled in [c.title(dev.config) for c in CHECKS]
    with pytest.raises(KeyError, match="no check named 'sg: nothing'"):
        run_one(CHECKS, "sg: nothing", _deployment(tmp_path, dev))
