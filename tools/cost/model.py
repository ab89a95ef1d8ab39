"""Line items, the estimate, and the context every pricer reads.

Every figure has two columns: the stage at its autoscaling minimum and at its maximum task
count. Items that do not depend on the task count (a NAT gateway, a web ACL) are the same in
both. A quantity is in the unit of its price (vCPU-hours, GB, million requests, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from infra.config import CostAssumptions
from tools.cost.price_table import Price, PriceTable
from tools.cost.templates import Resource, Templates

GB: Final = 1024**3
MINUTES_PER_HOUR: Final = 60


@dataclass(frozen=True, kw_only=True)
class LineItem:
    where: str  # stack/logical id of the resource the charge comes from
    resource_type: str
    service: str  # what the bill calls it: "Fargate", "NAT gateway", ...
    what: str  # the quantity and how it was derived
    price: Price
    quantity_min: float
    quantity_max: float
    # After an account-wide free tier (cost.apply_free_tiers); else the quantity itself.
    billable_min: float | None = None
    billable_max: float | None = None

    @property
    def usd_min(self) -> float:
        billable = self.quantity_min if self.billable_min is None else self.billable_min
        return billable * self.price.usd

    @property
    def usd_max(self) -> float:
        billable = self.quantity_max if self.billable_max is None else self.billable_max
        return billable * self.price.usd

    def with_billable(self, billable_min: float, billable_max: float) -> LineItem:
        return replace(self, billable_min=billable_min, billable_max=billable_max)


@dataclass(frozen=True, kw_only=True)
class FreeRow:
    """A resource type the template holds that costs nothing, and why."""

    resource_type: str
    count: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RenderLine:
    service: str
    what: str
    price: Price
    quantity_min: float
    quantity_max: float

    @property
    def usd_min(self) -> float:
        return self.quantity_min * self.price.usd

    @property
    def usd_max(self) -> float:
        return self.quantity_max * self.price.usd


@dataclass(frozen=True, kw_only=True)
class Estimate:
    stage: str
    region: str
    tasks_min: int
    tasks_max: int
    items: tuple[LineItem, ...]
    free: tuple[FreeRow, ...]
    render: tuple[RenderLine, ...]
    table: PriceTable
    usage: CostAssumptions

    @property
    def total_min_usd(self) -> float:
        return sum(i.usd_min for i in self.items)

    @property
    def total_max_usd(self) -> float:
        return sum(i.usd_max for i in self.items)

    @property
    def render_min_usd(self) -> float:
        return sum(r.usd_min for r in self.render)

    @property
    def render_max_usd(self) -> float:
        return sum(r.usd_max for r in self.render)

    def by_service(self) -> list[tuple[str, float, float]]:
        """(service, min USD, max USD) per service, in the items' order."""
        totals: dict[str, list[float]] = {}
        for item in self.items:
            pair = totals.setdefault(item.service, [0.0, 0.0])
            pair[0] += item.usd_min
            pair[1] += item.usd_max
        return [(service, lo, hi) for service, (lo, hi) in totals.items()]

    def priced_types(self) -> set[str]:
        """Resource types that produced at least one line item (the coverage tests read it)."""
        return {i.resource_type for i in self.items}


@dataclass(frozen=True)
class Context:
    """What a pricer may read: the templates, the prices and the usage assumptions."""

    templates: Templates
    table: PriceTable
    usage: CostAssumptions

    @property
    def hours(self) -> float:
        return self.usage.hours_per_month

    def item(
        self,
        resource: Resource,
        service: str,
        what: str,
        price_key: str,
        quantity_min: float,
        quantity_max: float | None = None,
    ) -> LineItem:
        return LineItem(
            where=resource.where,
            resource_type=resource.type,
            service=service,
            what=what,
            price=self.table.price(price_key),
            quantity_min=quantity_min,
            quantity_max=quantity_min if quantity_max is None else quantity_max,
        )


Pricer = Callable[[Resource, Context], list[LineItem]]
