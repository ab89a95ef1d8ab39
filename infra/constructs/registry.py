"""The ECR repository for the app and Redis images, shared by every stage."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from infra.config import STAGES, StageConfig
from infra.config.names import stage_tag_prefix

# The images a stage runs or rolls back to carry its stage tag (`prod-<sha>`, added by every
# deploy). ECR has no "keep" action, only "expire": a rule selecting a stage's tags with a count
# no stage reaches keeps them, and no lower-priority rule may expire an image that a
# higher-priority one selects by tag. A stage deployed more than half this many times (two
# images per deploy) would start losing its oldest images by push time.
STAGE_IMAGE_CEILING: Final = 9999
# An image loses its last tag only by hand (tags are immutable and never moved).
UNTAGGED_IMAGE_DAYS: Final = 1


def lifecycle_rules(config: StageConfig) -> list[ecr.LifecycleRule]:
    """Rules by priority: every stage's images (prod first), untagged images, then builds no
    stage was deployed with beyond the newest `image_retention_count` images.

    Expiry is by push time, and adding a tag does not change an image's push time: a count
    over stage tags would expire the image prod runs after a rollback to an older build. So
    stage-tagged images are never counted out; only what no stage runs is."""
    stages = sorted(STAGES, key=lambda s: s != "prod")
    rules = [
        ecr.LifecycleRule(
            rule_priority=priority,
            description=f"keep every image a {stage} deploy tagged ({stage_tag_prefix(stage)}*)",
            tag_status=ecr.TagStatus.TAGGED,
            tag_pattern_list=[f"{stage_tag_prefix(stage)}*"],
            max_image_count=STAGE_IMAGE_CEILING,
        )
        for priority, stage in enumerate(stages, start=1)
    ]
    rules.append(
        ecr.LifecycleRule(
            rule_priority=len(rules) + 1,
            description=f"expire untagged images after {UNTAGGED_IMAGE_DAYS} day",
            tag_status=ecr.TagStatus.UNTAGGED,
            max_image_age=Duration.days(UNTAGGED_IMAGE_DAYS),
        )
    )
    rules.append(
        ecr.LifecycleRule(
            rule_priority=len(rules) + 1,
            description=(
                f"keep the newest {config.image_retention_count} images; older builds no "
                "stage was deployed with expire"
            ),
            tag_status=ecr.TagStatus.TAGGED,
            tag_pattern_list=["*"],
            max_image_count=config.image_retention_count,
        )
    )
    return rules


class Registry(Construct):
    """Scan on push, immutable tags, encryption, and lifecycle rules that expire old builds but
    never an image a stage runs or can roll back to (`lifecycle_rules`). The repository is
    retained on stack deletion: it holds every release."""

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
            lifecycle_rules=lifecycle_rules(config),
        )
