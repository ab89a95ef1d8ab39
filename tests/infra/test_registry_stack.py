"""The shared ECR repository."""

from __future__ import annotations

import json

from infra.config import REGISTRY_STACK_NAME
from tests.infra.conftest import Synth


def test_repository_is_named_scanned_immutable_and_encrypted(dev: Synth) -> None:
    dev.registry_template.has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryName": "fyntrix-app",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "ImageTagMutability": "IMMUTABLE",
            "EncryptionConfiguration": {"EncryptionType": "KMS"},
        },
    )


def test_repository_survives_stack_deletion_and_expires_only_what_no_stage_runs(
    dev: Synth,
) -> None:
    """The rule order is the design (tests/infra/test_image_lifecycle.py walks histories through
    it): every stage's images first, never counted out; then untagged images; then the newest
    `image_retention_count` images of everything else."""
    repos = dev.registry_template.find_resources("AWS::ECR::Repository")
    (repo,) = repos.values()
    assert repo["DeletionPolicy"] == "Retain"
    policy = json.loads(repo["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])
    selections = [(r["rulePriority"], r["selection"]) for r in policy["rules"]]
    stage_rule = {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 9999}
    assert selections == [
        (1, {**stage_rule, "tagPatternList": ["prod-*"]}),
        (2, {**stage_rule, "tagPatternList": ["dev-*"]}),
        (
            3,
            {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
        ),
        (
            4,
            {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": dev.config.image_retention_count,
            },
        ),
    ]
    assert all(r["action"] == {"type": "expire"} for r in policy["rules"])


def test_registry_is_one_stack_shared_by_every_stage(dev: Synth, prod: Synth) -> None:
    assert dev.registry.stack_name == prod.registry.stack_name == REGISTRY_STACK_NAME
    # Deploying either stage must leave the shared repository exactly as the other left it.
    assert dev.registry_template.to_json() == prod.registry_template.to_json()
    assert set(dev.service.dependencies) == {dev.registry, dev.state}
    assert dev.state.dependencies == []
    dev.registry_template.has_output("RepositoryUri", {})
