"""One synth per stage per test session, with cdk.json's context loaded (feature flags)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cdk_nag import NagPack

from infra.app_factory import build_app
from infra.config import StageConfig, load_stage
from infra.stacks.registry_stack import RegistryStack
from infra.stacks.service_stack import ServiceStack
from infra.stacks.state_stack import StateStack

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synth:
    config: StageConfig
    app: App
    registry: RegistryStack
    service: ServiceStack
    state: StateStack
    packs: list[NagPack]
    registry_template: Template
    service_template: Template
    state_template: Template


def cdk_context() -> dict[str, object]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def synth_stage(config: StageConfig) -> Synth:
    app, registry, service, packs = build_app(config, context=cdk_context())
    state = app.node.find_child(config.state_stack_name)
    assert isinstance(state, StateStack)
    return Synth(
        config=config,
        app=app,
        registry=registry,
        service=service,
        state=state,
        packs=packs,
        registry_template=Template.from_stack(registry),
        service_template=Template.from_stack(service),
        state_template=Template.from_stack(state),
    )


@pytest.fixture(scope="session")
def dev() -> Synth:
    return synth_stage(load_stage("dev"))


# An ARN in ACM's format; prod cannot be synthesized without one, nor without its domain.
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
DOMAIN_NAME = "api.fyntrix.example"
HOSTED_ZONE_ID = "Z0123456789ABCDEFGHIJ"
# What every stage with HTTPS needs: the certificate and the name it covers.
TLS = {"certificate_arn": CERTIFICATE_ARN, "domain_name": DOMAIN_NAME}


@pytest.fixture(scope="session")
def prod() -> Synth:
    return synth_stage(
        load_stage("prod", image_tag="1.4.2", overrides={**TLS, "hosted_zone_id": HOSTED_ZONE_ID})
    )


@pytest.fixture(scope="session")
def dev_without_waf() -> Synth:
    return synth_stage(load_stage("dev", overrides={"waf.enabled": "false"}))


@pytest.fixture(scope="session")
def with_tls() -> Synth:
    return synth_stage(
        load_stage(
            "dev",
            overrides={
                **TLS,
                "allowed_ingress_cidrs": "203.0.113.0/24,198.51.100.0/24",
            },
        )
    )
