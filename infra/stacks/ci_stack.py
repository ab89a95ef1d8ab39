"""Fyntrix-CI: GitHub's OIDC provider and the deploy role, once per account."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.github_deploy import GitHubDeploy


class CiStack(Stack):
    """Deployed by hand once (`make deploy-ci`), before the workflow's first run; its
    outputs are the role ARNs the workflow's `AWS_DEPLOY_ROLE_ARN` / `AWS_DIFF_ROLE_ARN`
    repository variables hold."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.github = GitHubDeploy(self, "GitHub", config=config)
        CfnOutput(self, "DeployRoleArn", value=self.github.deploy_role.role_arn)
        CfnOutput(self, "DiffRoleArn", value=self.github.diff_role.role_arn)
