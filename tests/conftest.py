"""Shared fixtures for every test folder (real servers: see testkit/), and the test tiers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The synth tests start jsii: it must run on the venv's supported Node, as `make` arranges.
# Set once here, before any test module imports aws_cdk, so direct pytest runs match `make test`.
_VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
os.environ["PATH"] = f"{_VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

pytest_plugins = ["testkit.servers", "testkit.service", "testkit.containers"]

# The slower tiers (markers registered in pyproject.toml). The unit tier, `make test-fast` or
# `pytest --unit`, is every test carrying none of them.
SLOW_TIERS = ("servers", "synth", "cli_synth", "integration", "slow", "containers")
# Tests using these fixtures get their tier without anyone having to remember the marker.
_TIER_BY_FIXTURE = {
    "redis_server_factory": "servers",
    "postgres_cluster": "servers",
    "_postgres_template": "servers",
    "service_process_factory": "servers",
    "make_app": "servers",  # Redis and, for kind="postgres", PostgreSQL
    "emulator": "servers",  # tests/ops/test_ecs_exec.py: the moto server
    "dev": "synth",  # tests/infra/conftest.py: one in-process synth per stage per session
    "prod": "synth",
    "with_tls": "synth",
    "dev_without_waf": "synth",
    "docker_engine": "containers",  # testkit/containers.py: a Docker engine and the images
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--unit",
        action="store_true",
        help=f"run the unit tier only: deselect tests marked {', '.join(SLOW_TIERS)}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, tier in _TIER_BY_FIXTURE.items():
            if fixture in used:
                item.add_marker(tier)
    # The end-to-end tests take longest: start them first, so under xdist no worker is left
    # with one of them while the others have finished (a stable sort keeps everyone's order).
    items.sort(key=lambda i: i.get_closest_marker("integration") is None)
    if config.getoption("--unit"):
        slow = {id(i) for i in items if any(i.get_closest_marker(t) for t in SLOW_TIERS)}
        if slow:
            config.hook.pytest_deselected(items=[i for i in items if id(i) in slow])
            items[:] = [i for i in items if id(i) not in slow]
