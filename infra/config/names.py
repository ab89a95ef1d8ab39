"""Names everything else derives from: the project, the stages, the CDK stacks and the image
tags of the shared repository.

`python -m infra.config registry | service STAGE` prints a stack's name for the Makefile.
"""

from __future__ import annotations

from typing import Final, Literal

PROJECT: Final = "fyntrix"

STAGES: Final = ("dev", "prod")
Stage = Literal["dev", "prod"]

# The ECR repository's stack, shared by every stage.
REGISTRY_STACK_NAME: Final = "Fyntrix-Registry"
_SERVICE_STACK_PREFIX: Final = "Fyntrix-Service"
# GitHub's OIDC provider and the deploy role: once per account, whatever the stage.
CI_STACK_NAME: Final = "Fyntrix-CI"


def service_stack_name(stage: str) -> str:
    """The stage's service stack (network, cluster, task, load balancer, service)."""
    return f"{_SERVICE_STACK_PREFIX}-{stage}"


# ---- image tags in the shared repository -------------------------------------------------------
# One release tag (`-c imageTag=`, e.g. a commit SHA) names both images of a build: the app image
# carries it as is, the Redis image as `redis-<tag>`. A deploy adds `<stage>-<build tag>` to the
# digest of each image it deploys (`python -m tools.release tag-stage`), and the repository's
# lifecycle rules never expire an image carrying a stage tag (infra/constructs/registry.py).
REDIS_IMAGE_TAG_PREFIX: Final = "redis-"
# Docker refuses tags longer than 128 characters; the longest tag derived from a release tag is
# `<longest stage>-redis-<tag>`.
DOCKER_TAG_MAX_LEN: Final = 128


def redis_image_tag(release_tag: str) -> str:
    """The Redis image's tag in the shared repository, built from the same commit."""
    return f"{REDIS_IMAGE_TAG_PREFIX}{release_tag}"


def stage_tag_prefix(stage: str) -> str:
    """What every tag a deploy of `stage` adds starts with (the lifecycle rules match on it)."""
    return f"{stage}-"


def stage_image_tag(stage: str, build_tag: str) -> str:
    """The tag a deploy of `stage` adds to the image it deploys (`prod-<sha>`,
    `prod-redis-<sha>`): unique per build, so immutable tags never refuse it."""
    return f"{stage_tag_prefix(stage)}{build_tag}"


# A release tag may not start like a derived tag: a build tagged `prod-x` would be kept as if
# prod ran it, and one tagged `redis-x` would collide with the Redis image of release `x`.
RESERVED_TAG_PREFIXES: Final = (REDIS_IMAGE_TAG_PREFIX, *(stage_tag_prefix(s) for s in STAGES))
RELEASE_TAG_MAX_LEN: Final = DOCKER_TAG_MAX_LEN - max(
    len(stage_image_tag(s, redis_image_tag(""))) for s in STAGES
)
