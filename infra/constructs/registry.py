"""The ECR repository for the app image, shared by every stage."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from infra.config import StageConfig


class Registry(Construct):
    """Scan on push, immutable tags, encryption, and a lifecycle rule that keeps the newest
    images only. The repository is retained on stack deletion: it holds every release."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            # Explicit lowercase name: the guide's docker push commands use it.
            repository_name=config.repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description=f"keep the newest {config.image_retention_count} images",
                    max_image_count=config.image_retention_count,
                    tag_status=ecr.TagStatus.ANY,
                )
            ],
        )
