"""Alarms, the dashboard, scaling policies' alarms and the alarm topic.

CloudWatch bills a metric alarm per metric it reads: an alarm on one metric is one alarm
metric, a metric-math alarm counts each metric it queries (the expressions are free), an
anomaly-detection band adds two. A period under 60 s makes it a high-resolution alarm. A
composite alarm has a price of its own, and so has each dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from tools.cost.errors import NotPriced
from tools.cost.model import Context, LineItem
from tools.cost.templates import Resource

STANDARD_PERIOD_S: Final = 60
_BAND: Final = "ANOMALY_DETECTION_BAND"
TARGET_TRACKING_ALARMS: Final = 2  # a high and a low alarm on the policy's metric


def alarm(res: Resource, ctx: Context) -> list[LineItem]:
    queries: Sequence[Mapping[str, Any]] = res.prop("Metrics", default=[])
    if not queries:
        metrics, periods = 1, [int(res.prop("Period", default=STANDARD_PERIOD_S))]
        how = f"one metric ({res.prop('MetricName')})"
    else:
        metrics, periods = _math_metrics(res, queries)
        how = f"metric math over {metrics} metrics" if metrics > 1 else "one metric"
    high_res = min(periods) < STANDARD_PERIOD_S
    key = "cloudwatch.high_res_alarm_metric_month" if high_res else "cloudwatch.alarm_metric_month"
    name = res.prop("AlarmName", default=res.logical_id)
    return [ctx.item(res, "CloudWatch alarms", f"{_name(name)}: {how}", key, metrics)]


def _math_metrics(res: Resource, queries: Sequence[Mapping[str, Any]]) -> tuple[int, list[int]]:
    stats = [q["MetricStat"] for q in queries if "MetricStat" in q]
    expressions = [str(q.get("Expression", "")) for q in queries if "Expression" in q]
    if any(e.lstrip().upper().startswith("SELECT") for e in expressions):
        raise NotPriced(
            res.where,
            "a Metrics Insights query alarm (billed per metric the query matches)",
            "add its price and a count of the metrics it matches",
        )
    bands = sum(e.count(_BAND) for e in expressions)
    periods = [int(s.get("Period", STANDARD_PERIOD_S)) for s in stats]
    periods += [int(q["Period"]) for q in queries if "Expression" in q and "Period" in q]
    return len(stats) + 2 * bands, periods or [STANDARD_PERIOD_S]


def _name(name: Any) -> str:
    return name if isinstance(name, str) else "<generated name>"


def composite_alarm(res: Resource, ctx: Context) -> list[LineItem]:
    what = _name(res.prop("AlarmName", default=res.logical_id))
    return [ctx.item(res, "CloudWatch alarms", what, "cloudwatch.composite_alarm_month", 1)]


def dashboard(res: Resource, ctx: Context) -> list[LineItem]:
    what = _name(res.prop("DashboardName", default=res.logical_id))
    return [ctx.item(res, "CloudWatch dashboard", what, "cloudwatch.dashboard_month", 1)]


def scaling_policy(res: Resource, ctx: Context) -> list[LineItem]:
    """Target tracking creates and manages its own alarms; CloudWatch bills them like any."""
    kind = res.prop("PolicyType")
    if kind == "StepScaling":
        what = "step scaling: no alarms of its own (its alarms are priced as alarms)"
        return [ctx.item(res, "CloudWatch alarms", what, "no_charge", 1)]
    if kind != "TargetTrackingScaling":
        raise NotPriced(res.where, f"a {kind} scaling policy", "add a pricer for its alarms")
    metric = res.prop(
        "TargetTrackingScalingPolicyConfiguration", "PredefinedMetricSpecification",
        "PredefinedMetricType", default="a custom metric",
    )  # fmt: skip
    what = f"target tracking on {metric}: {TARGET_TRACKING_ALARMS} alarms AWS creates for it"
    key = "cloudwatch.alarm_metric_month"
    return [ctx.item(res, "CloudWatch alarms", what, key, TARGET_TRACKING_ALARMS)]


def sns_topic(res: Resource, ctx: Context) -> list[LineItem]:
    count = ctx.usage.notifications_per_month
    what = f"{count:,} publishes (cost.notifications_per_month)"
    return [ctx.item(res, "SNS", what, "sns.million_publishes", count / 1e6)]


SQS_REQUESTS_PER_MESSAGE: Final = 3  # send, receive, delete


def sqs_queue(res: Resource, ctx: Context) -> list[LineItem]:
    if res.prop("FifoQueue"):
        raise NotPriced(res.where, "a FIFO queue", "add the FIFO request price to the table")
    count = ctx.usage.notifications_per_month
    requests = count * SQS_REQUESTS_PER_MESSAGE
    what = (
        f"{count:,} messages x {SQS_REQUESTS_PER_MESSAGE} requests (cost.notifications_per_month)"
    )
    return [ctx.item(res, "SQS", what, "sqs.million_requests", requests / 1e6)]


def sns_subscription(res: Resource, ctx: Context) -> list[LineItem]:
    protocol = res.prop("Protocol")
    count = ctx.usage.notifications_per_month
    if protocol in ("email", "email-json"):
        what = f"{count:,} e-mails (cost.notifications_per_month)"
        return [ctx.item(res, "SNS", what, "sns.email_100k", count / 1e5)]
    if protocol in ("sqs", "lambda", "firehose"):
        what = f"{protocol} deliveries: free (the target bills as itself)"
        return [ctx.item(res, "SNS", what, "no_charge", 1)]
    raise NotPriced(res.where, f"{protocol} deliveries", "add that protocol's price to the table")
