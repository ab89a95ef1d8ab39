"""The task runner's CPU and memory options from a task definition (tools/containers/limits.py);
tests/containers/test_task_limits.py shows them in force on a real engine."""

from __future__ import annotations

import pytest

from tools.containers.limits import LimitError, cpu_units, memory_mib, task_limits

V1 = {"CgroupVersion": "1", "CgroupDriver": "cgroupfs"}
V2 = {"CgroupVersion": "2", "CgroupDriver": "systemd"}
TASK = {"cpu": "512", "memory": "1024"}


@pytest.mark.parametrize(
    ("value", "units"), [("512", 512), (256, 256), ("0.5 vCPU", 512), ("2 vcpu", 2048)]
)
def test_cpu_units_in_either_form(value: object, units: int) -> None:
    assert cpu_units(value) == units


@pytest.mark.parametrize(("value", "mib"), [("1024", 1024), (512, 512), ("2 GB", 2048)])
def test_memory_in_either_form(value: object, mib: int) -> None:
    assert memory_mib(value) == mib


def test_an_unreadable_size_names_the_field() -> None:
    with pytest.raises(LimitError, match=r"cpu 'half' is neither CPU units"):
        task_limits({"cpu": "half"}, V1)
    with pytest.raises(LimitError, match=r"memory '1 TiB' is neither MiB"):
        task_limits({"memory": "1 TiB"}, V1)


def test_cgroup_v1_puts_the_task_size_on_the_pause_and_nests_every_container() -> None:
    limits = task_limits(TASK, V1)
    assert limits.nested
    assert limits.pause_options() == {
        "nano_cpus": 500_000_000,
        "mem_limit": "1024m",
        "memswap_limit": "1024m",
    }
    assert limits.container_options({"name": "app"}, "/docker/abc") == {
        "cgroup_parent": "/docker/abc"
    }
    # A container's own cpu is its relative share inside the task, at least the kernel's 2.
    assert limits.container_options({"cpu": 256}, "/docker/abc")["cpu_shares"] == 256
    assert limits.container_options({"cpu": 0}, "/docker/abc")["cpu_shares"] == 2


def test_without_nesting_each_container_is_capped_at_the_task_cpu_and_it_says_so() -> None:
    limits = task_limits(TASK, V2)
    assert not limits.nested
    assert limits.pause_options() == {"mem_limit": "32m"}
    assert limits.container_options({"name": "app"}, "") == {"nano_cpus": 500_000_000}
    assert "their sum is not" in limits.describe()


def test_a_definition_without_a_task_size_sets_no_task_limit() -> None:
    limits = task_limits({}, V1)
    assert limits.pause_options() == {}
    assert limits.describe().startswith("no task cpu, no task memory")
