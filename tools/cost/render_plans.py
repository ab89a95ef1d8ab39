"""The Render Blueprint (render.yaml) priced for the same shape as the AWS stage.

The web service runs the app: it gets as many instances as the stage has tasks (min and max
columns). Render runs no sidecar, so the Redis private service is one instance the web
instances share. A stage that autoscales needs a workspace plan with autoscaling; a fixed
count runs on Hobby. Outbound bandwidth is the responses' GB at Render's price, without the
plan's included allowance subtracted (it differs by workspace plan): an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from infra.config import CostAssumptions
from tools.cost.errors import CostError
from tools.cost.model import GB, RenderLine
from tools.cost.price_table import Price, PriceTable

RENDER_YAML: Final = Path(__file__).resolve().parents[2] / "render.yaml"
_INSTANCE_TYPES: Final = ("web", "pserv", "worker")
_KEY_VALUE_TYPES: Final = ("keyvalue", "redis")


def load_blueprint(path: Path = RENDER_YAML) -> Mapping[str, Any]:
    doc: Mapping[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def stage_environment(blueprint: Mapping[str, Any], stage: str) -> Mapping[str, Any]:
    """The stage's environment of the Blueprint's project (generators/render_blueprint.py
    writes one per stage, named after it)."""
    for project in blueprint.get("projects", []):
        for environment in project.get("environments", []):
            if environment.get("name") == stage:
                found: Mapping[str, Any] = environment
                return found
    raise CostError(
        f"render.yaml has no environment {stage!r}. Fix: regenerate it with `make targets`"
    )


def compare(
    blueprint: Mapping[str, Any],
    table: PriceTable,
    usage: CostAssumptions,
    tasks: tuple[int, int],
    stage: str,
) -> list[RenderLine]:
    environment = stage_environment(blueprint, stage)
    lines = [_service(s, table, tasks) for s in environment.get("services", [])]
    for database in environment.get("databases", []):
        name, plan = database.get("name", "?"), _plan(database)
        price = _priced(table, f"render.postgres.{plan}", name)
        lines.append(
            RenderLine(
                service=name, what=f"Postgres {plan}", price=price, quantity_min=1, quantity_max=1
            )
        )
    autoscaled = tasks[0] != tasks[1]
    workspace = "pro" if autoscaled else "hobby"
    why = "autoscaling between the task counts" if autoscaled else "a fixed instance count"
    lines.append(
        RenderLine(
            service="workspace",
            what=f"{workspace} plan ({why})",
            price=table.price(f"render.workspace.{workspace}"),
            quantity_min=1,
            quantity_max=1,
        )
    )
    out_gb = usage.requests_per_month * usage.response_kb * 1024 / GB
    what = f"{out_gb:.2f} GB of responses (included allowance not subtracted)"
    price = table.price("render.bandwidth_gb")
    lines.append(
        RenderLine(
            service="bandwidth", what=what, price=price, quantity_min=out_gb, quantity_max=out_gb
        )
    )
    return lines


def _service(service: Mapping[str, Any], table: PriceTable, tasks: tuple[int, int]) -> RenderLine:
    kind, name, plan = service.get("type"), str(service.get("name", "?")), _plan(service)
    if kind in _KEY_VALUE_TYPES:
        price = _priced(table, f"render.key_value.{plan}", name)
        return RenderLine(
            service=name, what=f"Key Value {plan}", price=price, quantity_min=1, quantity_max=1
        )
    if kind not in _INSTANCE_TYPES:
        raise CostError(f"render.yaml: service {name} has type {kind!r}, which is not priced")
    price = _priced(table, f"render.instance.{plan}", name)
    if kind == "web":
        what = f"{kind} service, {plan}: one instance per task of the stage"
        return RenderLine(
            service=name, what=what, price=price, quantity_min=tasks[0], quantity_max=tasks[1]
        )
    what = f"{kind} service, {plan}: one instance shared by the web instances"
    return RenderLine(service=name, what=what, price=price, quantity_min=1, quantity_max=1)


def _plan(service: Mapping[str, Any]) -> str:
    plan = service.get("plan")
    if not plan:
        raise CostError(
            f"render.yaml: {service.get('name', '?')} names no plan. Fix: the generator "
            "(generators/render_blueprint.py) sets one for every service"
        )
    return str(plan)


def _priced(table: PriceTable, key: str, name: str) -> Price:
    if key not in table.prices:
        raise CostError(
            f"render.yaml: {name} uses {key.split('.', 2)[-1]!r}, which tools/cost/prices.json "
            f"does not price. Fix: add {key!r} with its price from https://render.com/pricing"
        )
    return table.prices[key]
