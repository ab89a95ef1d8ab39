"""What a service runs, read from the template: its task size, task counts and capacity.

The task definition gives the size (Cpu, Memory, CPU architecture, ephemeral storage), the
scalable target pointing at the service gives the min and max task counts (without one, the
service's DesiredCount is both), and the capacity provider strategy (the service's, else its
cluster's default) splits the tasks between FARGATE and FARGATE_SPOT the way ECS places them:
each provider's `base` first, the rest by `weight`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tools.cost.errors import NotPriced
from tools.cost.model import Context
from tools.cost.templates import Resource

FARGATE_PROVIDERS: Final = ("FARGATE", "FARGATE_SPOT")
INCLUDED_EPHEMERAL_GIB: Final = 20  # every Fargate task gets 20 GiB without charge


@dataclass(frozen=True)
class TaskShape:
    vcpu: float
    memory_gb: float
    arm: bool
    ephemeral_gib: int
    containers: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Strategy:
    provider: str
    base: int
    weight: int


def task_definition(ctx: Context, service: Resource) -> Resource:
    found = ctx.templates.referenced(
        service, service.prop("TaskDefinition"), "AWS::ECS::TaskDefinition"
    )
    if not found:
        raise NotPriced(
            service.where,
            "its task definition is not in the template",
            "price a service whose task definition the same stack defines",
        )
    return found[0]


def task_shape(task_def: Resource) -> TaskShape:
    cpu, memory = task_def.prop("Cpu"), task_def.prop("Memory")
    if cpu is None or memory is None:
        raise NotPriced(
            task_def.where,
            "no task-level Cpu and Memory (Fargate bills the task's size)",
            "set the task size on the task definition",
        )
    platform = task_def.prop("RuntimePlatform", "CpuArchitecture", default="X86_64")
    return TaskShape(
        vcpu=int(cpu) / 1024,
        memory_gb=int(memory) / 1024,
        arm=platform == "ARM64",
        ephemeral_gib=int(task_def.prop("EphemeralStorage", "SizeInGiB", default=20)),
        containers=tuple(task_def.prop("ContainerDefinitions", default=[])),
    )


def task_counts(ctx: Context, service: Resource) -> tuple[int, int]:
    """(min, max) tasks: the scalable target's bounds, else DesiredCount for both."""
    for target in ctx.templates.pointing_at(
        service, "AWS::ApplicationAutoScaling::ScalableTarget", "ResourceId"
    ):
        if target.prop("ScalableDimension") == "ecs:service:DesiredCount":
            return int(target.prop("MinCapacity")), int(target.prop("MaxCapacity"))
    desired = int(service.prop("DesiredCount", default=1))
    return desired, desired


def strategy(ctx: Context, service: Resource) -> list[Strategy]:
    raw: Sequence[Mapping[str, Any]] | None = service.prop("CapacityProviderStrategy")
    if not raw and service.prop("LaunchType") is None:
        for association in ctx.templates.of_type("AWS::ECS::ClusterCapacityProviderAssociations"):
            if _same_cluster(ctx, association, service):
                raw = association.prop("DefaultCapacityProviderStrategy")
    if not raw:
        return [Strategy("FARGATE", 0, 1)]
    parsed = [
        Strategy(str(s["CapacityProvider"]), int(s.get("Base", 0)), int(s.get("Weight", 0)))
        for s in raw
    ]
    unknown = [s.provider for s in parsed if s.provider not in FARGATE_PROVIDERS]
    if unknown:
        raise NotPriced(
            service.where,
            f"capacity provider(s) {', '.join(map(str, unknown))} (EC2 capacity is billed as "
            "its instances)",
            "price FARGATE and FARGATE_SPOT only, or add a pricer for the Auto Scaling group",
        )
    return parsed


def _same_cluster(ctx: Context, a: Resource, b: Resource) -> bool:
    """Both name the same cluster: one resource of the templates, or the same literal name."""
    if a.stack == b.stack and a.prop("Cluster") == b.prop("Cluster"):
        return True
    targets = ctx.templates.targets
    return bool(targets(a.stack, a.prop("Cluster")) & targets(b.stack, b.prop("Cluster")))


def split(tasks: int, strategies: Sequence[Strategy]) -> dict[str, float]:
    """Tasks per provider: each provider's base first (in order), the rest by weight."""
    shares = dict.fromkeys((s.provider for s in strategies), 0.0)
    remaining = float(tasks)
    for s in strategies:
        taken = min(float(s.base), remaining)
        shares[s.provider] += taken
        remaining -= taken
    total_weight = sum(s.weight for s in strategies)
    if remaining and not total_weight:
        raise ValueError("a capacity provider strategy needs a weight beyond its bases")
    for s in strategies:
        if total_weight:
            shares[s.provider] += remaining * s.weight / total_weight
    return shares


def services_of(ctx: Context, cluster: Resource) -> list[Resource]:
    return ctx.templates.pointing_at(cluster, "AWS::ECS::Service", "Cluster")


def target_container(service: Resource) -> str | None:
    """The container the load balancer sends requests to (the app), if any."""
    for binding in service.prop("LoadBalancers", default=[]):
        return str(binding.get("ContainerName"))
    return None
