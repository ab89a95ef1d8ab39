"""Logs (by writer and retention), alarms (by metric), SNS, keys, secrets and the log bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.cost.conftest import Spec, context, estimated, priced, usage, usd
from tests.cost.samples import (
    ACCESS_LOG_LB,
    ACCESS_LOGS,
    alarm,
    cluster,
    service,
    task_definition,
)
from tools.cost.classify import BILLABLE
from tools.cost.errors import NotPriced
from tools.cost.model import GB, Context, LineItem
from tools.cost.price_table import PriceTable
from tools.cost.pricers.logs import DAYS_PER_MONTH
from tools.cost.templates import from_documents


def _by_key(items: list[LineItem]) -> dict[str, LineItem]:
    return {i.price.key: i for i in items}


def _log_groups() -> list[tuple[str, str, dict[str, object]]]:
    return [
        ("AppLogs", "AWS::Logs::LogGroup", {"RetentionInDays": 30}),
        ("RedisLogs", "AWS::Logs::LogGroup", {"RetentionInDays": 30}),
        ("Orphan", "AWS::Logs::LogGroup", {}),
    ]


def test_a_log_group_ingests_what_its_writer_writes_and_keeps_it_for_its_retention(
    table: PriceTable,
) -> None:
    ctx = context(
        table, cluster(), task_definition(), service(), *_log_groups(),
        app_log_gb_per_month=10.0, sidecar_log_gb_per_month=0.5, other_log_gb_per_month=0.2,
    )  # fmt: skip
    app = _by_key(priced(ctx, "AppLogs"))
    assert app["logs.ingest_gb"].quantity_max == 10.0
    assert app["logs.storage_gb_month"].quantity_max == pytest.approx(10.0 * 30 / DAYS_PER_MONTH)
    assert "container `app`" in app["logs.ingest_gb"].what
    redis = _by_key(priced(ctx, "RedisLogs"))
    assert (
        redis["logs.ingest_gb"].quantity_max == 0.5
    )  # the sidecar: not the load balancer's target
    orphan = _by_key(priced(ctx, "Orphan"))
    assert orphan["logs.ingest_gb"].quantity_max == 0.2
    assert "writer not in the template" in orphan["logs.ingest_gb"].what
    assert orphan["logs.storage_gb_month"].quantity_max == pytest.approx(0.2 * 12)  # never expires


def test_a_writer_in_another_stack_is_found_through_the_export_it_imports(
    table: PriceTable,
) -> None:
    # GIVEN the app's log group in a stateful stack, exported, and the task importing it
    _, _, task_props = task_definition()
    app, redis = task_props["ContainerDefinitions"]
    imported = {"awslogs-group": {"Fn::ImportValue": "Stateful:ExportsOutputRefAppLogs"}}
    app = {**app, "LogConfiguration": {"LogDriver": "awslogs", "Options": imported}}
    resources = {
        lid: {"Type": kind, "Properties": props}
        for lid, kind, props in [
            cluster(),
            (
                "Task",
                "AWS::ECS::TaskDefinition",
                {**task_props, "ContainerDefinitions": [app, redis]},
            ),
            service(),
        ]
    }
    stateful = {
        "Resources": {
            "AppLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}}
        },
        "Outputs": {
            "Out": {
                "Value": {"Ref": "AppLogs"},
                "Export": {"Name": "Stateful:ExportsOutputRefAppLogs"},
            }
        },
    }
    documents: dict[str, Mapping[str, Any]] = {
        "Stateful": stateful,
        "Service": {"Resources": resources},
    }
    ctx = Context(from_documents(documents), table, usage(app_log_gb_per_month=9.0))
    # WHEN the stateful stack's log group is priced
    group = ctx.templates.get("Stateful", "AppLogs")
    assert group is not None
    items = _by_key(BILLABLE[group.type](group, ctx))
    # THEN it carries the app's volume, not the unknown-writer assumption
    assert items["logs.ingest_gb"].quantity_max == 9.0
    assert "container `app`" in items["logs.ingest_gb"].what


def test_vended_logs_are_ingested_at_their_delivery_price_not_twice(table: PriceTable) -> None:
    flow: Spec = ("Flow", "AWS::EC2::FlowLog", {"LogGroupName": {"Ref": "FlowLogs"}})
    group: Spec = ("FlowLogs", "AWS::Logs::LogGroup", {"RetentionInDays": 14})
    result = estimated(flow, group, flow_log_gb_per_month=8.0)
    keys = [(i.where, i.price.key) for i in result.items]
    assert ("Stack/Flow", "logs.vended_ingest_gb") in keys
    assert ("Stack/FlowLogs", "logs.storage_gb_month") in keys
    assert ("Stack/FlowLogs", "logs.ingest_gb") not in keys
    s3: Spec = ("Flow", "AWS::EC2::FlowLog", {"LogDestinationType": "s3"})
    with pytest.raises(NotPriced, match="flow logs delivered to s3"):
        priced(context(table, s3), "Flow")


@pytest.mark.parametrize(
    ("spec", "metrics", "key"),
    [
        (
            ("Alarm", "AWS::CloudWatch::Alarm", {"MetricName": "CPU", "Period": 60}),
            1,
            "cloudwatch.alarm_metric_month",
        ),
        (alarm("m1"), 1, "cloudwatch.alarm_metric_month"),
        (
            alarm("requests", "errors", expression="errors / requests"),
            2,
            "cloudwatch.alarm_metric_month",
        ),
        (
            alarm("m1", expression="ANOMALY_DETECTION_BAND(m1, 2)"),
            3,
            "cloudwatch.alarm_metric_month",
        ),
        (alarm("m1", period=10), 1, "cloudwatch.high_res_alarm_metric_month"),
    ],
)
def test_an_alarm_is_billed_per_metric_it_reads(
    table: PriceTable, spec: tuple[str, str, dict[str, object]], metrics: int, key: str
) -> None:
    [item] = priced(context(table, spec), "Alarm")
    assert (item.quantity_max, item.price.key) == (metrics, key)
    assert item.usd_max == pytest.approx(metrics * usd(table, key))


def test_a_metrics_insights_alarm_is_refused(table: PriceTable) -> None:
    spec = alarm(expression='SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/EC2")')
    with pytest.raises(NotPriced, match="Metrics Insights"):
        priced(context(table, spec), "Alarm")


def test_composite_alarms_dashboards_and_scaling_policies(table: PriceTable) -> None:
    composite: Spec = ("Composite", "AWS::CloudWatch::CompositeAlarm", {})
    board: Spec = ("Board", "AWS::CloudWatch::Dashboard", {})
    tracking: Spec = (
        "Tracking",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"PolicyType": "TargetTrackingScaling"},
    )
    step: Spec = (
        "Step",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"PolicyType": "StepScaling"},
    )
    ctx = context(table, composite, board, tracking, step)
    assert priced(ctx, "Composite")[0].usd_max == usd(table, "cloudwatch.composite_alarm_month")
    assert priced(ctx, "Board")[0].usd_max == usd(table, "cloudwatch.dashboard_month")
    assert priced(ctx, "Tracking")[0].quantity_max == 2  # its high and low alarms
    assert priced(ctx, "Step")[0].usd_max == 0


def test_sns_publishes_and_email_deliveries(table: PriceTable) -> None:
    topic: Spec = ("Topic", "AWS::SNS::Topic", {})
    mail: Spec = ("Mail", "AWS::SNS::Subscription", {"Protocol": "email"})
    queue: Spec = ("Queue", "AWS::SNS::Subscription", {"Protocol": "sqs"})
    sms: Spec = ("Sms", "AWS::SNS::Subscription", {"Protocol": "sms"})
    ctx = context(table, topic, mail, queue, sms, notifications_per_month=300_000)
    assert priced(ctx, "Topic")[0].quantity_max == pytest.approx(0.3)  # million publishes
    assert priced(ctx, "Mail")[0].usd_max == pytest.approx(3 * usd(table, "sns.email_100k"))
    assert priced(ctx, "Queue")[0].usd_max == 0
    with pytest.raises(NotPriced, match="sms deliveries"):
        priced(ctx, "Sms")


def test_a_queue_bills_three_requests_a_message_and_a_fifo_queue_is_refused(
    table: PriceTable,
) -> None:
    ctx = context(table, ("Queue", "AWS::SQS::Queue", {}), notifications_per_month=1_000_000)
    [item] = priced(ctx, "Queue")
    assert item.usd_max == pytest.approx(3 * usd(table, "sqs.million_requests"))
    fifo = ("Fifo", "AWS::SQS::Queue", {"FifoQueue": True})
    with pytest.raises(NotPriced, match="FIFO"):
        priced(context(table, fifo), "Fifo")


def test_keys_and_secrets_bill_by_the_month(table: PriceTable) -> None:
    ctx = context(
        table, ("Key", "AWS::KMS::Key", {}), ("Secret", "AWS::SecretsManager::Secret", {})
    )
    assert priced(ctx, "Key")[0].usd_max == usd(table, "kms.key_month")
    assert priced(ctx, "Secret")[0].usd_max == usd(table, "secrets.secret_month")


def test_the_access_log_bucket_holds_its_lifecycles_worth_of_logs(table: PriceTable) -> None:
    ctx = context(
        table,
        ACCESS_LOG_LB,
        ACCESS_LOGS,
        requests_per_month=10_000_000,
        alb_log_bytes_per_request=200,
    )
    items = _by_key(priced(ctx, "AccessLogs"))
    monthly_gb = 10_000_000 * 200 / GB
    assert items["s3.standard_gb_month"].quantity_max == pytest.approx(
        monthly_gb * 90 / DAYS_PER_MONTH
    )
    assert items["s3.put_request"].quantity_max == 2 * 12 * 730  # 2 nodes, every 5 minutes


def test_a_bucket_the_template_does_not_explain_is_refused(table: PriceTable) -> None:
    with pytest.raises(NotPriced, match="does not say what it stores"):
        priced(context(table, ("Data", "AWS::S3::Bucket", {})), "Data")
