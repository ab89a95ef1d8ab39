"""Fyntrix-CI: GitHub's OIDC provider, each role's trust and permissions, nag and lint."""

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
from infra.config import CI_STACK_NAME, ConfigError, load_stage
from tests.infra.conftest import CERTIFICATE_ARN, DOMAIN_NAME, Synth, cdk_context
from tools.gates import tool

# The stacks whose deployed templates `cdk diff` reads on pull requests.
DIFFED_STACKS = (
    "Fyntrix-Registry",
    "Fyntrix-State-dev",
    "Fyntrix-Service-dev",
    "Fyntrix-State-prod",
    "Fyntrix-Service-prod",
)

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


def bootstrap_role(name: str, account: Any = ACCOUNT) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:aws:iam::",
                account,
                f":role/cdk-hnb659fds-{name}-role-",
                account,
                "-us-east-1",
            ],
        ]
    }


def subjects(props: dict[str, Any]) -> list[str]:
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    sub = statement["Condition"]["StringEquals"][f"{HOST}:sub"]
    return [sub] if isinstance(sub, str) else list(sub)


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


def test_each_stage_has_its_own_deploy_role_trusting_one_subject(ci: CiSynth) -> None:
    provider = next(iter(ci.template.find_resources("AWS::IAM::OIDCProvider")))
    assert len(roles(ci)) == 3
    for word, sub in (
        ("DevDeployRole", "repo:acme/fyntrix:ref:refs/heads/main"),
        ("ProdDeployRole", "repo:acme/fyntrix:environment:prod"),
        ("DiffRole", "repo:acme/fyntrix:pull_request"),
    ):
        _, props = role(ci, word)
        (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Federated": {"Ref": provider}}
        # StringEquals on exactly one subject, never StringLike: no wildcard can widen it,
        # and no job on the branch can take the prod role (only the prod environment's can).
        assert statement["Condition"] == {
            "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": sub}
        }, word
        assert props["MaxSessionDuration"] == 3600


def test_dev_deploy_role_may_only_deploy_and_push_the_app_image(ci: CiSynth) -> None:
    role_id, _ = role(ci, "DevDeployRole")
    statements = {s["Sid"]: s for s in policy_of(ci, role_id)}
    assert sorted(statements) == [
        "AssumeTheCdkBootstrapRoles",
        "LogInToTheRegistry",
        "PushTheAppImage",
    ]
    assume = statements["AssumeTheCdkBootstrapRoles"]
    assert assume["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    # Not the lookup role (ReadOnlyAccess to the account): the workflow synthesizes before
    # it has credentials, and the stacks have no assets but their templates.
    assert assume["Resource"] == [bootstrap_role(n) for n in ("deploy", "file-publishing")]
    push = statements["PushTheAppImage"]
    assert "ecr:PutImage" in push["Action"]
    assert not [a for a in push["Action"] if "Delete" in a or "*" in a]
    assert push["Resource"] == {
        "Fn::Join": ["", ["arn:aws:ecr:us-east-1:", ACCOUNT, ":repository/fyntrix-app"]]
    }
    login = statements["LogInToTheRegistry"]
    assert (login["Action"], login["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_prod_deploy_role_may_only_assume_prods_deploy_roles(ci: CiSynth) -> None:
    role_id, _ = role(ci, "ProdDeployRole")
    (only,) = policy_of(ci, role_id)
    assert (only["Sid"], only["Effect"]) == ("AssumeTheCdkBootstrapRoles", "Allow")
    assert only["Resource"] == [bootstrap_role(n) for n in ("deploy", "file-publishing")]


def stack_arn(name: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:aws:cloudformation:us-east-1:", ACCOUNT, f":stack/{name}/*"]]}


def test_pull_requests_may_only_read_this_projects_deployed_templates(ci: CiSynth) -> None:
    role_id, _ = role(ci, "DiffRole")
    (only,) = policy_of(ci, role_id)
    assert only["Effect"] == "Allow"
    assert only["Action"] == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"]
    # (in the order CDK's policy minimisation sorts them)
    assert sorted(map(json.dumps, only["Resource"])) == sorted(
        json.dumps(stack_arn(n)) for n in DIFFED_STACKS
    )


def test_no_github_role_may_assume_the_lookup_role_or_read_the_account(ci: CiSynth) -> None:
    # A policy walk over every statement of the stack: no role reaches the CDK lookup role
    # (ReadOnlyAccess), and no action is a wildcard or a managed read-only policy.
    statements = [
        s
        for p in ci.template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert "lookup-role" not in json.dumps(statements)
    actions = [
        a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not [a for a in actions if "*" in a]
    assert all("ManagedPolicyArns" not in p for p in roles(ci).values())


def test_each_stage_deploys_to_its_own_account_when_set() -> None:
    other = synth_ci(**{"ci.dev_account": "111111111111", "ci.prod_account": "222222222222"})
    for word, account in (("DevDeployRole", "111111111111"), ("ProdDeployRole", "222222222222")):
        role_id, _ = role(other, word)
        (assume,) = [
            s for s in policy_of(other, role_id) if s["Sid"] == "AssumeTheCdkBootstrapRoles"
        ]
        assert assume["Resource"] == [
            f"arn:aws:iam::{account}:role/cdk-hnb659fds-{n}-role-{account}-us-east-1"
            for n in ("deploy", "file-publishing")
        ], word
    role_id, _ = role(other, "DevDeployRole")
    (push,) = [s for s in policy_of(other, role_id) if s["Sid"] == "PushTheAppImage"]
    assert push["Resource"] == "arn:aws:ecr:us-east-1:111111111111:repository/fyntrix-app"


def test_an_account_that_is_not_one_fails_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        load_stage("dev", overrides={"ci.prod_account": "12345"})
    assert caught.value.setting == "ci.prod_account"
    assert "12-digit" in str(caught.value)


def test_other_branch_environment_and_existing_provider() -> None:
    other = synth_ci(
        **{
            "ci.deploy_branch": "release",
            "ci.prod_environment": "production",
            "ci.create_oidc_provider": "false",
        }
    )
    other.template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    assert subjects(role(other, "DevDeployRole")[1]) == ["repo:acme/fyntrix:ref:refs/heads/release"]
    _, props = role(other, "ProdDeployRole")
    assert subjects(props) == ["repo:acme/fyntrix:environment:production"]
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
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
    stack_ids = [
        (
            "DiffRole/DefaultPolicy",
            f"AwsSolutions-IAM5[Resource::arn:aws:cloudformation:us-east-1:<AWS::AccountId>:stack/{n}/*]",
        )
        for n in DIFFED_STACKS
    ]
    assert acknowledged == sorted(
        [
            ("DevDeployRole/DefaultPolicy", "AwsSolutions-IAM5[Resource::*]"),
            ("DevDeployRole/DefaultPolicy", "NIST.800.53.R5-IAMNoInlinePolicy"),
            ("DiffRole/DefaultPolicy", "NIST.800.53.R5-IAMNoInlinePolicy"),
            ("ProdDeployRole/DefaultPolicy", "NIST.800.53.R5-IAMNoInlinePolicy"),
            *stack_ids,
        ]
    )


def test_ci_template_passes_cfn_lint(ci: CiSynth, tmp_path: Path) -> None:
    path = tmp_path / "ci.template.json"
    path.write_text(json.dumps(ci.template.to_json(), indent=1))
    result = subprocess.run(
        [*tool(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "", result.stdout
    assert result.returncode == 0, result.stderr


def test_ci_stack_outputs_the_role_arns(ci: CiSynth) -> None:
    outputs = ci.template.to_json()["Outputs"]
    assert sorted(outputs) == ["DevDeployRoleArn", "DiffRoleArn", "ProdDeployRoleArn"]
