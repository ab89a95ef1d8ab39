"""Usage assumptions of the cost estimate (`make cost`, docs/reference/cost-<stage>.md).

What a stage's template cannot say: how much traffic, how many users, how many gigabytes of
logs. The estimator (tools/cost/) reads every resource from the synthesized templates and every
price from the pinned table; these settings are the remaining inputs, stated on the generated
page beside the figures they produce. Override them like any setting:
`make cost STAGE=prod SET="cost.requests_per_month=50000000 cost.mau=20000"`.
"""

from __future__ import annotations

from typing import Final

from infra.config.spec import Rule, at_least, between, setting, settings_class

# AWS's pricing pages and its calculator count a month as 730 hours (8,760 / 12).
HOURS_PER_MONTH: Final = 730.0


def _not_negative(what: str) -> Rule:
    return at_least(0, "{value} is negative", f"give {what} of at least {{lo}}")


@settings_class
class CostAssumptions:
    """Traffic, users and data volumes one stage is estimated with (per month)."""

    hours_per_month: float = setting(
        "hours billed per month (AWS's pricing pages use 730)",
        default=HOURS_PER_MONTH,
        rules=[between(1, 744, "{value} h is not a month", "choose {lo} to {hi} hours")],
    )
    requests_per_month: int = setting(
        "requests reaching the load balancer per month (spread evenly over the hours)",
        default=1_000_000,
        rules=[_not_negative("a request count")],
    )
    request_kb: float = setting(
        "average request size with headers (KB), for the load balancer's processed bytes",
        default=1.0,
        rules=[_not_negative("a size")],
    )
    response_kb: float = setting(
        "average response size with headers (KB): processed bytes and data out to the internet",
        default=4.0,
        rules=[_not_negative("a size")],
    )
    requests_per_connection: float = setting(
        "requests a client sends per new TCP/TLS connection (1 = no keep-alive, the worst case)",
        default=1.0,
        rules=[at_least(1, "{value} is below one request", "choose at least {lo}")],
    )
    mau: int = setting(
        "monthly active users of the Cognito user pool (each signs in or refreshes a token)",
        default=50,
        rules=[_not_negative("a user count")],
    )
    app_log_gb_per_month: float = setting(
        "GB the container the load balancer targets writes to its log group (EMF included)",
        default=1.0,
        rules=[_not_negative("a volume")],
    )
    sidecar_log_gb_per_month: float = setting(
        "GB each other container (the Redis sidecar) writes to its log group",
        default=0.1,
        rules=[_not_negative("a volume")],
    )
    exec_audit_log_gb_per_month: float = setting(
        "GB of ECS Exec session logs (sessions are rare: a few commands a week)",
        default=0.05,
        rules=[_not_negative("a volume")],
    )
    flow_log_gb_per_month: float = setting(
        "GB of VPC flow log records delivered to CloudWatch Logs",
        default=1.0,
        rules=[_not_negative("a volume")],
    )
    other_log_gb_per_month: float = setting(
        "GB for a log group whose writer the estimator cannot tell from the template",
        default=0.1,
        rules=[_not_negative("a volume")],
    )
    waf_log_kb_per_request: float = setting(
        "KB of WAF log per request (WAF logs every request it inspects)",
        default=1.5,
        rules=[_not_negative("a size")],
    )
    alb_log_bytes_per_request: int = setting(
        "bytes of load balancer access log per request, as stored (gzip)",
        default=100,
        rules=[_not_negative("a size")],
    )
    nat_gb_per_month: float = setting(
        "GB through the NAT gateways (image pulls, AWS APIs, logs, the database) per month",
        default=5.0,
        rules=[_not_negative("a volume")],
    )
    endpoint_gb_per_month: float = setting(
        "GB through each interface VPC endpoint per month",
        default=1.0,
        rules=[_not_negative("a volume")],
    )
    ecr_gb_stored: float = setting(
        "GB of images the repository keeps (its lifecycle rule bounds the count)",
        default=3.0,
        rules=[_not_negative("a volume")],
    )
    notifications_per_month: int = setting(
        "messages per month through each SNS topic or SQS queue (alarm state changes, events)",
        default=100,
        rules=[_not_negative("a count")],
    )
    dns_queries_per_month: int = setting(
        "DNS queries per month to each record that is not an alias to an AWS resource",
        default=1_000_000,
        rules=[_not_negative("a count")],
    )
    apply_free_tiers: bool = setting(
        "subtract the account-wide free tiers (true only for an account this stage has alone)",
        default=False,
    )


DEV_COST: Final = CostAssumptions()
PROD_COST: Final = CostAssumptions(
    requests_per_month=30_000_000,
    mau=5_000,
    app_log_gb_per_month=15.0,
    sidecar_log_gb_per_month=0.5,
    flow_log_gb_per_month=5.0,
    nat_gb_per_month=30.0,
)
