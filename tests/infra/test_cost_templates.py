"""The cost estimate of the real templates: every type classified, every billable one priced,
and the committed pages equal to what the estimator makes of the current templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.infra.conftest import ROOT, Synth
from tools.cost.classify import BILLABLE, FREE, NOT_RESOURCES
from tools.cost.errors import UnknownResourceType
from tools.cost.estimate import estimate
from tools.cost.model import Estimate
from tools.cost.page import markdown
from tools.cost.pages import page_path
from tools.cost.price_table import load_table
from tools.cost.render_plans import load_blueprint
from tools.cost.templates import Templates, from_documents


def _documents(synth: Synth) -> dict[str, Mapping[str, Any]]:
    return {
        synth.registry.stack_name: synth.registry_template.to_json(),
        synth.service.stack_name: synth.service_template.to_json(),
        synth.state.stack_name: synth.state_template.to_json(),
    }


def _estimate(synth: Synth, templates: Templates | None = None) -> Estimate:
    templates = templates or from_documents(_documents(synth))
    table = load_table(synth.config.region)
    return estimate(templates, synth.config, table, load_blueprint())


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_billable_type_of_the_stage_is_priced(
    request: pytest.FixtureRequest, stage: str
) -> None:
    synth: Synth = request.getfixturevalue(stage)
    templates = from_documents(_documents(synth))
    types = {r.type for r in templates.resources}
    # GIVEN every resource type the stage's templates hold, each billable or free
    assert types <= set(BILLABLE) | set(FREE) | NOT_RESOURCES, types - set(BILLABLE) - set(FREE)
    result = _estimate(synth, templates)
    # THEN each billable type there produced line items, and the free ones are all listed
    assert result.priced_types() == types & set(BILLABLE)
    assert {row.resource_type for row in result.free} == types & set(FREE)
    resources = [r for r in templates.resources if r.type not in NOT_RESOURCES]
    billable = [r for r in resources if r.type in BILLABLE]
    assert sum(row.count for row in result.free) + len(billable) == len(resources)
    scaling = synth.config.scaling
    assert (result.tasks_min, result.tasks_max) == (scaling.min_capacity, scaling.max_capacity)
    assert 0 < result.total_min_usd < result.total_max_usd
    assert 0 < result.render_min_usd < result.render_max_usd


def test_the_estimate_reads_the_stage_not_a_restatement(dev: Synth, prod: Synth) -> None:
    dev_items, prod_items = _estimate(dev).items, _estimate(prod).items

    def quantity(items: tuple[Any, ...], key: str) -> float:
        return float(sum(i.quantity_max for i in items if i.price.key == key))

    # prod has a NAT gateway (and its address) per AZ, dev one
    assert quantity(prod_items, "nat.hour") == 2 * quantity(dev_items, "nat.hour")
    # Fargate hours follow each stage's autoscaling maximum
    vcpu = dev.config.task_cpu / 1024 * 730
    assert quantity(dev_items, "fargate.vcpu_hour") == dev.config.scaling.max_capacity * vcpu
    assert quantity(prod_items, "fargate.vcpu_hour") == prod.config.scaling.max_capacity * vcpu
    # every alarm the monitoring design defines is priced
    alarms = [i for i in dev_items if i.resource_type == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == len(dev.service_template.find_resources("AWS::CloudWatch::Alarm"))


def test_a_resource_type_added_to_the_real_template_stops_the_estimate(dev: Synth) -> None:
    documents = _documents(dev)
    service = documents[dev.service.stack_name]
    service["Resources"]["Surprise"] = {"Type": "AWS::RDS::DBInstance", "Properties": {}}
    with pytest.raises(UnknownResourceType) as caught:
        _estimate(dev, from_documents(documents))
    assert caught.value.resource_type == "AWS::RDS::DBInstance"
    assert f"{dev.service.stack_name}/Surprise" in str(caught.value)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_committed_cost_page_is_current(request: pytest.FixtureRequest, stage: str) -> None:
    synth: Synth = request.getfixturevalue(stage)
    expected = markdown(_estimate(synth))
    committed = (ROOT / page_path(stage)).read_text(encoding="utf-8")
    assert committed == expected, f"{page_path(stage)} is stale: run `make docs`"
