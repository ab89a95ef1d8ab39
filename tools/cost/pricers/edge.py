"""What guards the front door: the WAF web ACL (and its logs) and the Cognito user pool."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from tools.cost.errors import NotPriced
from tools.cost.model import Context, LineItem
from tools.cost.templates import Resource

# AWS managed rule groups WAF bills as one rule each, with no subscription or request fee on top
# (https://aws.amazon.com/waf/pricing/). Bot Control, ATP, ACFP and anti-DDoS groups carry their
# own fees: the table does not price them, so a web ACL using one is refused, not underpriced.
INCLUDED_MANAGED_GROUPS: Final = frozenset(
    {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesAdminProtectionRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesLinuxRuleSet",
        "AWSManagedRulesUnixRuleSet",
        "AWSManagedRulesWindowsRuleSet",
        "AWSManagedRulesPHPRuleSet",
        "AWSManagedRulesWordPressRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
    }
)
# Cognito's feature plans; a pool without UserPoolTier gets AWS's default for new pools.
_TIER_PRICES: Final = {
    "LITE": "cognito.lite_mau",
    "ESSENTIALS": "cognito.essentials_mau",
    "PLUS": "cognito.plus_mau",
}
_DEFAULT_TIER: Final = "ESSENTIALS"


def web_acl(res: Resource, ctx: Context) -> list[LineItem]:
    rules = res.prop("Rules", default=[])
    paid = sorted(
        f"{vendor}/{name}"
        for rule in rules
        for vendor, name in _managed_groups(rule)
        if vendor != "AWS" or name not in INCLUDED_MANAGED_GROUPS
    )
    if paid:
        raise NotPriced(
            res.where,
            f"managed rule group(s) with their own fees: {', '.join(paid)}",
            "add their subscription and request prices to tools/cost/prices.json and price "
            "them in tools/cost/pricers/edge.py",
        )
    requests, how = inspected_requests(res, ctx)
    return [
        ctx.item(res, "WAF", "1 web ACL", "waf.web_acl_month", 1),
        ctx.item(
            res,
            "WAF",
            f"{len(rules)} rules (a managed rule group counts as one)",
            "waf.rule_month",
            len(rules),
        ),
        ctx.item(
            res,
            "WAF",
            f"{requests:,} requests inspected ({how})",
            "waf.million_requests",
            requests / 1e6,
        ),
    ]


def _managed_groups(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        group = node.get("ManagedRuleGroupStatement")
        if isinstance(group, Mapping):
            yield str(group.get("VendorName")), str(group.get("Name"))
        for value in node.values():
            yield from _managed_groups(value)
    elif isinstance(node, list):
        for value in node:
            yield from _managed_groups(value)


def inspected_requests(acl: Resource, ctx: Context) -> tuple[int, str]:
    """The stage's requests when the ACL guards a resource of these templates, else none."""
    associations = ctx.templates.pointing_at(acl, "AWS::WAFv2::WebACLAssociation", "WebACLArn")
    if associations:
        return ctx.usage.requests_per_month, "cost.requests_per_month"
    return 0, "associated with no resource of these templates"


def waf_logging(res: Resource, ctx: Context) -> list[LineItem]:
    destinations = res.prop("LogDestinationConfigs", default=[])
    if not all(":log-group:" in _text(d) for d in destinations):
        raise NotPriced(
            res.where,
            "WAF logs delivered somewhere else than CloudWatch Logs",
            "add the Firehose or S3 delivery prices to the table",
        )
    gb, requests = waf_log_gb(res, ctx)
    kb = ctx.usage.waf_log_kb_per_request
    what = (
        f"{gb:.2f} GB of WAF logs ({requests:,} requests x {kb:g} KB, cost.waf_log_kb_per_request)"
    )
    return [ctx.item(res, "CloudWatch Logs", what, "logs.vended_ingest_gb", gb)]


def waf_log_gb(logging: Resource, ctx: Context) -> tuple[float, int]:
    """(GB per month, requests) a WAF logging configuration delivers for its web ACL."""
    acls = ctx.templates.resources_at(
        logging.stack, logging.prop("ResourceArn"), "AWS::WAFv2::WebACL"
    )
    requests = sum(inspected_requests(acl, ctx)[0] for acl in acls)
    return requests * ctx.usage.waf_log_kb_per_request / 1024**2, requests


def _text(value: Any) -> str:
    """The literal parts of a string or an Fn::Join (an ARN built around tokens)."""
    if isinstance(value, str):
        return value
    join = value.get("Fn::Join") if isinstance(value, Mapping) else None
    if isinstance(join, list) and len(join) == 2:
        return "".join(p for p in join[1] if isinstance(p, str))
    return ""


def user_pool(res: Resource, ctx: Context) -> list[LineItem]:
    tier = str(res.prop("UserPoolTier", default=_DEFAULT_TIER))
    if tier not in _TIER_PRICES:
        raise NotPriced(res.where, f"feature plan {tier}", "add its MAU price to the table")
    mau = ctx.usage.mau
    how = "UserPoolTier" if res.prop("UserPoolTier") else "no UserPoolTier: AWS's default"
    what = f"{mau:,} monthly active users (cost.mau) on the {tier} plan ({how})"
    return [ctx.item(res, "Cognito", what, _TIER_PRICES[tier], mau)]
