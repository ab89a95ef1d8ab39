"""Fyntrix-State-<stage>: what a stage keeps across `make destroy` (the app secret)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.app_secrets import AppSecrets


class StateStack(Stack):
    """Deployed before the service stack (`cdk deploy` deploys it with the service, or alone
    with `make deploy-state`, so an operator can fill the secret before the service's first
    deploy). `make destroy` deletes only the service stack: this one, and the values operators
    put into its secret, stay."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.secrets = AppSecrets(self, "Secrets", config=config)
        CfnOutput(self, "SecretName", value=self.secrets.secret.secret_name)
        CfnOutput(self, "SecretArn", value=self.secrets.secret.secret_arn)
