"""GitHub Actions deploys without stored keys: the OIDC provider and the roles it may assume."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge

GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
# The audience GitHub's aws-actions/configure-aws-credentials requests.
STS_AUDIENCE: Final = "sts.amazonaws.com"
# GitHub's published certificate thumbprints. IAM now trusts GitHub through its own CA
# library and ignores them, but older partitions and tools still read the property.
GITHUB_THUMBPRINTS: Final = (
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
)
# The CDK bootstrap stack's default qualifier (cdk.json sets no other).
BOOTSTRAP_QUALIFIER: Final = "hnb659fds"
# What `cdk deploy` assumes: publish assets (files, images), deploy through CloudFormation
# (whose execution role does the work), look up context. Nothing else.
DEPLOY_BOOTSTRAP_ROLES: Final = ("deploy", "file-publishing", "image-publishing", "lookup")
# `cdk diff --no-change-set` reads deployed templates through the read-only lookup role.
DIFF_BOOTSTRAP_ROLES: Final = ("lookup",)
ECR_PUSH_ACTIONS: Final = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def subject(repository: str, claim: str) -> str:
    """An OIDC `sub` claim of `repository`: `ref:refs/heads/main`, `environment:prod`, ..."""
    return f"repo:{repository}:{claim}"


class GitHubDeploy(Construct):
    """GitHub's OIDC identity provider and two roles.

    `deploy_role`: pushes of `ci.deploy_branch` (dev) and jobs of the protected
    `ci.prod_environment` (prod) of exactly `ci.github_repository` may assume it; it may only
    assume the CDK bootstrap roles and push images to the app repository. `diff_role`: pull
    requests of that repository may assume it to run `cdk diff`; it may only assume the
    read-only lookup role. A token from any other repository, branch, environment or audience
    is refused by the trust policy's conditions.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        repository = config.ci.github_repository
        if repository is None:
            raise ValueError("ci.github_repository is unset: there is no repository to trust")
        stack = Stack.of(self)
        if config.ci.create_oidc_provider:
            self.provider: iam.IOidcProvider = iam.OidcProviderNative(
                self,
                "GitHubOidc",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_ids=[STS_AUDIENCE],
                thumbprints=list(GITHUB_THUMBPRINTS),
            )
        else:
            self.provider = iam.OidcProviderNative.from_oidc_provider_arn(
                self,
                "GitHubOidc",
                f"arn:{stack.partition}:iam::{stack.account}:oidc-provider/{GITHUB_OIDC_HOST}",
            )
        ci = config.ci
        self.deploy_role = self._role(
            "DeployRole",
            repository,
            [f"ref:refs/heads/{ci.deploy_branch}", f"environment:{ci.prod_environment}"],
            DEPLOY_BOOTSTRAP_ROLES,
            description=f"GitHub Actions deploys of {repository} ({ci.deploy_branch} -> dev, "
            f"environment {ci.prod_environment} -> prod)",
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="PushTheAppImage",
                actions=list(ECR_PUSH_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="ecr", resource="repository", resource_name=config.repository_name
                    )
                ],
            )
        )
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="LogInToTheRegistry",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        self.diff_role = self._role(
            "DiffRole",
            repository,
            ["pull_request"],
            DIFF_BOOTSTRAP_ROLES,
            description=f"GitHub Actions `cdk diff` on pull requests of {repository} (read-only)",
        )
        for role in (self.deploy_role, self.diff_role):
            policy = role.node.try_find_child("DefaultPolicy")
            if policy is not None:
                acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy#github-roles")
        deploy_policy = self.deploy_role.node.find_child("DefaultPolicy")
        acknowledge(deploy_policy, "AwsSolutions-IAM5[ecr-login]", finding="Resource::*")

    def _role(
        self,
        construct_id: str,
        repository: str,
        claims: list[str],
        bootstrap_roles: tuple[str, ...],
        *,
        description: str,
    ) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            construct_id,
            description=description,
            max_session_duration=Duration.hours(1),
            assumed_by=iam.OpenIdConnectPrincipal(
                self.provider,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": [subject(repository, c) for c in claims],
                    }
                },
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeTheCdkBootstrapRoles",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/"
                    f"cdk-{BOOTSTRAP_QUALIFIER}-{name}-role-{stack.account}-{stack.region}"
                    for name in bootstrap_roles
                ],
            )
        )
        return role
