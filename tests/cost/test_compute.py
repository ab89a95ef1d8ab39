"""Fargate tasks, Container Insights and the repository, priced from what the template says."""

from __future__ import annotations

import pytest

from tests.cost.conftest import context, priced, usd
from tests.cost.samples import cluster, scalable_target, service, task_definition
from tools.cost.emf_metrics import emf_series
from tools.cost.errors import NotPriced
from tools.cost.model import MINUTES_PER_HOUR
from tools.cost.price_table import PriceTable


def _by_key(items: list) -> dict:  # type: ignore[type-arg]
    return {i.price.key: i for i in items}


def test_fargate_hours_follow_the_task_size_and_the_scalable_targets_bounds(
    table: PriceTable,
) -> None:
    ctx = context(table, cluster(), task_definition(), service(), scalable_target(2, 6))
    items = _by_key(priced(ctx, "Service"))
    vcpu, memory = items["fargate.vcpu_hour"], items["fargate.gb_hour"]
    # 512 CPU units = 0.5 vCPU and 1024 MiB = 1 GB, for 730 hours, at 2 and at 6 tasks
    assert (vcpu.quantity_min, vcpu.quantity_max) == (2 * 0.5 * 730, 6 * 0.5 * 730)
    assert (memory.quantity_min, memory.quantity_max) == (2 * 1.0 * 730, 6 * 1.0 * 730)
    assert vcpu.usd_max == pytest.approx(6 * 0.5 * 730 * usd(table, "fargate.vcpu_hour"))


def test_without_a_scalable_target_the_desired_count_is_both_columns(table: PriceTable) -> None:
    ctx = context(table, cluster(), task_definition(), service(DesiredCount=3))
    vcpu = _by_key(priced(ctx, "Service"))["fargate.vcpu_hour"]
    assert vcpu.quantity_min == vcpu.quantity_max == 3 * 0.5 * 730


def test_arm64_tasks_take_the_arm_prices(table: PriceTable) -> None:
    arm = task_definition(RuntimePlatform={"CpuArchitecture": "ARM64"})
    items = _by_key(priced(context(table, cluster(), arm, service()), "Service"))
    assert {"fargate.arm.vcpu_hour", "fargate.arm.gb_hour"} <= set(items)
    assert "fargate.vcpu_hour" not in items


def test_a_spot_strategy_splits_tasks_base_first_then_by_weight(table: PriceTable) -> None:
    strategy = [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
    ]
    spec = service(LaunchType=None, CapacityProviderStrategy=strategy)
    ctx = context(table, cluster(), task_definition(), spec, scalable_target(1, 5))
    items = _by_key(priced(ctx, "Service"))
    # min 1 task: the base. max 5 tasks: the base + 4 split 1:3 -> 2 on-demand, 3 spot
    assert items["fargate.vcpu_hour"].quantity_min == 1 * 0.5 * 730
    assert items["fargate.vcpu_hour"].quantity_max == 2 * 0.5 * 730
    assert items["fargate.spot.vcpu_hour"].quantity_min == 0
    assert items["fargate.spot.vcpu_hour"].quantity_max == 3 * 0.5 * 730


def test_the_clusters_default_strategy_applies_to_a_service_without_one(table: PriceTable) -> None:
    association = (
        "Providers",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {
            "Cluster": {"Ref": "Cluster"},
            "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
        },
    )
    ctx = context(table, cluster(), association, task_definition(), service(LaunchType=None))
    assert "fargate.spot.vcpu_hour" in _by_key(priced(ctx, "Service"))


def test_extra_ephemeral_storage_and_public_task_addresses_are_priced(table: PriceTable) -> None:
    big_disk = task_definition(EphemeralStorage={"SizeInGiB": 50})
    public = service(NetworkConfiguration={"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}})
    items = _by_key(priced(context(table, cluster(), big_disk, public), "Service"))
    assert items["fargate.ephemeral_gb_hour"].quantity_max == 2 * 30 * 730  # 50 - 20 included
    assert items["public_ipv4.hour"].quantity_max == 2 * 730


def test_the_apps_emf_records_are_priced_as_custom_metrics(table: PriceTable) -> None:
    items = _by_key(priced(context(table, cluster(), task_definition(), service()), "Service"))
    metrics = items["cloudwatch.custom_metric_month"]
    assert metrics.quantity_max == emf_series().total
    # without METRICS_NAMESPACE the app writes no EMF: no metric line
    quiet = task_definition(ContainerDefinitions=[{"Name": "app"}])
    items = _by_key(priced(context(table, cluster(), quiet, service()), "Service"))
    assert "cloudwatch.custom_metric_month" not in items


def test_an_ec2_launch_type_is_refused(table: PriceTable) -> None:
    ctx = context(table, cluster(), task_definition(), service(LaunchType="EC2"))
    with pytest.raises(NotPriced, match="launch type EC2"):
        priced(ctx, "Service")


def test_enhanced_container_insights_counts_a_datapoint_per_metric_per_minute(
    table: PriceTable,
) -> None:
    ctx = context(table, cluster(), task_definition(), service(), scalable_target(2, 6))
    [item] = priced(ctx, "Cluster")
    per_task = 2 * table.count("container_insights.metrics_per_container") + table.count(
        "container_insights.metrics_per_task"
    )
    fixed = table.count("container_insights.metrics_per_cluster") + table.count(
        "container_insights.metrics_per_service"
    )
    minutes = 730 * MINUTES_PER_HOUR
    assert item.price.key == "container_insights.million_observations"
    assert item.quantity_min == pytest.approx((fixed + 2 * per_task) * minutes / 1e6)
    assert item.quantity_max == pytest.approx((fixed + 6 * per_task) * minutes / 1e6)


def test_standard_and_disabled_container_insights(table: PriceTable) -> None:
    [standard] = priced(context(table, cluster("enabled"), task_definition(), service()), "Cluster")
    assert standard.price.key == "cloudwatch.custom_metric_month"
    assert standard.usd_max > 0
    [off] = priced(context(table, cluster("disabled"), task_definition(), service()), "Cluster")
    assert off.usd_max == 0
    assert "off" in off.what


def test_the_repository_stores_the_stated_image_volume(table: PriceTable) -> None:
    [item] = priced(context(table, ("Repo", "AWS::ECR::Repository", {}), ecr_gb_stored=7.5), "Repo")
    assert item.usd_max == pytest.approx(7.5 * usd(table, "ecr.gb_month"))
