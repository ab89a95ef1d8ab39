"""cdk-nag gate: zero unacknowledged findings, and every acknowledgment has a reason."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Validations

from infra.nag_reasons import REASONS
from tests.infra.conftest import Synth
from tests.infra.test_ci_stack import CiSynth, synth_ci


@pytest.mark.synth
@pytest.mark.parametrize("stage", ["dev", "prod", "with_tls", "dev_without_waf"])
def test_no_unacknowledged_findings(stage: str, request: pytest.FixtureRequest) -> None:
    s: Synth = request.getfixturevalue(stage)
    for pack in s.packs:
        report = pack.validate_scope(s.app)
        assert report.success, [
            (v.rule_name, [c.resource_logical_id for c in v.violating_resources])
            for v in report.violations
        ]


def acknowledgments(s: Synth | CiSynth) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) for every cdk-nag acknowledgment in the app.

    CDK itself records a few CloudFormation-Validate acknowledgments; they are not ours.
    """
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: list[tuple[str, str, str]] = []
    for node in s.app.node.find_all():
        for entry in node.node.metadata:
            if entry.type != key:
                continue
            data: dict[str, Any] = entry.data
            for rule_id, reason in data.items():
                if rule_id.startswith("Annotation::AwsSolutions") or "NIST" in rule_id:
                    found.append((node.node.path, rule_id, reason))
    return found


def test_every_acknowledgment_has_a_reason_from_the_one_list(dev: Synth) -> None:
    acks = acknowledgments(dev)
    assert len(acks) >= 5, acks
    known = set(REASONS.values())
    for path, rule_id, reason in acks:
        assert reason in known, (path, rule_id)
        assert len(reason) >= 80, (path, rule_id, "reason too thin for an auditor")


def test_acknowledgments_sit_on_leaf_constructs_not_stacks(dev: Synth) -> None:
    for path, rule_id, _ in acknowledgments(dev):
        assert path.count("/") >= 2, f"{rule_id} acknowledged too broadly at {path}"


def test_every_reason_is_used(
    dev: Synth, prod: Synth, with_tls: Synth, dev_without_waf: Synth
) -> None:
    # A reason nobody uses is an exception nobody needs: delete it from infra/nag.py.
    # Fyntrix-CI exists only with a repository to trust: synthesize it too.
    apps: tuple[Synth | CiSynth, ...] = (dev, prod, with_tls, dev_without_waf, synth_ci())
    used = {reason for s in apps for _, _, reason in acknowledgments(s)}
    assert set(REASONS.values()) - used == set()


def test_tls_and_deletion_protection_remove_their_acknowledgments(
    dev: Synth, prod: Synth, with_tls: Synth
) -> None:
    # Acknowledgments follow the config: what a setting fixes is not acknowledged there.
    def ids(s: Synth) -> set[str]:
        return {rule_id for _, rule_id, _ in acknowledgments(s)}

    assert "Annotation::NIST.800.53.R5-ELBDeletionProtectionEnabled" in ids(dev)
    assert "Annotation::NIST.800.53.R5-ELBDeletionProtectionEnabled" not in ids(prod)
    assert "Annotation::NIST.800.53.R5-ALBHttpToHttpsRedirection" in ids(dev)
    assert "Annotation::NIST.800.53.R5-ALBHttpToHttpsRedirection" not in ids(with_tls)


def test_waf_and_cognito_findings_are_fixed_not_acknowledged(
    dev: Synth, prod: Synth, dev_without_waf: Synth
) -> None:
    # Where the web ACL is associated, cdk-nag's ALB rule passes on its own; only a dev stage
    # that turned WAF off carries the acknowledgment. No WAF-logging finding is acknowledged
    # anywhere, and the only Cognito one is dev's Essentials plan (COG8): prod's Plus pool
    # passes every Cognito rule.
    def ids(s: Synth) -> set[str]:
        return {rule_id for _, rule_id, _ in acknowledgments(s)}

    waf = "Annotation::NIST.800.53.R5-ALBWAFEnabled"
    assert waf not in ids(dev) and waf not in ids(prod)
    assert waf in ids(dev_without_waf)
    for s in (dev, prod, dev_without_waf):
        assert not [i for i in ids(s) if "WAFv2" in i], ids(s)
    assert [i for i in ids(dev) if "COG" in i] == ["Annotation::AwsSolutions-COG8"]
    assert not [i for i in ids(prod) if "COG" in i], ids(prod)
