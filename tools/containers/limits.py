"""The task's CPU and memory, enforced for the whole task as Fargate enforces them.

Fargate gives a task `cpu` units (1024 = one vCPU) and `memory` MiB that its containers share:
the task runs in a cgroup of its own with that CPU quota and memory limit, and a container's own
`cpu` is a relative share inside it (cpu.shares), its `memory` a hard limit of its own.

Here the pause container's cgroup is the task's: it gets the task's CPU quota (`--cpus`, i.e.
cpu.cfs_quota_us over cpu.cfs_period_us) and memory limit, and every container of the task is
created under it (`--cgroup-parent`), so the kernel caps their sum. That needs cgroup v1 with
the cgroupfs driver (Debian's docker.io; where a cgroup may hold processes and child cgroups
at once). Under cgroup v2 a cgroup that holds a process cannot hand its controllers to child
cgroups, and the systemd driver only nests under slices: there each container gets the task's
whole CPU as a cap of its own (no container alone exceeds the task, but together they can), and
the runner says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docker.models.containers import Container

# CPU units per vCPU (ECS's unit: 1024 = one vCPU).
UNITS_PER_VCPU = 1024
# Docker's NanoCpus per vCPU.
_NANO = 1_000_000_000
# ECS maps a container's cpu units to cpu.shares; the kernel's minimum share is 2.
_MIN_CPU_SHARES = 2
# Memory of the pause container when it is not the task's cgroup (it only sleeps), in MiB.
PAUSE_ONLY_MEMORY_MIB = 32
_VCPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.IGNORECASE)
_GB_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.IGNORECASE)


class LimitError(ValueError):
    """A task size the runner cannot read: the message names the field and the fix."""


def cpu_units(value: Any) -> int:
    """A task or container `cpu` as CPU units: "512", 512 or "0.5 vCPU"."""
    text = str(value)
    if found := _VCPU_RE.match(text):
        return round(float(found.group(1)) * UNITS_PER_VCPU)
    if text.strip().isdigit():
        return int(text)
    raise LimitError(f"cpu {value!r} is neither CPU units (512) nor vCPUs ('0.5 vCPU')")


def memory_mib(value: Any) -> int:
    """A task `memory` in MiB: "1024", 1024 or "1 GB"."""
    text = str(value)
    if found := _GB_RE.match(text):
        return round(float(found.group(1)) * 1024)
    if text.strip().isdigit():
        return int(text)
    raise LimitError(f"memory {value!r} is neither MiB (1024) nor GB ('1 GB')")


@dataclass(frozen=True, kw_only=True)
class TaskLimits:
    """The task-level CPU and memory of a definition, and how this engine can enforce them."""

    cpu_units: int | None
    memory_mib: int | None
    # True: the pause container's cgroup is the task's, every container nests under it.
    nested: bool
    why: str

    @property
    def vcpus(self) -> float | None:
        return None if self.cpu_units is None else self.cpu_units / UNITS_PER_VCPU

    def pause_options(self) -> dict[str, Any]:
        """`containers.run` options of the pause container."""
        if not self.nested:
            return {"mem_limit": f"{PAUSE_ONLY_MEMORY_MIB}m"}
        options: dict[str, Any] = {}
        if self.cpu_units is not None:
            options["nano_cpus"] = self.cpu_units * _NANO // UNITS_PER_VCPU
        if self.memory_mib is not None:
            # No swap: a Fargate task has none.
            options["mem_limit"] = options["memswap_limit"] = f"{self.memory_mib}m"
        return options

    def container_options(self, cdef: Mapping[str, Any], task_cgroup: str) -> dict[str, Any]:
        """`create_host_config` options of one container of the task."""
        options: dict[str, Any] = {}
        if "cpu" in cdef:
            options["cpu_shares"] = max(_MIN_CPU_SHARES, cpu_units(cdef["cpu"]))
        if self.nested:
            options["cgroup_parent"] = task_cgroup
        elif self.cpu_units is not None:
            options["nano_cpus"] = self.cpu_units * _NANO // UNITS_PER_VCPU
        return options

    def describe(self) -> str:
        cpu = "no task cpu" if self.vcpus is None else f"{self.vcpus:g} vCPU"
        memory = "no task memory" if self.memory_mib is None else f"{self.memory_mib} MiB"
        return f"{cpu}, {memory} ({self.why})"


def task_limits(definition: Mapping[str, Any], engine_info: Mapping[str, Any]) -> TaskLimits:
    """The task's limits from its definition, enforced as the engine (`docker info`) allows."""
    cpu = cpu_units(definition["cpu"]) if definition.get("cpu") else None
    memory = memory_mib(definition["memory"]) if definition.get("memory") else None
    version = str(engine_info.get("CgroupVersion", ""))
    driver = str(engine_info.get("CgroupDriver", ""))
    if version == "1" and driver == "cgroupfs":
        return TaskLimits(
            cpu_units=cpu,
            memory_mib=memory,
            nested=True,
            why="for the whole task: every container in the pause container's cgroup",
        )
    return TaskLimits(
        cpu_units=cpu,
        memory_mib=memory,
        nested=False,
        why=(
            f"cgroup v{version or '?'} with the {driver or '?'} driver cannot nest containers "
            "under the task's: each container is capped at the task's CPU alone, their sum "
            "is not, and the task's memory is enforced only through each container's own limit"
        ),
    )


def container_cgroup(container: Container) -> str:
    """The cgroup (v1, cpu controller) of `container`'s first process, as its host sees it.

    Read inside the container: with cgroup v1 Docker shares the host's cgroup namespace, so
    /proc/1/cgroup names the full path (the daemon's cgroup parent, then the container id).
    """
    argv = ["python3", "-c", "print(open('/proc/1/cgroup').read())"]
    code, out = container.exec_run(argv, stream=False, demux=False)
    text = out.decode(errors="replace") if isinstance(out, bytes) else ""
    if code != 0:
        raise LimitError(f"reading {container.name}'s cgroup failed: {text.strip()}")
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            if not path.rstrip("/").endswith(str(container.id)):
                # A private cgroup namespace shows "/": the path cannot be nested under.
                raise LimitError(f"{container.name}'s cgroup path {path!r} is not the host's")
            return path
    raise LimitError(f"{container.name} is in no cpu cgroup: {text.strip()!r}")
