"""Shared fixtures for every test folder (real servers: see testkit/), and the test tiers."""

from __future__ import annotations

import os
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
    time another worker fills: on this 2-core machine, the suite of issue 10 ran in 104.6 and
    110.7 s with 3 workers, 112.1 and 121.3 s with 2 (runs interleaved). The unit tier waits
    on nothing: a worker more would only add its collection. PYTEST_XDIST_AUTO_NUM_WORKERS
    still decides when set (xdist's own hook reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cpus = os.cpu_count() or 1
    return cpus if config.getoption("--unit") else cpus + 1


# Expected seconds per tier on an idle 2-core machine, only to spread the long tests over the
# xdist workers; a test's own `@pytest.mark.weight(s)` (the rehearsals) takes precedence.
_TIER_WEIGHT_S = {"integration": 10.0, "cli_synth": 8.0, "slow": 5.0, "synth": 0.3}
_LONG_S = 5.0


def _weight_s(item: pytest.Item) -> float:
    marker = item.get_closest_marker("weight")
    if marker is not None:
        return float(marker.args[0])
    return max((w for t, w in _TIER_WEIGHT_S.items() if item.get_closest_marker(t)), default=0.0)


def _placed_units(items: list[pytest.Item]) -> list[list[pytest.Item]]:
    """The long tests, each a unit of its own, except that tests marked with the same
    `shared_run(name)` form one unit: their module-scoped run then happens once, on one worker.
    The in-process synth tests form one unit too: each worker that runs one pays for its own
    jsii kernel, the CDK's first synth in it (modules loaded, the template validator compiled)
    and a synth of every stage fixture it uses, so on one worker they are paid once: issue
    10's suite took 186 and 210 CPU-s with them spread over the workers, 153 and 156 with
    them on one (interleaved runs, 104-115 s against 85-86 s)."""
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        shared = item.get_closest_marker("shared_run")
        if shared is not None:
            units.setdefault(f"shared_run:{shared.args[0]}", []).append(item)
        elif item.get_closest_marker("synth") is not None:
            units.setdefault("synth", []).append(item)
        elif _weight_s(item) >= _LONG_S:
            units[item.nodeid] = [item]
    return sorted(units.values(), key=lambda u: sum(map(_weight_s, u)), reverse=True)


def _worker_chunks(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """Order the items for `--dist worksteal`, which hands worker k the k-th contiguous chunk
    and later steals from the chunks' tails: every long test goes to the head of a chunk,
    longest first onto the lightest chunk, so no worker is left alone with two long tests at
    the end. The rest keep their order (a stage's synth tests stay together on one worker)."""
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for unit in _placed_units(items):
        k = load.index(min(load))
        heads[k] += unit
        load[k] += sum(map(_weight_s, unit))
    chosen = {id(i) for head in heads for i in head}
    rest = iter([i for i in items if id(i) not in chosen])
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for k in range(workers):  # the chunk sizes worksteal's first distribution uses
        size = remaining // (workers - k)
        remaining -= size
        ordered += heads[k]
        ordered += [next(rest) for _ in range(max(0, size - len(heads[k])))]
    ordered += list(rest)
    return ordered


# A wrapper: the tiers are added before `-m` selects by them, and the order is set after every
# selection, so worksteal's chunks are cut from the items that really run.
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    for item in items:
        for tier in _tiers(item):
            item.add_marker(tier)
    if config.getoption("--unit"):
        slow = {id(i) for i in items if any(i.get_closest_marker(t) for t in SLOW_TIERS)}
        if slow:
            config.hook.pytest_deselected(items=[i for i in items if id(i) in slow])
            items[:] = [i for i in items if id(i) not in slow]
    yield
    # Every worker collects and orders alike (xdist requires it); without xdist, one chunk.
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = _worker_chunks(items, workers)
