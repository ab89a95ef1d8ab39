"""CloudWatch Logs: what each log group ingests and keeps, and who writes to it.

A log group's writer is read from the template: a container's `awslogs-group`, the cluster's
ECS Exec log group, a flow log's destination, a WAF logging configuration's destination. Its
monthly volume is the matching `cost.*` setting. Vended logs (flow logs, WAF logs) are priced
by their source's pricer (their delivery price); the log group prices standard ingestion of
the rest and the storage of all, at the group's retention. A group whose writer the template
does not show gets `cost.other_log_gb_per_month`, said so on its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tools.cost.errors import NotPriced
from tools.cost.model import Context, LineItem
from tools.cost.pricers.edge import waf_log_gb
from tools.cost.pricers.tasks import target_container, task_definition, task_shape
from tools.cost.templates import Resource

DAYS_PER_MONTH: Final = 365 / 12
NEVER_EXPIRES_MONTHS: Final = 12  # a group without retention grows: priced after a year


@dataclass(frozen=True)
class Writer:
    label: str
    gb_per_month: float
    vended: bool  # delivered by an AWS service: ingestion priced by that source's pricer


def writers(ctx: Context) -> dict[tuple[str, str], Writer]:
    """(stack, logical id) of each log group the template shows a writer for -> the writer."""
    found: dict[tuple[str, str], Writer] = {}
    found.update(_container_writers(ctx))
    usage = ctx.usage
    for cluster in ctx.templates.of_type("AWS::ECS::Cluster"):
        group = cluster.prop(
            "Configuration", "ExecuteCommandConfiguration", "LogConfiguration",
            "CloudWatchLogGroupName",
        )  # fmt: skip
        for target in ctx.templates.targets(cluster.stack, group):
            found[target] = Writer(
                "ECS Exec sessions (cost.exec_audit_log_gb_per_month)",
                usage.exec_audit_log_gb_per_month,
                vended=False,
            )
    for flow in ctx.templates.of_type("AWS::EC2::FlowLog"):
        destination = [flow.prop("LogGroupName"), flow.prop("LogDestination")]
        for target in ctx.templates.targets(flow.stack, destination):
            found[target] = Writer("VPC flow logs", usage.flow_log_gb_per_month, vended=True)
    found.update(_waf_writers(ctx))
    return found


def _container_writers(ctx: Context) -> dict[tuple[str, str], Writer]:
    found: dict[tuple[str, str], Writer] = {}
    usage = ctx.usage
    for service in ctx.templates.of_type("AWS::ECS::Service"):
        app = target_container(service)
        for container in task_shape(task_definition(ctx, service)).containers:
            options = container.get("LogConfiguration", {}).get("Options", {})
            name = container.get("Name")
            targeted = name == app
            setting = "app_log_gb_per_month" if targeted else "sidecar_log_gb_per_month"
            writer = Writer(
                f"container `{name}` (cost.{setting})",
                usage.app_log_gb_per_month if targeted else usage.sidecar_log_gb_per_month,
                vended=False,
            )
            for target in ctx.templates.targets(service.stack, options.get("awslogs-group")):
                found[target] = writer
    return found


def _waf_writers(ctx: Context) -> dict[tuple[str, str], Writer]:
    found: dict[tuple[str, str], Writer] = {}
    groups = ctx.templates.of_type("AWS::Logs::LogGroup")
    for logging in ctx.templates.of_type("AWS::WAFv2::LoggingConfiguration"):
        text = str(logging.prop("LogDestinationConfigs"))
        writer = Writer(
            "WAF logs (cost.waf_log_kb_per_request)", waf_log_gb(logging, ctx)[0], vended=True
        )
        for group in groups:
            name = group.prop("LogGroupName")
            # a log group's name is unique in its account and region, whichever stack holds it
            if isinstance(name, str) and f":log-group:{name}" in text:
                found[(group.stack, group.logical_id)] = writer
    return found


def log_group(res: Resource, ctx: Context) -> list[LineItem]:
    writer = writers(ctx).get((res.stack, res.logical_id)) or Writer(
        "writer not in the template (cost.other_log_gb_per_month)",
        ctx.usage.other_log_gb_per_month,
        vended=False,
    )
    monthly_gb = writer.gb_per_month
    retention = res.prop("RetentionInDays")
    months = int(retention) / DAYS_PER_MONTH if retention else NEVER_EXPIRES_MONTHS
    kept = f"{retention} days retention" if retention else "never expires: a year's worth"
    items = []
    if not writer.vended:
        what = f"{monthly_gb:g} GB ingested: {writer.label}"
        items.append(ctx.item(res, "CloudWatch Logs", what, "logs.ingest_gb", monthly_gb))
    stored = monthly_gb * months
    what = f"{stored:.2f} GB stored ({writer.label}; {kept}; uncompressed, an upper bound)"
    items.append(ctx.item(res, "CloudWatch Logs", what, "logs.storage_gb_month", stored))
    return items


def flow_log(res: Resource, ctx: Context) -> list[LineItem]:
    destination = res.prop("LogDestinationType", default="cloud-watch-logs")
    if destination != "cloud-watch-logs":
        raise NotPriced(
            res.where,
            f"flow logs delivered to {destination}",
            "add that destination's delivery and storage prices",
        )
    gb = ctx.usage.flow_log_gb_per_month
    what = f"{gb:g} GB of flow log records delivered (cost.flow_log_gb_per_month)"
    return [ctx.item(res, "CloudWatch Logs", what, "logs.vended_ingest_gb", gb)]
