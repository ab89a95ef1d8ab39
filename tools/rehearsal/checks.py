"""The rehearsal's verification checks: each one registered under its name, runnable alone.

A check is a function of a :class:`Deployment` (the stage's config, an AWS session and the
synthesized templates) that returns a detail line or raises; the `CheckList` of its module
registers it with its name and its source ("api": read through the AWS APIs, "template": from
the synthesized template, where the emulator drops the setting). tools/rehearsal/verify.py
runs every list in order; `run_one` runs one check by name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import REGISTRY_STACK_NAME, StageConfig
from tools.stack_outputs import DeployedNames


@dataclass(frozen=True, kw_only=True)
class Check:
    """One check's result: a row of the rehearsal's table."""

    name: str
    source: str  # "api" or "template"
    ok: bool
    detail: str


class Deployment:
    """What the checks read: one stage deployed through `session` (anything with boto3's
    `client(name)`: the rehearsal's endpoint-bound session, or a real account's), and the
    templates the CDK synthesized into `cdk_out`. Each read happens once, when first needed."""

    def __init__(self, *, config: StageConfig, session: Any, cdk_out: Path) -> None:
        self.config = config
        self.session = session
        self.cdk_out = cdk_out
        self._clients: dict[str, Any] = {}
        self._templates: dict[str, dict[str, Any]] = {}
        self._task_definition: dict[str, Any] = {}

    def require(self) -> None:
        """Read the templates and the stack outputs before any check: a stage without them
        is not verified at all (this raises) rather than failed check by check."""
        self.template(self.config.service_stack_name)
        self.template(REGISTRY_STACK_NAME)
        _ = self.names

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self.session.client(name)
        return self._clients[name]

    def template(self, stack_name: str) -> dict[str, Any]:
        if stack_name not in self._templates:
            path = self.cdk_out / f"{stack_name}.template.json"
            self._templates[stack_name] = json.loads(path.read_text())
        return self._templates[stack_name]

    @property
    def service_template(self) -> dict[str, Any]:
        return self.template(self.config.service_stack_name)

    @property
    def registry_template(self) -> dict[str, Any]:
        return self.template(REGISTRY_STACK_NAME)

    @functools.cached_property
    def names(self) -> DeployedNames:
        """CloudFormation names the cluster and the service; tools read them from outputs."""
        return DeployedNames.of(self.session, self.config)

    def task_definition(self) -> dict[str, Any]:
        if not self._task_definition:
            self._task_definition.update(
                self.client("ecs").describe_task_definition(taskDefinition=self.config.task_family)[
                    "taskDefinition"
                ]
            )
        return self._task_definition

    def containers(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.task_definition()["containerDefinitions"]}

    def outputs(self, stack_name: str) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def account(self) -> str:
        account: str = self.client("sts").get_caller_identity()["Account"]
        return account


CheckFn = Callable[[Deployment], str]


def always(_config: StageConfig) -> bool:
    return True


@dataclass(frozen=True, kw_only=True)
class NamedCheck:
    """A registered check. `name` may hold `{config...}` fields (the stage's ports)."""

    name: str
    source: str
    run: CheckFn
    applies: Callable[[StageConfig], bool] = always

    def title(self, config: StageConfig) -> str:
        return self.name.format(config=config)

    def result(self, deployment: Deployment) -> Check:
        """Run it; whatever it raises becomes a FAIL row naming the reason."""
        name = self.title(deployment.config)
        try:
            detail = self.run(deployment)
        except Exception as exc:  # every failure, whatever its kind, becomes a FAIL row
            reason = str(exc) or exc.__class__.__name__
            return Check(name=name, source=self.source, ok=False, detail=reason[:300])
        return Check(name=name, source=self.source, ok=True, detail=detail)


class CheckList:
    """One module's checks, in the order they run."""

    def __init__(self) -> None:
        self._checks: list[NamedCheck] = []

    def add(
        self, name: str, source: str, *, applies: Callable[[StageConfig], bool] = always
    ) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated function as the check `name`."""

        def register(fn: CheckFn) -> CheckFn:
            self._checks.append(NamedCheck(name=name, source=source, run=fn, applies=applies))
            return fn

        return register

    def __iter__(self) -> Iterator[NamedCheck]:
        return iter(self._checks)


def run_all(checks: Iterable[NamedCheck], deployment: Deployment) -> list[Check]:
    """Every check that applies to the stage, in order."""
    return [c.result(deployment) for c in checks if c.applies(deployment.config)]


def run_one(checks: Iterable[NamedCheck], name: str, deployment: Deployment) -> Check:
    """The check called `name` (as registered, or as titled for the stage) run alone."""
    for check in checks:
        if name in (check.name, check.title(deployment.config)):
            return check.result(deployment)
    raise KeyError(f"no check named {name!r}")


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def resources(template: dict[str, Any], cfn_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, res in template["Resources"].items():
        if res["Type"] == cfn_type:
            yield lid, res


def one(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    found = [r for _, r in resources(template, cfn_type)]
    expect(len(found) == 1, f"expected one {cfn_type}, found {len(found)}")
    props: dict[str, Any] = found[0]["Properties"]
    return props
