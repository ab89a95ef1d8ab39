"""Synthetic templates, one resource type at a time, priced with the real price table."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from infra.config import CostAssumptions, load_stage
from tools.cost.classify import BILLABLE
from tools.cost.estimate import estimate
from tools.cost.model import Context, Estimate, LineItem
from tools.cost.price_table import PriceTable, load_table
from tools.cost.render_plans import load_blueprint
from tools.cost.templates import Templates, from_documents

STACK = "Stack"
Spec = tuple[str, str, Mapping[str, Any]]  # (logical id, type, properties)


def templates(*specs: Spec) -> Templates:
    """One stack holding exactly these resources."""
    resources = {lid: {"Type": kind, "Properties": dict(props)} for lid, kind, props in specs}
    return from_documents({STACK: {"Resources": resources}})


@pytest.fixture(scope="session")
def table() -> PriceTable:
    return load_table("us-east-1")


def usage(**changes: Any) -> CostAssumptions:
    return dataclasses.replace(CostAssumptions(), **changes)


def context(table: PriceTable, *specs: Spec, **changes: Any) -> Context:
    return Context(templates(*specs), table, usage(**changes))


def priced(ctx: Context, logical_id: str) -> list[LineItem]:
    """The pricer of one resource of the synthetic stack, run on its own."""
    resource = ctx.templates.get(STACK, logical_id)
    assert resource is not None, logical_id
    return BILLABLE[resource.type](resource, ctx)


def estimated(*specs: Spec, stage: str = "dev", **changes: Any) -> Estimate:
    """The whole estimator (classification, pricers, Render) on a synthetic stack."""
    config = load_stage(stage, image_tag="test" if stage == "prod" else None)
    config = dataclasses.replace(config, cost=dataclasses.replace(config.cost, **changes))
    return estimate(templates(*specs), config, load_table(config.region), load_blueprint())


def usd(table: PriceTable, key: str) -> float:
    return table.price(key).usd
