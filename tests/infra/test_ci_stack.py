"""Fyntrix-CI: GitHub's OIDC provider, the deploy role's trust and permissions, nag and lint."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Validations
from aws_cdk.assertions import Template
from cdk_nag import NagPack

from infra.app_factory import build_app
from infra.config import CI_STACK_NAME, load_stage
from tests.infra.conftest import CERTIFICATE_ARN, DOMAIN_NAME, Synth, cdk_context

# Every test synthesizes the CI stack (the `ci` fixture or synth_ci directly).
pytestmark = pytest.mark.synth

HOST = "token.actions.githubusercontent.com"
ACCOUNT = {"Ref": "AWS::AccountId"}


@dataclass(frozen=True)
class CiSynth:
    app: App
    packs: list[NagPack]
    template: Template


def synth_ci(**overrides: str) -> CiSynth:
    config = load_stage(
        "prod",
        image_tag="abc123",
        overrides={
            "ci.github_repository": "acme/fyntrix",
            "certificate_arn": CERTIFICATE_ARN,
            "domain_name": DOMAIN_NAME,
            **overrides,
        },
    )
    app, _, _, packs = build_app(config, context=cdk_context())
    return CiSynth(app, packs, Template.from_stack(app.node.find_child(CI_STACK_NAME)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ci() -> CiSynth:
    return synth_ci()


def roles(ci: CiSynth) -> dict[str, dict[str, Any]]:
    found = ci.template.find_resources("AWS::IAM::Role")
    return {lid: r["Properties"] for lid, r in found.items()}


def role(ci: CiSynth, word: str) -> tuple[str, dict[str, Any]]:
    (match,) = [(lid, p) for lid, p in roles(ci).items() if word in lid]
    return match


def policy_of(ci: CiSynth, role_id: str) -> list[dict[str, Any]]:
    for p in ci.template.find_resources("AWS::IAM::Policy").values():
        if p["Properties"]["Roles"] == [{"Ref": role_id}]:
            statements: list[dict[str, Any]] = p["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError(f"no policy on {role_id}")


def bootstrap_role(name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:aws:iam::",
                ACCOUNT,
                f":role/cdk-hnb659fds-{name}-role-",
                ACCOUNT,
                "-us-east-1",
            ],
        ]
    }


def test_no_repository_no_ci_stack(dev: Synth) -> None:
    assert dev.config.ci.github_repository is None
    assert dev.app.node.try_find_child(CI_STACK_NAME) is None


def test_github_oidc_provider_with_the_sts_audience(ci: CiSynth) -> None:
    ci.template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    ci.template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {
            "Url": f"https://{HOST}",
            "ClientIdList": ["sts.amazonaws.com"],
            "ThumbprintList": [
                "6938fd4d98bab03faadb97b34396831e3780aea1",
                "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
            ],
        },
    )
    # The native resource: no Lambda-backed custom resource to run or to acknowledge.
    ci.template.resource_count_is("AWS::Lambda::Function", 0)


def test_deploy_role_trusts_only_the_main_branch_and_the_prod_environment(ci: CiSynth) -> None:
    provider = next(iter(ci.template.find_resources("AWS::IAM::OIDCProvider")))
    _, props = role(ci, "DeployRole")
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": {"Ref": provider}}
    # StringEquals, never StringLike: no wildcard can widen the subjects.
    assert statement["Condition"] == {
        "StringEquals": {
            f"{HOST}:aud": "sts.amazonaws.com",
            f"{HOST}:sub": [
                "repo:acme/fyntrix:ref:refs/heads/main",
                "repo:acme/fyntrix:environment:prod",
            ],
        }
    }
    assert props["MaxSessionDuration"] == 3600


def test_deploy_role_may_only_assume_bootstrap_roles_and_push_the_app_image(ci: CiSynth) -> None:
    role_id, _ = role(ci, "DeployRole")
    statements = {s["Sid"]: s for s in policy_of(ci, role_id)}
    assert sorted(statements) == [
        "AssumeTheCdkBootstrapRoles",
        "LogInToTheRegistry",
        "PushTheAppImage",
    ]
    assume = statements["AssumeTheCdkBootstrapRoles"]
    assert assume["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert assume["Resource"] == [
        bootstrap_role(n) for n in ("deploy", "file-publishing", "image-publishing", "lookup")
    ]
    push = statements["PushTheAppImage"]
    assert "ecr:PutImage" in push["Action"]
    assert not [a for a in push["Action"] if "Delete" in a or "*" in a]
    assert push["Resource"] == {
        "Fn::Join": ["", ["arn:aws:ecr:us-east-1:", ACCOUNT, ":repository/fyntrix-app"]]
    }
    login = statements["LogInToTheRegistry"]
    assert (login["Action"], login["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_pull_requests_get_a_read_only_diff_role(ci: CiSynth) -> None:
    role_id, props = role(ci, "DiffRole")
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/fyntrix:pull_request"
    ]
    (only,) = policy_of(ci, role_id)
    assert only["Resource"] == bootstrap_role("lookup")


def test_other_branch_environment_and_existing_provider() -> None:
    other = synth_ci(
        **{
            "ci.deploy_branch": "release",
            "ci.prod_environment": "production",
            "ci.create_oidc_provider": "false",
        }
    )
    other.template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    _, props = role(other, "DeployRole")
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/fyntrix:ref:refs/heads/release",
        "repo:acme/fyntrix:environment:production",
    ]
    federated = json.dumps(statement["Principal"]["Federated"])
    assert f"oidc-provider/{HOST}" in federated


def test_ci_stack_is_nag_clean_with_only_the_registry_login_acknowledged(ci: CiSynth) -> None:
    for pack in ci.packs:
        report = pack.validate_scope(ci.app)
        assert report.success, [v.rule_name for v in report.violations]
    stack = ci.app.node.find_child(CI_STACK_NAME)
    acknowledged = sorted(
        (node.node.path.removeprefix(f"{CI_STACK_NAME}/GitHub/"), rule.removeprefix("Annotation::"))
        for node in stack.node.find_all()
        for entry in node.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
    )
    assert acknowledged == [
        ("DeployRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
        ("DeployRole/DefaultPolicy", "NIST.800.53.R5-IAMNoInlinePolicy"),
        ("DiffRole/DefaultPolicy", "NIST.800.53.R5-IAMNoInlinePolicy"),
    ]


def test_ci_template_passes_cfn_lint(ci: CiSynth, tmp_path: Path) -> None:
    path = tmp_path / "ci.template.json"
    path.write_text(json.dumps(ci.template.to_json(), indent=1))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "", result.stdout
    assert result.returncode == 0, result.stderr


def test_ci_stack_outputs_the_role_arns(ci: CiSynth) -> None:
    outputs = ci.template.to_json()["Outputs"]
    assert sorted(outputs) == ["DeployRoleArn", "DiffRoleArn"]
