"""Builds the CDK App from a stage config. Pure: no env vars, no context reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags
from cdk_nag import NagPack

from infra.config import CI_STACK_NAME, PROJECT, REGISTRY_STACK_NAME, StageConfig
from infra.nag import add_nag_packs
from infra.stacks.ci_stack import CiStack
from infra.stacks.registry_stack import RegistryStack
from infra.stacks.service_stack import ServiceStack
from infra.stacks.state_stack import StateStack


def build_app(
    config: StageConfig,
    *,
    account: str | None = None,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    app: App | None = None,
) -> tuple[App, RegistryStack, ServiceStack, list[NagPack]]:
    """Wire the stacks into `app` (or a new App with `context`/`outdir`, as tests do): the
    registry, the stage's state (find it with `app.node.find_child(config.state_stack_name)`)
    and service and, when `ci.github_repository` is set, Fyntrix-CI (find
    it with `app.node.find_child(CI_STACK_NAME)`).

    Raises ConfigError for a config the generators accept but a deploy must not (prod without
    a certificate), before any construct exists."""
    config.check_deployable()
    if app is None:
        app = App(context=dict(context or {}), outdir=outdir)
    packs = add_nag_packs(app)
    # The region is concrete (ALB access logs need it); the account stays unresolved unless a
    # VPC lookup needs it, so templates do not depend on whose credentials ran the synth.
    env = Environment(account=account, region=config.region)
    registry = RegistryStack(
        app,
        REGISTRY_STACK_NAME,
        config=config,
        env=env,
        description="Fyntrix app image repository (shared by all stages)",
    )
    state = StateStack(
        app,
        config.state_stack_name,
        config=config,
        env=env,
        description=f"Fyntrix {config.stage}: what the stage keeps across make destroy",
    )
    service = ServiceStack(
        app,
        config.service_stack_name,
        config=config,
        secrets=state.secrets,
        env=env,
        description=f"Fyntrix backend on ECS Fargate with a Redis sidecar ({config.stage})",
    )
    service.add_stack_dependency(registry)
    if config.ci.github_repository:
        # Once per account, with the repository it trusts; tests reach it by its name.
        CiStack(
            app,
            CI_STACK_NAME,
            config=config,
            env=env,
            description=f"GitHub OIDC deploys of {config.ci.github_repository} (once per account)",
        )
    Tags.of(app).add("project", PROJECT)
    Tags.of(service).add("stage", config.stage)
    Tags.of(state).add("stage", config.stage)
    return app, registry, service, packs
