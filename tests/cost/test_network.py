"""NAT gateways, public IPv4, the load balancer's LCUs, endpoints, DNS, WAF and Cognito."""

from __future__ import annotations

import pytest

from tests.cost.conftest import Spec, context, priced, usd
from tests.cost.samples import listener_rules, load_balancer, managed, waf_logging, web_acl
from tools.cost.errors import NotPriced
from tools.cost.model import GB, LineItem
from tools.cost.price_table import PriceTable


def _by_key(items: list[LineItem]) -> dict[str, LineItem]:
    return {i.price.key: i for i in items}


def test_nat_gateways_bill_hours_each_and_share_the_stated_traffic(table: PriceTable) -> None:
    nats: list[Spec] = [("NatA", "AWS::EC2::NatGateway", {}), ("NatB", "AWS::EC2::NatGateway", {})]
    ctx = context(table, *nats, nat_gb_per_month=40.0)
    items = _by_key(priced(ctx, "NatA"))
    assert items["nat.hour"].quantity_max == 730
    assert items["nat.gb"].quantity_max == 20.0  # half of 40 GB
    assert items["nat.gb"].usd_max == pytest.approx(20 * usd(table, "nat.gb"))


def test_every_elastic_ip_is_a_billed_public_ipv4_address(table: PriceTable) -> None:
    [item] = priced(context(table, ("Ip", "AWS::EC2::EIP", {})), "Ip")
    assert item.usd_max == pytest.approx(730 * usd(table, "public_ipv4.hour"))


def test_the_load_balancer_takes_its_largest_lcu_dimension(table: PriceTable) -> None:
    # 26,280,000 requests a month = 10 per second; no keep-alive: 10 new connections/s
    ctx = context(
        table, load_balancer(), requests_per_month=26_280_000, request_kb=1, response_kb=3
    )
    items = _by_key(priced(ctx, "Lb"))
    connections_lcu = 10 / 25
    bytes_lcu = 26_280_000 * 4 * 1024 / GB / 730
    assert connections_lcu > bytes_lcu
    assert items["alb.lcu_hour"].quantity_max == pytest.approx(connections_lcu * 730)
    assert items["alb.hour"].quantity_max == 730
    # internet-facing: an address per AZ and the responses out to the internet
    assert items["public_ipv4.hour"].quantity_max == 2 * 730
    out_gb = 26_280_000 * 3 * 1024 / GB
    assert items["data_transfer.out_gb"].quantity_max == pytest.approx(out_gb)


def test_keep_alive_and_large_responses_move_the_lcu_to_processed_bytes(table: PriceTable) -> None:
    ctx = context(
        table, load_balancer(), requests_per_month=26_280_000, requests_per_connection=100.0,
        response_kb=500.0,
    )  # fmt: skip
    lcu = _by_key(priced(ctx, "Lb"))["alb.lcu_hour"]
    bytes_lcu = 26_280_000 * 501 * 1024 / GB / 730
    assert lcu.quantity_max == pytest.approx(bytes_lcu * 730)


def test_listener_rules_beyond_ten_add_rule_evaluations(table: PriceTable) -> None:
    few = _by_key(priced(context(table, load_balancer(), *listener_rules(2)), "Lb"))
    many = _by_key(priced(context(table, load_balancer(), *listener_rules(60)), "Lb"))
    assert "2 listener rules" in few["alb.lcu_hour"].what
    assert many["alb.lcu_hour"].quantity_max > few["alb.lcu_hour"].quantity_max


def test_an_internal_load_balancer_has_no_public_address_or_internet_traffic(
    table: PriceTable,
) -> None:
    items = _by_key(priced(context(table, load_balancer(Scheme="internal")), "Lb"))
    assert set(items) == {"alb.hour", "alb.lcu_hour"}


def test_a_network_load_balancer_is_refused(table: PriceTable) -> None:
    with pytest.raises(NotPriced, match="network load balancer"):
        priced(context(table, load_balancer(Type="network")), "Lb")


def test_interface_endpoints_bill_per_az_and_gateway_endpoints_are_free(table: PriceTable) -> None:
    interface: Spec = (
        "Api",
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b", "c"]},
    )
    gateway: Spec = (
        "S3",
        "AWS::EC2::VPCEndpoint",
        {"ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}},
    )
    ctx = context(table, interface, gateway, endpoint_gb_per_month=12.0)
    items = _by_key(priced(ctx, "Api"))
    assert items["vpc_endpoint.interface_az_hour"].quantity_max == 3 * 730
    assert items["vpc_endpoint.interface_gb"].quantity_max == 12.0
    [free] = priced(ctx, "S3")
    assert free.usd_max == 0 and "gateway endpoint (s3)" in free.what
    gwlb: Spec = ("Gwlb", "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "GatewayLoadBalancer"})
    with pytest.raises(NotPriced):
        priced(context(table, gwlb), "Gwlb")


def test_dns_zones_and_records(table: PriceTable) -> None:
    alias: Spec = (
        "Alias",
        "AWS::Route53::RecordSet",
        {"Name": "api.example.com", "Type": "A", "AliasTarget": {"DNSName": "x"}},
    )
    plain: Spec = ("Txt", "AWS::Route53::RecordSet", {"Name": "example.com", "Type": "TXT"})
    zone: Spec = ("Zone", "AWS::Route53::HostedZone", {})
    ctx = context(table, alias, plain, zone, dns_queries_per_month=3_000_000)
    assert priced(ctx, "Zone")[0].usd_max == usd(table, "route53.hosted_zone_month")
    assert priced(ctx, "Alias")[0].usd_max == 0
    assert priced(ctx, "Txt")[0].usd_max == pytest.approx(3 * usd(table, "route53.million_queries"))


def test_a_web_acl_bills_itself_each_rule_and_the_requests_it_inspects(table: PriceTable) -> None:
    rules = [
        managed("AWSManagedRulesCommonRuleSet"),
        {"Name": "Rate", "Statement": {"RateBasedStatement": {}}},
    ]
    ctx = context(table, load_balancer(), *web_acl(*rules), requests_per_month=5_000_000)
    items = _by_key(priced(ctx, "Acl"))
    assert items["waf.web_acl_month"].quantity_max == 1
    assert items["waf.rule_month"].quantity_max == 2
    assert items["waf.million_requests"].usd_max == pytest.approx(
        5 * usd(table, "waf.million_requests")
    )


def test_an_unassociated_web_acl_inspects_nothing(table: PriceTable) -> None:
    acl = web_acl()[0]
    items = _by_key(priced(context(table, acl), "Acl"))
    assert items["waf.million_requests"].quantity_max == 0


@pytest.mark.parametrize(
    "group",
    [managed("AWSManagedRulesBotControlRuleSet"), managed("SomeSellersRules", vendor="Seller")],
)
def test_a_managed_rule_group_with_its_own_fee_is_refused(table: PriceTable, group: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(NotPriced, match="with their own fees"):
        priced(context(table, load_balancer(), *web_acl(group)), "Acl")


def test_waf_logs_are_priced_as_vended_logs_from_the_requests(table: PriceTable) -> None:
    ctx = context(
        table,
        load_balancer(),
        *web_acl(),
        *waf_logging(),
        requests_per_month=2_000_000,
        waf_log_kb_per_request=2.0,
    )
    [item] = priced(ctx, "AclLogging")
    assert item.price.key == "logs.vended_ingest_gb"
    assert item.quantity_max == pytest.approx(2_000_000 * 2.0 / 1024**2)
    firehose = waf_logging("arn:aws:firehose:us-east-1:1:deliverystream/aws-waf-logs-x")
    with pytest.raises(NotPriced, match="somewhere else than CloudWatch Logs"):
        priced(context(table, load_balancer(), *web_acl(), *firehose), "AclLogging")


@pytest.mark.parametrize(
    ("tier", "key"),
    [
        ("LITE", "cognito.lite_mau"),
        ("ESSENTIALS", "cognito.essentials_mau"),
        ("PLUS", "cognito.plus_mau"),
        (None, "cognito.essentials_mau"),
    ],
)
def test_cognito_bills_monthly_active_users_at_the_pools_plan(
    table: PriceTable, tier: str | None, key: str
) -> None:
    props = {"UserPoolTier": tier} if tier else {}
    [item] = priced(context(table, ("Pool", "AWS::Cognito::UserPool", props), mau=12_000), "Pool")
    assert item.price.key == key
    assert item.usd_max == pytest.approx(12_000 * usd(table, key))


def test_an_unknown_cognito_plan_is_refused(table: PriceTable) -> None:
    pool = ("Pool", "AWS::Cognito::UserPool", {"UserPoolTier": "GOLD"})
    with pytest.raises(NotPriced, match="feature plan GOLD"):
        priced(context(table, pool), "Pool")
