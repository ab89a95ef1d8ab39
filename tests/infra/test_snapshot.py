"""One normalised snapshot per stack: every infrastructure change shows up in review.

Accept an intended change with `make snapshot-update` (pytest --snapshot-update) and commit
the updated `__snapshots__/` file alongside the code change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import Synth

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(template: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what changes without an infrastructure change: bootstrap plumbing, asset hashes."""
    text = _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))
    t: dict[str, Any] = json.loads(text)
    t.get("Parameters", {}).pop("BootstrapVersion", None)
    t.get("Rules", {}).pop("CheckBootstrapVersion", None)
    for key in ("Parameters", "Rules"):
        if key in t and not t[key]:
            del t[key]
    return t


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_registry_stack_snapshot(dev: Synth, snapshot_json: SnapshotAssertion) -> None:
    assert normalise(dev.registry_template.to_json()) == snapshot_json


@pytest.mark.synth
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_service_stack_snapshot(
    stage: str, request: pytest.FixtureRequest, snapshot_json: SnapshotAssertion
) -> None:
    s: Synth = request.getfixturevalue(stage)
    assert normalise(s.service_template.to_json()) == snapshot_json


@pytest.mark.synth
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_state_stack_snapshot(
    stage: str, request: pytest.FixtureRequest, snapshot_json: SnapshotAssertion
) -> None:
    s: Synth = request.getfixturevalue(stage)
    assert normalise(s.state_template.to_json()) == snapshot_json


def test_normalise_removes_only_noise() -> None:
    tpl = {
        "Parameters": {"BootstrapVersion": {"Type": "String"}},
        "Rules": {"CheckBootstrapVersion": {}},
        "Resources": {"A": {"Properties": {"Key": "a" * 64 + ".json", "Port": 6379}}},
    }
    assert normalise(tpl) == {
        "Resources": {"A": {"Properties": {"Key": "<asset-hash>.json", "Port": 6379}}}
    }


@pytest.mark.synth
def test_ci_stack_snapshot(snapshot_json: SnapshotAssertion) -> None:
    from tests.infra.test_ci_stack import synth_ci

    assert normalise(synth_ci().template.to_json()) == snapshot_json
