"""S3 buckets: what the template says they store.

The only bucket this design creates holds the load balancer's access logs: its size follows
from the requests (`cost.alb_log_bytes_per_request`) and its lifecycle expiry, and the load
balancer writes one file per node (one node per AZ) every five minutes. A bucket the estimator
cannot size from the template is refused rather than priced at nothing.
"""

from __future__ import annotations

from typing import Final

from tools.cost.errors import NotPriced
from tools.cost.model import GB, Context, LineItem
from tools.cost.pricers.logs import DAYS_PER_MONTH, NEVER_EXPIRES_MONTHS
from tools.cost.templates import Resource

ALB_LOG_FILES_PER_NODE_HOUR: Final = 12  # ALB delivers access logs every 5 minutes per node


def bucket(res: Resource, ctx: Context) -> list[LineItem]:
    writers = [
        lb
        for lb in ctx.templates.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
        if (res.stack, res.logical_id) in ctx.templates.targets(lb.stack, _access_log_bucket(lb))
    ]
    if not writers:
        raise NotPriced(
            res.where,
            "a bucket no load balancer writes its access logs to: the template does not say "
            "what it stores",
            "add a cost.* setting for its contents (infra/config/cost.py) and price it in "
            "tools/cost/pricers/storage.py",
        )
    days = _expiration_days(res)
    months = days / DAYS_PER_MONTH if days else NEVER_EXPIRES_MONTHS
    kept = f"expires after {days} days" if days else "never expires: a year's worth"
    usage = ctx.usage
    stored = usage.requests_per_month * usage.alb_log_bytes_per_request / GB * months
    nodes = sum(len(lb.prop("Subnets", default=[])) for lb in writers)
    puts = nodes * ALB_LOG_FILES_PER_NODE_HOUR * ctx.hours
    return [
        ctx.item(
            res,
            "S3",
            f"{stored:.2f} GB of access logs (cost.alb_log_bytes_per_request; {kept})",
            "s3.standard_gb_month",
            stored,
        ),
        ctx.item(
            res,
            "S3",
            f"{puts:,.0f} log files ({nodes} ALB nodes, every 5 min)",
            "s3.put_request",
            puts,
        ),
    ]


def _access_log_bucket(lb: Resource) -> object:
    for attribute in lb.prop("LoadBalancerAttributes", default=[]):
        if attribute.get("Key") == "access_logs.s3.bucket":
            return attribute.get("Value")
    return None


def _expiration_days(res: Resource) -> int | None:
    for rule in res.prop("LifecycleConfiguration", "Rules", default=[]):
        if rule.get("Status") == "Enabled" and rule.get("ExpirationInDays"):
            return int(rule["ExpirationInDays"])
    return None
