"""The stage's application secret (one Secrets Manager secret, one JSON key per variable)."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge


class AppSecrets(Construct):
    """Creates `fyntrix/<stage>/app` with an empty value per key.

    Empty placeholders are not secrets; operators fill the real values after the first deploy
    (`aws secretsmanager put-secret-value`). CloudFormation never rewrites the value afterwards
    because the template's placeholder does not change. The service treats an empty
    `DATABASE_URL` as unset and serves from its embedded demo database until one is set.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        placeholder = json.dumps(dict.fromkeys(config.app.secret_keys, ""), sort_keys=True)
        self.secret = sm.Secret(
            self,
            "Secret",
            secret_name=config.secret_name,
            description=f"Fyntrix app credentials ({config.stage}); one JSON key per variable",
            secret_string_value=SecretValue.unsafe_plain_text(placeholder),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN
            if config.retain_on_delete
            else RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret, "AwsSolutions-SMG4", "NIST.800.53.R5-SecretsManagerRotationEnabled"
        )
        self.container_secrets: dict[str, ecs.Secret] = {
            key: ecs.Secret.from_secrets_manager(self.secret, key) for key in config.app.secret_keys
        }
