"""The network: NAT gateways, public IPv4 addresses, the load balancer, VPC endpoints, DNS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tools.cost.errors import NotPriced
from tools.cost.model import GB, Context, LineItem
from tools.cost.templates import Resource

# What one LCU buys (https://aws.amazon.com/elasticloadbalancing/pricing/, ALB).
NEW_CONNECTIONS_PER_S_PER_LCU: Final = 25
PROCESSED_GB_PER_HOUR_PER_LCU: Final = 1.0  # instance and IP targets
RULE_EVALUATIONS_PER_S_PER_LCU: Final = 1000
FREE_RULES: Final = 10  # rule evaluations beyond the first 10 rules of a request count


def nat_gateway(res: Resource, ctx: Context) -> list[LineItem]:
    """Hours of this gateway and its share of the stage's NAT traffic."""
    gateways = [g for g in ctx.templates.of_type(res.type) if g.stack == res.stack]
    share_gb = ctx.usage.nat_gb_per_month / len(gateways)
    return [
        ctx.item(res, "NAT gateway", f"1 gateway x {ctx.hours:g} h", "nat.hour", ctx.hours),
        ctx.item(
            res,
            "NAT gateway",
            f"{share_gb:g} GB processed (cost.nat_gb_per_month over {len(gateways)} gateway(s))",
            "nat.gb",
            share_gb,
        ),
    ]


def elastic_ip(res: Resource, ctx: Context) -> list[LineItem]:
    what = f"1 public IPv4 address x {ctx.hours:g} h (AWS bills every public IPv4, a NAT's too)"
    return [ctx.item(res, "Public IPv4", what, "public_ipv4.hour", ctx.hours)]


def load_balancer(res: Resource, ctx: Context) -> list[LineItem]:
    kind = res.prop("Type", default="application")
    if kind != "application":
        raise NotPriced(res.where, f"a {kind} load balancer", "add its hour and NLCU prices")
    lcu, why = _lcus(res, ctx)
    items = [
        ctx.item(res, "Load balancer", f"1 ALB x {ctx.hours:g} h", "alb.hour", ctx.hours),
        ctx.item(res, "Load balancer", why, "alb.lcu_hour", lcu * ctx.hours),
    ]
    if res.prop("Scheme", default="internet-facing") == "internet-facing":
        items += _internet_facing(res, ctx)
    return items


def _lcus(res: Resource, ctx: Context) -> tuple[float, str]:
    """Average LCUs: the largest of ALB's dimensions for the stated traffic, spread evenly."""
    usage = ctx.usage
    per_s = usage.requests_per_month / (ctx.hours * 3600)
    connections = per_s / usage.requests_per_connection / NEW_CONNECTIONS_PER_S_PER_LCU
    gb_per_hour = usage.requests_per_month * (usage.request_kb + usage.response_kb) * 1024 / GB
    processed = gb_per_hour / ctx.hours / PROCESSED_GB_PER_HOUR_PER_LCU
    rules = _max_rules(res, ctx)
    evaluations = per_s * max(0, rules - FREE_RULES) / RULE_EVALUATIONS_PER_S_PER_LCU
    lcu = max(connections, processed, evaluations)
    why = (
        f"{lcu:.3f} LCU x {ctx.hours:g} h: the largest of new connections {connections:.3f}, "
        f"processed bytes {processed:.3f}, rule evaluations {evaluations:.3f} ({rules} listener "
        f"rules, {FREE_RULES} free) for {per_s:.2f} requests/s evenly spread; active "
        "connections not counted (short requests)"
    )
    return lcu, why


def _max_rules(res: Resource, ctx: Context) -> int:
    listeners = ctx.templates.pointing_at(
        res, "AWS::ElasticLoadBalancingV2::Listener", "LoadBalancerArn"
    )
    counts = [
        len(
            ctx.templates.pointing_at(
                listener, "AWS::ElasticLoadBalancingV2::ListenerRule", "ListenerArn"
            )
        )
        for listener in listeners
    ]
    return max(counts, default=0)


def _internet_facing(res: Resource, ctx: Context) -> list[LineItem]:
    zones = len(res.prop("Subnets", default=[]) or res.prop("SubnetMappings", default=[]))
    out_gb = ctx.usage.requests_per_month * ctx.usage.response_kb * 1024 / GB
    return [
        ctx.item(
            res,
            "Public IPv4",
            f"{zones} public IPv4 addresses (one per AZ, internet-facing) x {ctx.hours:g} h",
            "public_ipv4.hour",
            zones * ctx.hours,
        ),
        ctx.item(
            res,
            "Data transfer",
            f"{out_gb:.2f} GB of responses to the internet (requests x cost.response_kb)",
            "data_transfer.out_gb",
            out_gb,
        ),
    ]


def vpc_endpoint(res: Resource, ctx: Context) -> list[LineItem]:
    kind = res.prop("VpcEndpointType", default="Gateway")  # CloudFormation's default
    service = res.prop("ServiceName", default="?")
    if kind == "Gateway":
        what = f"gateway endpoint ({_service_label(service)}): no charge"
        return [ctx.item(res, "VPC endpoint", what, "no_charge", 1)]
    if kind != "Interface":
        raise NotPriced(res.where, f"a {kind} VPC endpoint", "add its prices to the table")
    zones = len(res.prop("SubnetIds", default=[]))
    gb = ctx.usage.endpoint_gb_per_month
    label = f"interface endpoint ({_service_label(service)})"
    return [
        ctx.item(
            res,
            "VPC endpoint",
            f"{label}: {zones} AZ x {ctx.hours:g} h",
            "vpc_endpoint.interface_az_hour",
            zones * ctx.hours,
        ),
        ctx.item(
            res,
            "VPC endpoint",
            f"{label}: {gb:g} GB (cost.endpoint_gb_per_month)",
            "vpc_endpoint.interface_gb",
            gb,
        ),
    ]


def _service_label(service: Any) -> str:
    text = _joined(service)
    return text.rsplit(".", 1)[-1] or text


def _joined(value: Any) -> str:
    """A name as the template spells it, tokens left out (`Fn::Join` of strings and refs)."""
    join = value.get("Fn::Join") if isinstance(value, Mapping) else None
    if isinstance(join, list) and len(join) == 2:
        return "".join(p if isinstance(p, str) else "<token>" for p in join[1])
    return value if isinstance(value, str) else "<token>"


def hosted_zone(res: Resource, ctx: Context) -> list[LineItem]:
    what = "1 hosted zone"
    return [ctx.item(res, "Route 53", what, "route53.hosted_zone_month", 1)]


def record_set(res: Resource, ctx: Context) -> list[LineItem]:
    return [_record(res, ctx, res.properties)]


def record_set_group(res: Resource, ctx: Context) -> list[LineItem]:
    return [_record(res, ctx, record) for record in res.prop("RecordSets", default=[])]


def _record(res: Resource, ctx: Context, record: Mapping[str, Any]) -> LineItem:
    name = f"{record.get('Type', '?')} {_joined(record.get('Name', '?'))}"
    if "AliasTarget" in record:
        what = f"{name}: alias to an AWS resource, queries free"
        return ctx.item(res, "Route 53", what, "no_charge", 1)
    queries = ctx.usage.dns_queries_per_month
    what = f"{name}: {queries:,} queries (cost.dns_queries_per_month)"
    return ctx.item(res, "Route 53", what, "route53.million_queries", queries / 1e6)
