"""Rehearsal checks of the CI stack, when the stage names a GitHub repository: the stack, the
GitHub OIDC provider, one deploy role per job kind trusting one subject each, and what each
role may do. Through the AWS APIs (IAM roles and OIDC providers), from the synthesized
template where the emulator does not keep the setting (the roles' policies)."""

from __future__ import annotations

import json
from typing import Any

from infra.config import (
    CI_STACK_NAME,
    REGISTRY_STACK_NAME,
    STAGES,
    StageConfig,
    service_stack_name,
    state_stack_name,
)
from tools.rehearsal.checks import CheckList, Deployment, expect, resources


def _has_ci(config: StageConfig) -> bool:
    return config.ci.github_repository is not None


CHECKS = CheckList()


@CHECKS.add("ci: stack deployed", "api", applies=_has_ci)
def stack(d: Deployment) -> str:
    found = d.client("cloudformation").describe_stacks(StackName=CI_STACK_NAME)
    status = found["Stacks"][0]["StackStatus"]
    expect(status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), status)
    return f"{CI_STACK_NAME} {status}"


@CHECKS.add("ci: GitHub OIDC provider", "api", applies=_has_ci)
def provider(d: Deployment) -> str:
    iam = d.client("iam")
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    (arn,) = [a for a in arns if a.endswith("/token.actions.githubusercontent.com")]
    found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    expect(found["ClientIDList"] == ["sts.amazonaws.com"], f"audience {found['ClientIDList']}")
    return f"{arn.split(':', 5)[5]}, audience sts.amazonaws.com"


def _role_names(d: Deployment) -> dict[str, str]:
    cfn = d.client("cloudformation")
    found = cfn.list_stack_resources(StackName=CI_STACK_NAME)["StackResourceSummaries"]
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in found
        if r["ResourceType"] == "AWS::IAM::Role"
    }


def _trust(d: Deployment, role_name: str) -> tuple[list[str], str]:
    doc = d.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]
    sub = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    return ([sub] if isinstance(sub, str) else sub), json.dumps(statement["Principal"])


@CHECKS.add("ci: one role per job kind, one subject each", "api", applies=_has_ci)
def deploy_roles(d: Deployment) -> str:
    ci, names = d.config.ci, _role_names(d)
    repository = ci.github_repository
    expected = {
        "DevDeployRole": f"repo:{repository}:ref:refs/heads/{ci.deploy_branch}",
        "ProdDeployRole": f"repo:{repository}:environment:{ci.prod_environment}",
        "DiffRole": f"repo:{repository}:pull_request",
    }
    expect(len(names) == len(expected), f"roles {sorted(names)}")
    for word, sub in expected.items():
        (name,) = [n for lid, n in names.items() if word in lid]
        subjects, principal = _trust(d, name)
        expect(subjects == [sub], f"{word} trusts {subjects}")
        expect(":oidc-provider/" in principal, f"{word}: not the OIDC provider")
    return (
        f"dev: {expected['DevDeployRole'].split(':', 2)[2]}; prod: only "
        f"{expected['ProdDeployRole'].split(':', 2)[2]}; diff: pull_request"
    )


def _statements(d: Deployment) -> dict[str, list[dict[str, Any]]]:
    return {
        lid: p["Properties"]["PolicyDocument"]["Statement"]
        for lid, p in resources(d.template(CI_STACK_NAME), "AWS::IAM::Policy")
    }


def _actions_of(found: list[dict[str, Any]]) -> list[str]:
    return sorted(
        a for s in found for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )


@CHECKS.add("ci: deploy role permissions", "template", applies=_has_ci)
def permissions(d: Deployment) -> str:
    by_policy = _statements(d)
    (dev,) = [v for k, v in by_policy.items() if "DevDeployRole" in k]
    (prod,) = [v for k, v in by_policy.items() if "ProdDeployRole" in k]
    expect(all(a.startswith(("sts:", "ecr:")) for a in _actions_of(dev)), "dev: other actions")
    expect("ecr:PutImage" in _actions_of(dev), "dev cannot push")
    expect(_actions_of(prod) == ["sts:AssumeRole", "sts:TagSession"], "prod: other actions")
    expect("lookup-role" not in json.dumps(by_policy), "a role reaches the lookup role")
    return "dev: deploy + file-publishing roles, push the app image; prod: those roles only"


@CHECKS.add("ci: diff role reads only this project's templates", "template", applies=_has_ci)
def diff_permissions(d: Deployment) -> str:
    (diff,) = [v for k, v in _statements(d).items() if "DiffRole" in k]
    actions = _actions_of(diff)
    expect(
        actions == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
        f"diff role actions {actions}",
    )
    stacks = sorted(
        json.dumps(r).rsplit(":stack/", 1)[1].split("/", 1)[0]
        for s in diff
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
    wanted = sorted(
        [
            REGISTRY_STACK_NAME,
            *(f(st) for st in STAGES for f in (state_stack_name, service_stack_name)),
        ]
    )
    expect(stacks == wanted, f"diff role reads {stacks}")
    return f"DescribeStacks, GetTemplate of {', '.join(stacks)}; nothing else"
