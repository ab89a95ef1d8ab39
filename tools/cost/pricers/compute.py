"""ECS on Fargate: the service's tasks, the cluster's Container Insights, the image repository."""

from __future__ import annotations

from typing import Final

from tools.cost.emf_metrics import emf_series
from tools.cost.errors import NotPriced
from tools.cost.model import MINUTES_PER_HOUR, Context, LineItem
from tools.cost.pricers.tasks import (
    INCLUDED_EPHEMERAL_GIB,
    TaskShape,
    services_of,
    split,
    strategy,
    target_container,
    task_counts,
    task_definition,
    task_shape,
)
from tools.cost.templates import Resource

_METRICS_ENV: Final = "METRICS_NAMESPACE"  # the app writes EMF records when this is set


def fargate_service(res: Resource, ctx: Context) -> list[LineItem]:
    """vCPU- and GB-hours of the min and max task counts, per capacity provider."""
    launch_type = res.prop("LaunchType")
    if launch_type not in (None, "FARGATE"):
        raise NotPriced(
            res.where,
            f"launch type {launch_type} (its capacity is billed as EC2 instances)",
            "run the service on Fargate, or add a pricer for its instances",
        )
    shape = task_shape(task_definition(ctx, res))
    lo, hi = task_counts(ctx, res)
    strategies = strategy(ctx, res)
    shares_lo, shares_hi = split(lo, strategies), split(hi, strategies)
    items: list[LineItem] = []
    for provider in shares_lo:
        items += _task_hours(res, ctx, shape, provider, shares_lo[provider], shares_hi[provider])
    items += _extra_storage(res, ctx, shape, lo, hi)
    items += _task_public_ips(res, ctx, lo, hi)
    items += _emf_metrics(res, ctx, shape)
    return items


def _task_hours(
    res: Resource, ctx: Context, shape: TaskShape, provider: str, lo: float, hi: float
) -> list[LineItem]:
    spot = provider == "FARGATE_SPOT"
    if spot and shape.arm:
        raise NotPriced(res.where, "FARGATE_SPOT on ARM64", "add Spot ARM prices to the table")
    prefix = "fargate.spot" if spot else ("fargate.arm" if shape.arm else "fargate")
    label = f"{'Fargate Spot' if spot else 'Fargate'} ({'ARM64' if shape.arm else 'x86'})"
    tasks = f"{lo:g} (min) / {hi:g} (max) tasks x {ctx.hours:g} h"
    return [
        ctx.item(
            res,
            label,
            f"{shape.vcpu:g} vCPU per task, {tasks}",
            f"{prefix}.vcpu_hour",
            lo * shape.vcpu * ctx.hours,
            hi * shape.vcpu * ctx.hours,
        ),
        ctx.item(
            res,
            label,
            f"{shape.memory_gb:g} GB per task, {tasks}",
            f"{prefix}.gb_hour",
            lo * shape.memory_gb * ctx.hours,
            hi * shape.memory_gb * ctx.hours,
        ),
    ]


def _extra_storage(
    res: Resource, ctx: Context, shape: TaskShape, lo: int, hi: int
) -> list[LineItem]:
    extra_gib = shape.ephemeral_gib - INCLUDED_EPHEMERAL_GIB
    if extra_gib <= 0:
        return []
    what = f"{extra_gib} GiB ephemeral storage beyond the included 20 GiB per task"
    key = "fargate.ephemeral_gb_hour"
    return [
        ctx.item(res, "Fargate", what, key, lo * extra_gib * ctx.hours, hi * extra_gib * ctx.hours)
    ]


def _task_public_ips(res: Resource, ctx: Context, lo: int, hi: int) -> list[LineItem]:
    assign = res.prop("NetworkConfiguration", "AwsvpcConfiguration", "AssignPublicIp")
    if assign != "ENABLED":
        return []
    what = "a public IPv4 address per task (AssignPublicIp ENABLED)"
    return [ctx.item(res, "Public IPv4", what, "public_ipv4.hour", lo * ctx.hours, hi * ctx.hours)]


def _emf_metrics(res: Resource, ctx: Context, shape: TaskShape) -> list[LineItem]:
    """The custom metrics of the container the load balancer targets, when it writes EMF."""
    app = target_container(res)
    for container in shape.containers:
        env = {e.get("Name") for e in container.get("Environment", [])}
        if container.get("Name") == app and _METRICS_ENV in env:
            series = emf_series()
            what = f"EMF custom metrics: {series.describe()}"
            key = "cloudwatch.custom_metric_month"
            return [ctx.item(res, "CloudWatch metrics", what, key, series.total)]
    return []


def container_insights(res: Resource, ctx: Context) -> list[LineItem]:
    """The cluster's Container Insights: per observation (enhanced) or per metric (enabled)."""
    settings = {s.get("Name"): s.get("Value") for s in res.prop("ClusterSettings", default=[])}
    mode = settings.get("containerInsights", "disabled")
    if mode == "enhanced":
        return [_observations(res, ctx)]
    if mode == "enabled":
        return [_insights_metrics(res, ctx)]
    what = "Container Insights off (containerInsights disabled): no charge"
    return [ctx.item(res, "Container Insights", what, "no_charge", 1)]


def _observations(res: Resource, ctx: Context) -> LineItem:
    table = ctx.table
    per_container = table.count("container_insights.metrics_per_container")
    per_task = table.count("container_insights.metrics_per_task")
    per_service = table.count("container_insights.metrics_per_service")
    fixed, lo_metrics, hi_metrics = table.count("container_insights.metrics_per_cluster"), 0, 0
    for service in services_of(ctx, res):
        shape = task_shape(task_definition(ctx, service))
        lo, hi = task_counts(ctx, service)
        per = len(shape.containers) * per_container + per_task
        fixed += per_service
        lo_metrics, hi_metrics = lo_metrics + lo * per, hi_metrics + hi * per
    minutes = ctx.hours * MINUTES_PER_HOUR
    what = (
        f"enhanced: a datapoint per metric per minute ({per_container} per container, "
        f"{per_task} per task, {per_service} per service, cluster's own)"
    )
    key = "container_insights.million_observations"
    return ctx.item(
        res,
        "Container Insights",
        what,
        key,
        (fixed + lo_metrics) * minutes / 1e6,
        (fixed + hi_metrics) * minutes / 1e6,
    )


def _insights_metrics(res: Resource, ctx: Context) -> LineItem:
    table = ctx.table
    services = services_of(ctx, res)
    metrics = table.count("container_insights.metrics_per_cluster") + len(services) * (
        table.count("container_insights.metrics_per_service")
        + table.count("container_insights.metrics_per_task")
    )
    what = "Container Insights (standard): cluster, service and task-family metrics"
    return ctx.item(res, "Container Insights", what, "cloudwatch.custom_metric_month", metrics)


def ecr_repository(res: Resource, ctx: Context) -> list[LineItem]:
    gb = ctx.usage.ecr_gb_stored
    what = f"{gb:g} GB of images (cost.ecr_gb_stored); one repository serves every stage"
    return [ctx.item(res, "ECR", what, "ecr.gb_month", gb)]
