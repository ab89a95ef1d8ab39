"""Fyntrix-CI: GitHub's OIDC provider, a deploy role per stage and the diff role."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.github_deploy import GitHubDeploy


class CiStack(Stack):
    """Deployed by hand once (`make deploy-ci`), before the workflow's first run; its
    outputs are the role ARNs the workflow's repository variables hold (DevDeployRoleArn ->
    `AWS_DEV_DEPLOY_ROLE_ARN`, ProdDeployRoleArn -> `AWS_PROD_DEPLOY_ROLE_ARN`, DiffRoleArn ->
    `AWS_DIFF_ROLE_ARN`)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.github = GitHubDeploy(self, "GitHub", config=config)
        for stage, role in self.github.deploy_roles.items():
            CfnOutput(self, f"{stage.capitalize()}DeployRoleArn", value=role.role_arn)
        CfnOutput(self, "DiffRoleArn", value=self.github.diff_role.role_arn)
