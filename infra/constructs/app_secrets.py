"""The stage's application secret: one Secrets Manager secret whose value operators own."""

from __future__ import annotations

from typing import Final

from aws_cdk import CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, SecretValue
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.unique_name import stack_unique_name
from infra.nag import acknowledge
from service.secrets_env import SECRETS_JSON_ENV

# The value CloudFormation creates the secret with, and never writes again: it does not depend
# on any setting, so no template change can ever reach the secret's value. An empty object is
# "every key unset" for the service (service/secrets_json.py).
INITIAL_SECRET_STRING: Final = "{}"  # noqa: S105 - an empty object, not a credential


class AppSecrets(Construct):
    """Creates the secret `fyntrix/<stage>/app-<stack id>` holding `{}`, and its own key.

    Operators put the values in (`aws secretsmanager put-secret-value`, docs/deploy.md);
    CloudFormation never rewrites them because the template's value is a constant. The secret
    lives in the stage's state stack, which `make destroy` keeps, so re-creating the service
    finds the operators' values where they were. Its name ends in the stack's id: if the state
    stack itself is ever deleted (prod retains the secret), a new one cannot collide with it,
    and Secrets Manager cannot adopt a secret into a stack (its identifier is the generated
    ARN). The key lives as long as the secret: the service stack's key is deleted with it.

    Attributes: `secret`, `key`. Another stack uses the secret through :func:`app_secret_in`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_on_delete else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "Key",
            description=f"Fyntrix {config.stage}: the app secret",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(30 if config.retain_on_delete else 7),
        )
        self.secret = sm.Secret(
            self,
            "Secret",
            secret_name=stack_unique_name(self, config.secret_name_prefix),
            description=f"Fyntrix app settings ({config.stage}): one JSON key per setting",
            secret_string_value=SecretValue.unsafe_plain_text(INITIAL_SECRET_STRING),
            encryption_key=self.key,
            removal_policy=removal,
        )
        acknowledge(
            self.secret, "AwsSolutions-SMG4", "NIST.800.53.R5-SecretsManagerRotationEnabled"
        )
        # Exports, not the app's default weak references: CloudFormation then refuses to delete
        # this stack while a service stack still reads the secret.
        for shared in (self.secret, self.key):
            CrossStackReferences.of(shared).produce(ReferenceStrength.STRONG)


def app_secret_in(scope: Construct, secrets: AppSecrets) -> sm.ISecret:
    """The state stack's secret as seen from another stack (its ARN and its key's ARN, which
    CDK exports from the state stack). Every grant on it then goes into the other stack's
    role policies: a grant on the secret itself would write that stack's role into the state
    stack's key policy, and each stack would depend on the other."""
    key = kms.Key.from_key_arn(scope, "AppSecretKey", secrets.key.key_arn)
    return sm.Secret.from_secret_attributes(
        scope, "AppSecret", secret_complete_arn=secrets.secret.secret_arn, encryption_key=key
    )


def container_secrets(secret: sm.ISecret) -> dict[str, ecs.Secret]:
    """The whole secret as one variable, `APP_SECRETS`: a key it lacks is an unset setting,
    never a task that fails to start."""
    return {SECRETS_JSON_ENV: ecs.Secret.from_secrets_manager(secret)}


def grant_decrypt_via_secrets_manager(role: iam.IRole, secret: sm.ISecret, region: str) -> None:
    """The secret's key decrypts for `role` only through Secrets Manager. CDK grants this
    itself for a key it owns (in the key policy); for the imported key of
    :func:`app_secret_in` its grant is silently empty, and the task could not read the
    secret."""
    key = secret.encryption_key
    assert key is not None, "the app secret is always encrypted with its own key"
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
            },
        )
    )
