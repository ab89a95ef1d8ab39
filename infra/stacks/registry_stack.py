"""Fyntrix-Registry: the ECR repository, shared by every stage."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.registry import Registry


class RegistryStack(Stack):
    """Deployed first, so the image can be pushed before the service stack needs it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.registry = Registry(self, "Registry", config=config)
        CfnOutput(self, "RepositoryName", value=self.registry.repository.repository_name)
        CfnOutput(self, "RepositoryUri", value=self.registry.repository.repository_uri)
