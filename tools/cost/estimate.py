"""Templates + the stage's config + the price table -> the itemized monthly estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from infra.config import StageConfig
from tools.cost.classify import BILLABLE, classify
from tools.cost.model import Context, Estimate, LineItem
from tools.cost.price_table import PriceTable
from tools.cost.pricers.tasks import task_counts
from tools.cost.render_plans import compare
from tools.cost.templates import Templates

# The bill's reading order: compute, the front door, the network, identity, observability,
# then the small fixed items.
SERVICE_ORDER: Final = (
    "Fargate",
    "Load balancer",
    "Public IPv4",
    "Data transfer",
    "NAT gateway",
    "VPC endpoint",
    "Route 53",
    "WAF",
    "Cognito",
    "CloudWatch Logs",
    "CloudWatch metrics",
    "Container Insights",
    "CloudWatch alarms",
    "CloudWatch dashboard",
    "SNS",
    "SQS",
    "KMS",
    "Secrets Manager",
    "ECR",
    "S3",
)


def _reading_order(item: LineItem) -> int:
    return next(
        (n for n, name in enumerate(SERVICE_ORDER) if item.service.startswith(name)),
        len(SERVICE_ORDER),
    )


def estimate(
    templates: Templates,
    config: StageConfig,
    table: PriceTable,
    blueprint: Mapping[str, Any],
) -> Estimate:
    """Every billable resource priced at the stage's min and max task counts; every free one
    listed with its reason; the Render Blueprint priced for the same shape."""
    ctx = Context(templates, table, config.cost)
    billable, free = classify(templates.resources)
    items = [item for resource in billable for item in BILLABLE[resource.type](resource, ctx)]
    items.sort(key=_reading_order)
    if config.cost.apply_free_tiers:
        items = apply_free_tiers(items)
    services = templates.of_type("AWS::ECS::Service")
    counts = [task_counts(ctx, s) for s in services]
    tasks = (sum(c[0] for c in counts), sum(c[1] for c in counts))
    return Estimate(
        stage=config.stage,
        region=table.region,
        tasks_min=tasks[0],
        tasks_max=tasks[1],
        items=tuple(items),
        free=tuple(free),
        render=tuple(compare(blueprint, table, config.cost, tasks, config.stage)),
        table=table,
        usage=config.cost,
    )


def apply_free_tiers(items: Sequence[LineItem]) -> list[LineItem]:
    """Subtract each price's account-wide free allowance once, across all its items."""
    left_min: dict[str, float] = {}
    left_max: dict[str, float] = {}
    out = []
    for item in items:
        key, free = item.price.key, item.price.free_per_month
        left_min.setdefault(key, free)
        left_max.setdefault(key, free)
        used_min = min(item.quantity_min, left_min[key])
        used_max = min(item.quantity_max, left_max[key])
        left_min[key] -= used_min
        left_max[key] -= used_max
        out.append(item.with_billable(item.quantity_min - used_min, item.quantity_max - used_max))
    return out
