"""render.yaml priced for the stage's shape: web instances per task, one shared Redis."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import CostAssumptions
from tools.cost.errors import CostError
from tools.cost.model import GB, RenderLine
from tools.cost.price_table import PriceTable
from tools.cost.render_plans import compare, load_blueprint, stage_environment


def _lines(
    blueprint: dict[str, Any], table: PriceTable, tasks: tuple[int, int], stage: str = "prod"
) -> dict[str, RenderLine]:
    lines = compare(blueprint, table, CostAssumptions(), tasks, stage)
    return {line.service: line for line in lines}


def _project(environment: dict[str, Any], stage: str = "prod") -> dict[str, Any]:
    """A Blueprint with one environment, shaped as the generator writes it."""
    return {"projects": [{"name": "p", "environments": [{"name": stage, **environment}]}]}


def test_the_committed_blueprint_scales_its_web_service_with_the_stages_tasks(
    table: PriceTable,
) -> None:
    blueprint = load_blueprint()
    lines = _lines(dict(blueprint), table, (2, 6))
    services = stage_environment(blueprint, "prod")["services"]
    web = next(s for s in services if s["type"] == "web")
    redis = next(s for s in services if s["type"] == "pserv")
    assert (lines[web["name"]].quantity_min, lines[web["name"]].quantity_max) == (2, 6)
    assert lines[web["name"]].price.key == f"render.instance.{web['plan']}"
    assert (lines[redis["name"]].quantity_min, lines[redis["name"]].quantity_max) == (1, 1)
    # autoscaling between 2 and 6 needs a workspace plan that offers it
    assert lines["workspace"].price.key == "render.workspace.pro"
    usage = CostAssumptions()
    out_gb = usage.requests_per_month * usage.response_kb * 1024 / GB
    assert lines["bandwidth"].quantity_max == pytest.approx(out_gb)


def test_a_fixed_task_count_runs_on_the_hobby_workspace(table: PriceTable) -> None:
    lines = _lines(dict(load_blueprint()), table, (1, 1))
    assert lines["workspace"].price.key == "render.workspace.hobby"


def test_key_value_and_postgres_plans_are_priced(table: PriceTable) -> None:
    blueprint = _project(
        {
            "services": [{"type": "keyvalue", "name": "kv", "plan": "starter"}],
            "databases": [{"name": "db", "plan": "basic-1gb"}],
        }
    )
    lines = _lines(blueprint, table, (1, 1))
    assert lines["kv"].price.key == "render.key_value.starter"
    assert lines["db"].price.key == "render.postgres.basic-1gb"


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ({"type": "web", "name": "w", "plan": "enterprise"}, "does not price"),
        ({"type": "web", "name": "w"}, "names no plan"),
        ({"type": "cron", "name": "c", "plan": "starter"}, "not priced"),
    ],
)
def test_a_plan_or_type_the_table_lacks_is_refused_by_name(
    table: PriceTable, service: dict[str, Any], words: str
) -> None:
    with pytest.raises(CostError, match=words):
        _lines(_project({"services": [service]}), table, (1, 1))


def test_each_stage_is_priced_from_its_own_environment(table: PriceTable) -> None:
    blueprint = load_blueprint()
    for stage in ("dev", "prod"):
        names = {s["name"] for s in stage_environment(blueprint, stage)["services"]}
        assert names <= set(_lines(dict(blueprint), table, (1, 2), stage)), stage
        assert all(f"-{stage}-" in name for name in names), names
    with pytest.raises(CostError, match="no environment 'qa'"):
        _lines(dict(blueprint), table, (1, 1), "qa")
