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


def test_repository_keeps_only_the_newest_images_and_survives_stack_deletion(
    dev: Synth,
) -> None:
    repos = dev.registry_template.find_resources("AWS::ECR::Repository")
    (repo,) = repos.values()
    assert repo["DeletionPolicy"] == "Retain"
    policy = json.loads(repo["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])
    (rule,) = policy["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": dev.config.image_retention_count,
    }
    assert rule["action"] == {"type": "expire"}


def test_registry_is_one_stack_shared_by_every_stage(dev: Synth, prod: Synth) -> None:
    assert dev.registry.stack_name == prod.registry.stack_name == REGISTRY_STACK_NAME
    # Deploying either stage must leave the shared repository exactly as the other left it.
    assert dev.registry_template.to_json() == prod.registry_template.to_json()
    assert set(dev.service.dependencies) == {dev.registry, dev.state}
    assert dev.state.dependencies == []
    dev.registry_template.has_output("RepositoryUri", {})
