"""Names everything else derives from: the project, the stages and the CDK stacks.

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
# Each stage's committed settings (infra/config/stage_file.py), relative to the repository root.
STAGE_FILES_DIR: Final = "stages"


def stage_file_name(stage: str) -> str:
    """The stage's settings file as the docs and error messages name it."""
    return f"{STAGE_FILES_DIR}/{stage}.toml"


def service_stack_name(stage: str) -> str:
    """The stage's service stack (network, cluster, task, load balancer, service)."""
    return f"{_SERVICE_STACK_PREFIX}-{stage}"
