"""Shared fixtures for every test folder (real servers: see testkit/), and the test tiers."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from inspect import signature
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
    "noisy": "synth",  # tests/infra/test_monitoring.py: a stage with other thresholds
    "ci": "synth",  # tests/infra/test_ci_stack.py: prod with the Fyntrix-CI stack
    "docker_engine": "containers",  # testkit/containers.py: a Docker engine and the images
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--unit",
        action="store_true",
        help=f"run the unit tier only: deselect tests marked {', '.join(SLOW_TIERS)}",
    )


def _tiers(item: pytest.Item) -> set[str]:
    """The tiers a test's fixtures put it in, including a synth fixture chosen by a parameter
    (`@parametrize("stage", ["dev", "prod"])` + `request.getfixturevalue(stage)`)."""
    used = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    function = getattr(item, "function", None)
    # Only a test that takes `request` itself can look a fixture up by a parameter's value.
    if (
        callspec is not None
        and function is not None
        and "request" in signature(function).parameters
    ):
        used |= {v for v in callspec.params.values() if isinstance(v, str)}
    return {tier for fixture, tier in _TIER_BY_FIXTURE.items() if fixture in used}


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one worker per CPU, and one more beyond the unit tier, whose tests spend part
    of their time waiting (servers starting, subprocesses, the deploy's polling in `make up`),
    time another worker fills. The unit tier waits on nothing: a worker more would only add
    its collection. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set (xdist's own hook
    reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cpus = os.cpu_count() or 1
    return cpus if config.getoption("--unit") else cpus + 1


# `--dist loadgroup` (pyproject.toml) keeps each xdist_group on one worker. The in-process
# synth tests form one group: every worker that runs one starts its own jsii kernel and
# synthesizes each stage fixture it uses again (session fixtures are per worker).
SYNTH_GROUP = "synth"


# A wrapper: the tiers and the synth group are added before `-m` selects by them and before
# xdist reads the groups. xdist schedules by node id: two tests with one id would run as one,
# the other silently never (a plugin naming its items oddly), so that is an error here.
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    duplicated = sorted(n for n, count in Counter(i.nodeid for i in items).items() if count > 1)
    if duplicated:
        raise pytest.UsageError(f"tests share a node id, xdist would run one of each: {duplicated}")
    for item in items:
        for tier in _tiers(item):
            item.add_marker(tier)
        if item.get_closest_marker("synth") is not None:
            item.add_marker(pytest.mark.xdist_group(SYNTH_GROUP))
    if config.getoption("--unit"):
        slow = {id(i) for i in items if any(i.get_closest_marker(t) for t in SLOW_TIERS)}
        if slow:
            config.hook.pytest_deselected(items=[i for i in items if id(i) in slow])
            items[:] = [i for i in items if id(i) not in slow]
    yield
