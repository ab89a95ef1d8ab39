"""GitHub Actions deploys without stored keys: the OIDC provider and the roles it may assume."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import (
    REGISTRY_STACK_NAME,
    STAGES,
    StageConfig,
    service_stack_name,
    state_stack_name,
)
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
# What `cdk deploy --app <synthesized assembly>` assumes: upload the template (file
# publishing), then deploy through CloudFormation (whose execution role does the work). The
# stacks have no image or file assets besides their templates, and the workflow synthesizes
# before it has credentials, so neither image publishing nor the lookup role (which holds
# ReadOnlyAccess to the whole account) is needed.
DEPLOY_BOOTSTRAP_ROLES: Final = ("deploy", "file-publishing")
# What `cdk diff --method=template` reads, on this project's stacks only: the CLI tries the
# lookup role first and, refused, reads with the diff role's own credentials.
DIFF_ACTIONS: Final = ("cloudformation:DescribeStacks", "cloudformation:GetTemplate")
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


def deploy_claims(config: StageConfig) -> dict[str, str]:
    """Each stage's only trusted claim: dev deploys from pushes of the deploy branch, prod only
    from jobs of the protected prod environment (whose required reviewers approve them)."""
    return {
        "dev": f"ref:refs/heads/{config.ci.deploy_branch}",
        "prod": f"environment:{config.ci.prod_environment}",
    }


class GitHubDeploy(Construct):
    """GitHub's OIDC identity provider and three roles, each for one kind of job.

    `deploy_roles["dev"]`: pushes of `ci.deploy_branch` of exactly `ci.github_repository`;
    it may assume dev's CDK deploy and file-publishing roles (in `ci.dev_account`) and push
    images to the app repository. `deploy_roles["prod"]`: only jobs of the protected
    `ci.prod_environment`; it may assume prod's deploy and file-publishing roles (in
    `ci.prod_account`), nothing else, so a job on the branch cannot deploy prod.
    `diff_role`: that repository's pull requests; it may only read the deployed templates of
    this project's stacks. A token from any other repository, branch, environment or
    audience is refused by the trust policies' conditions.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        repository = config.ci.github_repository
        if repository is None:
            raise ValueError("ci.github_repository is unset: there is no repository to trust")
        self.provider = self._provider(config)
        claims = deploy_claims(config)
        accounts = {"dev": config.ci.dev_account, "prod": config.ci.prod_account}
        self.deploy_roles: dict[str, iam.Role] = {}
        for stage in STAGES:
            role = self._role(
                f"{stage.capitalize()}DeployRole",
                subject(repository, claims[stage]),
                description=f"GitHub Actions deploys of {repository} to {stage} "
                f"({claims[stage]} only)",
            )
            role.add_to_policy(self._bootstrap_statement(accounts[stage]))
            self.deploy_roles[stage] = role
        self._allow_image_push(self.deploy_roles["dev"], accounts["dev"], config)
        self.diff_role = self._role(
            "DiffRole",
            subject(repository, "pull_request"),
            description=f"GitHub Actions `cdk diff` on pull requests of {repository} "
            "(reads this project's deployed templates)",
        )
        self._allow_template_reads(self.diff_role)
        for role in (*self.deploy_roles.values(), self.diff_role):
            policy = role.node.find_child("DefaultPolicy")
            acknowledge(policy, "NIST.800.53.R5-IAMNoInlinePolicy#github-roles")

    def _provider(self, config: StageConfig) -> iam.IOidcProvider:
        if config.ci.create_oidc_provider:
            return iam.OidcProviderNative(
                self,
                "GitHubOidc",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_ids=[STS_AUDIENCE],
                thumbprints=list(GITHUB_THUMBPRINTS),
            )
        stack = Stack.of(self)
        return iam.OidcProviderNative.from_oidc_provider_arn(
            self,
            "GitHubOidc",
            f"arn:{stack.partition}:iam::{stack.account}:oidc-provider/{GITHUB_OIDC_HOST}",
        )

    def _role(self, construct_id: str, sub: str, *, description: str) -> iam.Role:
        # StringEquals on one subject: no wildcard can widen who may assume the role.
        return iam.Role(
            self,
            construct_id,
            description=description,
            max_session_duration=Duration.hours(1),
            assumed_by=iam.OpenIdConnectPrincipal(
                self.provider,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": sub,
                    }
                },
            ),
        )

    def _bootstrap_statement(self, account: str | None) -> iam.PolicyStatement:
        """The stage's CDK bootstrap roles, in its own account when it has one (bootstrapped
        with `--trust` of the account this stack is in), else in this stack's account."""
        stack = Stack.of(self)
        target = account or stack.account
        return iam.PolicyStatement(
            sid="AssumeTheCdkBootstrapRoles",
            actions=["sts:AssumeRole", "sts:TagSession"],
            resources=[
                f"arn:{stack.partition}:iam::{target}:role/"
                f"cdk-{BOOTSTRAP_QUALIFIER}-{name}-role-{target}-{stack.region}"
                for name in DEPLOY_BOOTSTRAP_ROLES
            ],
        )

    def _allow_image_push(self, role: iam.Role, account: str | None, config: StageConfig) -> None:
        """The build job (on the deploy branch, dev's role) pushes the image once; prod
        deploys the same tag and never pushes."""
        stack = Stack.of(self)
        repository_arn = stack.format_arn(
            service="ecr",
            resource="repository",
            resource_name=config.repository_name,
            account=account or stack.account,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PushTheAppImage", actions=list(ECR_PUSH_ACTIONS), resources=[repository_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LogInToTheRegistry", actions=["ecr:GetAuthorizationToken"], resources=["*"]
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(policy, "AwsSolutions-IAM5[ecr-login]", finding="Resource::*")

    def _allow_template_reads(self, role: iam.Role) -> None:
        """DescribeStacks and GetTemplate of the registry and each stage's state and service
        stacks, in this stack's account: pull-request code never holds a read of anything
        else."""
        stack = Stack.of(self)
        names = [
            REGISTRY_STACK_NAME,
            *(name(s) for s in STAGES for name in (state_stack_name, service_stack_name)),
        ]
        arns = [
            stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{n}/*")
            for n in names
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThisProjectsStackTemplates", actions=list(DIFF_ACTIONS), resources=arns
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        # cdk-nag names the finding by the ARN, an unresolved part rendered as <AWS::...>.
        partition = "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition
        for name in names:
            acknowledge(
                policy,
                "AwsSolutions-IAM5[stack-id]",
                finding=f"Resource::arn:{partition}:cloudformation:{stack.region}:"
                f"<AWS::AccountId>:stack/{name}/*",
            )
