"""The estimate as a terminal table (`make cost`) and as the generated docs page."""

from __future__ import annotations

from typing import Final

from infra.config.overrides import settings_of
from tools.cost.model import Estimate, LineItem, RenderLine
from tools.cost.price_table import Count, Price

PRICES_REL: Final = "tools/cost/prices.json"


def number(value: float) -> str:
    """A quantity as people read it: thousands separated, few decimals, no trailing zeros."""
    if value == int(value) and abs(value) >= 1:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}" if value else "0"


def unit_price(price: Price) -> str:
    return f"${price.usd:g} / {price.unit}"


def usd(value: float) -> str:
    return f"{value:,.2f}"


def quantity(item: LineItem | RenderLine) -> str:
    lo, hi = number(item.quantity_min), number(item.quantity_max)
    return lo if lo == hi else f"{lo} / {hi}"


def tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _tasks(estimate: Estimate) -> str:
    return f"{tasks(estimate.tasks_min)} (min) to {tasks(estimate.tasks_max)} (max)"


def text(estimate: Estimate) -> str:
    """The terminal report: one line per item, totals, Render beside it, what was assumed."""
    lines = [
        f"Fyntrix {estimate.stage} ({estimate.region}): monthly USD from the synthesized "
        f"templates, {_tasks(estimate)}; prices of {estimate.table.as_of} ({PRICES_REL})",
        "",
        f"{'service':<22} {'min':>9} {'max':>9}  quantity x unit price: what",
    ]
    for item in estimate.items:
        lines.append(
            f"{item.service:<22} {usd(item.usd_min):>9} {usd(item.usd_max):>9}  "
            f"{quantity(item)} x {unit_price(item.price)}: {item.what}"
        )
    lines += [
        f"{'TOTAL AWS':<22} {usd(estimate.total_min_usd):>9} {usd(estimate.total_max_usd):>9}",
        "",
        "Render Blueprint (render.yaml) for the same shape:",
    ]
    for line in estimate.render:
        lines.append(
            f"{line.service:<22} {usd(line.usd_min):>9} {usd(line.usd_max):>9}  "
            f"{quantity(line)} x {unit_price(line.price)}: {line.what}"
        )
    lines += [
        f"{'TOTAL Render':<22} {usd(estimate.render_min_usd):>9} {usd(estimate.render_max_usd):>9}",
        "",
        f"Free: {sum(r.count for r in estimate.free)} resources of {len(estimate.free)} types "
        f"({', '.join(r.resource_type.split('::', 1)[1] for r in estimate.free)}).",
        'Assumed (cost.* settings; change with SET="cost.<name>=<value>"): '
        + ", ".join(f"{s.path}={s.value}" for s in settings_of(estimate.usage, "cost.")),
    ]
    lines += [
        f"Unconfirmed: {_unconfirmed(e)}"
        for e in estimate.table.unconfirmed()
        if _used(estimate, e)
    ]
    return "\n".join(lines) + "\n"


def _used(estimate: Estimate, entry: Price | Count) -> bool:
    keys = {i.price.key for i in estimate.items} | {r.price.key for r in estimate.render}
    return entry.key in keys or isinstance(entry, Count)


def _unconfirmed(entry: Price | Count) -> str:
    value = f"${entry.usd:g}" if isinstance(entry, Price) else str(entry.value)
    return f"{entry.key} = {value} {entry.unit}: {entry.note} ({entry.source})"


def used_prices(estimate: Estimate) -> list[Price]:
    seen: dict[str, Price] = {}
    for price in [i.price for i in estimate.items] + [r.price for r in estimate.render]:
        seen.setdefault(price.key, price)
    return sorted(seen.values(), key=lambda p: p.key)


def stated_usage(estimate: Estimate) -> list[tuple[str, str, str]]:
    """(setting, value, meaning) of every usage assumption, for the page."""
    return [(s.path, str(s.value), s.description) for s in settings_of(estimate.usage, "cost.")]
